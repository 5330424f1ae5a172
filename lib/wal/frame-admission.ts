import { channels } from '../diagnostics';
import { InvalidStateError } from '../errors';
import { encodePayload } from '../framed/encode';
import type { CommitExecutor } from './commit-executor';
import { FRAME_HEADER_SIZE } from './format';
import { notify } from './observer';
import { MAX_ENTRY_ID, type WriterState } from './writer-state';

const appendChannel = channels.append;
const EMPTY = new Uint8Array(0);

// Where each new frame goes: entries are encoded, given the next id and placed in the current
// executor's buffer, and the placement rules are checked once, here, for both ways of committing
// (commit-executor.ts): rotation (size or age, rule A), the sync window (rule B, counting the
// sync mark a write may carry, rule D), the buffer's capacity and entry cap, and frames larger
// than the buffer. The executor does what each rule calls for.
export class FrameAdmission<E> {
  /** See refreshRoom. */
  private room = -1;
  private staging: Uint8Array = EMPTY;
  private readonly ageLimited: boolean;
  private readonly payloadLimit: { readonly max: number; readonly name: string };

  constructor(private readonly state: WriterState<E>, private readonly executor: () => CommitExecutor) {
    this.ageLimited = state.opts.maxSegmentAgeMs > 0;
    this.payloadLimit = { max: state.opts.maxPayloadSize, name: 'maxPayloadSize' };
  }

  /** The entry's payload, checked against maxPayloadSize and the observer's admit hook. */
  encode(entry: E, index: number): Uint8Array {
    const state = this.state;
    const payload = encodePayload(state.opts.codec, entry, state.next + index, this.payloadLimit);
    const admit = state.observer?.admit;
    if (admit === undefined) return payload;
    // The hook may encode with the same codec (another writer, a shared `json`), which may reuse
    // the buffer `payload` views: keep a copy of our bytes first.
    const own = payload.slice();
    admit.call(state.observer, FRAME_HEADER_SIZE + own.length);
    return own;
  }

  /**
   * Every entry encoded before any is framed, so an encode failure anywhere appends none and
   * consumes no id. Payloads are copied out: encoders may reuse their output buffer between calls.
   */
  encodeAll(entries: readonly E[]): Uint8Array[] {
    const n = entries.length;
    if (this.state.next + n - 1 > MAX_ENTRY_ID) throw new InvalidStateError('entry ids would pass 2^53 - 1');
    const ends = new Array<number>(n);
    // The staging buffer is this batch's until it is framed: an admit hook that appends a batch of
    // its own stages that one in a buffer of its own, not over the payloads staged so far.
    let staging = this.staging;
    this.staging = EMPTY;
    let used = 0;
    for (let i = 0; i < n; i++) {
      const payload = this.encode(entries[i], i);
      if (used + payload.length > staging.length) staging = grown(staging, used + payload.length, used);
      staging.set(payload, used);
      used += payload.length;
      ends[i] = used;
    }
    if (staging.length <= this.state.opts.bufferSize * 4) this.staging = staging;
    const payloads = new Array<Uint8Array>(n);
    let start = 0;
    for (let i = 0; i < n; i++) {
      payloads[i] = staging.subarray(start, ends[i]);
      start = ends[i];
    }
    return payloads;
  }

  /** Gives `payload` the next id and places its frame, rotating and syncing first where the rules say. */
  frame(payload: Uint8Array): number {
    const frameBytes = FRAME_HEADER_SIZE + payload.length;
    const exec = this.executor();
    const buffer = exec.buffer;
    // Fast path: the frame fits the buffer, the segment and the sync window, so no rule can
    // trigger (see refreshRoom). Age limits always take the careful path.
    if (frameBytes > this.room || this.ageLimited || buffer.count >= exec.entryCap) return this.frameCarefully(payload, frameBytes);
    const id = this.state.next;
    buffer.add(id, payload);
    this.room -= frameBytes;
    this.appended(id, frameBytes);
    return id;
  }

  /**
   * Bytes the next frames may take with no rule to apply: rotation, a sync-window sync and a
   * buffer write all start beyond it. Computed as if the segment held frames and had unsynced
   * bytes (the cases where those rules apply), so it only errs small. Refreshed after the
   * careful path, a flush, a sync, a cut or a rotation; a stale value is smaller, never larger.
   */
  refreshRoom(): void {
    const state = this.state;
    const exec = this.executor();
    const segment = state.segment;
    const buffer = exec.buffer;
    const end = segment.position + buffer.length + exec.markBytes();
    this.room = state.next >= MAX_ENTRY_ID ? -1 : Math.min(
      state.opts.maxSegmentSize - end,
      segment.syncWindow - (end - exec.spanStart()),
      buffer.capacity - buffer.length,
    );
  }

  private frameCarefully(payload: Uint8Array, frameBytes: number): number {
    const state = this.state;
    const id = state.next;
    // Before any rotation: a segment whose first id would be 2^53 cannot be created, and the
    // refusal must leave the writer as it was (rotating first, it poisoned the synchronous mode,
    // and when pipelined it closed the segment the writer kept appending to).
    if (id > MAX_ENTRY_ID) throw new InvalidStateError('entry ids would pass 2^53 - 1');
    let exec = this.executor();
    if (state.segment.frameCount > 0 && this.mustRotate(frameBytes)) {
      exec.rotate();
      exec = this.executor();
    }
    const segment = state.segment;
    // Rule B: the frame would take the unsynced span past W, so close the span first.
    const unsynced = segment.position + exec.buffer.length + exec.markBytes() - exec.spanStart();
    if (unsynced > 0 && unsynced + frameBytes > segment.syncWindow) exec.closeSpan();
    if (exec.buffer.length + frameBytes > exec.buffer.capacity || exec.buffer.count >= exec.entryCap) {
      exec.bufferFull();
      if (frameBytes > exec.buffer.capacity) {
        exec.oversize(id, payload);
        this.appended(id, frameBytes);
        this.refreshRoom();
        return id;
      }
    }
    exec.buffer.add(id, payload);
    this.appended(id, frameBytes);
    this.refreshRoom();
    return id;
  }

  private appended(id: number, frameBytes: number): void {
    const state = this.state;
    state.next = id + 1;
    state.segment.frameCount++;
    const observer = state.observer;
    if (observer !== undefined && observer.onAppend !== undefined) state.emit(() => notify(observer, 'onAppend', id, frameBytes));
    if (appendChannel.hasSubscribers) {
      const info = { entryId: id, frameBytes, segmentId: state.segment.segmentId };
      state.emit(() => appendChannel.publish(info));
    }
  }

  private mustRotate(frameBytes: number): boolean {
    const state = this.state;
    const exec = this.executor();
    const segment = state.segment;
    if (segment.position + exec.buffer.length + exec.markBytes() + frameBytes > state.opts.maxSegmentSize) return true;
    return state.opts.maxSegmentAgeMs > 0 && state.opts.clock() - segment.createdAt >= state.opts.maxSegmentAgeMs;
  }
}

/** A staging buffer of at least `needed` bytes holding the first `keep` bytes of `staging`. */
function grown(staging: Uint8Array, needed: number, keep: number): Uint8Array {
  const next = new Uint8Array(Math.max(needed, staging.length * 2, 4096));
  next.set(staging.subarray(0, keep));
  return next;
}
