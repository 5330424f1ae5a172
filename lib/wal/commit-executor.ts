import type { FrameBuffer } from './frame-buffer';

// How frames reach the disk: what frame admission (frame-admission.ts) asks for when a rule
// applies, answered by the synchronous mode (inline-commits.ts: I/O on the calling thread) or
// by the group-commit pipeline (pipelined-commits.ts: batches committed off the event loop).
// Admission decides when; the executor decides how.
export interface CommitExecutor {
  /** The frames being filled. */
  readonly buffer: FrameBuffer;
  /** Entries the buffer may hold (maxBatchEntries while pipelined). */
  readonly entryCap: number;
  /** Where the current unsynced span of the segment starts (rule B counts from here). */
  spanStart(): number;
  /** MARK_SIZE when the buffered frames may be written behind a sync mark, else 0 (rule D). */
  markBytes(): number;
  /** The flush policy or appendBatch asks for buffered frames to reach the OS. */
  flush(): void;
  /** The buffer cannot take the next frame. */
  bufferFull(): void;
  /** Rule B: the next frame would take the unsynced span past W. */
  closeSpan(): void;
  /** Rule A: the segment is full or too old; the next frame starts a new one. */
  rotate(): void;
  /** A frame larger than the buffer, placed on its own. */
  oversize(id: number, payload: Uint8Array): void;
}
