import { channels } from '../diagnostics';
import { encodeMark, FRAME_HEADER_SIZE, MARK_SIZE, WAL_DIR } from './format';
import type { ActiveSegment } from './active-segment';
import type { CommitExecutor } from './commit-executor';
import { FrameBuffer, sealedFrame } from './frame-buffer';
import { MAX_ENTRY_ID, type WriterState } from './writer-state';

// The synchronous mode (append + flush policy, flushSync, syncSync, closeSync): frames go to the
// OS from the calling thread, and every rule is applied on the spot. Rule B: the unsynced span
// starts at the segment's last fdatasync. Rule D: the first write after an fdatasync is led by
// a sync mark carrying how far it reached (ActiveSegment.pendingMark).
export class InlineCommits<E> implements CommitExecutor {
  readonly buffer: FrameBuffer;
  readonly entryCap = Infinity;
  /** Where the last idle mark ended, and in which segment (see writeIdleMark). */
  private idleMarkEnd: { readonly segment: ActiveSegment; readonly end: number } | undefined;
  /** The segment whose idle mark last found no room, reported once (noRoomForIdleMark). */
  private idleMarkSkippedIn: ActiveSegment | undefined;

  constructor(private readonly state: WriterState<E>, bufferSize: number) {
    this.buffer = new FrameBuffer(bufferSize);
  }

  spanStart(): number {
    return this.state.segment.synced;
  }

  markBytes(): number {
    return this.state.segment.pendingMark() > 0 ? MARK_SIZE : 0;
  }

  flush(): void {
    this.writeBuffered();
  }

  bufferFull(): void {
    this.writeBuffered();
  }

  closeSpan(): void {
    this.writeBuffered();
    try {
      this.state.segment.syncNow();
    } catch (err) {
      this.state.fail(err);
    }
  }

  /** Rule A: the old segment is complete and durable, entry and all, before the next one exists. */
  rotate(): void {
    const state = this.state;
    const old = state.segment;
    this.writeBuffered();
    try {
      old.trim();
      old.syncNow();
      state.syncDirNow();
    } catch (err) {
      state.fail(err);
    }
    // Everything before the new segment is now durable, booked before the steps below: when
    // closing the old descriptor or creating the next segment fails, the writer is poisoned and
    // the entry that rotated takes no id, but durableEntryId still says how far the log is
    // durable (as group commit resolves the batch that ended the segment: FailedAfterDurable).
    state.markDurable(state.next - 1, { announce: false });
    try {
      old.close();
      state.segment = state.openSegment(old.segmentId + 1, state.next);
    } catch (err) {
      state.fail(err);
    }
    state.rotated(old.segmentId, state.segment.segmentId, state.next);
  }

  oversize(id: number, payload: Uint8Array): void {
    const segment = this.state.segment;
    const mark = segment.pendingMark();
    try {
      segment.write(sealedFrame(id, payload, segment.salt, this.state.checksum, mark));
      if (mark > 0) segment.markedTo = mark;
    } catch (err) {
      this.state.fail(err);
    }
    this.state.flushed(segment.segmentId, FRAME_HEADER_SIZE + payload.length, id);
  }

  /** Makes every entry framed so far durable, on the calling thread. */
  sync(): void {
    const state = this.state;
    this.writeBuffered();
    const cover = state.next - 1;
    try {
      if (state.segment.synced < state.segment.position) state.segment.syncNow();
      state.syncDirNow();
    } catch (err) {
      state.fail(err);
    }
    state.markDurable(cover);
  }

  /** close's last steps on the calling thread: write, trim, sync, the closing mark, the directory. */
  finish(): void {
    const state = this.state;
    this.writeBuffered();
    const segment = state.segment;
    try {
      if (segment.trim() || segment.synced < segment.position) segment.syncNow();
      if (this.writeClosingMark()) segment.syncNow();
      state.syncDirNow();
    } catch (err) {
      state.fail(err);
    }
    state.markDurable(state.next - 1);
  }

