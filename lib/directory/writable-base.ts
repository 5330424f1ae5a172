import { constants } from 'node:buffer';
import { OWNED_BYTES, snapshotChunks } from '../backend/owned-bytes';
import { channels } from '../diagnostics';
import { ClosedError, InvalidArgumentError, InvalidStateError, IoError } from '../errors';
import type { CommitPlan, WritableFile } from './directory';
import { normalizePath } from './path';

// The offset bookkeeping every WritableFile shares; subclasses supply positioned primitives.
// Arguments are checked here, before any implementation sees them, so a bad length or position
// is an InvalidArgumentError everywhere instead of a RangeError from one backend and a huge
// allocation in another.

/** The most chunks one writev takes: the native core's limit (native/args.h kMaxChunks), kept by every backend. */
export const MAX_WRITEV_CHUNKS = 2 ** 20;

export function checkBytes(data: unknown, what = 'data'): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`);
}

export function checkPosition(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative safe integer, not ${String(value)}`);
  }
}

function checkEnd(position: number, length: number): void {
  if (position + length > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(`a write of ${length} bytes at ${position} ends past the largest safe offset`);
  }
}

/** A buffer for a whole file, or IoError EFBIG when no single buffer can hold it. */
export function bufferForRead(size: number, path: string): Uint8Array {
  if (size > constants.MAX_LENGTH) throw new IoError('EFBIG', 'read', path);
  return new Uint8Array(size);
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface CheckedCommitPlan {
  readonly chunks: readonly Uint8Array[];
  readonly position: number;
  readonly truncateTo: number | undefined;
  readonly syncDirs: readonly string[];
  readonly [OWNED_BYTES]?: true;
}

/** What an operation ending in an fdatasync counts as (BaseWritableFile's syncsInFlight and the counts below it). */
interface SyncKind {
  /** A syncAsync. */
  readonly async: boolean;
}
const ASYNC_SYNC: SyncKind = { async: true };
const COMMIT: SyncKind = { async: false };

/**
 * A commit that cannot be handed to its file yet (see BaseWritableFile.awaitingTurn): how many
 * syncAsync calls were issued before it, the ticket the next writeAsync would have taken at its
 * call (every write with a lower one was issued before it), and what hands it over.
 */
interface AwaitingTurn {
  readonly asyncSyncsBefore: number;
  readonly writesBefore: number;
  readonly handOver: () => void;
}

interface QueuedCommit {
  readonly plan: CheckedCommitPlan;
  done: boolean;
  error: { readonly cause: unknown } | undefined;
}

export abstract class BaseWritableFile implements WritableFile {
  readonly path: string;
  private position: number;
  private closed = false;
  /** Async operations running off the thread on this file: the descriptor outlives them. */
  private inFlight = 0;
  /**
   * The newest syncAsync or commitAsync: the next one starts after it settled (see syncAsync).
   * Two fdatasyncs of one descriptor must never run at once: Linux reports a writeback error once
   * per open file description, to whichever of them checks first, and the other returns 0
   * although the bytes it was to make durable are lost.
   */
  private lastSync: Promise<void> = Promise.resolve();
  /** syncAsync and commitAsync calls not yet settled. */
  private syncsInFlight = 0;
  /** Of those, the syncAsync calls: sync() cannot wait for them (an fdatasync on the thread pool). */
  private asyncSyncs = 0;
  /**
   * Commits waiting for the syncAsync and writeAsync calls issued before them, not yet handed to
   * the file, oldest first. A file that orders its own commits (ordersCommits: the native commit
   * thread) would run a commit handed to it at once, alongside a syncAsync's fdatasync or ahead of
   * a write still on the thread pool. waitCommitsSync (and so sync()) cannot wait for them, and a
   * later commit must not overtake them. Memory and simulated files queue theirs alike, and
   * refuse alike. handOverTurns hands them over in the first reaction to the last of those calls
   * settling, so a caller that awaited it finds them handed over.
   */
  private readonly awaitingTurn: AwaitingTurn[] = [];
  /** syncAsync calls issued, and how many of them settled (they settle in call order). */
  private asyncSyncsIssued = 0;
  private asyncSyncsSettled = 0;
  /**
   * The tickets of the writeAsync calls not yet settled (in issue order), the next ticket, and a
   * promise that settles (never rejects) once every one issued so far did. The thread pool runs a
   * write and an fdatasync issued after it in either order, so an fdatasync started while one is
   * in flight could return before its bytes were even written: syncAsync and commitAsync wait
   * for them, sync() refuses.
   */
  private readonly unsettledWrites = new Set<number>();
  private writesIssued = 0;
  private writesSettled: Promise<unknown> = Promise.resolve();
  /** commitAsync calls not yet settled. */
  private commitsUnsettled = 0;
  /** Of those, the oldest ones that waitCommitsSync saw run. */
  private commitsRun = 0;
  private releaseWhenIdle = false;

  protected constructor(path: string, offset: number) {
    this.path = path;
    this.position = offset;
  }

  get offset(): number {
    return this.position;
  }

  protected abstract pwrite(data: Uint8Array, position: number): void;
  protected abstract pwritev(chunks: readonly Uint8Array[], position: number): void;
  protected abstract pwriteAsync(data: Uint8Array, position: number): Promise<void>;
  /** Returns false where the file system cannot preallocate. */
  protected abstract fallocate(offset: number, length: number): boolean;
  protected abstract ftruncate(length: number): void;
  protected abstract fileSize(): number;
  protected abstract fdatasync(): void;
  protected abstract fdatasyncAsync(): Promise<void>;
  /**
   * Runs a checked plan (syncDirs normalized) off the thread. A file has this or commitNow: files
   * whose steps are synchronous (memory, simulated) only have commitNow.
   */
  protected commit?(plan: CheckedCommitPlan): Promise<void>;
  /**
   * True when commit() itself runs the commits of this file in call order, each after the
   * previous one's fdatasync, and fails every commit after a failed one (the native commit
   * thread). Otherwise commitAsync chains them.
   */
  protected get ordersCommits(): boolean {
    return false;
  }

  /**
   * Runs a checked plan at once. Memory and simulated files have it (their steps are synchronous):
   * commitAsync queues their commits and runs each in a microtask, in order, or all at once in
   * waitCommitsSync, which so works on them as it does on the native core's commit thread (and
   * the WAL's use of it is exercised by the simulated crash tests).
   */
  protected commitNow?(plan: CheckedCommitPlan): void;
  /** Commits handed over and not yet run, oldest first (files with commitNow). */
  private queued: QueuedCommit[] = [];
  /**
   * The first failed write, sync or commit of this file: every later write, sync and commit fails
   * with it, unrun. After a failed fdatasync the kernel may have dropped the dirty pages and
   * cleared the error, so a later fdatasync that returns 0 proves nothing (fsyncgate); after a
   * failed write nobody knows which of its bytes are in the page cache.
   */
  private failure: { readonly cause: unknown } | undefined = undefined;

  get waitsForCommits(): boolean {
    return !this.ordersCommits && this.commitNow !== undefined;
  }

  waitCommitsSync(): void {
    this.checkOpen();
    if (!this.waitsForCommits) throw new InvalidStateError(`file ${this.path} cannot wait for its commits synchronously`);
    // The file's own wait (the commit thread's) cannot see commits it was not handed yet. A
    // failed file throws its failure instead, as sync() does: those commits will fail unrun.
    if (this.failure === undefined && this.awaitingTurn.length > 0) {
      throw new InvalidStateError(`file ${this.path} cannot wait for the commits queued behind its syncAsync() or writeAsync() calls; await them first`);
    }
    // Waits even after a failure, so that no commit of the file is still running when this returns.
    // Throws the file's first failure, the error every later call gets, not the commit thread's
    // report of it (another error object) when the file had already learned of it.
    try {
      this.runCommitsNow();
    } catch (err) {
      this.failure ??= { cause: err };
    } finally {
      this.commitsRun = this.commitsUnsettled;
    }
    this.throwIfFailed();
  }

  /** Blocks until every commit handed over has run; throws the first failed one's error. Only where waitsForCommits. */
  protected runCommitsNow(): void {
    for (const queued of this.queued.splice(0)) this.runQueued(queued);
  }

  private runCommit(plan: CheckedCommitPlan): Promise<void> {
    return (this.commit as (plan: CheckedCommitPlan) => Promise<void>)(plan);
  }

  /** Runs a queued commit (in order: every earlier one ran) unless it already ran, and throws its error. */
  private settleQueued(queued: QueuedCommit): void {
    if (!queued.done) {
      const at = this.queued.indexOf(queued);
      for (const earlier of this.queued.splice(0, at + 1)) this.runQueued(earlier);
    }
    if (queued.error !== undefined) throw queued.error.cause;
  }

  private runQueued(queued: QueuedCommit): void {
    if (queued.done) return;
    queued.done = true;
    if (this.failure === undefined) {
      try {
        (this.commitNow as (plan: CheckedCommitPlan) => void)(queued.plan);
      } catch (err) {
        this.failure = { cause: err };
      }
    }
    queued.error = this.failure;
  }

  /** Throws the file's first failure, if any (see `failure`). */
  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.cause;
  }

  /** Runs a write or sync: refused after an earlier failure; its own failure becomes the file's. */
  private recorded<T>(op: () => T): T {
    this.throwIfFailed();
    try {
      return op();
    } catch (err) {
      this.failure ??= { cause: err };
      throw err;
    }
  }

  /**
   * The same for one running off the thread. It also fails when another operation of the file
   * failed while it ran: that failure may have cost bytes this one was to make durable.
   */
  private async recordedAsync(op: () => Promise<void>): Promise<void> {
    this.throwIfFailed();
    try {
      await op();
    } catch (err) {
      this.failure ??= { cause: err };
      throw err;
    }
    this.throwIfFailed();
  }
  protected abstract release(): void;

  write(data: Uint8Array): void {
    this.checkOpen();
    checkBytes(data);
    checkEnd(this.position, data.length);
    this.recorded(() => this.pwrite(data, this.position));
    this.position += data.length;
  }

  writev(chunks: readonly Uint8Array[]): void {
    this.checkOpen();
    if (!Array.isArray(chunks)) throw new InvalidArgumentError('chunks must be an array of Uint8Array');
    // The implementation gets a list of its own, not the caller's array: reading that again could
    // meet other elements (its iterator and its indices can disagree, a getter can answer
    // anything). Lengths are taken once every element is read, so a getter that detaches an
    // earlier chunk cannot make the offset advance past what is written; empty (and so detached)
    // chunks are left out, as a detached view cannot even be copied from.
    const read: Uint8Array[] = [];
    for (const c of chunks) {
      if (read.length === MAX_WRITEV_CHUNKS) throw new InvalidArgumentError(`writev takes at most ${MAX_WRITEV_CHUNKS} chunks`);
      checkBytes(c, 'every chunk');
      read.push(c);
    }
    const list = read.filter((c) => c.length > 0);
    let total = 0;
    for (const c of list) total += c.length;
    checkEnd(this.position, total);
    if (total === 0) return;
    this.recorded(() => this.pwritev(list, this.position));
    this.position += total;
  }

  async writeAsync(data: Uint8Array): Promise<void> {
    this.checkOpen();
    checkBytes(data);
    checkEnd(this.position, data.length);
    this.throwIfFailed();
    // The offset is claimed before the write starts, so writes issued back to back without
    // awaiting land one after another in call order.
    const at = this.position;
    this.position += data.length;
    const writing = this.offThread(() => this.recordedAsync(() => this.pwriteAsync(data, at)));
    const ticket = this.writesIssued++;
    this.unsettledWrites.add(ticket);
    const earlier = this.writesSettled;
    // Registered before this call's own await: commits waiting for the write are handed over
    // before its caller resumes.
    const settled = (): Promise<unknown> => {
      this.unsettledWrites.delete(ticket);
      this.handOverTurns();
      return earlier;
    };
    this.writesSettled = writing.then(settled, settled);
    try {
      await writing;
    } catch (err) {
      if (this.position === at + data.length) this.position = at;
      throw err;
    }
  }

  writeAt(data: Uint8Array, position: number): void {
    this.checkOpen();
    checkBytes(data);
    checkPosition(position, 'position');
    checkEnd(position, data.length);
    this.recorded(() => this.pwrite(data, position));
  }

  allocate(length: number): boolean {
    this.checkOpen();
    checkPosition(length, 'length');
    checkEnd(this.position, length);
    if (length === 0) return true;
    return this.fallocate(this.position, length);
  }

  truncate(length: number): void {
    this.checkOpen();
    checkPosition(length, 'length');
    // The thread pool may run a writeAsync issued before this after it, growing the file back
    // past `length` with the bytes cut; memory and simulated files, which write within the call,
    // would hide that. So, as sync(), refused rather than raced.
    if (this.writesInFlight > 0) {
      throw new InvalidStateError(`truncate() of ${this.path} cannot wait for the writeAsync() in flight on the file; await it first`);
    }
    this.ftruncate(length);
    if (this.position > length) this.position = length;
  }

  size(): number {
    this.checkOpen();
    return this.fileSize();
  }

  sync(): void {
    this.checkOpen();
    // A failed file throws its failure (recorded, below), whatever is in flight.
    if (this.failure === undefined) {
      if (this.writesInFlight > 0) {
        throw new InvalidStateError(`sync() of ${this.path} cannot wait for the writeAsync() in flight on the file; await it first`);
      }
      if (this.syncsInFlight > 0) this.settleSyncsSync();
    }
    this.recorded(() => this.fdatasync());
  }

  /**
   * Runs after the syncs and commits handed over before it settled, one fdatasync of the file at
   * a time (see `lastSync`), and after the writeAsync calls issued before it (see
   * `writesInFlight`); if one of them failed, it fails with the same cause, unrun. At once when
   * none is in flight.
   */
  async syncAsync(): Promise<void> {
    this.checkOpen();
    const run = (): Promise<void> => this.recordedAsync(() => this.fdatasyncAsync());
    const previous = this.afterWrites(this.syncsInFlight > 0 ? this.lastSync : undefined);
    const running = this.offThread(previous === undefined ? run : () => previous.then(run, run), ASYNC_SYNC);
    const issued = ++this.asyncSyncsIssued;
    // Registered before this call's own await: the commits waiting for it are handed over before
    // its caller resumes.
    const settled = (): void => {
      this.asyncSyncsSettled = Math.max(this.asyncSyncsSettled, issued);
      this.handOverTurns();
    };
    running.then(settled, settled);
    await running;
  }

  /**
   * sync() while syncs or commits of the file are in flight: its fdatasync must not race theirs
   * (see `lastSync`), so it waits for them where a synchronous call can (commits on a thread of
   * the file's own, or run in place: waitCommitsSync, which throws a failed one's error) and
   * refuses where it cannot (an fdatasync on the thread pool).
   */
  private settleSyncsSync(): void {
    if (this.asyncSyncs > 0) {
      throw new InvalidStateError(`sync() of ${this.path} cannot wait for the syncAsync() in flight on the file; await it first`);
    }
    if (!this.waitsForCommits) {
      throw new InvalidStateError(`sync() of ${this.path} cannot wait for the commits in flight on the file (commitAsync); await them first`);
    }
    this.waitCommitsSync();
  }

  async commitAsync(plan: CommitPlan): Promise<void> {
    this.checkOpen();
    if (plan === null || typeof plan !== 'object') throw new InvalidArgumentError('commitAsync takes a plan { chunks, position, truncateTo?, syncDirs? }');
    const { position, truncateTo } = plan;
    if (!Array.isArray(plan.chunks)) throw new InvalidArgumentError('plan.chunks must be an array of Uint8Array');
    // The chunks are read once, into a list of our own (as in writev): the caller's array read
    // again (by the snapshot, or by the backend on the group-commit path) could yield other
    // elements, and an argument error raised from inside the commit would fail the file for good.
    // The WAL's own chunks (OWNED_BYTES), which no caller can reach, are taken as they are.
    const read: Uint8Array[] | undefined = plan[OWNED_BYTES] === true ? undefined : [];
    let total = 0;
    for (const c of plan.chunks) {
      checkBytes(c, 'every chunk');
      read?.push(c);
      total += c.length;
    }
    const chunks = read ?? plan.chunks;
    checkPosition(position, 'plan.position');
    checkEnd(position, total);
    if (truncateTo !== undefined) checkPosition(truncateTo, 'plan.truncateTo');
    const dirs = plan.syncDirs ?? [];
    if (!Array.isArray(dirs)) throw new InvalidArgumentError('plan.syncDirs must be an array of paths');
    const syncDirs = dirs.map((d: unknown) => {
      if (typeof d !== 'string') throw new InvalidArgumentError('plan.syncDirs must be an array of paths');
      return normalizePath(d, { allowRoot: true });
    });
    // In call order, each after the previous one's fdatasync (and after any syncAsync before it:
    // see `lastSync`), and none after a failure of the file (it rejects with the same cause):
    // bytes written behind a failed fdatasync could not be trusted.
    if (this.ordersCommits && this.asyncSyncs === 0 && this.awaitingTurn.length === 0 && this.writesInFlight === 0) {
      // Straight to the file, which runs its commits in order (the group-commit path). A failed
      // syncAsync before it is recorded before asyncSyncs drops, so recordedAsync sees it.
      const checked = { chunks, position, truncateTo, syncDirs, [OWNED_BYTES]: plan[OWNED_BYTES] };
      await this.offThread(() => this.recordedAsync(() => this.runCommit(checked)), COMMIT);
      return;
    }
    // The caller's bytes as they are now: this commit may start only after earlier ones.
    const checked = { chunks: snapshotChunks(chunks, plan[OWNED_BYTES]), position, truncateTo, syncDirs, [OWNED_BYTES]: true as const };
    if (this.ordersCommits) {
      // Behind the syncAsync and writeAsync calls issued before it only (a syncAsync ran after
      // everything issued before it): the commits waiting for them are handed over in call order
      // as the last of them settles (handOverTurns), and the file orders them after the ones it
      // has, so none waits behind another one's fdatasync where a synchronous caller could not
      // see it (waitCommitsSync).
      const run = (): Promise<void> => this.recordedAsync(() => this.runCommit(checked));
      await this.offThread(() => new Promise<void>((handedOver) => this.awaitTurn(() => handedOver(run()))), COMMIT);
    } else if (this.commitNow === undefined) {
      const previous = this.afterWrites(this.lastSync);
      const run = (): Promise<void> => this.recordedAsync(() => this.runCommit(checked));
      await this.offThread(() => previous.then(run, run), COMMIT);
    } else {
      const queued: QueuedCommit = { plan: checked, done: false, error: undefined };
      this.queued.push(queued);
      const previous = this.afterWrites(this.lastSync);
      let after = previous;
      if (this.asyncSyncs > 0 || this.awaitingTurn.length > 0 || this.writesInFlight > 0) {
        // As on the native commit thread, which is handed a commit only once the syncAsync and
        // writes before it settled: until then waitCommitsSync (and so sync()) refuses instead
        // of running it, so a test on memory or simulated files fails where the disk would.
        const turn = new Promise<void>((handedOver) => this.awaitTurn(handedOver));
        after = Promise.allSettled([previous, turn]);
      }
      const run = (): void => this.settleQueued(queued);
      await this.offThread(() => after.then(run, run), COMMIT);
    }
  }

  /** `previous`, and also the writeAsync calls in flight when there are any. */
  private afterWrites(previous: Promise<unknown>): Promise<unknown>;
  private afterWrites(previous: Promise<unknown> | undefined): Promise<unknown> | undefined;
  private afterWrites(previous: Promise<unknown> | undefined): Promise<unknown> | undefined {
    if (this.writesInFlight === 0) return previous;
    return previous === undefined ? this.writesSettled : Promise.allSettled([previous, this.writesSettled]);
  }

  /** writeAsync calls not yet settled. */
  private get writesInFlight(): number {
    return this.unsettledWrites.size;
  }

  /** Queues a commit behind the syncAsync and writeAsync calls issued before it (see `awaitingTurn`). */
  private awaitTurn(handOver: () => void): void {
    this.awaitingTurn.push({ asyncSyncsBefore: this.asyncSyncsIssued, writesBefore: this.writesIssued, handOver });
    this.handOverTurns();
  }

  /**
   * Hands over, in call order, the commits awaiting their turn whose syncAsync and writeAsync calls
   * all settled; stops at the first that must still wait. Called as each of those settles.
   */
  private handOverTurns(): void {
    while (this.awaitingTurn.length > 0) {
      const next = this.awaitingTurn[0];
      if (this.asyncSyncsSettled < next.asyncSyncsBefore) return;
      const oldestWrite = this.unsettledWrites.values().next();
      if (oldestWrite.done !== true && oldestWrite.value < next.writesBefore) return;
      this.awaitingTurn.shift();
      next.handOver();
    }
  }

  /**
   * Later calls throw ClosedError at once; the descriptor itself is released once no async
   * operation runs on it any more: closing it under a thread-pool write or fdatasync would make
   * that operation fail, or land on whatever file the OS gives the number to next (a failure of
   * that deferred release: see releaseDeferred).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Commits a synchronous wait saw run touch the file no more, only their promises are still
    // to settle: a writer that waited for its commits and closed holds no file once this returns.
    if (this.inFlight > this.commitsRun) this.releaseWhenIdle = true;
    else this.release();
  }

  /**
   * Runs an async operation of the file, keeping the descriptor open until it settles. `sync`:
   * it ends in an fdatasync (syncAsync, commitAsync), counted as such and the newest (`lastSync`).
   */
  private offThread(op: () => Promise<void>, sync?: SyncKind): Promise<void> {
    if (sync !== undefined) {
      this.syncsInFlight++;
      if (sync.async) this.asyncSyncs++;
      else this.commitsUnsettled++;
    }
    const running = this.running(op, sync);
    if (sync !== undefined) this.lastSync = running;
    return running;
  }

  private async running(op: () => Promise<void>, sync: SyncKind | undefined): Promise<void> {
    this.inFlight++;
    try {
      await op();
    } finally {
      if (sync !== undefined) {
        this.syncsInFlight--;
        if (sync.async) this.asyncSyncs--;
        else {
          // Commits settle in the order they were handed over: the oldest ones are those that ran.
          this.commitsUnsettled--;
          this.commitsRun = Math.min(this.commitsRun, this.commitsUnsettled);
        }
      }
      if (--this.inFlight === 0 && this.releaseWhenIdle) {
        this.releaseWhenIdle = false;
        this.releaseDeferred();
      }
    }
  }

  /**
   * The release close() left to the last async operation. Its failure has no caller left (close()
   * returned) and must not become that operation's result: a commit made durable is not lost
   * because close(2) failed after it. It goes out as a 'deferred-close-failed' diagnostic, as the
   * node:fs backend's own deferred close does.
   */
  private releaseDeferred(): void {
    try {
      this.release();
    } catch (err) {
      if (channels.diagnostic.hasSubscribers) {
        channels.diagnostic.publish({ kind: 'deferred-close-failed', message: `closing ${this.path} after its last operation in flight failed`, path: this.path, error: err });
      }
    }
  }

  protected checkOpen(): void {
    if (this.closed) throw new ClosedError(`file ${this.path}`);
  }
}
