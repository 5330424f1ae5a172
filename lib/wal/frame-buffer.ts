import type { Checksummer } from '../backend/backend';
import { FRAME_HEADER_SIZE, MARK_SIZE, readU64, sealFrames, writeFrameUnsealed, writeMarkUnsealed } from './format';

// Frames waiting to be written, packed back to back exactly as they will lie in the segment.
// Frames are laid out unsealed as they are appended; one sealFrames call per flush computes
// every CRC in the batch (one native crossing), and the sealed bytes go out in one write.
// A group-commit path can keep two of these and fill one while the other is in flight.
// Frames start at FRAMES_AT; the MARK_SIZE bytes before it are a slot for the sync mark
// (docs/FORMAT.md) that may lead the write: filled by seal when the writer passes a watermark,
// skipped otherwise. FRAMES_AT is a multiple of 16, so frames keep the alignment they would
// have at offset 0 (payload copies and checksums are not slowed by the slot).
const FRAMES_AT = 32;
const MARK_AT = FRAMES_AT - MARK_SIZE;

export class FrameBuffer {
  readonly capacity: number;
  private readonly bytes: Uint8Array;
  private offsets: Uint32Array;
  /** Number of frames in the buffer. */
  count = 0;
  /** Bytes of frames (the mark slot not counted). */
  length = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.bytes = new Uint8Array(FRAMES_AT + capacity);
    this.offsets = new Uint32Array(Math.min(1024, Math.floor(capacity / FRAME_HEADER_SIZE) + 1));
  }

  /** Lays out one frame; the caller has checked that it fits (length + 16 + payload ≤ capacity). */
  add(entryId: number, payload: Uint8Array): void {
    if (this.count === this.offsets.length) this.growOffsets();
    this.offsets[this.count++] = FRAMES_AT + this.length;
    this.length = writeFrameUnsealed(this.bytes, FRAMES_AT + this.length, entryId, payload) - FRAMES_AT;
  }

  /**
   * Seals every frame under `salt` and returns the bytes to write (a view, valid until the next
   * add). With `watermark` > 0 the bytes start with a sync mark carrying it (MARK_SIZE more).
   */
  seal(salt: number, checksum: Checksummer, watermark = 0): Uint8Array {
    if (watermark === 0 || this.count === 0) {
      sealFrames(this.bytes, this.offsets, this.count, salt, checksum);
      return this.bytes.subarray(FRAMES_AT, FRAMES_AT + this.length);
    }
    writeMarkUnsealed(this.bytes, MARK_AT, this.firstEntryId(), watermark);
    sealFrames(this.bytes, this.offsets, this.count, salt, checksum, MARK_AT);
    return this.bytes.subarray(MARK_AT, FRAMES_AT + this.length);
  }

  /** Whether `other`'s frames fit after these. */
  canTake(other: FrameBuffer): boolean {
    return this.length + other.length <= this.capacity;
  }

  /** Moves `other`'s frames, unsealed, after these (the caller checked canTake); `other` is left empty. */
  takeFrames(other: FrameBuffer): void {
    const at = FRAMES_AT + this.length;
    this.bytes.set(other.bytes.subarray(FRAMES_AT, FRAMES_AT + other.length), at);
    for (let i = 0; i < other.count; i++) {
      if (this.count === this.offsets.length) this.growOffsets();
      this.offsets[this.count++] = other.offsets[i] - FRAMES_AT + at;
    }
    this.length += other.length;
    other.clear();
  }

  clear(): void {
    this.count = 0;
    this.length = 0;
  }

  private firstEntryId(): number {
    return readU64(this.bytes, this.offsets[0] + 8);
  }

  private growOffsets(): void {
    const next = new Uint32Array(this.offsets.length * 2);
    next.set(this.offsets);
    this.offsets = next;
  }
}

/** One sealed frame in a buffer of its own (led by a sync mark when `watermark` > 0), for frames larger than the writer's buffer. */
export function sealedFrame(entryId: number, payload: Uint8Array, salt: number, checksum: Checksummer, watermark = 0): Uint8Array {
  const single = new FrameBuffer(FRAME_HEADER_SIZE + payload.length);
  single.add(entryId, payload);
  return single.seal(salt, checksum, watermark);
}
