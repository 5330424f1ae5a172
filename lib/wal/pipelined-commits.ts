import { channels } from '../diagnostics';
import { commitHeader, planSegment } from './segment-create';
import type { CommitExecutor } from './commit-executor';
import { defaultCohortPolicy } from './cohort-merge';
import { MARK_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR } from './format';
import { FrameBuffer, sealedFrame } from './frame-buffer';
import { Batch, COMMIT_DEPTH, CommitQueue, FailedAfterDurable } from './group-commit';
import type { WriterState } from './writer-state';

// The group-commit mode (from the first appendDurable, appendBatchDurable or sync until every
// commit is done): all I/O is commits (group-commit.ts), each a write + fdatasync (+ directory
// fsync) off the event loop; frames appended meanwhile, durable or not, wait in the filling
// batch. The rules hold per batch:
//   A. a batch never spans segments. Rotation cuts the filling batch and marks it as ending its
//      segment (its commit also trims and syncs it); the next segment is only planned (header
//      and salt fixed, no file) and is created when its first batch starts, i.e. after the
//      ending batch completed: one commit writes and syncs its header alone, the next its frames
//      with the directory fsync (a recycled file's header is synced before its rename);
//   B. the file writes a batch only after the previous one was fdatasynced, so the unsynced span
//      is that batch (plus, for the first batch, what the synchronous mode left unsynced): a
//      batch is cut before a frame would take that span past W;
//   C. a commit that creates a segment also fsyncs the directory, and completes before any
//      later batch can report durable;
//   D. a batch's sync mark carries how far a completed fdatasync reached when it was cut.
export class PipelinedCommits<E> implements CommitExecutor {
  buffer: FrameBuffer;
  readonly entryCap: number;
  readonly commits: CommitQueue;
  /** The batch `buffer` fills (set by enter). */
  private filling!: Batch;
  /** Where the unsynced span of the filling batch starts (rule B). */
  private spanBase = 0;
  /** Batch buffers kept between commits (and between pipeline lives): a batch buffer is maxBatchBytes. */
  private spares: FrameBuffer[] = [];
  /** Between enter and leave: the writer's I/O is this pipeline's. */
  private active = false;

  /**
   * `syncBuffer`: the synchronous mode's buffer, lent as the first batch when it holds frames.
   * `relayout` runs after every change to the buffer or segment that frame admission's room
   * depends on; `drained` when the last commit completed with nothing left to commit;
   * `writeFrames` writes, as the synchronous mode does, frames too many for `syncBuffer` (leave).
   */
  constructor(
    private readonly state: WriterState<E>,
    private readonly syncBuffer: FrameBuffer,
    private readonly relayout: () => void,
    drained: () => void,
    private readonly writeFrames: (frames: FrameBuffer) => void,
  ) {
    this.buffer = syncBuffer;
    this.entryCap = state.opts.maxBatchEntries;
    this.commits = new CommitQueue({
      cutFilling: () => this.cutFilling(),
      start: (batch) => this.start(batch),
      committed: (batch) => this.committed(batch),
      failed: (batch, err, abandoned) => this.failed(batch, err, abandoned),
      zerosAfter: (batch) => this.zerosAfter(batch),
      nextId: () => this.state.next,
      fillingEntries: () => this.buffer.count,
      // A kick queued before the writer left the pipeline early (settleUnawaitedSync) finds nothing to do.
      drained: () => {
        if (this.active) drained();
      },
      idleButZeros: () => {
        if (this.buffer.count === 0 && this.filling.waiter === undefined) this.filling.behindZeros = true;
      },
    }, state.opts.commitPollMicros, state.opts.cohorts ?? defaultCohortPolicy(state.dir));
  }

  /** Takes over from the synchronous mode: the frames it buffered become the first batch. */
  enter(): void {
    this.active = true;
    const segment = this.state.segment;
    this.spanBase = segment.synced;
    this.buffer = this.syncBuffer;
    this.filling = new Batch(segment, segment.position, this.syncBuffer);
    if (this.syncBuffer.count > 0) this.cut();
    else this.useBuffer(this.spare());
    this.commits.schedule();
  }

