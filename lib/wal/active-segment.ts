import type { Checksummer } from '../backend/backend';
import { OWNED_BYTES } from '../backend/owned-bytes';
import { channels, diagnoseOnce } from '../diagnostics';
import type { CommitPlan, Directory, WritableFile } from '../directory/directory';
import { parentOf } from '../directory/path';
import { InvalidStateError, IoError } from '../errors';
import { encodeSegmentHeader, FORMAT_VERSION as MARKS_VERSION, SEGMENT_HEADER_SIZE, segmentPath } from './format';

// The segment the writer appends to. Writes are positioned (writeAt at our own `position`), not
// at the file's append offset: a recycled file is longer than what we have written into it, and
// new frames must overwrite its stale tail from byte 32 on.
export class ActiveSegment {
  readonly segmentId: number;
  readonly path: string;
  readonly salt: number;
  readonly firstEntryId: number;
  /** W of this segment's header: resumed segments keep the window they were created with. */
  readonly syncWindow: number;
  readonly createdAt: number;
  /** End of the bytes handed to the OS. */
  position: number;
  /** End of the bytes known to be on stable storage. */
  synced: number;
  /** Frames in the segment, written or still buffered. */
  frameCount: number;
  /** Whether writes carry sync marks (format v2; a resumed v1 segment stays v1, without them). */
  readonly marks: boolean;
  /** Largest watermark a sync mark of this segment carries (SEGMENT_HEADER_SIZE: none yet). */
  markedTo = SEGMENT_HEADER_SIZE;
  /**
   * Header bytes still to be written: set on a segment planned by the group-commit path, whose
   * file is only created when its first batch commits (see planSegment).
   */
  pendingHeader: Uint8Array | undefined = undefined;

  private file: WritableFile | undefined;
  /** How far the file is known to extend (see zeroAhead); undefined until first asked. */
  private spanEnd: number | undefined = undefined;
  private asyncSyncs = 0;
  /** commit calls not yet settled, and of those the oldest ones waitCommitsSync saw run. */
  private commitsUnsettled = 0;
  private commitsRun = 0;
  /** How far the commits handed to the file sync once they ran (their largest `upTo`). */
  private committedTo = 0;
  private closeWhenIdle = false;
  private closed = false;

  constructor(fields: {
    segmentId: number; path: string; salt: number; firstEntryId: number; syncWindow: number; createdAt: number;
    file: WritableFile | undefined; position: number; synced: number; frameCount: number; version: number;
  }) {
    this.segmentId = fields.segmentId;
    this.path = fields.path;
    this.salt = fields.salt;
    this.firstEntryId = fields.firstEntryId;
    this.syncWindow = fields.syncWindow;
    this.createdAt = fields.createdAt;
    this.file = fields.file;
    this.position = fields.position;
    this.synced = fields.synced;
    this.frameCount = fields.frameCount;
    this.marks = fields.version >= MARKS_VERSION;
  }

  /**
   * The watermark the next write must carry in a sync mark, or 0 when it needs none: bytes up to
   * `synced` were fdatasynced and no mark says so yet.
   */
  pendingMark(): number {
    return this.marks && this.synced > this.markedTo ? this.synced : 0;
  }

  /** False for a planned segment whose file does not exist yet. */
  get exists(): boolean {
    return this.file !== undefined;
  }

  /** Gives a planned segment its newly created file. */
  attach(file: WritableFile): void {
    this.file = file;
  }

  write(bytes: Uint8Array): void {
    this.handle().writeAt(bytes, this.position);
    this.position += bytes.length;
  }

  fileSize(): number {
    return this.handle().size();
  }

  /**
   * Zeros to write right after a commit's frames ending at `end`, when those frames would pass
   * the zeroed end of the file (a segment's first commit, a commit larger than what
   * zeroAheadAsync keeps ahead, or a file it does not run on): the file then extends
   * INLINE_ZERO_AHEAD bytes (at most to `limit`) past them in the same write.
   */
  zeroAhead(end: number, limit: number): Uint8Array[] {
    this.spanEnd ??= this.handle().size();
    if (end <= this.spanEnd) return [];
    const to = Math.min(limit, end + INLINE_ZERO_AHEAD);
    if (to <= end) return [];
    this.spanEnd = to;
    return zeros(end, to);
  }

