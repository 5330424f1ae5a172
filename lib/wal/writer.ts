import type { WalObserver } from './observer';
import type { Directory } from '../directory/directory';
import { ClosedError, InvalidArgumentError, InvalidStateError, PoisonedError } from '../errors';
import { requireDirectory, typeName } from '../guards';
import { FrameAdmission } from './frame-admission';
import { InlineCommits } from './inline-commits';
import { PipelinedCommits } from './pipelined-commits';
import { checkRecyclePath } from './recycle-pool';
import { openWriterState, type OpenMode } from './writer-open';
import type { WriterState } from './writer-state';
import { WriterTimers } from './writer-timers';
import type { WalWriterOptions } from './options';
import { checkedDirectory } from '../directory/foreign';

// The single writer of a log: its public face. Entries are framed into a buffer (append,
// frame-admission.ts), written to the OS (flush) and made durable (sync), by one of two
// executors of the same rules (writer-state.ts, commit-executor.ts):
//   - synchronous (inline-commits.ts): append with its flush policy, flushSync, syncSync,
//     closeSync; I/O on the calling thread;
//   - pipelined (pipelined-commits.ts): from the first appendDurable, appendBatchDurable or sync
//     until every commit is done (flush() joins only commits already pending); all I/O is group
//     commits off the event loop.
// Any failed write, rotation or sync poisons the writer (not an idle sync mark that finds no
// room, which nothing acknowledged depends on: InlineCommits.writeIdleMark): the failing call
// throws the cause and every later call throws PoisonedError. syncSync() and closeSync() cannot wait for a commit off
// the thread: they throw InvalidStateError while pipelined; flushSync() then does nothing (the
// commits write the frames).
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

  private static start<E>(dir: Directory, options: WalWriterOptions<E>, mode: OpenMode): WalWriter<E> {
    requireDirectory(dir, `WalWriter.${mode}`);
    return new WalWriter<E>(openWriterState(checkedDirectory(dir), options, mode));
  }

  private readonly state: WriterState<E>;
  /** finishesBeforeClose: steps on this log's files still in flight. */
  private readonly maintenance = new Set<Promise<void>>();
  private readonly inline: InlineCommits<E>;
  private readonly pipeline: PipelinedCommits<E>;
  private readonly admission: FrameAdmission<E>;
  private pipelined = false;
  private readonly everyN: number;
  /** flushPolicy 'manual': only flush calls and a full buffer write frames to the OS. */
  private readonly manualFlush: boolean;
  private sinceFlush = 0;
  private lifecycle: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private readonly timers: WriterTimers;

  private constructor(state: WriterState<E>) {
    this.state = state;
    const opts = state.opts;
    this.inline = new InlineCommits(state, opts.bufferSize);
    this.admission = new FrameAdmission(state, () => (this.pipelined ? this.pipeline : this.inline));
    this.pipeline = new PipelinedCommits(state, this.inline.buffer, () => this.admission.refreshRoom(), () => this.leavePipeline(), (frames) => this.inline.writeFrames(frames));
    this.everyN = opts.flush.everyN;
    this.manualFlush = opts.flush.everyN === 0 && opts.flush.intervalMs === 0;
    this.admission.refreshRoom();
    this.timers = new WriterTimers(opts.flush.intervalMs, opts.idleMarkMs, () => this.flushOnTimer(), () => this.markWhileIdle());
  }

  /** Id of the last entry appended (0 when the log has none). */
  get lastEntryId(): number {
    return this.state.next - 1;
  }

  /** Id the next append will get. */
  get nextEntryId(): number {
    return this.state.next;
  }

  /** Every entry up to this id is on stable storage (as far as this writer has synced; 0: none yet). */
  get durableEntryId(): number {
    return this.state.durable;
  }

  get currentSegmentId(): number {
    return this.state.segment.segmentId;
  }

  /** Size the current segment will have once buffered frames are written. */
  get currentSegmentBytes(): number {
    return this.state.segment.position + this.executor.buffer.length;
  }

  /**
   * The observer the writer was opened with. Whatever removes this log's segments asks its
   * beforeTruncate first (CheckpointPublisher does), so a veto such as the JetStream forwarder's
   * holds for every truncation, not only those the application makes itself.
   */
  get observer(): WalObserver | undefined {
    return this.state.observer;
  }

  get poisoned(): boolean {
    return this.state.failure !== undefined;
  }

  /** The failure that poisoned the writer, if any. */
  get poisonCause(): unknown {
    return this.state.failure;
  }

  get closed(): boolean {
    return this.lifecycle !== 'open';
  }

  /** Frames one entry into the buffer and returns its id. Encode failures leave the log untouched. */
  append(entry: E): number {
    this.checkUsable();
    this.state.holdEvents();
    try {
      const id = this.admission.frame(this.admission.encode(entry, 0));
      if (this.everyN !== 0 && ++this.sinceFlush >= this.everyN) this.flushBuffered();
      return id;
    } finally {
      this.state.releaseEvents();
    }
  }

  /**
   * Appends entries with consecutive ids. Every entry is encoded before any is framed, so an
   * encode failure anywhere appends none and consumes no id.
   */
  appendBatch(entries: readonly E[]): number[] {
    this.checkUsable();
    if (!Array.isArray(entries)) throw new InvalidArgumentError('appendBatch takes an array of entries');
    if (entries.length === 0) return [];
    // Held until the whole batch is placed: a hook appending meanwhile would split its ids.
    this.state.holdEvents();
    try {
      const payloads = this.admission.encodeAll(entries);
      const ids = payloads.map((payload) => this.admission.frame(payload));
      // A returned batch is in the OS's hands, so it survives the process (not a power cut: that is
      // sync's job). It counts as one flush whatever its size; only 'manual' leaves it buffered.
      // While commits are pending the file belongs to them: the batch goes out with the next one
      // (docs/API.md; appendBatchDurable says when).
      if (!this.manualFlush) this.flushBuffered();
      return ids;
    } finally {
      this.state.releaseEvents();
    }
  }

  /**
   * Frames one entry like append and resolves with its id once it is durable: fdatasynced, with
   * every segment holding it or an earlier entry and their directory entries. The id is
   * assigned at once, in call order; callers are batched (group commit). On memory and simulated
   * directories commits complete within microtasks, so a loop that only awaits appendDurable
   * there never lets timers run.
   */
  appendDurable(entry: E): Promise<number> {
    // Not an async function: a caller costs one promise and one reaction on its batch's shared
    // promise, about half the garbage of an async function's await (fewer scavenges, which set
    // the tail latency under many producers). A throw still arrives as a rejection.
    let id: number;
    let done: Promise<void>;
    this.state.holdEvents();
    try {
      this.checkUsable();
      this.enterPipeline();
      id = this.admission.frame(this.admission.encode(entry, 0));
      done = this.pipeline.commits.waitFor(this.pipeline.newestBatch());
    } catch (err) {
      return Promise.reject(err);
    } finally {
      this.state.releaseEvents();
    }
    return done.then(() => id);
  }

  /** appendBatch, then resolves with the ids once all of them are durable. */
  async appendBatchDurable(entries: readonly E[]): Promise<number[]> {
    this.checkUsable();
    this.enterPipeline();
    const ids = this.appendBatch(entries);
    await this.pipeline.commits.waitFor(this.pipeline.newestBatch());
    return ids;
  }

  /** Writes buffered frames to the OS (not durable until sync). While pipelined the commits write them. */
  flushSync(): void {
    this.checkUsable();
    this.flushBuffered();
  }

  /** flushSync; while commits are pending it waits for them instead (they write, and sync, every frame appended so far). */
  async flush(): Promise<void> {
    this.checkUsable();
    if (this.pipelined) await this.pipeline.syncAll();
    else this.flushBuffered();
  }

  /** Makes every entry appended so far durable, blocking the thread for the fdatasync. */
  syncSync(): void {
    this.checkUsable();
    // Held from before the wait for the commits behind the zeros (checkNotPipelined), whose
    // booking raises onSync: a hook calling the writer back runs after this sync, not in its middle.
    this.state.holdEvents();
    try {
      this.checkNotPipelined('syncSync', 'sync');
      this.sinceFlush = 0;
      this.inline.sync();
      this.admission.refreshRoom();
    } finally {
      this.state.releaseEvents();
    }
    this.timers.armIdleMark();
  }

  /** Makes every entry appended before the call durable, through the group-commit pipeline (off the event loop). */
  async sync(): Promise<void> {
    this.checkUsable();
    const segment = this.state.segment;
    if (!this.pipelined && this.inline.buffer.count === 0 && segment.synced >= segment.position && !this.state.dirSyncPending) {
      this.state.markDurable(this.state.next - 1);
      return;
    }
    this.enterPipeline();
    await this.pipeline.syncAll();
  }

  /**
   * How many more recycle files this writer would keep for reuse: recycleCapacity less those it
   * holds (0 once closed or poisoned). The checkpoint publisher recycles that many of the
   * segments its truncation removes, and deletes the rest.
   */
  get recycleRoom(): number {
    if (this.closed || this.poisoned) return 0;
    return Math.max(0, this.state.opts.recycleCapacity - this.state.pool.size);
  }

  /** Hands files returned by WalMaintenance.truncateToRecycle to this writer for reuse (or deletion, past recycleCapacity). */
  recycle(paths: readonly string[]): void {
    this.checkUsable();
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) {
      throw new InvalidArgumentError(`recycle takes the array of paths WalMaintenance.truncateToRecycle returned, not ${typeName(paths)}`);
    }
    for (const path of paths) checkRecyclePath(path);
    for (const path of paths) this.state.pool.add(path);
  }

  /** Flushes, trims preallocated space, syncs and releases the lock. Throws PoisonedError (after releasing) if poisoned, and so does every later close or closeSync. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.lifecycle === 'closed') {
      // Closed by closeSync: a poisoned writer's close keeps saying so, as a repeated close() does.
      return this.state.failure === undefined ? Promise.resolve() : Promise.reject(new PoisonedError(this.state.failure));
    }
    this.lifecycle = 'closing';
    // Events of the steps closeAsync takes before its first await wait until `closing` is set: a
    // hook calling close() again then gets this promise instead of starting a second close.
    this.state.holdEvents();
    try {
      this.closing = this.closeAsync();
    } finally {
      this.state.releaseEvents();
    }
    return this.closing;
  }

  closeSync(): void {
    if (this.lifecycle !== 'open') {
      if (this.lifecycle === 'closing') throw new InvalidStateError('close() is already in progress');
      // A close that failed is not made good by another: entries it did not sync may be lost.
      if (this.state.failure !== undefined) throw new PoisonedError(this.state.failure);
      return;
    }
    // Held from before the wait for the commits behind the zeros (checkNotPipelined), whose
    // booking raises onSync: delivered there, a hook that closed the writer left this call to
    // finish a closed segment (ClosedError, and a cleanly closed writer reported poisoned).
    this.state.holdEvents();
    try {
      if (this.state.failure === undefined) this.checkNotPipelined('closeSync', 'close');
      this.lifecycle = 'closing';
      this.timers.stop();
      try {
        if (this.state.failure !== undefined) throw new PoisonedError(this.state.failure);
        this.inline.finish();
      } finally {
        this.release();
      }
    } finally {
      this.state.releaseEvents();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  [Symbol.dispose](): void {
    this.closeSync();
  }

  private get executor(): InlineCommits<E> | PipelinedCommits<E> {
    return this.pipelined ? this.pipeline : this.inline;
  }

  private flushBuffered(): void {
    this.sinceFlush = 0;
    this.state.holdEvents();
    try {
      this.executor.flush();
      this.admission.refreshRoom();
    } finally {
      this.state.releaseEvents();
    }
  }

  /**
   * Work on this log's files started for it (a checkpoint's truncation step: an unlink, a rename,
   * a directory fsync, off the event loop) that close() waits for before it releases the lock:
   * once the lock is released it may be another writer's, and a step landing then would act on
   * that writer's log. Not for closeSync, which cannot wait for work off the thread.
   */
  finishesBeforeClose(work: Promise<unknown>): void {
    const settled = work.then(() => undefined, () => undefined);
    this.maintenance.add(settled);
    void settled.then(() => this.maintenance.delete(settled));
  }

  private async closeAsync(): Promise<void> {
    this.timers.stop();
    try {
      // Entries appended before close() are committed (or rejected by a failure), never left waiting.
      if (this.pipelined && this.state.failure === undefined) await this.pipeline.syncAll().catch(() => undefined);
      // Zeros still being written ahead of the log would land after the trim below.
      if (this.pipelined && this.state.failure === undefined) await this.pipeline.drainedOut();
      if (this.state.failure !== undefined) throw new PoisonedError(this.state.failure);
      await this.inline.finishAsync();
    } finally {
      while (this.maintenance.size > 0) await Promise.all(this.maintenance);
      this.release();
    }
  }

  /** Closes the segment and releases the lock, whatever state the writer is in. */
  private release(): void {
    this.lifecycle = 'closed';
    this.timers.stop();
    let first: unknown;
    try {
      this.state.segment.close();
    } catch (err) {
      first = err;
    }
    try {
      this.state.lock.release();
    } catch (err) {
      first ??= err;
    }
    if (first !== undefined && this.state.failure === undefined) throw first;
  }

  /** Switches to pipelined I/O; frames buffered by the synchronous mode become the first batch. */
  private enterPipeline(): void {
    if (this.pipelined) {
      this.pipeline.wake();
      return;
    }
    this.pipelined = true;
    this.pipeline.enter();
    this.admission.refreshRoom();
  }

  private leavePipeline(): void {
    this.pipelined = false;
    this.pipeline.leave();
    this.admission.refreshRoom();
    this.timers.armIdleMark();
  }

  /**
   * The newest synced entries have no sync mark vouching for them until the next write carries
   * one, which an idle writer never makes: a follower in another process that yields only proven
   * entries (follow's durableOnly) would hold them for as long as the writer stays idle. Once it
   * has been idle options.idleMarkMs, a mark alone says how far the last fdatasync reached.
   */
  private markWhileIdle(): void {
    if (this.lifecycle !== 'open' || this.state.failure !== undefined || this.pipelined) return;
    this.state.holdEvents();
    try {
      this.inline.writeIdleMark();
    } finally {
      this.state.releaseEvents();
    }
  }

  private checkUsable(): void {
    if (this.lifecycle !== 'open') throw new ClosedError('WalWriter');
    if (this.state.failure !== undefined) {
      this.timers.stop();
      throw new PoisonedError(this.state.failure);
    }
    this.state.checkHookGeneration();
  }

  private checkNotPipelined(call: string, instead: string): void {
    // Every awaited batch completed and only zeros kept ahead of the log (and the plain appends
    // committed behind them) are still being written: wait for them here (bounded, like the
    // fdatasync the caller asked for) instead of refusing.
    if (this.pipelined && this.pipeline.onlyUnawaitedPending) {
      // Booking the batches that ran raises onFlush and onSync: delivered once the writer is out
      // of the pipeline (and, as syncSync and closeSync hold them too, once the call is done), as
      // hooks expect to find it between two calls.
      this.state.holdEvents();
      try {
        try {
          this.pipeline.settleUnawaitedSync();
        } catch (err) {
          this.state.poison(err);
        }
        this.leavePipeline();
      } finally {
        this.state.releaseEvents();
      }
      if (call === 'syncSync') this.checkUsable();
    }
    if (this.pipelined) {
      throw new InvalidStateError(`${call}() cannot wait for the group commits in flight (appendDurable, sync); use await ${instead}()`);
    }
  }

  private flushOnTimer(): void {
    if (this.lifecycle !== 'open') return;
    if (this.state.failure !== undefined) return this.timers.stop();
    try {
      this.flushBuffered();
    } catch {
      // The writer is poisoned and the poison channel has the error; the next call throws it.
    }
  }
}
