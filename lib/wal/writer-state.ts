import type { Checksummer } from '../backend/backend';
import { channels } from '../diagnostics';
import type { Directory, DirectoryLock } from '../directory/directory';
import { InvalidStateError } from '../errors';
import { cutBackToSynced } from '../framed/cut-back';
import { ActiveSegment } from './active-segment';
import { createPlannedFile, createSegment, installPlannedRecycled, reuseSegment } from './segment-create';
import { WAL_DIR } from './format';
import { publishEvent, type WalObserver } from './observer';
import type { ResolvedWriterOptions } from './options';
import type { RecyclePool } from './recycle-pool';

/**
 * How deep hooks may call the writer back, each call raising the event that runs the next
 * (WriterState.checkHookGeneration). A hook reacting to its own writer's events (a marker
 * appended on rotation, a sync from onFlush) goes one or two deep; a chain this long never ends.
 */
export const MAX_HOOK_GENERATIONS = 64;

/**
 * How many writer calls hooks may make while the events of one call are delivered: this many,
 * or MAX_HOOK_GENERATIONS per event the caller's call raised if more (checkHookGeneration).
 * A hook that drains a queue of its own from onSync makes a call per item it holds.
 */
export const MIN_HOOK_CALL_BUDGET = 1 << 16;

// What a writer is, whichever way its commits run (inline-commits.ts, pipelined-commits.ts): the
// segment it appends to, the ids it has given and made durable, which segments' directory
// entries are durable, and its failure. The rules both ways of committing share live here once:
//   A. before segment n+1 is created, segment n is trimmed, fdatasynced completely, and its
//      directory entry made durable (each executor orders its steps so; openSegment and
//      createPlanned count the new directory entry);
//   C. a sync reports durable only after the current segment is fdatasynced and every segment
//      created since the last directory fsync has its entry made durable (dirSyncPending);
//   poison: any failed write, rotation or sync poisons the writer (first failure wins), cuts the
//      failed segment back to its last completed fdatasync, and every later call throws
//      PoisonedError. A failed fdatasync is never retried.
// Rules B (the sync window) and D (sync marks) are about where frames go: frame-admission.ts
// and the executors' span and mark bookkeeping.

export const MAX_ENTRY_ID = Number.MAX_SAFE_INTEGER;

export class WriterState<E> {
  readonly observer: WalObserver | undefined;
  segment: ActiveSegment;
  /** The id the next entry gets. */
  next: number;
  /** Every entry up to this id is durable (as far as this writer has synced). */
  durable: number;
  failure: unknown = undefined;
  /** Bytes new segment files reserve with fallocate (0 once the file system refused). */
  private preallocate: number;
  /** Segments created so far / covered by a directory fsync (rule C). */
  private dirGeneration = 1;
  private dirSyncedGeneration = 0;
  /** Writer calls in progress (holdEvents); while any is, observer events wait in `held`. */
  private callDepth = 0;
  private held: (() => void)[] = [];
  /** Each held event's hook generation (see hookGeneration), index for index with `held`. */
  private heldGenerations: number[] = [];
  /** The held events are being delivered (releaseEvents): events raised meanwhile queue behind them. */
  private delivering = false;
  /**
   * While delivering: how many hooks' calls to the writer led to the event being delivered (0: a
   * caller's own call raised it; n + 1: a hook's call raised it while an event of generation n
   * was being delivered). See checkHookGeneration.
   */
  private hookGeneration = 0;
  /** While delivering: the events a caller's own calls raised, and the writer calls hooks made (checkHookGeneration). */
  private callerEvents = 0;
  private hookCalls = 0;

  constructor(
    readonly dir: Directory,
    readonly lock: DirectoryLock,
    readonly opts: ResolvedWriterOptions<E>,
    readonly checksum: Checksummer,
    readonly pool: RecyclePool,
    segment: ActiveSegment,
    nextEntryId: number,
    { preallocationWorks, entryDurable }: { preallocationWorks: boolean; entryDurable: boolean },
  ) {
    this.observer = opts.observer;
    this.segment = segment;
    this.next = nextEntryId;
    this.durable = entryDurable ? nextEntryId - 1 : 0;
    if (entryDurable) this.dirSyncedGeneration = this.dirGeneration;
    this.preallocate = preallocationWorks ? opts.preallocate : 0;
  }

  /** Rule C: a segment was created since the last directory fsync. */
  get dirSyncPending(): boolean {
    return this.dirSyncedGeneration < this.dirGeneration;
  }

  /** The directory generation a directory fsync started now would cover. */
  get dirGenerationNow(): number {
    return this.dirGeneration;
  }

  /** A directory fsync that started at `generation` completed. */
  dirSynced(generation: number): void {
    if (generation > this.dirSyncedGeneration) this.dirSyncedGeneration = generation;
  }

  /** fsyncs wal/ on the calling thread if a segment was created since the last time. */
  syncDirNow(): void {
    if (!this.dirSyncPending) return;
    const generation = this.dirGeneration;
    this.dir.syncDir(WAL_DIR);
    this.dirSynced(generation);
  }

  /** Rule A, synchronously: a new (or recycled) segment file with its header synced. */
  openSegment(segmentId: number, firstEntryId: number): ActiveSegment {
    const spec = {
      segmentId, firstEntryId, syncWindow: this.opts.syncWindow, createdAt: this.opts.clock(), preallocate: this.preallocate, zeroFill: this.opts.zeroFill,
    };
    const recycled = this.pool.take(segmentId);
    if (recycled !== undefined) return reuseSegment(this.dir, recycled, spec, this.checksum);
    const { segment, preallocationFailed } = createSegment(this.dir, spec, this.checksum);
    if (preallocationFailed) this.preallocate = 0;
    this.dirGeneration++;
    return segment;
  }