  /**
   * Keeps ZERO_AHEAD bytes of zeros written (and synced) ahead of the log, so the commits that
   * follow overwrite blocks the file owns and their fdatasync has no size or allocation to
   * journal. Called right after a commit whose frames end at `end` was handed to the file: when
   * fewer than ZERO_AHEAD zeroed bytes are left past them, the next ZERO_AHEAD bytes of zeros go
   * out as a commit of their own, queued behind that one, and its promise is returned. The file
   * runs it right after that commit's fdatasync, while the event loop wakes that commit's callers
   * and the disk would otherwise wait for their next commit, so no caller's commit carries the
   * zeros (carried, they made one commit in every MiB of log several times slower,
   * which set the tail latency: bench/RESULTS.md). Only on files whose commits a synchronous call
   * can wait for (waitCommitsSync), so the writer can always leave the pipeline at once; on the
   * others zeroAhead puts the zeros in the callers' commits. Zeros read as a clean end, and
   * rotation and close trim them like preallocated space.
   */
  zeroAheadAsync(end: number, limit: number): Promise<void> | undefined {
    const file = this.handle();
    if (!file.waitsForCommits) return undefined;
    this.spanEnd ??= file.size();
    const from = this.spanEnd;
    const to = Math.min(limit, from + ZERO_AHEAD);
    if (end > from || end + ZERO_AHEAD <= from || to <= from) return undefined;
    this.spanEnd = to;
    // Through commit(), as a batch's commit: the same steps from the file to the queue, so its
    // completion or failure reaches the writer in the order the file ran it. It syncs no frames.
    return this.commit({ chunks: zeros(from, to), position: from }, 0);
  }

  /** Whether a synchronous call can wait for the commits handed to the file (waitCommitsSync); false while it has none. */
  get waitsForCommits(): boolean {
    return this.file !== undefined && this.file.waitsForCommits;
  }

  /**
   * Blocks until every commit handed to the file has run (see zeroAheadAsync); throws the first
   * failure. Once they ran, what they cover is synced now, not when their promises settle: the
   * writer books them as durable at once (CommitQueue.settleInFlight), and a failure later in the
   * same call must cut the file back to their end, not to before them (WriterState.poison).
   */
  waitCommitsSync(): void {
    try {
      this.handle().waitCommitsSync();
    } finally {
      this.commitsRun = this.commitsUnsettled;
    }
    if (this.committedTo > this.synced) this.synced = this.committedTo;
  }

  /** The file's size once the commits handed to it ran (they may add zeros: zeroAhead). */
  sizeAfterCommits(): number {
    return Math.max(this.spanEnd ?? 0, this.handle().size());
  }

  /** The file will extend at least to `end` once its pending commits ran (a planned segment's zero fill). */
  extendsTo(end: number): void {
    this.spanEnd = Math.max(this.spanEnd ?? this.handle().size(), end);
  }

  /** Cuts preallocated space or a recycled file's stale tail; returns whether the size changed. */
  trim(): boolean {
    const file = this.handle();
    if (file.size() <= this.position) return false;
    file.truncate(this.position);
    this.spanEnd = this.position;
    return true;
  }

  syncNow(): void {
    const upTo = this.position;
    this.handle().sync();
    if (upTo > this.synced) this.synced = upTo;
  }

  async syncAsync(): Promise<void> {
    const upTo = this.position;
    const file = this.handle();
    this.asyncSyncs++;
    try {
      await file.syncAsync();
      if (upTo > this.synced) this.synced = upTo;
    } finally {
      this.asyncSyncs--;
      if (this.asyncSyncs === 0 && this.closeWhenIdle) this.closeFile();
    }
  }

