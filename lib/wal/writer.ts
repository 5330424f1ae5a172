import type { Checksummer } from '../backend/backend';
import { channels } from '../diagnostics';
import type { Directory, DirectoryLock } from '../directory/directory';
import { AlreadyExistsError, ClosedError, InvalidArgumentError, InvalidStateError, NotFoundError, PoisonedError } from '../errors';
import { cutBackToSynced } from '../framed/cut-back';
import { encodePayload } from '../framed/encode';
import { requireDirectory, typeName } from '../guards';
import { ActiveSegment, commitHeader, createPlannedFile, createSegment, planSegment, reusePlannedFile, reuseSegment } from './active-segment';
import { FrameBuffer, sealedFrame } from './frame-buffer';
import { encodeMark, FRAME_HEADER_SIZE, LOCK_FILE, MARK_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR } from './format';
import { Batch, COMMIT_DEPTH, CommitQueue } from './group-commit';
import { notify, publishEvent, type WalObserver } from './observer';
import { resolveWriterOptions, type ResolvedWriterOptions, type WalWriterOptions } from './options';
import { checkRecyclePath, RecyclePool } from './recycle-pool';
import { resumeTail, type ResumedTail } from './resume';
import { listSegments } from './segment-files';

// The single writer of a log. Entries are framed into a buffer (append), written to the OS
// (flush) and made durable (sync). Rules the reader depends on (docs/FORMAT.md):
//   A. before segment n+1 is created, segment n is trimmed, fdatasynced completely, and its
//      directory entry made durable;
//   B. at most W bytes of a segment are ever written but not fdatasynced (a single frame larger
//      than W is written alone, right after a sync);
//   C. a sync() returns only after the current segment is fdatasynced and every segment created
//      since the last directory fsync has its entry made durable;
//   D. (format v2) the first write after an fdatasync of the segment is led by a sync mark
//      carrying how far that fdatasync reached, and close ends with one: a reader then tells
//      damage in synced bytes from a torn last commit (ActiveSegment.pendingMark, batchMark).
// Any failed write, rotation or sync poisons the writer: the failing call throws the cause and
// every later call throws PoisonedError. A failed fdatasync is never retried.
//
// Two I/O modes. Synchronous (append + flush policy, flushSync, syncSync, rotation on append):
// frames go to the OS from the calling thread. Pipelined (from the first appendDurable,
// appendBatchDurable or sync until every commit is done; flush() joins only commits already
// pending): all I/O is group commits
// (group-commit.ts), one in flight at a time, each a write + fdatasync (+ directory fsync) off
// the event loop; frames appended meanwhile, durable or not, wait in the next batch. The rules
// hold per batch:
//   A. a batch never spans segments. Rotation cuts the filling batch and marks it as ending its
//      segment (its commit also trims and syncs it); the next segment is only planned (header
//      and salt fixed, no file) and is created when its first batch starts, i.e. after the
//      ending batch completed: one commit writes and syncs its header alone, the next its frames
//      with the directory fsync (a recycled file's header is synced before its rename);
//   B. a batch is written only after the previous one was fdatasynced, so the unsynced span is
//      that batch (plus, for the first batch, what the synchronous mode left unsynced): a batch
//      is cut before a frame would take that span past W;
//   C. a commit that creates a segment also fsyncs the directory, and completes before any
//      later batch can report durable.
// syncSync() and closeSync() cannot wait for a commit off the thread: they throw
// InvalidStateError while pipelined; flushSync() then does nothing (the commits write the frames).
type Mode = 'open' | 'create' | 'resume';

const MAX_ENTRY_ID = Number.MAX_SAFE_INTEGER;
const appendChannel = channels.append;

export class WalWriter<E> {
  /** Creates a log in an empty directory or resumes the one there. */
  static open<E>(dir: Directory, options: WalWriterOptions<E>): WalWriter<E> {
    return WalWriter.start(dir, options, 'open');
  }

  /** Creates a new log; AlreadyExistsError when the directory already holds segments. */
  static create<E>(dir: Directory, options: WalWriterOptions<E>): WalWriter<E> {
    return WalWriter.start(dir, options, 'create');
  }

  /** Continues an existing log after its last good entry (repairing a torn tail); NotFoundError when there is none. */
  static resume<E>(dir: Directory, options: WalWriterOptions<E>): WalWriter<E> {
    return WalWriter.start(dir, options, 'resume');
  }

