// What a scan of one segment says (segment-scan.ts): how it ends and where, for the reader,
// the writer's resume and the CLI.

import type { SegmentHeader } from './format';
import type { Pacer } from './pacer';

export type ScanMode = 'strict' | 'bestEffortTail';

export type SegmentTail = 'clean' | 'torn' | 'stale';

export interface SegmentScan {
  segmentId: number;
  path: string;
  /** undefined = torn header (final segment, bestEffortTail only). */
  header: SegmentHeader | undefined;
  firstEntryId: number;
  /** firstEntryId - 1 when the segment holds no frame. */
  lastEntryId: number;
  frameCount: number;
  /** Byte offset just past the last good frame (32 if none; 0 if the header is torn). */
  validEnd: number;
  fileSize: number;
  /**
   * How the bytes past validEnd read: nothing or zeros ('clean'); a torn write ('torn'); zeros,
   * then bytes of the file's earlier life ('stale': a recycled final segment, FLAG_EARLIER_LIFE,
   * read as it is being written or after its writer was killed: an end in both modes, which a
   * resuming writer cuts like a torn tail).
   */
  tail: SegmentTail;
  /** Largest watermark of a good sync mark (SEGMENT_HEADER_SIZE when none: v1, or no mark yet). */
  watermark: number;
  /** Where the last good entry frame starts (SEGMENT_HEADER_SIZE when none). */
  lastFrameAt: number;
}

export interface ScanOptions {
  isFinal: boolean;
  mode: ScanMode;
  /** The previous segment's last entry id + 1; undefined for the first segment listed. */
  expectedFirstEntryId?: number;
  /**
   * The caller's limit on payloads: a good frame above it is a DecodeError when reached, never
   * a cut. What is torn or damaged is decided by the format's own limit, MAX_PAYLOAD_SIZE.
   */
  maxPayloadSize?: number;
  /** `payload` is a view valid only during the call. */
  onFrame?: (entryId: number, payload: Uint8Array) => void;
  /** Async readers: next() returns false with `paused` set once the pacer is due (see pacer.ts). */
  pacer?: Pacer;
}
