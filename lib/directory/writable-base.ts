import { OWNED_BYTES, snapshotCommitChunks } from '../backend/owned-bytes';
import { channels } from '../diagnostics';
import { isNoRoom } from '../backend/no-room';
import { ClosedError, InvalidArgumentError, InvalidStateError } from '../errors';
import { CommitTurns } from './commit-turns';
import { QueuedCommits } from './queued-commits';
import { StickyFailure } from './sticky-failure';
import { UnsettledCommits } from './unsettled-commits';
import type { CommitPlan, CommitResult, WritableFile } from './directory';
import { checkBytes, checkCommitPlan, checkEnd, checkPosition, type CheckedCommitPlan, MAX_WRITEV_CHUNKS } from './file-arguments';

// The offset bookkeeping every WritableFile shares; subclasses supply positioned primitives.
// Arguments are checked here (file-arguments.ts), before any implementation sees them.

/** What an operation ending in an fdatasync counts as (BaseWritableFile's syncsInFlight and the counts below it). */
interface SyncKind {
  /** A syncAsync. */
  readonly async: boolean;
}
const ASYNC_SYNC: SyncKind = { async: true };
const COMMIT: SyncKind = { async: false };

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
  private lastSync: Promise<unknown> = Promise.resolve();
  /** syncAsync and commitAsync calls not yet settled. */
  private syncsInFlight = 0;
  /** Of those, the syncAsync calls: sync() cannot wait for them (an fdatasync on the thread pool). */
  private asyncSyncs = 0;
  /**
   * Commits waiting for the syncAsync and writeAsync calls issued before them, not yet handed to
   * the file (commit-turns.ts), and the writeAsync calls in flight: syncAsync and commitAsync wait
   * for those, sync() and truncate() refuse.
   */
  private readonly turns = new CommitTurns();
  /** commitAsync calls not yet settled, and which of them waitCommitsSync saw run. */
  private readonly commits = new UnsettledCommits();
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
  protected commit?(plan: CheckedCommitPlan): Promise<CommitResult>;
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
  protected commitNow?(plan: CheckedCommitPlan): CommitResult;
  /** The first failed write, sync or commit of this file, which every later one fails with, unrun. */
  private readonly failure = new StickyFailure();
  /** Commits handed over and not yet run (files with commitNow). */
  private readonly queued = new QueuedCommits((plan) => (this.commitNow as (plan: CheckedCommitPlan) => CommitResult)(plan), this.failure);

  get waitsForCommits(): boolean {
    return !this.ordersCommits && this.commitNow !== undefined;
  }

  waitCommitsSync(): void {
    this.checkOpen();
    if (!this.waitsForCommits) throw new InvalidStateError(`file ${this.path} cannot wait for its commits synchronously`);
    // The file's own wait (the commit thread's) cannot see commits it was not handed yet. A
    // failed file throws its failure instead, as sync() does: those commits will fail unrun.
    if (!this.failure.failed && this.turns.waitingCommits > 0) {
      throw new InvalidStateError(`file ${this.path} cannot wait for the commits queued behind its syncAsync() or writeAsync() calls; await them first`);
    }
    // Waits even after a failure, so that no commit of the file is still running when this returns.
    // Throws the file's first failure, the error every later call gets, not the commit thread's
    // report of it (another error object) when the file had already learned of it.
    try {
      this.runCommitsNow();
    } catch (err) {
      this.failure.record(err);
    } finally {
      this.commits.sawAllRun();
    }
    this.failure.throwIfFailed();
  }

  /** Blocks until every commit handed over has run; throws the first failed one's error. Only where waitsForCommits. */
  protected runCommitsNow(): void {
    this.queued.runAll();
  }

  private runCommit(plan: CheckedCommitPlan): Promise<CommitResult> {
    return (this.commit as (plan: CheckedCommitPlan) => Promise<CommitResult>)(plan);
  }

  /**
   * A call that changes the file from the calling thread while a commit of it is in flight: the
   * commit runs off the thread (or in a later microtask, memory and simulated files), so nothing
   * orders the two. A truncate could be undone by the commit's write landing after it, or cut
   * bytes between its write and its fdatasync, the commit then reporting them durable; a write
   * could be cut by the commit's truncateTo or overwritten by its chunks. So refused, as sync()
   * refuses what it cannot wait for, the same on every kind of file. Commits waitCommitsSync saw
   * run do not count. A write to a failed file throws its failure instead (failure.run); truncate
   * and allocate, which a failed file still allows, are refused all the same: a commit may still
   * be running.
   */
  private refuseWhileCommitting(call: string, { evenIfFailed = false }: { evenIfFailed?: boolean } = {}): void {
    if (this.commits.running === 0 || (this.failure.failed && !evenIfFailed)) return;
    throw new InvalidStateError(`${call}() of ${this.path} is not ordered against the commit (commitAsync) in flight on the file; await it, or waitCommitsSync() where the file can, first`);
  }
  protected abstract release(): void;

  write(data: Uint8Array): void {
    this.checkOpen();
    checkBytes(data);
    checkEnd(this.position, data.length);
    this.refuseWhileCommitting('write');
    this.failure.run(() => this.pwrite(data, this.position));
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
    this.refuseWhileCommitting('writev');
    this.failure.run(() => this.pwritev(list, this.position));
    this.position += total;
  }

  async writeAsync(data: Uint8Array): Promise<void> {
    this.checkOpen();
    checkBytes(data);
    checkEnd(this.position, data.length);
    this.failure.throwIfFailed();
    this.refuseWhileCommitting('writeAsync');
    // The offset is claimed before the write starts, so writes issued back to back without
    // awaiting land one after another in call order.
    const at = this.position;
    this.position += data.length;
    const writing = this.offThread(() => this.failure.runAsync(() => this.pwriteAsync(data, at)));
    // Before this call's own await: commits waiting for the write are handed over before its caller resumes.
    this.turns.writeIssued(writing);
    try {
      await writing;
    } catch (err) {
      if (this.position === at + data.length) this.position = at;
      throw err;
    }
  }

  writeAt(data: Uint8Array, position: number): void {
    this.checkWriteAt(data, position);
    this.failure.run(() => this.pwrite(data, position));
  }

  writeAtWhereRoom(data: Uint8Array, position: number): boolean {
    this.checkWriteAt(data, position);
    this.failure.throwIfFailed();
    return this.whereRoom(() => this.pwrite(data, position));
  }

  private checkWriteAt(data: Uint8Array, position: number): void {
    this.checkOpen();
    checkBytes(data);
    checkPosition(position, 'position');
    checkEnd(position, data.length);
    this.refuseWhileCommitting('writeAt');
  }

  /**
   * Runs `step`, a write the caller can do without: false when it found no room (ENOSPC, EDQUOT,
   * EFBIG: lib/backend/no-room.ts), and the file does not fail. No room takes back nothing written
   * before it: what reached the file is the caller's to write over or cut. Any other failure fails
   * the file, as a write's does.
   */
  private whereRoom(step: () => void): boolean {
    try {
      step();
      return true;
    } catch (err) {
      if (isNoRoom(err)) return false;
      this.failure.record(err);
      throw err;
    }
  }

  /**
   * The zeros of a commit (CommitPlan.zeroChunks) at `position`, where the file system has room:
   * their range reserved first where it can be (fallocate), then written. False when either step
   * found no room (whereRoom): the file does not fail, and what reached it of them is zeros past
   * the commit's other bytes, which later writes overwrite. Any other failure fails the file,
   * as a write's does. For the commit steps of memory and simulated files and the tests' commit
   * thread.
   */
  writeZerosAt(zeros: readonly Uint8Array[], position: number): boolean {
    this.checkOpen();
    this.failure.throwIfFailed();
    return this.zerosWhereRoom(zeros, position);
  }

  /** writeZerosAt's steps, for a commit's own steps (commitNow), which may run after close() was called. */
  protected zerosWhereRoom(zeros: readonly Uint8Array[], position: number): boolean {
    let length = 0;
    for (const z of zeros) length += z.length;
    if (length === 0) return true;
    return this.whereRoom(() => {
      this.fallocate(position, length);
      this.pwritev(zeros, position);
    });
  }

  allocate(length: number): boolean {
    this.checkOpen();
    checkPosition(length, 'length');
    checkEnd(this.position, length);
    if (length === 0) return true;
    this.refuseWhileCommitting('allocate', { evenIfFailed: true });
    return this.fallocate(this.position, length);
  }

  truncate(length: number): void {
    this.checkOpen();
    checkPosition(length, 'length');
    // The thread pool may run a writeAsync issued before this after it, growing the file back
    // past `length` with the bytes cut; memory and simulated files, which write within the call,
    // would hide that. So, as sync(), refused rather than raced.
    if (this.turns.writesInFlight > 0) {
      throw new InvalidStateError(`truncate() of ${this.path} cannot wait for the writeAsync() in flight on the file; await it first`);
    }
    this.refuseWhileCommitting('truncate', { evenIfFailed: true });
    this.ftruncate(length);
    if (this.position > length) this.position = length;
  }

  size(): number {
    this.checkOpen();
    return this.fileSize();
  }

  sync(): void {
    this.checkOpen();
    // A failed file throws its failure (failure.run, below), whatever is in flight.
    if (!this.failure.failed) {
      if (this.turns.writesInFlight > 0) {
        throw new InvalidStateError(`sync() of ${this.path} cannot wait for the writeAsync() in flight on the file; await it first`);
      }
      if (this.syncsInFlight > 0) this.settleSyncsSync();
    }
    this.failure.run(() => this.fdatasync());
  }

  /**
   * Runs after the syncs and commits handed over before it settled, one fdatasync of the file at
   * a time (see `lastSync`), and after the writeAsync calls issued before it (see
   * `writesInFlight`); if one of them failed, it fails with the same cause, unrun. At once when
   * none is in flight.
   */
  async syncAsync(): Promise<void> {
    this.checkOpen();
    const run = (): Promise<void> => this.failure.runAsync(() => this.fdatasyncAsync());
    const previous = this.turns.afterWrites(this.syncsInFlight > 0 ? this.lastSync : undefined);
    const running = this.offThread(previous === undefined ? run : () => previous.then(run, run), ASYNC_SYNC);
    // Before this call's own await: the commits waiting for it are handed over before its caller resumes.
    this.turns.syncIssued(running);
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

  async commitAsync(plan: CommitPlan): Promise<CommitResult> {
    this.checkOpen();
    const { chunks, position, truncateTo, syncDirs, zeroChunks } = checkCommitPlan(plan);
    // In call order, each after the previous one's fdatasync (and after any syncAsync before it:
    // see `lastSync`), and none after a failure of the file (it rejects with the same cause):
    // bytes written behind a failed fdatasync could not be trusted.
    if (this.ordersCommits && this.asyncSyncs === 0 && this.turns.waitingCommits === 0 && this.turns.writesInFlight === 0) {
      // Straight to the file, which runs its commits in order (the group-commit path). A failed
      // syncAsync before it is recorded before asyncSyncs drops, so failure.runAsync sees it.
      const checked: CheckedCommitPlan = { chunks, position, truncateTo, syncDirs, zeroChunks, [OWNED_BYTES]: plan[OWNED_BYTES] };
      return this.offThread(() => this.failure.runInOrderAsync(() => this.runCommit(checked)), COMMIT);
    }
    // The caller's bytes as they are now: this commit may start only after earlier ones.
    const copied = snapshotCommitChunks(chunks, zeroChunks, plan[OWNED_BYTES]);
    const checked = { chunks: copied.chunks, position, truncateTo, syncDirs, zeroChunks: copied.zeroChunks, [OWNED_BYTES]: true as const };
    if (this.ordersCommits) {
      // Behind the syncAsync and writeAsync calls issued before it only (a syncAsync ran after
      // everything issued before it): the commits waiting for them are handed over in call order
      // as the last of them settles (CommitTurns), and the file orders them after the ones it
      // has, so none waits behind another one's fdatasync where a synchronous caller could not
      // see it (waitCommitsSync).
      const run = (): Promise<CommitResult> => this.failure.runInOrderAsync(() => this.runCommit(checked));
      return this.offThread(() => new Promise<CommitResult>((handedOver) => this.turns.awaitTurn(() => handedOver(run()))), COMMIT);
    } else if (this.commitNow === undefined) {
      const previous = this.turns.afterWrites(this.lastSync);
      const run = (): Promise<CommitResult> => this.failure.runAsync(() => this.runCommit(checked));
      return this.offThread(() => previous.then(run, run), COMMIT);
    } else {
      const queued = this.queued.add(checked);
      const previous = this.turns.afterWrites(this.lastSync);
      let after = previous;
      if (this.asyncSyncs > 0 || this.turns.waitingCommits > 0 || this.turns.writesInFlight > 0) {
        // As on the native commit thread, which is handed a commit only once the syncAsync and
        // writes before it settled: until then waitCommitsSync (and so sync()) refuses instead
        // of running it, so a test on memory or simulated files fails where the disk would.
        const turn = new Promise<void>((handedOver) => this.turns.awaitTurn(handedOver));
        after = Promise.allSettled([previous, turn]);
      }
      const run = (): CommitResult => this.queued.settle(queued);
      return this.offThread(() => after.then(run, run), COMMIT);
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
    if (this.inFlight > this.commits.seenRun) this.releaseWhenIdle = true;
    else this.release();
  }

  /**
   * Runs an async operation of the file, keeping the descriptor open until it settles. `sync`:
   * it ends in an fdatasync (syncAsync, commitAsync), counted as such and the newest (`lastSync`).
   */
  private offThread<T>(op: () => Promise<T>, sync?: SyncKind): Promise<T> {
    if (sync !== undefined) {
      this.syncsInFlight++;
      if (sync.async) this.asyncSyncs++;
      else this.commits.handed();
    }
    const running = this.running(op, sync);
    if (sync !== undefined) this.lastSync = running;
    return running;
  }

  private async running<T>(op: () => Promise<T>, sync: SyncKind | undefined): Promise<T> {
    this.inFlight++;
    try {
      return await op();
    } finally {
      if (sync !== undefined) {
        this.syncsInFlight--;
        if (sync.async) this.asyncSyncs--;
        else {
          this.commits.settled();
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