  /** Runs one group commit on the file; everything before `upTo` is synced once it resolves. */
  async commit(plan: CommitPlan, upTo: number): Promise<void> {
    const file = this.handle();
    this.asyncSyncs++;
    this.commitsUnsettled++;
    if (upTo > this.committedTo) this.committedTo = upTo;
    try {
      await file.commitAsync({ ...plan, [OWNED_BYTES]: true });
      if (upTo > this.synced) this.synced = upTo;
    } finally {
      this.asyncSyncs--;
      // Commits settle in the order they were handed over: the oldest ones are those that ran.
      this.commitsUnsettled--;
      this.commitsRun = Math.min(this.commitsRun, this.commitsUnsettled);
      if (this.asyncSyncs === 0 && this.closeWhenIdle) this.closeFile();
    }
  }

  /**
   * Closes the descriptor, or defers that until no fdatasync or commit runs on it off-thread.
   * Commits waitCommitsSync saw run do not count: only their promises are still to settle.
   */
  close(): void {
    if (this.asyncSyncs > this.commitsRun) this.closeWhenIdle = true;
    else this.closeFile();
  }

  private closeFile(): void {
    if (this.closed) return;
    this.closed = true;
    this.file?.close();
  }

  private handle(): WritableFile {
    if (this.file === undefined) throw new InvalidStateError(`segment ${this.path} has no file yet`);
    return this.file;
  }
}

/**
 * Reserves a new segment's space with fallocate; false where the directory cannot, or where the
 * disk has no room for it: preallocation is an optimisation, and a segment grows as it is written
 * just the same. The writer then preallocates no more segments. A reservation that failed part
 * way may leave the file longer, which reads as zeros: a clean end, trimmed at rotation and close
 * like the rest. No room is published once per writer that meets it (a disk fills and empties
 * again), no support once per process (a file system's nature).
 */
function reserve(dir: Directory, file: WritableFile, length: number, path: string): boolean {
  try {
    if (file.allocate(length)) return true;
    diagnoseOnce({ kind: 'fallocate-unsupported', message: 'WAL segments are not preallocated: this directory cannot reserve space', path }, dir.kind);
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'fallocate-no-space', message: `WAL segments are not preallocated: no room to reserve ${length} bytes`, path, error: err });
    }
  }
  return false;
}

/** A failure for want of space: the disk (ENOSPC) or the user's quota (EDQUOT) is full. */
function isNoSpace(err: unknown): boolean {
  return err instanceof IoError && (err.errno === 'ENOSPC' || err.errno === 'EDQUOT');
}

export interface NewSegment {
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  createdAt: number;
  /** Bytes to reserve with fallocate (0: none). */
  preallocate: number;
  /** Bytes to fill with zeros by writing, header included (0 or absent: none). See WalWriterOptions.zeroFill. */
  zeroFill?: number;
}

const ZERO_CHUNK = new Uint8Array(1024 * 1024);
/**
 * Zeros carried by a callers' commit that would grow the file (ActiveSegment.zeroAhead): one
 * commit in every MiB of log pays for them. 1 MiB beat 64 KiB, 256 KiB and 8 MiB in throughput
 * (bench/RESULTS.md), which is what this path is for: files whose commits cannot be waited for.
 */
export const INLINE_ZERO_AHEAD = 1024 * 1024;
/**
 * Zeros kept ahead of the log by commits of their own (ActiveSegment.zeroAheadAsync). Measured
 * side by side at 256 producers (bench/RESULTS.md): 256 KiB commits of zeros in the disk's idle
 * gaps kept the p99 at ≈ 0.77 ms for 2–3 % less throughput, where 1 MiB (in the callers'
 * commits or in their own) left it at ≈ 1.2 ms; smaller commits pay the journal's fixed cost
 * too often.
 */
export const ZERO_AHEAD = 256 * 1024;

/** Views of the shared zero buffer covering [from, to). */
function zeros(from: number, to: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = from; at < to; at += ZERO_CHUNK.length) chunks.push(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, to - at)));
  return chunks;
}
/** Chunks per zero-fill run: one gather write (or group commit) covers at most 64 MiB. */
export const ZERO_RUN_CHUNKS = 64;

export interface ZeroRun {
  readonly position: number;
  /** Views of one shared 1 MiB buffer of zeros, never written to, so sharing it between files is safe. */
  readonly chunks: readonly Uint8Array[];
}

