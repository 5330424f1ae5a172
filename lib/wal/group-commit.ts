import type { ActiveSegment } from './active-segment';
import { CompletionPoll } from './completion-poll';
import type { FrameBuffer } from './frame-buffer';
import type { CohortPolicy } from './cohort-merge';

// Group commit for appendDurable: batches of frames are made durable in order. The writer frames
// entries synchronously into the filling batch (ids in call order); a cut batch becomes one
// WritableFile.commitAsync (write + fdatasync [+ directory fsync]; on the native backend a job
// of the segment's commit thread). Up to COMMIT_DEPTH batches are handed to the file at once:
// the file runs them one after another, each written only after the previous one's fdatasync,
// so the disk goes from one batch to the next without waiting for the event loop, while
// entries keep arriving into the filling batch. The fdatasync rate bounds batches per second,
// not entries per second.
//
// Callers wait on their batch's waiter: one promise per batch, created only when someone waits,
// shared by every caller in it (each appendDurable awaits it, so resolving one promise wakes
// them all, in the order they registered = id order). Batches complete in order and a failure
// rejects the failing batch and every later one, so awaiting the batch that holds one's last
// entry covers all earlier ones.
//
// Callers woken together append again in one run of the event loop; their batch is cut when the
// run ends (the kick). Where two cohorts take turns and their JS together is shorter than a
// commit, a cut batch is held to merge with the next cohort's run (cohort-merge.ts).
//
// Right behind a batch the queue may hand the file a commit of zeros ahead of the log
// (Batch.zerosOnly, ActiveSegment.zeroAheadAsync): it holds no entries and nobody waits on it,
// but it takes its place in the order like a batch, so its failure poisons the writer in order
// and the pipeline drains only after it.

/** A run of frames of one segment, committed together. */
export class Batch {
  /** File offset of the first frame. */
  readonly start: number;
  /** Unsealed frames (sealed under the segment's salt when the commit starts). */
  frames: FrameBuffer | undefined;
  /** A single frame too large for a batch buffer, sealed when it was framed. */
  sealed: Uint8Array | undefined = undefined;
  /** Bytes written (0 for a batch that only syncs): frames, and the sync mark when `mark` > 0. */
  bytes = 0;
  /** Watermark of the sync mark leading the batch (0: none); fixed when the batch is cut. */
  mark = 0;
  /** Last entry id this batch makes durable. */
  lastEntryId = 0;
  /** Entries in the batch (set when it is cut). */
  entries = 0;
  /** The segment is complete after this batch: trim it, sync it, close it (rotation, rule A). */
  endsSegment = false;
  /** The batch's commit creates its segment's file or writes its header first (set when it starts). */
  opensSegment = false;
  /** Directory generation this batch's commit made durable (set when the commit starts). */
  dirGeneration = -1;
  /**
   * A commit of zeros ahead of the log (ActiveSegment.zeroAheadAsync) that the file runs right
   * behind the batch before it: no frames, nobody's entries. It sits in the queue's order like a
   * batch, so its failure poisons the writer in order and the pipeline drains only after it.
   */
  zerosOnly = false;
  /** Run and dropped from the queue by settleInFlight: its completion, arriving later, changes nothing. */
  forgotten = false;
  /**
   * The batch took frames of plain appends made while only commits of zeros were in flight: the
   * queue would have drained but for them, and without them (node:fs) the synchronous mode would
   * have written those frames. A synchronous call may wait for it like for the zeros.
   */
  behindZeros = false;
  waiter: Waiter | undefined = undefined;
  /** When the commit was handed to the file (performance.now(), set when it starts). */
  startedAt = 0;
  /** Started at the end of a run with nothing else in flight: start to completion seen is the disk's own time (CohortPolicy.commitTook). */
  timed = false;

  constructor(readonly segment: ActiveSegment, start: number, frames: FrameBuffer | undefined) {
    this.start = start;
    this.frames = frames;
  }
}