  /**
   * Every batch someone awaits completed; in flight are only commits of zeros and, once those
   * ran, the commit of plain appends made meanwhile (Batch.behindZeros: nobody awaits it, and on
   * node:fs, which has no commits of zeros, the pipeline had drained and the appends wrote those
   * frames themselves); the filling batch holds at most frames nobody awaits. Where the file lets
   * a synchronous call wait for its commits, a synchronous caller may then block until they ran
   * (settleUnawaitedSync) and leave the pipeline, the synchronous mode taking those frames (leave).
   */
  get onlyUnawaitedPending(): boolean {
    return this.commits.onlyZerosAndBehindInFlight && this.state.segment.waitsForCommits && this.filling.waiter === undefined;
  }

  /** Resolves once every commit in flight, zeros included, completed (or failed). */
  drainedOut(): Promise<void> {
    return this.commits.waitFor(this.commits.newest).catch(() => undefined);
  }

  /**
   * Blocks until the commits in flight have run and throws a failed one's error; the queue books
   * the batches among them as committed (when none failed) and forgets them all (their
   * completions, which still arrive, change nothing).
   */
  settleUnawaitedSync(): void {
    let ran = false;
    try {
      this.state.segment.waitCommitsSync();
      ran = true;
    } finally {
      this.commits.settleInFlight(ran);
    }
  }

  /** The pipeline drained: the synchronous mode takes over again. */
  leave(): void {
    this.active = false;
    const filling = this.buffer;
    this.buffer = this.syncBuffer;
    if (filling === this.syncBuffer) return;
    try {
      // The wait for the commits ahead of these frames failed (settleUnawaitedSync): the writer is
      // poisoned and writes nothing more; written here, the failure escaped closeSync before it
      // released the writer. Nobody was told they were durable.
      if (this.state.failure !== undefined) return;
      // Frames a synchronous caller found waiting for a commit (see onlyUnawaitedPending): the
      // synchronous mode writes them now, in place, as if they had been appended there; when
      // its buffer is too small for them (bufferSize is the caller's), written at once.
      if (filling.count > 0 && this.syncBuffer.canTake(filling)) this.syncBuffer.takeFrames(filling);
      else this.writeFrames(filling);
    } finally {
      this.recycleBuffer(filling);
    }
  }

  spanStart(): number {
    return this.spanBase;
  }

  /** While a commit of this segment is pending it may complete before the cut and call for a mark. */
  markBytes(): number {
    const segment = this.state.segment;
    if (!segment.marks) return 0;
    if (this.commits.last?.segment === segment) return MARK_SIZE;
    return segment.synced > segment.markedTo ? MARK_SIZE : 0;
  }

  /** The pending commits write every frame: nothing to do. */
  flush(): void {}

  bufferFull(): void {
    this.cut();
  }

  closeSpan(): void {
    this.cut();
  }

  /** Rule A, pipelined: the filling batch ends the segment; the next segment is planned, created when its first batch commits. */
  rotate(): void {
    const state = this.state;
    const old = state.segment;
    // Planned before the cut: planning can throw (the caller's clock), and after the cut the
    // ending batch closes `old` when it commits, which the writer would then go on appending to.
    const next = planSegment({
      segmentId: old.segmentId + 1, firstEntryId: state.next, syncWindow: state.opts.syncWindow, createdAt: state.opts.clock(), preallocate: 0,
      earlierLife: state.pool.size > 0,
    }, state.checksum);
    this.cut({ endsSegment: true });
    state.segment = next;
    this.spanBase = SEGMENT_HEADER_SIZE;
    this.filling = new Batch(next, next.position, this.buffer);
    this.relayout();
  }