/**
 * The zeros covering [from, to) as consecutive runs of at most ZERO_RUN_CHUNKS chunks, made one
 * run at a time: memory stays bounded whatever the segment size (a list of every chunk of a
 * huge segment would not fit in the heap).
 */
export function* zeroRuns(from: number, to: number): Generator<ZeroRun> {
  for (let at = from; at < to; ) {
    const position = at;
    const chunks: Uint8Array[] = [];
    while (at < to && chunks.length < ZERO_RUN_CHUNKS) {
      const n = Math.min(ZERO_CHUNK.length, to - at);
      chunks.push(ZERO_CHUNK.subarray(0, n));
      at += n;
    }
    yield { position, chunks };
  }
}

/**
 * A planned segment's first commits (pipelined mode): its header, then the zero fill up to
 * `zeroFill` (options.zeroFill), each run a commit of its own (write + fdatasync) so no commit
 * holds more than one run. The first run rides with the header: zeros read as a clean end, so a
 * torn header over zeros is still a segment that never held a frame. Frames go in afterwards.
 */
export async function commitHeader(segment: ActiveSegment, header: Uint8Array, zeroFill: number): Promise<void> {
  const runs = zeroRuns(SEGMENT_HEADER_SIZE, zeroFill);
  const first = runs.next();
  await segment.commit({ chunks: first.done === true ? [header] : [header, ...first.value.chunks], position: 0 }, SEGMENT_HEADER_SIZE);
  for (const run of runs) await segment.commit({ chunks: run.chunks, position: run.position }, SEGMENT_HEADER_SIZE);
}

/**
 * Creates a fresh segment file: header written and fdatasynced, so the segment's first entry id is
 * on disk before anything can depend on it. The directory entry still needs syncDir('wal').
 * `preallocationFailed`: the file system cannot reserve space (one diagnostic is published).
 */
export function createSegment(dir: Directory, spec: NewSegment, checksum: Checksummer): { segment: ActiveSegment; preallocationFailed: boolean } {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const file = dir.create(path);
  let preallocationFailed = false;
  try {
    file.writeAt(bytes, 0);
    // Zeros read as a clean end (docs/FORMAT.md); a crash before the sync below leaves at worst a
    // torn header over zeros, which resume repairs like any torn header.
    for (const run of zeroRuns(SEGMENT_HEADER_SIZE, spec.zeroFill ?? 0)) {
      let at = run.position;
      for (const chunk of run.chunks) {
        file.writeAt(chunk, at);
        at += chunk.length;
      }
    }
    if (spec.preallocate > SEGMENT_HEADER_SIZE && !reserve(dir, file, spec.preallocate, path)) preallocationFailed = true;
    file.sync();
  } catch (err) {
    file.close();
    // After a failed write or fdatasync the header may exist only in the page cache: a writer
    // reopened before a reboot would append to a segment with no header on disk. It holds no
    // entry yet, so it goes (best effort; a crash that brings it back leaves a torn final header).
    try {
      dir.deleteNoSync(path);
    } catch {
      // The failure being reported is the one that matters.
    }
    throw err;
  }
  const segment = segmentFor(spec, path, header.salt, file);
  segment.extendsTo(spec.zeroFill ?? 0);
  return { segment, preallocationFailed };
}

/**
 * Turns a recycled file into segment `spec.segmentId`: the new header (new salt, so the old
 * frames behind it can never validate) is written and fdatasynced while the file still has its
 * recycle name, and only then is it renamed into place (rename + directory fsync). A crash at any
 * point leaves either a recycle file the reader ignores or a segment with a valid header.
 */
export function reuseSegment(dir: Directory, recyclePath: string, spec: NewSegment, checksum: Checksummer): ActiveSegment {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  installRecycled(dir, recyclePath, bytes, path);
  return segmentFor(spec, path, header.salt, dir.openAppend(path));
}

/** The crash-safe order of reuse: header written and synced under the recycle name, then renamed to `path`. */
function installRecycled(dir: Directory, recyclePath: string, header: Uint8Array, path: string): void {
  const staged = dir.openAppend(recyclePath);
  try {
    staged.writeAt(header, 0);
    staged.sync();
  } finally {
    staged.close();
  }
  dir.atomicRename(recyclePath, path);
}