  private static start<E>(dir: Directory, options: WalWriterOptions<E>, mode: Mode): WalWriter<E> {
    requireDirectory(dir, `WalWriter.${mode}`);
    const opts = resolveWriterOptions(options);
    dir.mkdirp(WAL_DIR);
    const lock = dir.lock(LOCK_FILE);
    // Everything this call opens is closed again if it fails: a failed open leaves no descriptor.
    let segment: ActiveSegment | undefined;
    try {
      // mkdirp fsyncs the root only when it creates wal/; if that fsync failed before (or the
      // process died between the two), wal/ exists but may not survive a power cut with the log.
      dir.syncDir('');
      const checksum = dir.checksum;
      const now = opts.clock();
      let tail: ResumedTail | undefined;
      if (mode === 'create') {
        const existing = listSegments(dir).length;
        if (existing > 0) throw new AlreadyExistsError(WAL_DIR, `it holds ${existing} segment(s); use WalWriter.resume or WalWriter.open`);
      } else {
        tail = resumeTail(dir, checksum, { syncWindow: opts.syncWindow, preallocate: opts.preallocate, now });
        if (tail === undefined && mode === 'resume') throw new NotFoundError(`${WAL_DIR}/*.wal (no log to resume)`);
      }
      segment = tail?.segment;
      const pool = new RecyclePool(dir, opts.recycleCapacity);
      pool.adoptLeftovers();
      if (tail === undefined) {
        const created = createSegment(dir, {
          segmentId: 1, firstEntryId: 1, syncWindow: opts.syncWindow, createdAt: now, preallocate: opts.preallocate, zeroFill: opts.zeroFill,
        }, checksum);
        segment = created.segment;
        return new WalWriter<E>(dir, lock, opts, checksum, pool, created.segment, 1, { preallocationWorks: !created.preallocationFailed, entryDurable: false });
      }
      // The previous writer may have died before making the final segment's entry durable; after
      // this fsync (and the fdatasync resumeTail did) every entry found in the log is durable.
      dir.syncDir(WAL_DIR);
      return new WalWriter<E>(dir, lock, opts, checksum, pool, tail.segment, tail.nextEntryId, { preallocationWorks: !tail.preallocationFailed, entryDurable: true });
    } catch (err) {
      try {
        segment?.close();
      } finally {
        lock.release();
      }
      throw err;
    }
  }

  private readonly dir: Directory;
  private readonly lock: DirectoryLock;
  private readonly opts: ResolvedWriterOptions<E>;
  private readonly codec: ResolvedWriterOptions<E>['codec'];
  private readonly checksum: Checksummer;
  private readonly observer: WalObserver | undefined;
  private readonly pool: RecyclePool;
  /** The frames being filled: syncBuffer in synchronous mode, the filling batch's buffer when pipelined. */
  private buffer: FrameBuffer;
  private readonly syncBuffer: FrameBuffer;
  private readonly commits: CommitQueue;
  private pipelined = false;
  /** The batch `buffer` fills while pipelined. */
  private filling: Batch | undefined;
  /** While pipelined: where the unsynced span of the filling batch starts (rule B). */
  private spanBase = 0;
  private entryCap = Infinity;
  private spares: FrameBuffer[] = [];
  private readonly everyN: number;
  /** flushPolicy 'manual': only flush calls and a full buffer write frames to the OS. */
  private readonly manualFlush: boolean;
  private segment: ActiveSegment;
  private next: number;
  private durable: number;
  private sinceFlush = 0;
  private preallocate: number;
  /** Segments created so far / covered by a directory fsync (rule C). */
  private dirGeneration = 1;
  private dirSyncedGeneration = 0;
  private failure: unknown = undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private staging: Uint8Array = new Uint8Array(0);
  /** See refreshRoom. */
  private room = -1;
  private readonly ageLimited: boolean;
  private readonly payloadLimit: { readonly max: number; readonly name: string };