  /** A frame larger than a batch buffer: a batch of its own, sealed now (the payload may be reused by the codec). */
  oversize(id: number, payload: Uint8Array): void {
    const segment = this.state.segment;
    const batch = this.filling;
    batch.frames = undefined;
    batch.mark = this.batchMark({ hasFrames: true });
    batch.sealed = sealedFrame(id, payload, segment.salt, this.state.checksum, batch.mark);
    batch.bytes = batch.sealed.length;
    batch.lastEntryId = id;
    batch.entries = 1;
    segment.position += batch.bytes;
    this.commits.push(batch);
    this.spanBase = segment.position;
    this.filling = this.nextFilling(batch);
  }

  /** Another caller waits: make sure a commit will run. */
  wake(): void {
    this.commits.schedule();
  }

  /** The batch holding the newest entry (undefined: everything appended is durable). */
  newestBatch(): Batch | undefined {
    return this.buffer.count > 0 ? this.filling : this.commits.last;
  }

  /** Waits until everything appended so far, and anything the synchronous mode left unsynced, is durable. */
  syncAll(): Promise<void> {
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
    const batch = this.filling;
    const buffer = this.buffer;
    const segment = this.state.segment;
    if (buffer.count === 0 && !endsSegment && batch.waiter === undefined && this.spanBase === segment.position) return;
    batch.mark = this.batchMark({ hasFrames: buffer.count > 0 });
    batch.bytes = buffer.length + (batch.mark > 0 ? MARK_SIZE : 0);
    batch.lastEntryId = this.state.next - 1;
    batch.entries = buffer.count;
    batch.endsSegment = endsSegment;
    if (buffer.count === 0) batch.frames = undefined;
    else this.buffer = this.spare(); // the cut batch keeps `buffer` until its commit completes
    segment.position += batch.bytes;
    this.commits.push(batch);
    this.spanBase = segment.position;
    this.filling = this.nextFilling(batch);
    this.relayout();
  }

  /**
   * The batch filling after `cut`. Frames of plain appends made behind a batch of such frames
   * nobody awaits are behind the zeros too: on node:fs they had gone to the synchronous mode.
   */
  private nextFilling(cut: Batch): Batch {
    const segment = this.state.segment;
    const next = new Batch(segment, segment.position, this.buffer);
    next.behindZeros = cut.behindZeros && cut.waiter === undefined;
    return next;
  }

  /**
   * The sync mark of a batch being cut: how far a completed fdatasync of the segment reached when
   * it was cut. An earlier batch may still be in flight (COMMIT_DEPTH), so its bytes do not count.
   */
  private batchMark({ hasFrames }: { hasFrames: boolean }): number {
    const segment = this.state.segment;
    if (!hasFrames || !segment.marks || segment.synced <= segment.markedTo) return 0;
    segment.markedTo = segment.synced;
    return segment.synced;
  }

  private cutFilling(): boolean {
    // Not active: the synchronous mode owns the buffer (a kick queued before the pipeline was left).
    if (!this.active || (this.buffer.count === 0 && this.filling.waiter === undefined)) return false;
    this.cut();
    return true;
  }

  private start(batch: Batch): Promise<void> {
    const segment = batch.segment;
    batch.opensSegment = !segment.exists || segment.pendingHeader !== undefined;
    // The queue starts nothing behind a batch that opens its segment (mayStart), so the file is
    // in place before any later commit is handed to it.
    const installing = segment.exists ? undefined : this.state.createPlanned(segment);
    return installing === undefined ? this.commit(batch) : installing.then(() => this.commit(batch));
  }