export class Waiter {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Thrown by CommitHandler.committed when the batch is durable and booked as such but something
 * after its fdatasync failed (closing the segment it ended): its callers are told it is durable,
 * since a rejection would tell them it may not be and they could append those entries again;
 * the writer is poisoned with `cause` and every later batch rejects with it.
 */
export class FailedAfterDurable {
  constructor(readonly cause: unknown) {}
}

/** What the writer does at each step of a batch's life. */
export interface CommitHandler {
  /** Whether the filling batch has anything to commit (frames or a waiter); if so, cut it into the queue. */
  cutFilling(): boolean;
  /** Starts the batch's commit (may throw: that fails the batch). */
  start(batch: Batch): Promise<void>;
  /** A commit of zeros handed to the file right behind `batch` (it just started), if one is due. */
  zerosAfter(batch: Batch): { readonly batch: Batch; readonly done: Promise<void> } | undefined;
  /** The batch is durable: bookkeeping, before its callers wake (throws FailedAfterDurable: see there). */
  committed(batch: Batch): void;
  /** The batch failed: poison the writer. `abandoned` are the later batches that will never complete. */
  failed(batch: Batch, err: unknown, abandoned: readonly Batch[]): void;
  /** Nothing queued, nothing in flight, nothing open: the pipeline is idle. */
  drained(): void;
  /** Nothing queued and the filling batch empty, with only commits of zeros in flight: the pipeline would be idle but for them. */
  idleButZeros(): void;
  /** The next entry id to be given (ids count the entries appended so far). */
  nextId(): number;
  /** Entries in the filling batch. */
  fillingEntries(): number;
}

/**
 * Batches in flight at once: one on the disk and the next already handed to the file, so the
 * commit thread starts it the moment the previous fdatasync returns (native/commit_thread.h).
 * A third would only wait behind them; the filling batch grows meanwhile instead.
 */
export const COMMIT_DEPTH = 2;

const resolved = Promise.resolve();

export class CommitQueue {
  private queue: Batch[] = [];
  private head = 0;
  /** Started and not yet complete, oldest first; files complete commits in the order they were started. */
  private inFlight: Batch[] = [];
  private kickPending = false;
  private failure: { readonly cause: unknown } | undefined = undefined;
  private readonly kick = (): void => {
    this.kickPending = false;
    this.cohorts?.runEnded(this.handler.nextId());
    if (!this.holdToMerge()) this.next(true);
  };
  /**
   * A turn after a completion released a hold: cuts the held batch if no run cut it meanwhile (the
   * woken callers' kick normally does, with their entries) and no newer hold has begun.
   */
  private readonly releaseHeld = (): void => {
    if (!this.releasePending) return;
    this.releasePending = false;
    if (!this.holding) this.next();
  };

  private readonly poll: CompletionPoll;
  /** The filling batch waits for the callers of the batch in flight, to be cut with their run. */
  private holding = false;
  /** A released hold's batch is still to be cut (releaseHeld is queued); any cut of the filling batch settles it. */
  private releasePending = false;
  /** Batches held to merge with the next run, so far (diagnostics and tests). */
  batchesHeld = 0;

  /**
   * `pollMicros`: how long a commit's wait may keep the event loop turning (completion-poll.ts;
   * 0: never). `cohorts`: when a batch is held to merge with the next run (cohort-merge.ts;
   * undefined: one batch per run).
   */
  constructor(private readonly handler: CommitHandler, pollMicros = 0, private readonly cohorts: CohortPolicy | undefined = undefined) {
    this.poll = new CompletionPoll(pollMicros, () => this.inFlight.length > 0);
  }

  /** A commit is running or waiting to run. */
  get busy(): boolean {
    return this.inFlight.length > 0 || this.head < this.queue.length;
  }

  /** The newest batch of entries not yet durable (queued or in flight), if any: commits of zeros hold none. */
  get last(): Batch | undefined {
    if (this.head < this.queue.length) return this.queue[this.queue.length - 1];
    for (let i = this.inFlight.length - 1; i >= 0; i--) if (!this.inFlight[i].zerosOnly) return this.inFlight[i];
    return undefined;
  }

  /** The newest commit not yet complete, commits of zeros included. */
  get newest(): Batch | undefined {
    return this.head < this.queue.length ? this.queue[this.queue.length - 1] : this.inFlight[this.inFlight.length - 1];
  }

  /**
   * The commits in flight ran (a synchronous wait saw them through; `ran` false: it threw, one of
   * them failed) and the writer leaves the pipeline. When they all ran, each batch of frames
   * among them is booked as committed, as its completion would have; all are dropped, so their
   * completions, which still arrive, neither resume the queue nor report anything.
   */
  settleInFlight(ran: boolean): void {
    const settled = this.inFlight;
    this.inFlight = [];
    for (const b of settled) b.forgotten = true;
    if (ran) for (const b of settled) if (!b.zerosOnly) this.handler.committed(b);
  }

  /**
   * Nothing is queued and the commits in flight are of zeros, or of frames of plain appends made
   * behind them (Batch.behindZeros), with no caller waiting on them. None opens or ends a
   * segment, so all are the current segment's.
   */
  get onlyZerosAndBehindInFlight(): boolean {
    return this.head === this.queue.length && this.inFlight.length > 0
      && this.inFlight.every((b) => (b.zerosOnly || b.behindZeros) && b.waiter === undefined && !b.opensSegment && !b.endsSegment);
  }

  push(batch: Batch): void {
    this.queue.push(batch);
  }

