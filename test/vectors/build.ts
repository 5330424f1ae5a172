// Builds segment bytes straight from lib/wal/format.ts (no writer involved), for the committed
// vectors and for reader tests that need exact control over what is on disk.

import type { Checksummer } from '../../lib/backend/backend';
import type { Directory } from '../../lib/directory/directory';
import {
  FRAME_HEADER_SIZE, MARK_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR, encodeFrame, encodeMark, encodeSegmentHeader, frameSize, sealFrames, segmentPath,
  writeFrameUnsealed, type SegmentHeader,
} from '../../lib/wal/format';

export interface SegmentSpec {
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  payloads: readonly Uint8Array[];
  /** Format version of the header: 1 unless given (these builders write v1's frames, no sync marks). */
  version?: number;
}

export interface BuiltSegment {
  bytes: Uint8Array;
  header: SegmentHeader;
  /** Offset of each frame, then the end offset. */
  offsets: number[];
}

export function buildSegment(spec: SegmentSpec, checksum: Checksummer): BuiltSegment {
  const { bytes: head, header } = encodeSegmentHeader({ ...spec, version: spec.version ?? 1 }, checksum);
  let size = SEGMENT_HEADER_SIZE;
  for (const p of spec.payloads) size += frameSize(p.length);
  const bytes = new Uint8Array(size);
  bytes.set(head, 0);
  const offsets: number[] = [];
  let off = SEGMENT_HEADER_SIZE;
  spec.payloads.forEach((p, i) => {
    offsets.push(off);
    off = writeFrameUnsealed(bytes, off, spec.firstEntryId + i, p);
  });
  offsets.push(off);
  sealFrames(bytes, Uint32Array.from(offsets.slice(0, -1)), spec.payloads.length, header.salt, checksum);
  return { bytes, header, offsets };
}

/**
 * A v2 segment: frames and sync marks in the given order. A mark carries its own offset as the
 * watermark (the writer had synced everything before it) and the id of the next entry.
 */
export function buildMarkedSegment(
  spec: { segmentId: number; firstEntryId: number; syncWindow: number; earlierLife?: boolean; items: readonly (Uint8Array | 'mark')[] }, checksum: Checksummer,
): BuiltSegment {
  const { bytes: head, header } = encodeSegmentHeader({ ...spec, version: 2 }, checksum);
  const parts: Uint8Array[] = [head];
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_SIZE;
  let id = spec.firstEntryId;
  for (const item of spec.items) {
    offsets.push(at);
    const part = item === 'mark' ? encodeMark(id, at, header.salt, checksum) : encodeFrame(id++, item, header.salt, checksum);
    parts.push(part);
    at += item === 'mark' ? MARK_SIZE : part.length;
  }
  offsets.push(at);
  const bytes = new Uint8Array(at);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, header, offsets };
}

export function writeSegmentFile(dir: Directory, segmentId: number, bytes: Uint8Array): string {
  dir.mkdirp(WAL_DIR);
  const path = segmentPath(segmentId);
  dir.atomicWrite(path, bytes);
  return path;
}

/** Payloads of `size` bytes whose content depends on the entry id (so a misplaced frame shows). */
export function payloadsFor(firstEntryId: number, count: number, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const p = new Uint8Array(size);
    for (let j = 0; j < size; j++) p[j] = (firstEntryId + i) * 31 + j * 7;
    out.push(p);
  }
  return out;
}

export interface LogSpec {
  segments: number;
  framesPerSegment: number;
  payloadSize: number;
  syncWindow: number;
}

/** A multi-segment log written directly to `dir`; returns each segment's built bytes. */
export function writeLog(dir: Directory, spec: LogSpec): BuiltSegment[] {
  const out: BuiltSegment[] = [];
  let first = 1;
  for (let s = 1; s <= spec.segments; s++) {
    const built = buildSegment({
      segmentId: s, firstEntryId: first, syncWindow: spec.syncWindow, payloads: payloadsFor(first, spec.framesPerSegment, spec.payloadSize),
    }, dir.checksum);
    writeSegmentFile(dir, s, built.bytes);
    out.push(built);
    first += spec.framesPerSegment;
  }
  return out;
}

export const FRAME_OVERHEAD = FRAME_HEADER_SIZE;

// ---- annotated hex ----

/** One line per header / frame (wrapped at 16 bytes), each introduced by a `#` comment. */
export function toAnnotatedHex(bytes: Uint8Array, marks: readonly { at: number; note: string }[]): string {
  const sorted = [...marks].sort((a, b) => a.at - b.at);
  const lines: string[] = [];
  for (let m = 0; m < sorted.length; m++) {
    const start = sorted[m].at;
    const end = m + 1 < sorted.length ? sorted[m + 1].at : bytes.length;
    lines.push(`# ${start}: ${sorted[m].note}`);
    for (let i = start; i < end; i += 16) {
      lines.push(Array.from(bytes.subarray(i, Math.min(i + 16, end)), (b) => b.toString(16).padStart(2, '0')).join(' '));
    }
  }
  return lines.join('\n') + '\n';
}

export function parseHex(text: string): Uint8Array {
  const digits = text.split('\n').map((l) => l.replace(/#.*$/, '')).join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error('malformed hex vector');
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}
