import { OWNED_BYTES } from '../backend/owned-bytes';
import { channels } from '../diagnostics';
import type { CommitPlan, WritableFile } from '../directory/directory';
import { UnsettledCommits } from '../directory/unsettled-commits';
import { isNoRoom } from '../backend/no-room';
import { ClosedError, InvalidStateError } from '../errors';
import { FRAME_HEADER_SIZE, FORMAT_VERSION as MARKS_VERSION, SEGMENT_HEADER_SIZE } from './format';

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
  /** Its header has FLAG_EARLIER_LIFE: it may go into a recycled file (a planned one only does if so). */
  readonly earlierLife: boolean;
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
  /**
   * A recycled file's size when it became this segment (0: a file made for it). Its bytes past
   * the log are its previous life's frames, sealed under another salt: a strict reader would take
   * them for a torn write at the end of the log, while the writer lives or after its process was
   * killed. So zeros are kept ahead of the log over them, as over a fresh file's new space.
   */
  private staleEnd = 0;
  /**
   * End of the zeros over the earlier life that a later write can count on: the page behind the
   * header, the synchronous mode's zeros, the frame header of zeros in a commit's own write. Never
   * optional zeros (a commit of zeros, CommitPlan.zeroChunks): a full disk leaves them out, and
   * says so only when that commit completes, after later batches may have been handed over.
   */
  private guardedTo = 0;
  /** A commit's zeros found no room (CommitPlan.zeroChunks): this segment writes no more zeros ahead. */
  private zerosSkipped = false;
  private asyncSyncs = 0;
  /** commit calls not yet settled, and which of them waitCommitsSync saw run. */
  private readonly commits = new UnsettledCommits();
  /** How far the commits handed to the file sync once they ran (their largest `upTo`). */
  private committedTo = 0;
  private closeWhenIdle = false;
  private closed = false;

  constructor(fields: {
    segmentId: number; path: string; salt: number; firstEntryId: number; syncWindow: number; createdAt: number;
    file: WritableFile | undefined; position: number; synced: number; frameCount: number; version: number; earlierLife?: boolean;
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
    this.earlierLife = fields.earlierLife === true;
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
    const file = this.handle();
    this.zeroStaleAhead(file, this.position + bytes.length);
    file.writeAt(bytes, this.position);
    this.position += bytes.length;
  }

  /** This segment's file is a recycled one: nothing past `zeroedTo` (the zeros behind its new header) is zeros yet (see staleEnd). */
  overwritesStaleBytes(zeroedTo: number): void {
    this.staleEnd = this.handle().size();
    this.spanEnd = zeroedTo;
    this.guardedTo = zeroedTo;
  }

  /**
   * The synchronous mode's zeros over a recycled file's stale bytes, once a write would end less
   * than a frame header before `guardedTo`: up to INLINE_ZERO_AHEAD bytes, never past the old end
   * (beyond it the end of the file is a clean end already). Not synced here: until the segment's next fdatasync a crash may
   * keep stale bytes there, which a power cut can leave behind any segment's last write anyway.
   * The group-commit path writes its zeros in its commits (zeroAhead, zeroAheadAsync).
   * Written before the bytes that end at `end`, not after: a failure (or a power cut) in between
   * must leave the write undone and the append that asked for it failed, not its frame on disk
   * behind an append that threw.
   */
  private zeroStaleAhead(file: WritableFile, end: number): void {
    // A frame header's worth of zeros must follow the write while an earlier life lies ahead (a
    // reader tells it from a torn write by them, docs/FORMAT.md); past it the file just ends.
    const needed = end < this.staleEnd ? FRAME_HEADER_SIZE : 0;
    if (end + needed <= this.guardedTo || this.guardedTo >= this.staleEnd) return;
    const to = Math.min(this.staleEnd, end + INLINE_ZERO_AHEAD);
    let at = end;
    for (const chunk of zeros(end, to)) {
      file.writeAt(chunk, at);
      at += chunk.length;
    }
    this.guardedTo = Math.max(end, to);
    this.spanEnd = Math.max(this.spanEnd ?? 0, this.guardedTo);
  }

  /**
   * write for bytes the writer can do without (WritableFile.writeAtWhereRoom): false, `position`
   * unmoved, when the file system had no room; part of them may lie at `position`, for the next
   * write to cover or trim() to cut. A file without that method fails as write does.
   */
  writeWhereRoom(bytes: Uint8Array): boolean {
    const file = this.handle();
    if (file.writeAtWhereRoom === undefined) {
      this.write(bytes);
      return true;
    }
    try {
      this.zeroStaleAhead(file, this.position + bytes.length);
    } catch (err) {
      // Zeros over a recycled file's earlier life need no room where the file system overwrites
      // in place; one that allocates on overwrite (copy-on-write) may have none for them. What
      // reached the file is zeros past the log's end, which read as its end as before.
      if (isNoRoom(err)) return false;
      throw err;
    }
    if (!file.writeAtWhereRoom(bytes, this.position)) return false;
    this.position += bytes.length;
    return true;
  }

  fileSize(): number {
    return this.handle().size();
  }

  /**
   * Zeros to write right after a commit's frames ending at `end`, when those frames would pass
   * the zeroed end of the file (a segment's first commit, a commit larger than what
   * zeroAheadAsync keeps ahead, or a file it does not run on): the file then extends
   * INLINE_ZERO_AHEAD bytes (at most to `limit`) past them in the same commit, as optional zeros
   * (CommitPlan.zeroChunks, left out where the disk has no room); none for a commit that ends the
   * segment, which cuts the file at its frames.
   *
   * Over a recycled file's earlier life, FRAME_HEADER_SIZE bytes instead (at most to its old end,
   * whatever `limit` is: a recycled file can be longer than maxSegmentSize, left by a log with a
   * larger one or by a segment holding one larger entry), `required`: they are what tells a reader
   * the log ends there (rule C), so the commit writes them in the same write as its frames, never
   * after them (a process killed in between left the frames followed by the earlier life, a torn
   * write to a strict read) and never leaves them out; a commit that ends the segment carries them
   * too, for its cut runs after its write. The blocks are the file's already: no allocation to
   * journal, so no more zeros than that go ahead. Only zeros counted in `guardedTo` spare them.
   */
  zeroAhead(end: number, limit: number, options: { endsSegment?: boolean } = {}): ZerosAhead {
    this.spanEnd ??= this.handle().size();
    if (end < this.staleEnd) {
      if (end + FRAME_HEADER_SIZE <= this.guardedTo) return NO_ZEROS;
      const to = Math.min(this.staleEnd, end + FRAME_HEADER_SIZE);
      this.guardedTo = Math.max(this.guardedTo, to);
      this.spanEnd = Math.max(this.spanEnd, to);
      return { chunks: zeros(end, to), required: true };
    }
    if (this.zerosSkipped || options.endsSegment === true || end <= this.spanEnd) return NO_ZEROS;
    const to = Math.min(limit, end + INLINE_ZERO_AHEAD);
    if (to <= end) return NO_ZEROS;
    this.spanEnd = to;
    return { chunks: zeros(end, to), required: false };
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
    if (!file.waitsForCommits || this.zerosSkipped) return undefined;
    this.spanEnd ??= file.size();
    const from = this.spanEnd;
    const to = Math.min(limit, from + ZERO_AHEAD);
    if (end > from || end + ZERO_AHEAD <= from || to <= from) return undefined;
    // Ahead lie a recycled file's own blocks (see zeroAhead): zeros only once the log nears their end.
    if (end + ZERO_AHEAD <= this.staleEnd) return undefined;
    this.spanEnd = to;
    // Through commit(), as a batch's commit: the same steps from the file to the queue, so its
    // completion or failure reaches the writer in the order the file ran it. It syncs no frames.
    const chunks = zeros(from, to);
    return this.commit({ chunks, position: from, zeroChunks: chunks.length }, 0);
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
    // A file that refused to wait (InvalidStateError: commits queued behind its syncAsync or
    // writeAsync; ClosedError) ran nothing; one that waited and throws a failure ran them all.
    let waited = true;
    try {
      this.handle().waitCommitsSync();
    } catch (err) {
      waited = !(err instanceof InvalidStateError || err instanceof ClosedError);
      throw err;
    } finally {
      if (waited) this.commits.sawAllRun();
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
    // The earlier life is cut off: a write after the trim (close's closing mark) needs no zeros
    // in front of it, which would extend the file just cut.
    this.staleEnd = Math.min(this.staleEnd, this.position);
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
    this.commits.handed();
    if (upTo > this.committedTo) this.committedTo = upTo;
    try {
      const result = await file.commitAsync({ ...plan, [OWNED_BYTES]: true });
      if (upTo > this.synced) this.synced = upTo;
      if (result === 'zeros-skipped') this.skipZeros();
    } finally {
      this.asyncSyncs--;
      this.commits.settled();
      if (this.asyncSyncs === 0 && this.closeWhenIdle) this.closeFile();
    }
  }

  /**
   * A commit's zeros ahead found no room and were left out (its frames were written and synced):
   * zeros are an optimisation, so this segment writes no more of them, and its commits extend the
   * file themselves. The next segment tries again (the disk may have room by then). Nothing was
   * written behind the caller's back: the commit ran whole but for its zeros.
   */
  private skipZeros(): void {
    if (this.zerosSkipped) return;
    this.zerosSkipped = true;
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'zeros-skipped', message: `no room for zeros ahead of the log in ${this.path}: the segment grows as it is written`, path: this.path });
    }
  }

  /**
   * Closes the descriptor, or defers that until no fdatasync or commit runs on it off-thread.
   * Commits waitCommitsSync saw run do not count: only their promises are still to settle.
   */
  close(): void {
    if (this.asyncSyncs > this.commits.seenRun) this.closeWhenIdle = true;
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

/** What ActiveSegment.zeroAhead asks a commit to write after its frames. */
export interface ZerosAhead {
  readonly chunks: readonly Uint8Array[];
  /** Zeros a reader needs (rule C): written with the frames, not as optional zeros (CommitPlan.zeroChunks). */
  readonly required: boolean;
}

const NO_ZEROS: ZerosAhead = { chunks: [], required: false };

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