  private constructor(
    dir: Directory, lock: DirectoryLock, opts: ResolvedWriterOptions<E>, checksum: Checksummer, pool: RecyclePool,
    segment: ActiveSegment, nextEntryId: number, { preallocationWorks, entryDurable }: { preallocationWorks: boolean; entryDurable: boolean },
  ) {
    this.dir = dir;
    this.lock = lock;
    this.opts = opts;
    this.codec = opts.codec;
    this.checksum = checksum;
    this.observer = opts.observer;
    this.pool = pool;
    this.syncBuffer = new FrameBuffer(opts.bufferSize);
    this.buffer = this.syncBuffer;
    this.commits = new CommitQueue({
      cutFilling: () => this.cutFilling(),
      start: (batch) => this.startCommit(batch),
      committed: (batch) => this.committed(batch),
      failed: (batch, err, abandoned) => this.commitFailed(batch, err, abandoned),
      drained: () => this.leavePipeline(),
    });
    this.everyN = opts.flush.everyN;
    this.manualFlush = opts.flush.everyN === 0 && opts.flush.intervalMs === 0;
    this.segment = segment;
    this.next = nextEntryId;
    this.durable = entryDurable ? nextEntryId - 1 : 0;
    if (entryDurable) this.dirSyncedGeneration = this.dirGeneration;
    this.preallocate = preallocationWorks ? opts.preallocate : 0;
    this.ageLimited = opts.maxSegmentAgeMs > 0;
    this.payloadLimit = { max: opts.maxPayloadSize, name: 'maxPayloadSize' };
    this.refreshRoom();
    if (opts.flush.intervalMs > 0) {
      this.timer = setInterval(() => this.flushOnTimer(), opts.flush.intervalMs);
      this.timer.unref();
    }
  }

  /** Id of the last entry appended (0 when the log has none). */
  get lastEntryId(): number {
    return this.next - 1;
  }

  /** Id the next append will get. */
  get nextEntryId(): number {
    return this.next;
  }

  /** Every entry up to this id is on stable storage (as far as this writer has synced; 0: none yet). */
  get durableEntryId(): number {
    return this.durable;
  }

  get currentSegmentId(): number {
    return this.segment.segmentId;
  }

  /** Size the current segment will have once buffered frames are written. */
  get currentSegmentBytes(): number {
    return this.segment.position + this.buffer.length;
  }

  get poisoned(): boolean {
    return this.failure !== undefined;
  }

  /** The failure that poisoned the writer, if any. */
  get poisonCause(): unknown {
    return this.failure;
  }

  get closed(): boolean {
    return this.state !== 'open';
  }

  /** Frames one entry into the buffer and returns its id. Encode failures leave the log untouched. */
  append(entry: E): number {
    this.checkUsable();
    const payload = this.encode(entry, 0);
    const id = this.frame(payload);
    if (this.everyN !== 0 && ++this.sinceFlush >= this.everyN) this.writeBuffered();
    return id;
  }

  /**
   * Appends entries with consecutive ids. Every entry is encoded before any is framed, so an
   * encode failure anywhere appends none and consumes no id.
   */
  appendBatch(entries: readonly E[]): number[] {
    this.checkUsable();
    if (!Array.isArray(entries)) throw new InvalidArgumentError('appendBatch takes an array of entries');
    const n = entries.length;
    if (n === 0) return [];
    if (this.next + n - 1 > MAX_ENTRY_ID) throw new InvalidStateError('entry ids would pass 2^53 - 1');
    // Encoders may reuse their output buffer between calls, so each payload is copied out.
    const ends = new Array<number>(n);
    let used = 0;
    for (let i = 0; i < n; i++) {
      const payload = this.encode(entries[i], i);
      if (used + payload.length > this.staging.length) this.growStaging(used + payload.length, used);
      this.staging.set(payload, used);
      used += payload.length;
      ends[i] = used;
    }
    const staging = this.staging;
    if (staging.length > this.opts.bufferSize * 4) this.staging = new Uint8Array(0);
    const ids = new Array<number>(n);
    let start = 0;
    for (let i = 0; i < n; i++) {
      ids[i] = this.frame(staging.subarray(start, ends[i]));
      start = ends[i];
    }
    // A returned batch is in the OS's hands, so it survives the process (not a power cut: that is
    // sync's job). It counts as one flush whatever its size; only 'manual' leaves it buffered.
    if (!this.manualFlush) this.writeBuffered();
    return ids;
  }

  /**
   * Frames one entry like append and resolves with its id once it is durable: fdatasynced, with
   * every segment holding it or an earlier entry and their directory entries. The id is
   * assigned at once, in call order; callers are batched (group commit). On memory and simulated
   * directories commits complete within microtasks, so a loop that only awaits appendDurable
   * there never lets timers run.
   */
  async appendDurable(entry: E): Promise<number> {
    this.checkUsable();
    this.enterPipeline();
    const id = this.frame(this.encode(entry, 0));
    await this.commits.waitFor(this.newestBatch());
    return id;
  }