  /**
   * Gives a planned segment its file and announces the rotation: a recycled file installed off the
   * event loop, its new name already durable (the promise; see installPlannedRecycled), or a file
   * created at once, header still pending, whose directory entry the segment's first frames commit
   * fsyncs.
   */
  createPlanned(segment: ActiveSegment): Promise<void> | undefined {
    const announce = (): void => this.rotated(segment.segmentId - 1, segment.segmentId, segment.firstEntryId);
    // Only a segment planned with FLAG_EARLIER_LIFE goes into a recycled file: its header, hence
    // its salt, was fixed when it was planned (one planned so but given a new file is harmless).
    const recycled = segment.earlierLife ? this.pool.take(segment.segmentId) : undefined;
    if (recycled !== undefined) return installPlannedRecycled(this.dir, recycled, segment).then(announce);
    if (createPlannedFile(this.dir, segment, this.preallocate)) this.preallocate = 0;
    this.dirGeneration++;
    announce();
    return undefined;
  }

  /**
   * A writer call that frames or writes entries begins: the observer's events it raises are held
   * until it ends (releaseEvents), so a hook that calls the writer back finds it between two
   * calls. Delivered on the spot, a hook ran with a frame half placed: an append from onFlush
   * took the id of the frame being placed (two frames with one id: a log no reader accepts) or
   * filled the buffer under it, one from onFlush inside a sync was reported durable while still
   * buffered, a close() from onRotate trimmed and synced the segment before the rest of the batch
   * was written to it.
   */
  holdEvents(): void {
    this.callDepth++;
  }

  /**
   * The call ends: the outermost one delivers the events held, in the order they happened. A
   * hook's own calls to the writer queue theirs behind the ones still to be delivered: delivered
   * at the end of the hook's call, they overtook those (an onAppend of entry 3 before that of
   * entry 2, which the JetStream forwarder's backlog then never counted).
   */
  releaseEvents(): void {
    if (--this.callDepth > 0 || this.delivering || this.held.length === 0) return;
    this.delivering = true;
    const events = this.held;
    const generations = this.heldGenerations;
    this.callerEvents = events.length;
    this.hookCalls = 0;
    try {
      // Not for-of over a copy: the hooks' calls append to `events` while it is walked.
      for (let i = 0; i < events.length; i++) {
        this.hookGeneration = generations[i];
        events[i]();
      }
    } finally {
      this.held = [];
      this.heldGenerations = [];
      this.delivering = false;
      this.hookGeneration = 0;
      this.callerEvents = 0;
    }
  }

  /** Delivers an observer event now, or when the writer call raising it ends (holdEvents). */
  emit(deliver: () => void): void {
    if (this.callDepth > 0 || this.delivering) {
      this.held.push(deliver);
      this.heldGenerations.push(this.delivering ? this.hookGeneration + 1 : 0);
    } else deliver();
  }

  /**
   * Refuses a writer call made by a hook MAX_HOOK_GENERATIONS deep: a hook whose call raises the
   * event that calls it again (an onAppend that appends on every onAppend) would otherwise
   * append and queue events for ever, with the event loop blocked and memory and the disk
   * filling. Thrown in the hook, the refusal ends the chain as an 'observer-error' diagnostic.
   * Also refused past a budget of calls (MIN_HOOK_CALL_BUDGET, more for a call that raised many
   * events): a hook that appends twice on each onAppend doubles the events every generation, and
   * the depth cut alone would let it run to 2^64 calls.
   */
  checkHookGeneration(): void {
    if (!this.delivering) return;
    if (this.hookGeneration >= MAX_HOOK_GENERATIONS) {
      throw new InvalidStateError(`observer hooks called the writer back ${MAX_HOOK_GENERATIONS} deep (each call raising the event that made the next): refused, a hook that calls the writer on every event it raises never ends`);
    }
    const budget = Math.max(MIN_HOOK_CALL_BUDGET, MAX_HOOK_GENERATIONS * this.callerEvents);
    if (++this.hookCalls > budget) {
      throw new InvalidStateError(`observer hooks called the writer back ${budget} times for the ${this.callerEvents} event(s) of one call: refused, hooks that call the writer more than once for each event they handle multiply their events without end`);
    }
  }

  markDurable(cover: number, { announce = true }: { announce?: boolean } = {}): void {
    if (cover > this.durable) this.durable = cover;
    if (!announce) return;
    const info = { durableEntryId: this.durable };
    this.emit(() => publishEvent(this.observer, 'onSync', info));
  }

  flushed(segmentId: number, bytes: number, lastEntryId: number): void {
    const info = { segmentId, bytes, lastEntryId };
    this.emit(() => publishEvent(this.observer, 'onFlush', info));
  }

  rotated(fromSegmentId: number, toSegmentId: number, firstEntryId: number): void {
    const info = { fromSegmentId, toSegmentId, firstEntryId };
    this.emit(() => publishEvent(this.observer, 'onRotate', info));
  }

  /** Poisons the writer and rethrows the failure to the current caller. */
  fail(err: unknown): never {
    this.poison(err);
    throw err;
  }

  /** First failure wins. `segment`: the one whose write or sync failed. */
  poison(err: unknown, segment: ActiveSegment = this.segment): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    if (segment.exists) cutBackToSynced(this.dir, segment.path, segment.synced);
    if (channels.poison.hasSubscribers) channels.poison.publish({ error: err, segmentId: segment.segmentId });
  }
}