  /** The batch's commit, once its segment has a file: the pending header first (rule A), then the frames. */
  private commit(batch: Batch): Promise<void> {
    const state = this.state;
    const segment = batch.segment;
    const chunks: Uint8Array[] = [];
    const header = segment.pendingHeader;
    segment.pendingHeader = undefined;
    if (batch.frames !== undefined) chunks.push(batch.frames.seal(segment.salt, state.checksum, batch.mark));
    else if (batch.sealed !== undefined) chunks.push(batch.sealed);
    const end = batch.start + batch.bytes;
    if (header !== undefined) segment.extendsTo(Math.max(header.length, state.opts.zeroFill));
    const zeros = segment.zeroAhead(end, state.opts.maxSegmentSize, { endsSegment: batch.endsSegment });
    chunks.push(...zeros.chunks);
    const truncateTo = batch.endsSegment && segment.sizeAfterCommits() > end ? end : undefined;
    const generation = state.dirGenerationNow;
    const syncDirs = state.dirSyncPending ? [WAL_DIR] : undefined;
    batch.dirGeneration = generation;
    const plan = { chunks, position: batch.start, truncateTo, syncDirs, zeroChunks: zeros.required ? 0 : zeros.chunks.length };
    if (header === undefined) return segment.commit(plan, end);
    // Rule A: the header is fdatasynced before any frame is written. Written together, a torn
    // write could keep a frame and lose the header, which the reader must call damage. A new
    // file's zero fill (options.zeroFill) is committed with and after it (see commitHeader).
    return commitHeader(segment, header, state.opts.zeroFill).then(() => segment.commit(plan, end));
  }

  /** Zeros ahead of the log, handed to the file right behind `batch` when due (ActiveSegment.zeroAheadAsync). */
  private zerosAfter(batch: Batch): { readonly batch: Batch; readonly done: Promise<void> } | undefined {
    if (batch.endsSegment || batch.opensSegment || batch.bytes === 0) return undefined;
    const segment = batch.segment;
    const end = batch.start + batch.bytes;
    let done: Promise<void> | undefined;
    try {
      done = segment.zeroAheadAsync(end, this.state.opts.maxSegmentSize);
    } catch (err) {
      // The file's size could not be read (a resumed or recycled segment's first ask): failed as
      // a commit of zeros, in order, which poisons the writer. Thrown, it escaped the queue's
      // kick as an unhandled rejection, which ends the process.
      done = Promise.reject(err);
    }
    if (done === undefined) return undefined;
    const zeros = new Batch(segment, end, undefined);
    zeros.zerosOnly = true;
    zeros.lastEntryId = batch.lastEntryId;
    return { batch: zeros, done };
  }

  private committed(batch: Batch): void {
    if (batch.zerosOnly) return;
    const state = this.state;
    state.dirSynced(batch.dirGeneration);
    if (batch.frames !== undefined) this.recycleBuffer(batch.frames);
    let closeFailure: { readonly cause: unknown } | undefined;
    try {
      if (batch.endsSegment) batch.segment.close();
    } catch (err) {
      // The commit trimmed and fdatasynced the segment: what close(2) reports (a writeback error
      // on NFS) cannot undo that, so the batch stays durable; the writer stops all the same.
      closeFailure = { cause: err };
    }
    if (batch.bytes > 0) state.flushed(batch.segment.segmentId, batch.bytes, batch.lastEntryId);
    state.markDurable(batch.lastEntryId);
    if (closeFailure !== undefined) throw new FailedAfterDurable(closeFailure.cause);
  }

  private failed(batch: Batch, err: unknown, abandoned: readonly Batch[]): void {
    this.state.poison(err, batch.segment);
    // Segments the failed batches were to close would otherwise keep their descriptors. A close
    // that fails too (close(2) can report a writeback error) changes nothing: the writer is
    // poisoned with the first cause, and the descriptor is released either way.
    for (const b of [batch, ...abandoned]) {
      if (!b.endsSegment) continue;
      try {
        b.segment.close();
      } catch (closeErr) {
        if (channels.diagnostic.hasSubscribers) {
          channels.diagnostic.publish({ kind: 'close-failed', message: `closing ${b.segment.path} after the writer was poisoned failed`, path: b.segment.path, error: closeErr });
        }
      }
    }
  }

  private spare(): FrameBuffer {
    return this.spares.pop() ?? new FrameBuffer(this.state.opts.maxBatchBytes);
  }

  private recycleBuffer(buffer: FrameBuffer): void {
    buffer.clear();
    if (buffer !== this.syncBuffer && this.spares.length < COMMIT_DEPTH) this.spares.push(buffer);
  }

  private useBuffer(buffer: FrameBuffer): void {
    this.buffer = buffer;
    this.filling.frames = buffer;
  }
}