  /** appendBatch, then resolves with the ids once all of them are durable. */
  async appendBatchDurable(entries: readonly E[]): Promise<number[]> {
    this.checkUsable();
    this.enterPipeline();
    const ids = this.appendBatch(entries);
    await this.commits.waitFor(this.newestBatch());
    return ids;
  }

  /** Writes buffered frames to the OS (not durable until sync). While pipelined the commits write them. */
  flushSync(): void {
    this.checkUsable();
    this.writeBuffered();
  }

  /** flushSync; while commits are pending it waits for them instead (they write, and sync, every frame appended so far). */
  async flush(): Promise<void> {
    this.checkUsable();
    if (this.pipelined) await this.syncPipelined();
    else this.writeBuffered();
  }

  /** Makes every entry appended so far durable, blocking the thread for the fdatasync. */
  syncSync(): void {
    this.checkUsable();
    this.checkNotPipelined('syncSync', 'sync');
    this.writeBuffered();
    const cover = this.next - 1;
    try {
      if (this.segment.synced < this.segment.position) this.segment.syncNow();
      if (this.dirSyncedGeneration < this.dirGeneration) {
        const generation = this.dirGeneration;
        this.dir.syncDir(WAL_DIR);
        this.dirSyncedGeneration = generation;
      }
    } catch (err) {
      this.fail(err);
    }
    this.markDurable(cover);
  }

  /** Makes every entry appended before the call durable, through the group-commit pipeline (off the event loop). */
  async sync(): Promise<void> {
    this.checkUsable();
    if (!this.pipelined && this.buffer.count === 0 && this.segment.synced >= this.segment.position && this.dirSyncedGeneration >= this.dirGeneration) {
      this.markDurable(this.next - 1);
      return;
    }
    this.enterPipeline();
    await this.syncPipelined();
  }