  /** Resolves once `batch` is durable; rejects with the cause if it or an earlier batch fails. */
  waitFor(batch: Batch | undefined): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.cause);
    if (batch === undefined) return resolved;
    let waiter = batch.waiter;
    if (waiter === undefined) {
      waiter = new Waiter();
      batch.waiter = waiter;
    }
    return waiter.promise;
  }

  /** Starts the next commit soon (after the current synchronous run and the microtasks queued so far), if one can start. */
  schedule(): void {
    if (this.kickPending || this.inFlight.length >= COMMIT_DEPTH) return;
    this.cohorts?.runStarted(this.handler.nextId());
    this.kickPending = true;
    // A reaction on a settled promise, not queueMicrotask: same queue, same order, without the
    // async-hooks resource Node creates for every queueMicrotask call (once per round).
    void resolved.then(this.kick);
  }

  /**
   * At the end of a run, with one batch in flight: hold the filling batch for the run its callers
   * will make, when both cohorts' JS is shorter than a commit, so the two become one batch.
   */
  private holdToMerge(): boolean {
    if (this.inFlight.length !== 1 || this.head !== this.queue.length || this.failure !== undefined) return false;
    const inFlight = this.inFlight[0];
    const filling = this.handler.fillingEntries();
    // Only behind a batch whose callers will wake and append: one of frames that someone awaits.
    if (this.cohorts === undefined || inFlight.zerosOnly || inFlight.entries === 0 || inFlight.waiter === undefined || filling === 0) return false;
    if (!this.cohorts.shouldMerge(filling, inFlight.entries)) return false;
    if (!this.holding) this.batchesHeld++;
    this.holding = true;
    return true;
  }

  /** `atRunEnd`: called by the kick, so a batch started alone is timed (CohortPolicy.commitTook). */
  private next(atRunEnd = false): void {
    while (this.failure === undefined && this.inFlight.length < COMMIT_DEPTH) {
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
        if (!this.handler.cutFilling()) break;
        this.holding = false;
        this.releasePending = false;
      }
      const batch = this.queue[this.head];
      if (!this.mayStart(batch)) return;
      this.queue[this.head++] = undefined as unknown as Batch;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      batch.timed = atRunEnd && this.inFlight.length === 0;
      this.inFlight.push(batch);
      batch.startedAt = this.poll.started();
      let started: Promise<void>;
      try {
        started = this.handler.start(batch);
      } catch (err) {
        started = Promise.reject(err);
      }
      this.settle(started, batch);
      const zeros = this.handler.zerosAfter(batch);
      if (zeros !== undefined) {
        this.inFlight.push(zeros.batch);
        this.settle(zeros.done, zeros.batch);
      }
    }
    if (this.failure !== undefined) return;
    if (!this.busy) this.handler.drained();
    else if (this.head === this.queue.length && this.inFlight.every((b) => b.zerosOnly)) this.handler.idleButZeros();
  }

  /**
   * Completes or fails `batch` when its commit settles. Anything thrown on the way (bookkeeping,
   * starting the next batch) poisons the writer like a failed commit would, instead of escaping
   * as an unhandled rejection with the queue stuck.
   */
  private settle(commit: Promise<void>, batch: Batch): void {
    commit.then(() => this.completed(batch), (err: unknown) => this.fail(batch, err)).catch((err: unknown) => this.fail(batch, err));
  }

  /**
   * A batch joins one in flight only within one segment whose file and header exist: a segment's
   * first batch (header commits) and its last (trim, directory fsync) run alone (rule A).
   */
  private mayStart(batch: Batch): boolean {
    if (this.inFlight.length === 0) return true;
    const previous = this.inFlight[this.inFlight.length - 1];
    return previous.segment === batch.segment && !previous.opensSegment && !previous.endsSegment && batch.segment.exists;
  }

  private completed(batch: Batch): void {
    if (this.failure !== undefined || batch.forgotten) return; // an earlier batch failed: this one is abandoned
    try {
      this.handler.committed(batch);
    } catch (err) {
      if (err instanceof FailedAfterDurable) {
        this.inFlight.shift();
        batch.waiter?.resolve(); // first: its callers wake before those the failure rejects
        this.fail(batch, err.cause);
      } else this.fail(batch, err);
      return;
    }
    this.inFlight.shift();
    // The poll's average is of commits callers wait on; nobody waits on a commit of zeros.
    if (!batch.zerosOnly) {
      this.poll.completed(batch.startedAt);
      if (batch.timed) this.cohorts?.commitTook((performance.now() - batch.startedAt) * 1000);
    }
    batch.waiter?.resolve();
    if (this.holding && this.head === this.queue.length) {
      // The woken callers' first append schedules the kick that cuts the held batch with their
      // entries; if none appends, the next turn cuts it.
      this.holding = false;
      this.releasePending = true;
      setImmediate(this.releaseHeld);
      return;
    }
    this.holding = false; // a batch cut meanwhile (rotation, a full buffer) ended the hold
    // Dispatched before the woken callers run, so the disk stays busy while they append more.
    this.next();
  }

  private fail(batch: Batch, err: unknown): void {
    if (this.failure !== undefined || batch.forgotten) return; // a later batch of a failed file fails with the same cause
    this.failure = { cause: err };
    this.holding = false;
    // Every other batch in flight is failed too: its callers learn the cause, never a success the
    // poisoned writer cannot stand behind.
    const later = this.inFlight.filter((b) => b !== batch);
    this.inFlight = [];
    this.handler.cutFilling(); // so callers waiting on the filling batch are rejected too
    const abandoned = [...later, ...this.queue.slice(this.head)];
    this.queue = [];
    this.head = 0;
    try {
      this.handler.failed(batch, err, abandoned);
    } finally {
      // Whatever the writer's own cleanup met, every caller learns the cause.
      batch.waiter?.reject(err);
      for (const b of abandoned) b.waiter?.reject(err);
    }
  }
}
