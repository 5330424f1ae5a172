import type { Checksummer } from '../backend/backend';
import { channels } from '../diagnostics';
import type { Directory, DirectoryLock } from '../directory/directory';
import { AlreadyExistsError, ClosedError, describe, EncodeError, InvalidArgumentError, InvalidStateError, NotFoundError, PoisonedError } from '../errors';
import { ActiveSegment, createSegment, reuseSegment } from './active-segment';
import { FrameBuffer, sealedFrame } from './frame-buffer';
import { FRAME_HEADER_SIZE, LOCK_FILE, WAL_DIR } from './format';
import { notify, type WalObserver } from './observer';
import { resolveWriterOptions, type ResolvedWriterOptions, type WalWriterOptions } from './options';
import { RecyclePool } from './recycle-pool';
import { resumeTail, type ResumedTail } from './resume';
import { listSegments } from './segment-scan';

// The single writer of a log. Entries are framed into a buffer (append), written to the OS
// (flush) and made durable (sync). Rules the reader depends on (docs/FORMAT.md):
//   A. before segment n+1 is created, segment n is trimmed, fdatasynced completely, and its
//      directory entry made durable;
//   B. at most W bytes of a segment are ever written but not fdatasynced (a single frame larger
//      than W is written alone, right after a sync);
//   C. a sync() returns only after the current segment is fdatasynced and every segment created
//      since the last directory fsync has its entry made durable.
// Any failed write, rotation or sync poisons the writer: the failing call throws the cause and
// every later call throws PoisonedError. A failed fdatasync is never retried.

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
    const opts = resolveWriterOptions(options);
    dir.mkdirp(WAL_DIR);
    const lock = dir.lock(LOCK_FILE);
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
        tail = resumeTail(dir, checksum, { syncWindow: opts.syncWindow, preallocate: opts.preallocate, maxPayloadSize: opts.maxPayloadSize, now });
        if (tail === undefined && mode === 'resume') throw new NotFoundError(`${WAL_DIR}/*.wal (no log to resume)`);
      }
      const pool = new RecyclePool(dir, opts.recycleCapacity);
      pool.adoptLeftovers();
      if (tail === undefined) {
        const { segment, preallocationFailed } = createSegment(dir, {
          segmentId: 1, firstEntryId: 1, syncWindow: opts.syncWindow, createdAt: now, preallocate: opts.preallocate,
        }, checksum);
        return new WalWriter<E>(dir, lock, opts, checksum, pool, segment, 1, !preallocationFailed, false);
      }
      // The previous writer may have died before making the final segment's entry durable; after
      // this fsync (and the fdatasync resumeTail did) every entry found in the log is durable.
      dir.syncDir(WAL_DIR);
      return new WalWriter<E>(dir, lock, opts, checksum, pool, tail.segment, tail.nextEntryId, !tail.preallocationFailed, true);
    } catch (err) {
      lock.release();
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
  private readonly buffer: FrameBuffer;
  private readonly everyN: number;
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
  private readonly inFlight = new Set<Promise<unknown>>();
  private staging: Uint8Array = new Uint8Array(0);
  /** See refreshRoom. */
  private room = -1;
  private readonly ageLimited: boolean;
  private readonly maxPayloadSize: number;

  private constructor(
    dir: Directory, lock: DirectoryLock, opts: ResolvedWriterOptions<E>, checksum: Checksummer, pool: RecyclePool,
    segment: ActiveSegment, nextEntryId: number, preallocationWorks: boolean, entryDurable: boolean,
  ) {
    this.dir = dir;
    this.lock = lock;
    this.opts = opts;
    this.codec = opts.codec;
    this.checksum = checksum;
    this.observer = opts.observer;
    this.pool = pool;
    this.buffer = new FrameBuffer(opts.bufferSize);
    this.everyN = opts.flush.everyN;
    this.segment = segment;
    this.next = nextEntryId;
    this.durable = entryDurable ? nextEntryId - 1 : 0;
    if (entryDurable) this.dirSyncedGeneration = this.dirGeneration;
    this.preallocate = preallocationWorks ? opts.preallocate : 0;
    this.ageLimited = opts.maxSegmentAgeMs > 0;
    this.maxPayloadSize = opts.maxPayloadSize;
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
    if (this.everyN !== 0) {
      this.sinceFlush += n;
      if (this.sinceFlush >= this.everyN) this.writeBuffered();
    }
    return ids;
  }

  /** Writes buffered frames to the OS (not durable until sync). */
  flushSync(): void {
    this.checkUsable();
    this.writeBuffered();
  }

  async flush(): Promise<void> {
    this.flushSync();
  }

  /** Makes every entry appended so far durable, blocking the thread for the fdatasync. */
  syncSync(): void {
    this.checkUsable();
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

  /** Makes every entry appended before the call durable; the fdatasync runs off the event loop. */
  async sync(): Promise<void> {
    this.checkUsable();
    this.writeBuffered();
    await this.track(this.syncCovering(this.next - 1));
  }

  /** Hands files returned by WalMaintenance.truncateToRecycle to this writer for reuse (or deletion, past recycleCapacity). */
  recycle(paths: readonly string[]): void {
    this.checkUsable();
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
    let payload: unknown;
    try {
      payload = this.codec.encode(entry);
    } catch (err) {
      throw new EncodeError(`codec ${this.codec.name} could not encode entry ${this.next + index}: ${describe(err)}`, { cause: err });
    }
    if (!(payload instanceof Uint8Array)) {
      throw new EncodeError(`codec ${this.codec.name} returned ${typeof payload}, not a Uint8Array`);
    }
    if (payload.length > this.maxPayloadSize) {
      throw new EncodeError(`entry ${this.next + index} encodes to ${payload.length} bytes, more than maxPayloadSize ${this.opts.maxPayloadSize}`);
    }
    return payload;
  }

  /** Gives `payload` the next id and places its frame, rotating and syncing first where the rules say. */
  private frame(payload: Uint8Array): number {
    const frameBytes = FRAME_HEADER_SIZE + payload.length;
    // Fast path: the frame fits the buffer, the segment and the sync window, so no rule can
    // trigger (see refreshRoom). Age limits always take the careful path.
    if (frameBytes > this.room || this.ageLimited) return this.frameCarefully(payload, frameBytes);
    const id = this.next;
    this.buffer.add(id, payload);
    this.room -= frameBytes;
    this.appended(id, frameBytes);
    return id;
  }

  private frameCarefully(payload: Uint8Array, frameBytes: number): number {
    let segment = this.segment;
    if (segment.frameCount > 0 && this.mustRotate(segment, frameBytes)) {
      this.rotate();
      segment = this.segment;
    }
    const id = this.next;
    if (id > MAX_ENTRY_ID) throw new InvalidStateError('entry ids would pass 2^53 - 1');
    // Rule B: the frame would take the unsynced span past W, so close the span first.
    const unsynced = segment.position + this.buffer.length - segment.synced;
    if (unsynced > 0 && unsynced + frameBytes > segment.syncWindow) this.syncWindowFull();
    const buffer = this.buffer;
    if (buffer.length + frameBytes > buffer.capacity) {
      this.writeBuffered();
      if (frameBytes > buffer.capacity) {
        this.writeOversize(id, payload);
        this.appended(id, frameBytes);
        this.refreshRoom();
        return id;
      }
    }
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
    const end = segment.position + this.buffer.length;
    this.room = this.next >= MAX_ENTRY_ID ? -1 : Math.min(
      this.opts.maxSegmentSize - end,
      segment.syncWindow - (end - segment.synced),
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

  private mustRotate(segment: ActiveSegment, frameBytes: number): boolean {
    if (segment.position + this.buffer.length + frameBytes > this.opts.maxSegmentSize) return true;
    return this.opts.maxSegmentAgeMs > 0 && this.opts.clock() - segment.createdAt >= this.opts.maxSegmentAgeMs;
  }

  /** Seals and writes every buffered frame with one checksum call and one write. */
  private writeBuffered(): void {
    this.sinceFlush = 0;
    const buffer = this.buffer;
    if (buffer.count === 0) return;
    const segment = this.segment;
    try {
      segment.write(buffer.seal(segment.salt, this.checksum));
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
    try {
      segment.write(sealedFrame(id, payload, segment.salt, this.checksum));
    } catch (err) {
      this.fail(err);
    }
    this.flushed(FRAME_HEADER_SIZE + payload.length, id);
  }

  private flushed(bytes: number, lastEntryId = this.next - 1): void {
    const info = { segmentId: this.segment.segmentId, bytes, lastEntryId };
    if (this.observer?.onFlush !== undefined) notify(this.observer, 'onFlush', info);
    if (channels.flush.hasSubscribers) channels.flush.publish(info);
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
    this.markDurable(this.next - 1, false);
    const info = { fromSegmentId: old.segmentId, toSegmentId: this.segment.segmentId, firstEntryId: this.next };
    if (this.observer?.onRotate !== undefined) notify(this.observer, 'onRotate', info);
    if (channels.rotate.hasSubscribers) channels.rotate.publish(info);
  }

  private openSegment(segmentId: number, firstEntryId: number): ActiveSegment {
    const spec = { segmentId, firstEntryId, syncWindow: this.opts.syncWindow, createdAt: this.opts.clock(), preallocate: this.preallocate };
    const recycled = this.pool.take();
    if (recycled !== undefined) return reuseSegment(this.dir, recycled, spec, this.checksum);
    const { segment, preallocationFailed } = createSegment(this.dir, spec, this.checksum);
    if (preallocationFailed) this.preallocate = 0;
    this.dirGeneration++;
    return segment;
  }

  // ---- sync and close -----------------------------------------------------------------------

  private async syncCovering(cover: number): Promise<void> {
    const segment = this.segment;
    const generation = this.dirGeneration;
    try {
      if (segment.synced < segment.position) await segment.syncAsync();
      if (this.dirSyncedGeneration < generation) {
        await this.dir.syncDirAsync(WAL_DIR);
        if (generation > this.dirSyncedGeneration) this.dirSyncedGeneration = generation;
      }
    } catch (err) {
      this.fail(err);
    }
    // Another fdatasync failing meanwhile may have consumed the error that belonged to ours
    // (the kernel reports a lost page once): then ours proves nothing.
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
    this.markDurable(cover);
  }

  private markDurable(cover: number, announce = true): void {
    if (cover > this.durable) this.durable = cover;
    if (!announce) return;
    const info = { durableEntryId: this.durable };
    if (this.observer?.onSync !== undefined) notify(this.observer, 'onSync', info);
    if (channels.sync.hasSubscribers) channels.sync.publish(info);
  }

  private async closeAsync(): Promise<void> {
    this.stopTimer();
    try {
      await Promise.allSettled([...this.inFlight]);
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      this.writeBuffered();
      const segment = this.segment;
      try {
        if (segment.trim() || segment.synced < segment.position) await segment.syncAsync();
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
      if (this.dirSyncedGeneration < this.dirGeneration) this.dir.syncDir(WAL_DIR);
    } catch (err) {
      this.fail(err);
    }
    this.dirSyncedGeneration = this.dirGeneration;
    this.markDurable(this.next - 1);
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

  // ---- state --------------------------------------------------------------------------------

  private checkUsable(): void {
    if (this.state !== 'open') throw new ClosedError('WalWriter');
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
  }

  /** Poisons the writer (first failure wins) and rethrows the failure to the current caller. */
  private fail(err: unknown): never {
    if (this.failure === undefined) {
      this.failure = err;
      this.stopTimer();
      if (channels.poison.hasSubscribers) channels.poison.publish({ error: err, segmentId: this.segment.segmentId });
    }
    throw err;
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const forget = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
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