  /** Hands files returned by WalMaintenance.truncateToRecycle to this writer for reuse (or deletion, past recycleCapacity). */
  recycle(paths: readonly string[]): void {
    this.checkUsable();
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) {
      throw new InvalidArgumentError(`recycle takes the array of paths WalMaintenance.truncateToRecycle returned, not ${typeName(paths)}`);
    }
    for (const path of paths) checkRecyclePath(path);
    for (const path of paths) this.pool.add(path);
  }

  /** Flushes, trims preallocated space, syncs and releases the lock. Throws PoisonedError (after releasing) if poisoned. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'closing';
    this.closing = this.closeAsync();
    return this.closing;
  }

  closeSync(): void {
    if (this.state !== 'open') {
      if (this.state === 'closing') throw new InvalidStateError('close() is already in progress');
      return;
    }
    if (this.failure === undefined) this.checkNotPipelined('closeSync', 'close');
    this.state = 'closing';
    this.stopTimer();
    try {
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      this.finishSync();
    } finally {
      this.release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  [Symbol.dispose](): void {
    this.closeSync();
  }

  // ---- append path -------------------------------------------------------------------------

  private encode(entry: E, index: number): Uint8Array {
    const payload = encodePayload(this.codec, entry, `entry ${this.next + index}`, this.payloadLimit);
    const admit = this.observer?.admit;
    if (admit !== undefined) admit.call(this.observer, FRAME_HEADER_SIZE + payload.length);
    return payload;
  }

  /** Gives `payload` the next id and places its frame, rotating and syncing first where the rules say. */
  private frame(payload: Uint8Array): number {
    const frameBytes = FRAME_HEADER_SIZE + payload.length;
    // Fast path: the frame fits the buffer, the segment and the sync window, so no rule can
    // trigger (see refreshRoom). Age limits always take the careful path.
    if (frameBytes > this.room || this.ageLimited || this.buffer.count >= this.entryCap) return this.frameCarefully(payload, frameBytes);
    const id = this.next;
    this.buffer.add(id, payload);
    this.room -= frameBytes;
    this.appended(id, frameBytes);
    return id;
  }

  private frameCarefully(payload: Uint8Array, frameBytes: number): number {
    let segment = this.segment;
    const pipelined = this.pipelined;
    if (segment.frameCount > 0 && this.mustRotate(segment, frameBytes)) {
      if (pipelined) this.rotateLater();
      else this.rotate();
      segment = this.segment;
    }
    const id = this.next;
    if (id > MAX_ENTRY_ID) throw new InvalidStateError('entry ids would pass 2^53 - 1');
    // Rule B: the frame would take the unsynced span past W, so close the span first.
    const unsynced = segment.position + this.buffer.length + this.markBytes() - (pipelined ? this.spanBase : segment.synced);
    if (unsynced > 0 && unsynced + frameBytes > segment.syncWindow) {
      if (pipelined) this.cut();
      else this.syncWindowFull();
    }
    if (this.buffer.length + frameBytes > this.buffer.capacity || this.buffer.count >= this.entryCap) {
      if (pipelined) this.cut();
      else this.writeBuffered();
      if (frameBytes > this.buffer.capacity) {
        if (pipelined) this.cutOversize(id, payload);
        else this.writeOversize(id, payload);
        this.appended(id, frameBytes);
        this.refreshRoom();
        return id;
      }
    }
    const buffer = this.buffer;
    buffer.add(id, payload);
    this.appended(id, frameBytes);
    this.refreshRoom();
    return id;
  }

  /**
   * Bytes the next frames may take with no rule to apply: rotation, a sync-window sync and a
   * buffer write all start beyond it. Computed as if the segment held frames and had unsynced
   * bytes (the cases where those rules apply), so it only errs small. Refreshed after the
   * careful path, a flush, a sync or a rotation; a stale value is smaller, never larger.
   */
  private refreshRoom(): void {
    const segment = this.segment;
    const end = segment.position + this.buffer.length + this.markBytes();
    this.room = this.next >= MAX_ENTRY_ID ? -1 : Math.min(
      this.opts.maxSegmentSize - end,
      segment.syncWindow - (end - (this.pipelined ? this.spanBase : segment.synced)),
      this.buffer.capacity - this.buffer.length,
    );
  }

  private appended(id: number, frameBytes: number): void {
    this.next = id + 1;
    this.segment.frameCount++;
    const observer = this.observer;
    if (observer !== undefined && observer.onAppend !== undefined) notify(observer, 'onAppend', id, frameBytes);
    if (appendChannel.hasSubscribers) appendChannel.publish({ entryId: id, frameBytes, segmentId: this.segment.segmentId });
  }

  /**
   * MARK_SIZE when the buffered frames may be written behind a sync mark (see batchMark,
   * pendingMark), else 0. While a commit of this segment is pending it may complete before the
   * cut and call for a mark, so room for one is kept.
   */
  private markBytes(): number {
    const segment = this.segment;
    if (!segment.marks) return 0;
    if (this.pipelined && this.commits.last?.segment === segment) return MARK_SIZE;
    return segment.synced > segment.markedTo ? MARK_SIZE : 0;
  }

  private mustRotate(segment: ActiveSegment, frameBytes: number): boolean {
    if (segment.position + this.buffer.length + this.markBytes() + frameBytes > this.opts.maxSegmentSize) return true;
    return this.opts.maxSegmentAgeMs > 0 && this.opts.clock() - segment.createdAt >= this.opts.maxSegmentAgeMs;
  }

  /** Seals and writes every buffered frame with one checksum call and one write. */
  private writeBuffered(): void {
    this.sinceFlush = 0;
    if (this.pipelined) return; // the pending commits write these frames
    const buffer = this.buffer;
    if (buffer.count === 0) return;
    const segment = this.segment;
    const mark = segment.pendingMark();
    try {
      segment.write(buffer.seal(segment.salt, this.checksum, mark));
      if (mark > 0) segment.markedTo = mark;
    } catch (err) {
      buffer.clear();
      this.fail(err);
    }
    const bytes = buffer.length;
    buffer.clear();
    this.refreshRoom();
    this.flushed(bytes);
  }

  private writeOversize(id: number, payload: Uint8Array): void {
    const segment = this.segment;
    const mark = segment.pendingMark();
    try {
      segment.write(sealedFrame(id, payload, segment.salt, this.checksum, mark));
      if (mark > 0) segment.markedTo = mark;
    } catch (err) {
      this.fail(err);
    }
    this.flushed(FRAME_HEADER_SIZE + payload.length, id);
  }

  private flushed(bytes: number, lastEntryId = this.next - 1): void {
    const info = { segmentId: this.segment.segmentId, bytes, lastEntryId };
    publishEvent(this.observer, 'onFlush', info);
  }

  private syncWindowFull(): void {
    this.writeBuffered();
    try {
      this.segment.syncNow();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Rule A: the old segment is complete and durable, entry and all, before the next one exists. */
  private rotate(): void {
    const old = this.segment;
    this.writeBuffered();
    try {
      old.trim();
      old.syncNow();
      if (this.dirSyncedGeneration < this.dirGeneration) {
        const generation = this.dirGeneration;
        this.dir.syncDir(WAL_DIR);
        this.dirSyncedGeneration = generation;
      }
      old.close();
      this.segment = this.openSegment(old.segmentId + 1, this.next);
    } catch (err) {
      this.fail(err);
    }
    // Everything before the new segment is now durable.
    this.markDurable(this.next - 1, { announce: false });
    const info = { fromSegmentId: old.segmentId, toSegmentId: this.segment.segmentId, firstEntryId: this.next };
    publishEvent(this.observer, 'onRotate', info);
  }

  private openSegment(segmentId: number, firstEntryId: number): ActiveSegment {
    const spec = {
      segmentId, firstEntryId, syncWindow: this.opts.syncWindow, createdAt: this.opts.clock(), preallocate: this.preallocate, zeroFill: this.opts.zeroFill,
    };
    const recycled = this.pool.take();
    if (recycled !== undefined) return reuseSegment(this.dir, recycled, spec, this.checksum);
    const { segment, preallocationFailed } = createSegment(this.dir, spec, this.checksum);
    if (preallocationFailed) this.preallocate = 0;
    this.dirGeneration++;
    return segment;
  }

  // ---- sync and close -----------------------------------------------------------------------

  private markDurable(cover: number, { announce = true }: { announce?: boolean } = {}): void {
    if (cover > this.durable) this.durable = cover;
    if (!announce) return;
    const info = { durableEntryId: this.durable };
    publishEvent(this.observer, 'onSync', info);
  }

  private async closeAsync(): Promise<void> {
    this.stopTimer();
    try {
      // Entries appended before close() are committed (or rejected by a failure), never left waiting.
      if (this.pipelined && this.failure === undefined) await this.syncPipelined().catch(() => undefined);
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      this.writeBuffered();
      const segment = this.segment;
      try {
        if (segment.trim() || segment.synced < segment.position) await segment.syncAsync();
        if (this.writeClosingMark()) await segment.syncAsync();
        if (this.dirSyncedGeneration < this.dirGeneration) await this.dir.syncDirAsync(WAL_DIR);
      } catch (err) {
        this.fail(err);
      }
      this.dirSyncedGeneration = this.dirGeneration;
      this.markDurable(this.next - 1);
    } finally {
      this.release();
    }
  }

  private finishSync(): void {
    this.writeBuffered();
    const segment = this.segment;
    try {
      if (segment.trim() || segment.synced < segment.position) segment.syncNow();
      if (this.writeClosingMark()) segment.syncNow();
      if (this.dirSyncedGeneration < this.dirGeneration) this.dir.syncDir(WAL_DIR);
    } catch (err) {
      this.fail(err);
    }
    this.dirSyncedGeneration = this.dirGeneration;
    this.markDurable(this.next - 1);
  }

  /**
   * On close, with the segment synced: a last sync mark vouching for every byte before it, so
   * damage anywhere in a closed log reads as damage (docs/FORMAT.md); the caller syncs it.
   */
  private writeClosingMark(): boolean {
    const segment = this.segment;
    // A log that reached the last entry id has no next id for the mark to carry.
    const mark = segment.exists && this.next <= MAX_ENTRY_ID ? segment.pendingMark() : 0;
    if (mark === 0) return false;
    segment.write(encodeMark(this.next, mark, segment.salt, this.checksum));
    segment.markedTo = mark;
    return true;
  }

  /** Closes the segment and releases the lock, whatever state the writer is in. */
  private release(): void {
    this.state = 'closed';
    this.stopTimer();
    let first: unknown;
    try {
      this.segment.close();
    } catch (err) {
      first = err;
    }
    try {
      this.lock.release();
    } catch (err) {
      first ??= err;
    }
    if (first !== undefined && this.failure === undefined) throw first;
  }

  // ---- group commit (see the header comment and group-commit.ts) ----------------------------

  /** Switches to pipelined I/O; frames buffered by the synchronous mode become the first batch. */
  private enterPipeline(): void {
    if (this.pipelined) {
      this.commits.schedule();
      return;
    }
    this.pipelined = true;
    const segment = this.segment;
    this.spanBase = segment.synced;
    this.filling = new Batch(segment, segment.position, this.buffer);
    if (this.buffer.count > 0) this.cut();
    else this.useBuffer(this.spare());
    this.entryCap = this.opts.maxBatchEntries;
    this.refreshRoom();
    this.commits.schedule();
  }

  private leavePipeline(): void {
    this.pipelined = false;
    this.filling = undefined;
    if (this.buffer !== this.syncBuffer) this.recycleBuffer(this.buffer);
    this.buffer = this.syncBuffer;
    this.entryCap = Infinity;
    this.refreshRoom();
  }

  /** The batch holding the newest entry (undefined: everything appended is durable). */
  private newestBatch(): Batch | undefined {
    return this.buffer.count > 0 ? this.filling : this.commits.last;
  }

  /** Waits until everything appended so far, and anything the synchronous mode left unsynced, is durable. */
  private syncPipelined(): Promise<void> {
    // An empty filling batch with a waiter commits nothing but an fdatasync (and a directory fsync).
    const target = this.buffer.count > 0 ? this.filling : this.commits.last ?? this.filling;
    const done = this.commits.waitFor(target);
    this.commits.schedule();
    return done;
  }

  /**
   * Moves the filling batch into the commit queue and starts filling the next one. Skipped when there is
   * nothing to commit: no frames, nobody waiting, not ending the segment, nothing unsynced before it.
   */
  private cut({ endsSegment = false }: { endsSegment?: boolean } = {}): void {
    const batch = this.filling as Batch;
    const buffer = this.buffer;
    const segment = this.segment;
    if (buffer.count === 0 && !endsSegment && batch.waiter === undefined && this.spanBase === segment.position) return;
    batch.mark = this.batchMark({ hasFrames: buffer.count > 0 });
    batch.bytes = buffer.length + (batch.mark > 0 ? MARK_SIZE : 0);
    batch.lastEntryId = this.next - 1;
    batch.endsSegment = endsSegment;
    if (buffer.count === 0) batch.frames = undefined;
    else this.buffer = this.spare(); // the cut batch keeps `buffer` until its commit completes
    segment.position += batch.bytes;
    this.commits.push(batch);
    this.spanBase = segment.position;
    this.filling = new Batch(segment, segment.position, this.buffer);
    this.refreshRoom();
  }

  /**
   * The sync mark of a batch being cut: how far a completed fdatasync of the segment reached when
   * it was cut. An earlier batch may still be in flight (COMMIT_DEPTH), so its bytes do not count.
   */
  private batchMark({ hasFrames }: { hasFrames: boolean }): number {
    const segment = this.segment;
    if (!hasFrames || !segment.marks || segment.synced <= segment.markedTo) return 0;
    segment.markedTo = segment.synced;
    return segment.synced;
  }

  private cutFilling(): boolean {
    if (this.filling === undefined || (this.buffer.count === 0 && this.filling.waiter === undefined)) return false;
    this.cut();
    return true;
  }

  /** A frame larger than a batch buffer: a batch of its own, sealed now (the payload may be reused by the codec). */
  private cutOversize(id: number, payload: Uint8Array): void {
    const segment = this.segment;
    const batch = this.filling as Batch;
    batch.frames = undefined;
    batch.mark = this.batchMark({ hasFrames: true });
    batch.sealed = sealedFrame(id, payload, segment.salt, this.checksum, batch.mark);
    batch.bytes = batch.sealed.length;
    batch.lastEntryId = id;
    segment.position += batch.bytes;
    this.commits.push(batch);
    this.spanBase = segment.position;
    this.filling = new Batch(segment, segment.position, this.buffer);
  }

  /** Rule A, pipelined: the filling batch ends the segment; the next segment is planned, created when its first batch commits. */
  private rotateLater(): void {
    const old = this.segment;
    this.cut({ endsSegment: true });
    const next = planSegment({
      segmentId: old.segmentId + 1, firstEntryId: this.next, syncWindow: this.opts.syncWindow, createdAt: this.opts.clock(), preallocate: 0,
    }, this.checksum);
    this.segment = next;
    this.spanBase = SEGMENT_HEADER_SIZE;
    this.filling = new Batch(next, next.position, this.buffer);
    this.refreshRoom();
  }

  private startCommit(batch: Batch): Promise<void> {
    const segment = batch.segment;
    const chunks: Uint8Array[] = [];
    batch.opensSegment = !segment.exists || segment.pendingHeader !== undefined;
    if (!segment.exists) this.createPlanned(segment);
    const header = segment.pendingHeader;
    segment.pendingHeader = undefined;
    if (batch.frames !== undefined) chunks.push(batch.frames.seal(segment.salt, this.checksum, batch.mark));
    else if (batch.sealed !== undefined) chunks.push(batch.sealed);
    const end = batch.start + batch.bytes;
    if (!batch.endsSegment) chunks.push(...segment.zeroAhead(end, this.opts.maxSegmentSize));
    const truncateTo = batch.endsSegment && segment.fileSize() > end ? end : undefined;
    const generation = this.dirGeneration;
    const syncDirs = this.dirSyncedGeneration < generation ? [WAL_DIR] : undefined;
    batch.dirGeneration = generation;
    const plan = { chunks, position: batch.start, truncateTo, syncDirs };
    if (header === undefined) return segment.commit(plan, end);
    // Rule A: the header is fdatasynced before any frame is written. Written together, a torn
    // write could keep a frame and lose the header, which the reader must call damage. A new
    // file's zero fill (options.zeroFill) is committed with and after it (see commitHeader).
    return commitHeader(segment, header, this.opts.zeroFill).then(() => segment.commit(plan, end));
  }

  private createPlanned(segment: ActiveSegment): void {
    const recycled = this.pool.take();
    if (recycled !== undefined) {
      reusePlannedFile(this.dir, recycled, segment);
    } else {
      if (createPlannedFile(this.dir, segment, this.preallocate)) this.preallocate = 0;
      this.dirGeneration++;
    }
    const info = { fromSegmentId: segment.segmentId - 1, toSegmentId: segment.segmentId, firstEntryId: segment.firstEntryId };
    publishEvent(this.observer, 'onRotate', info);
  }

  private committed(batch: Batch): void {
    if (batch.dirGeneration > this.dirSyncedGeneration) this.dirSyncedGeneration = batch.dirGeneration;
    if (batch.frames !== undefined) this.recycleBuffer(batch.frames);
    if (batch.endsSegment) batch.segment.close();
    if (batch.bytes > 0) {
      const info = { segmentId: batch.segment.segmentId, bytes: batch.bytes, lastEntryId: batch.lastEntryId };
      publishEvent(this.observer, 'onFlush', info);
    }
    this.markDurable(batch.lastEntryId);
  }

  private commitFailed(batch: Batch, err: unknown, abandoned: readonly Batch[]): void {
    this.poison(err, batch.segment);
    // Segments the failed batches were to close would otherwise keep their descriptors.
    for (const b of [batch, ...abandoned]) if (b.endsSegment) b.segment.close();
  }

  private spare(): FrameBuffer {
    return this.spares.pop() ?? new FrameBuffer(this.opts.maxBatchBytes);
  }

  private recycleBuffer(buffer: FrameBuffer): void {
    buffer.clear();
    if (buffer !== this.syncBuffer && this.spares.length < COMMIT_DEPTH) this.spares.push(buffer);
  }

  private useBuffer(buffer: FrameBuffer): void {
    this.buffer = buffer;
    if (this.filling !== undefined) this.filling.frames = buffer;
  }

  // ---- state --------------------------------------------------------------------------------

  private checkUsable(): void {
    if (this.state !== 'open') throw new ClosedError('WalWriter');
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
  }

  /** Poisons the writer (first failure wins) and rethrows the failure to the current caller. */
  private fail(err: unknown): never {
    this.poison(err);
    throw err;
  }

  /** `segment`: the one whose write or sync failed. */
  private poison(err: unknown, segment: ActiveSegment = this.segment): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.stopTimer();
    discardUnsynced(this.dir, segment);
    if (channels.poison.hasSubscribers) channels.poison.publish({ error: err, segmentId: segment.segmentId });
  }

  private checkNotPipelined(call: string, instead: string): void {
    if (this.pipelined) {
      throw new InvalidStateError(`${call}() cannot wait for the group commits in flight (appendDurable, sync); use await ${instead}()`);
    }
  }

  private flushOnTimer(): void {
    if (this.state !== 'open' || this.failure !== undefined) return;
    try {
      this.writeBuffered();
    } catch {
      // The writer is poisoned and the poison channel has the error; the next call throws it.
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private growStaging(needed: number, keep: number): void {
    const next = new Uint8Array(Math.max(needed, this.staging.length * 2, 4096));
    next.set(this.staging.subarray(0, keep));
    this.staging = next;
  }
}

/** cutBackToSynced for a failed writer's segment, if its file was created. */
function discardUnsynced(dir: Directory, segment: ActiveSegment): void {
  if (segment.exists) cutBackToSynced(dir, segment.path, segment.synced);
}