  /** close's last steps off the thread (close() after the pipeline drained). */
  async finishAsync(): Promise<void> {
    const state = this.state;
    this.writeBuffered();
    const segment = state.segment;
    try {
      if (segment.trim() || segment.synced < segment.position) await segment.syncAsync();
      if (this.writeClosingMark()) await segment.syncAsync();
      if (state.dirSyncPending) {
        const generation = state.dirGenerationNow;
        await state.dir.syncDirAsync(WAL_DIR);
        state.dirSynced(generation);
      }
    } catch (err) {
      state.fail(err);
    }
    state.markDurable(state.next - 1);
  }

  /** Seals and writes every buffered frame with one checksum call and one write. */
  writeBuffered(): void {
    this.writeFrames(this.buffer);
  }

  /**
   * writeBuffered for `buffer`: this mode's own, or the frames the pipeline hands back when it is
   * left early, where they do not fit this one (PipelinedCommits.leave).
   */
  writeFrames(buffer: FrameBuffer): void {
    if (buffer.count === 0) return;
    const state = this.state;
    const segment = state.segment;
    const mark = segment.pendingMark();
    try {
      segment.write(buffer.seal(segment.salt, state.checksum, mark));
      if (mark > 0) segment.markedTo = mark;
    } catch (err) {
      buffer.clear();
      state.fail(err);
    }
    const bytes = buffer.length;
    buffer.clear();
    state.flushed(segment.segmentId, bytes, state.next - 1);
  }

  /**
   * An idle writer's mark alone (see WalWriter.markWhileIdle), when the last fdatasync reached
   * past the last mark and no frame waits in the buffer (a buffered frame would take the mark
   * with it, and the mark must name the id of the frame after it). Not synced: lost in a crash,
   * it is a torn tail of 24 bytes, and D vouches only for bytes an fdatasync already covered.
   */
  writeIdleMark(): void {
    const state = this.state;
    const segment = state.segment;
    if (this.buffer.count > 0 || !segment.exists || state.next > MAX_ENTRY_ID) return;
    // Nothing written since the last idle mark: the fdatasync that passed it covered only that
    // mark, and it already vouches for every frame. Marked again, an idle writer whose owner
    // syncs now and then grew by a mark and an fdatasync per sync, with no entry appended.
    if (this.idleMarkEnd?.segment === segment && this.idleMarkEnd.end === segment.position) return;
    const mark = segment.pendingMark();
    if (mark === 0) return;
    try {
      if (!segment.writeWhereRoom(encodeMark(state.next, mark, segment.salt, state.checksum))) {
        this.noRoomForIdleMark(segment);
        return;
      }
      segment.markedTo = mark;
      this.idleMarkEnd = { segment, end: segment.position };
    } catch (err) {
      // A failed write poisons like any other; no caller is waiting, the next call throws it.
      state.poison(err);
    }
  }

  /**
   * The idle mark found no room (ENOSPC, EDQUOT, EFBIG: lib/backend/no-room.ts). Nothing acknowledged depends on it: it is not
   * synced, so recovery never needs it, and it only lets followers that yield proven entries
   * (durableOnly) see the last sync sooner. So the writer goes on without it. It stays pending:
   * the next write of frames leads with a mark of the same size at the same place, over whatever
   * part of this one reached the file, and rotation and close trim the file to `position` first.
   */
  private noRoomForIdleMark(segment: ActiveSegment): void {
    if (this.idleMarkSkippedIn === segment) return;
    this.idleMarkSkippedIn = segment;
    channels.diagnostic.publish({
      kind: 'idle-mark-skipped',
      message: `no room for an idle writer's sync mark in ${segment.path}: left out; followers with durableOnly see the newest synced entries at the next write instead`,
      path: segment.path,
    });
  }

  /**
   * On close, with the segment synced: a last sync mark vouching for every byte before it, so
   * damage anywhere in a closed log reads as damage (docs/FORMAT.md); the caller syncs it.
   */
  private writeClosingMark(): boolean {
    const state = this.state;
    const segment = state.segment;
    // A log that reached the last entry id has no next id for the mark to carry.
    const mark = segment.exists && state.next <= MAX_ENTRY_ID ? segment.pendingMark() : 0;
    if (mark === 0) return false;
    segment.write(encodeMark(state.next, mark, segment.salt, state.checksum));
    segment.markedTo = mark;
    return true;
  }
}