function segmentFor(spec: NewSegment, path: string, salt: number, file: WritableFile): ActiveSegment {
  return new ActiveSegment({
    segmentId: spec.segmentId, path, salt, firstEntryId: spec.firstEntryId, syncWindow: spec.syncWindow,
    createdAt: spec.createdAt, file, position: SEGMENT_HEADER_SIZE, synced: SEGMENT_HEADER_SIZE, frameCount: 0, version: MARKS_VERSION,
  });
}

/**
 * A segment decided on but not created: its header (hence its salt) is fixed, so frames can be
 * laid out and sealed for it, but the file appears only when its first batch commits
 * (createPlannedFile / installPlannedRecycled), which the group-commit path does only after the batch
 * that synced the previous segment completed (rule A). For a new file that first batch runs two
 * commits: the header alone (write + fdatasync), then the batch's frames (write + fdatasync and
 * the directory fsync for the new entry). Written together, a torn write could keep a frame and
 * lose the header, which the reader must call damage; in this order a crash leaves at worst a
 * torn header with no frames, or a whole header and a torn tail, and no entry of the segment was
 * reported durable before the frames' commit completed. A recycled file gets its header written
 * and synced before it is renamed into place (installPlannedRecycled), so its first commit is frames only.
 */
export function planSegment(spec: NewSegment, checksum: Checksummer): ActiveSegment {
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const segment = new ActiveSegment({
    segmentId: spec.segmentId, path: segmentPath(spec.segmentId), salt: header.salt, firstEntryId: spec.firstEntryId,
    syncWindow: spec.syncWindow, createdAt: spec.createdAt, file: undefined, position: SEGMENT_HEADER_SIZE, synced: 0, frameCount: 0,
    version: MARKS_VERSION,
  });
  segment.pendingHeader = bytes;
  return segment;
}

/**
 * Creates a planned segment's file (its header stays pending, for the first commit to write).
 * Returns whether preallocation was unavailable. The directory entry needs syncDir('wal').
 */
export function createPlannedFile(dir: Directory, segment: ActiveSegment, preallocate: number): boolean {
  const file = dir.create(segment.path);
  let preallocationFailed = false;
  try {
    if (preallocate > SEGMENT_HEADER_SIZE && !reserve(dir, file, preallocate, segment.path)) preallocationFailed = true;
  } catch (err) {
    file.close();
    throw err;
  }
  segment.attach(file);
  return preallocationFailed;
}

/**
 * Turns a recycled file into a planned segment in reuseSegment's order, off the event loop: the
 * header is written and fdatasynced under the recycle name by the file's own commit (the commit
 * thread, or the thread pool on node:fs), then the file is renamed into place and the directory
 * fsynced, before any frame is written. The fsync cannot ride with the first frames commit (it
 * runs after that commit's fdatasync): a power cut could then keep the frames and lose the
 * rename, leaving a recycle file that holds frames sealed under this header's salt. The salt is
 * the header's CRC, the same for the same segment id and first entry id, so the next writer,
 * reusing that file for the same segment, would write an identical header in front of frames
 * nobody was told are durable, and they would validate.
 */
export async function installPlannedRecycled(dir: Directory, recyclePath: string, segment: ActiveSegment): Promise<void> {
  const header = segment.pendingHeader;
  if (header === undefined) throw new InvalidStateError(`segment ${segment.path} is not planned`);
  const staged = dir.openAppend(recyclePath);
  try {
    await staged.commitAsync({ chunks: [header], position: 0 });
  } catch (err) {
    try {
      staged.close();
    } catch {
      // The commit's failure is the one to report.
    }
    throw err;
  }
  staged.close();
  dir.renameNoSync(recyclePath, segment.path);
  await dir.syncDirAsync(parentOf(segment.path));
  segment.attach(dir.openAppend(segment.path));
  segment.pendingHeader = undefined;
  segment.synced = SEGMENT_HEADER_SIZE;
}
