// On-disk format v2 of the WAL, and v1 for reading and resuming (docs/FORMAT.md is the
// byte-level reference).
// Everything here is shared by the writer (encode/seal) and the reader (decode/scan),
// so both sides agree on one definition of every field.

import type { Checksummer } from '../backend/backend';
import { CorruptionError, InvalidArgumentError } from '../errors';
import { maskCrc, readU32, readU64, unmaskCrc, writeU32, writeU64 } from '../framed/bytes';
import { mayBeTornHeader, type HeaderCheck } from '../framed/header-check';
import type { FrameLayout } from '../framed/witness-search';

/** Version of new segments: v1 plus sync marks. v1 segments are still read (and resumed) under v1's rule. */
export const FORMAT_VERSION = 2;
/** Oldest version this reader knows. */
export const FORMAT_VERSION_V1 = 1;
export const SEGMENT_HEADER_SIZE = 32;
export const FRAME_HEADER_SIZE = 16;
export const MAX_PAYLOAD_SIZE = 64 * 1024 * 1024;
export const DEFAULT_SYNC_WINDOW = 64 * 1024 * 1024;
export const WAL_DIR = 'wal';
export const LOCK_FILE = 'wal/LOCK';
export const SEGMENT_SUFFIX = '.wal';

/**
 * Header flag: the file had an earlier life (a recycled segment), so bytes of that life may lie
 * past the zeros the writer keeps ahead of the log (docs/FORMAT.md, "Telling a torn tail from
 * damage"). v2 only; a reader that knows no flags refuses the segment rather than misread it.
 */
export const FLAG_EARLIER_LIFE = 0x0001;
const KNOWN_FLAGS = FLAG_EARLIER_LIFE;

/** "DWAL" as the little-endian u32 at offset 0. */
export const SEGMENT_MAGIC = 0x4c415744;
const TWO_32 = 0x1_0000_0000;

export { maskCrc, readU32, readU64, unmaskCrc, writeU32, writeU64 };

// ---- names ----

export function segmentFileName(segmentId: number): string {
  checkId(segmentId, 'segment id');
  return String(segmentId).padStart(20, '0') + SEGMENT_SUFFIX;
}

export function segmentPath(segmentId: number): string {
  return `${WAL_DIR}/${segmentFileName(segmentId)}`;
}

const SEGMENT_NAME = /^([0-9]{1,20})\.wal$/;

/** The id in `<digits>.wal` (padded or not), or undefined for any other name or an id outside 1..2^53−1. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return undefined;
  const id = Number(m[1]);
  return Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}

function checkId(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${what} must be an integer in 1..2^53-1, got ${v}`);
}

// ---- segment header ----

export interface SegmentHeader {
  /** 1: torn vs damage by the sync window W; 2: by sync marks (docs/FORMAT.md). */
  version: number;
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  /** The unmasked header CRC; seeds every frame CRC of the segment. */
  salt: number;
  /** FLAG_EARLIER_LIFE: a recycled file, whose earlier life's bytes may follow the zeros past the log. */
  earlierLife: boolean;
}

export interface SegmentHeaderFields {
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  /** FORMAT_VERSION unless given (the test vectors of v1 files pass 1). */
  version?: number;
  /** Sets FLAG_EARLIER_LIFE (v2 only): the segment goes into a recycled file. */
  earlierLife?: boolean;
}

export function encodeSegmentHeader(fields: SegmentHeaderFields, checksum: Checksummer): { bytes: Uint8Array; header: SegmentHeader } {
  checkId(fields.segmentId, 'segment id');
  checkId(fields.firstEntryId, 'first entry id');
  const w = fields.syncWindow;
  if (!Number.isInteger(w) || w < 1 || w > 0xffff_ffff) throw new InvalidArgumentError(`sync window must be in 1..2^32-1 bytes, got ${w}`);
  const version = fields.version ?? FORMAT_VERSION;
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_V1) throw new InvalidArgumentError(`unknown format version ${version}`);
  const earlierLife = fields.earlierLife === true;
  if (earlierLife && version !== FORMAT_VERSION) throw new InvalidArgumentError(`format version ${version} has no header flags`);
  const bytes = new Uint8Array(SEGMENT_HEADER_SIZE);
  writeU32(bytes, 0, SEGMENT_MAGIC);
  bytes[4] = version; // u16 version
  bytes[6] = earlierLife ? FLAG_EARLIER_LIFE : 0; // u16 flags
  writeU64(bytes, 8, fields.segmentId);
  writeU64(bytes, 16, fields.firstEntryId);
  writeU32(bytes, 24, w);
  const salt = checksum.crc32c(bytes.subarray(0, 28), 0);
  writeU32(bytes, 28, maskCrc(salt));
  return { bytes, header: { version, segmentId: fields.segmentId, firstEntryId: fields.firstEntryId, syncWindow: w, salt, earlierLife } };
}

/**
 * What is wrong with a header, if anything (framed/header-check.ts). A whole header is never
 * 'torn' here, even all zero: its CRC fails, and whether the final segment's header is torn is
 * the scanner's call (no frame behind it validates; docs/FORMAT.md).
 */
export function checkSegmentHeader(bytes: Uint8Array, checksum: Checksummer, expectedSegmentId?: number): HeaderCheck<SegmentHeader> {
  const n = bytes.length;
  if (n < SEGMENT_HEADER_SIZE) {
    if (mayBeTornHeader(bytes, SEGMENT_HEADER_SIZE, SEGMENT_MAGIC)) return { kind: 'torn', offset: n, reason: `segment header truncated (${n} of ${SEGMENT_HEADER_SIZE} bytes)` };
    return {
      kind: 'bad', crcValid: false, offset: 0,
      reason: `segment header truncated (${n} of ${SEGMENT_HEADER_SIZE} bytes), and its bytes are neither zeros nor the start of the magic: not a WAL segment`,
    };
  }
  const salt = checksum.crc32c(bytes.subarray(0, 28), 0);
  const crcValid = maskCrc(salt) === readU32(bytes, 28);
  const bad = (offset: number, reason: string, header?: SegmentHeader): HeaderCheck<SegmentHeader> => ({ kind: 'bad', crcValid, offset, reason, header });
  if (readU32(bytes, 0) !== SEGMENT_MAGIC) return bad(0, 'bad magic (not a WAL segment)');
  if (!crcValid) return bad(28, 'segment header CRC mismatch');
  const version = bytes[4] | (bytes[5] << 8);
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_V1) {
    return bad(4, `unsupported format version ${version} (this reader knows ${FORMAT_VERSION_V1} and ${FORMAT_VERSION})`);
  }
  const flags = bytes[6] | (bytes[7] << 8);
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags !== 0 && version !== FORMAT_VERSION)) {
    return bad(6, `unknown header flags 0x${flags.toString(16)} for format version ${version}`);
  }
  const segmentId = readU64(bytes, 8);
  const firstEntryId = readU64(bytes, 16);
  const syncWindow = readU32(bytes, 24);
  if (segmentId < 1) return bad(8, 'segment id out of range');
  if (firstEntryId < 1) return bad(16, 'first entry id out of range');
  if (syncWindow < 1) return bad(24, 'sync window is zero');
  const header = { version, segmentId, firstEntryId, syncWindow, salt, earlierLife: (flags & FLAG_EARLIER_LIFE) !== 0 };
  if (expectedSegmentId !== undefined && segmentId !== expectedSegmentId) {
    return bad(8, `segment id mismatch: header says ${segmentId}, file name says ${expectedSegmentId}`, header);
  }
  return { kind: 'ok', header };
}

export function decodeSegmentHeader(bytes: Uint8Array, file: string, checksum: Checksummer, expectedSegmentId?: number): SegmentHeader {
  const c = checkSegmentHeader(bytes, checksum, expectedSegmentId);
  if (c.kind !== 'ok') throw new CorruptionError(file, c.offset, c.reason);
  return c.header;
}

// ---- frames ----

export function frameSize(payloadLength: number): number {
  return FRAME_HEADER_SIZE + payloadLength;
}

/** Writes length + id + payload at target[offset..], leaving the 4-byte CRC slot to be sealed; returns next offset. */
export function writeFrameUnsealed(target: Uint8Array, offset: number, entryId: number, payload: Uint8Array): number {
  const len = payload.length;
  if (len > MAX_PAYLOAD_SIZE) throw new InvalidArgumentError(`payload of ${len} bytes exceeds the ${MAX_PAYLOAD_SIZE}-byte maximum`);
  checkId(entryId, 'entry id');
  writeU32(target, offset + 4, len);
  writeU32(target, offset + 8, entryId >>> 0);
  writeU32(target, offset + 12, (entryId / TWO_32) >>> 0);
  target.set(payload, offset + FRAME_HEADER_SIZE);
  return offset + FRAME_HEADER_SIZE + len;
}

// Scratch for sealFrames, grown to the largest batch seen (one allocation per growth, not per frame).
let sealRanges = new Uint32Array(2 * 256);
let sealOut = new Uint32Array(256);

/**
 * Seals `count` frames starting at the given offsets of `target`, and the sync mark laid out at
 * `markAt` if ≥ 0 (writeMarkUnsealed), in one checksum.crc32cRanges call, writing masked CRCs.
 */
export function sealFrames(target: Uint8Array, frameOffsets: Uint32Array, count: number, salt: number, checksum: Checksummer, markAt = -1): void {
  const first = markAt >= 0 ? 1 : 0;
  const total = count + first;
  if (total === 0) return;
  if (sealOut.length < total) {
    const n = Math.max(total, sealOut.length * 2);
    sealRanges = new Uint32Array(2 * n);
    sealOut = new Uint32Array(n);
  }
  const ranges = sealRanges;
  if (first === 1) {
    ranges[0] = markAt + 4;
    ranges[1] = MARK_SIZE - 4;
  }
  for (let i = 0; i < count; i++) {
    const off = frameOffsets[i];
    ranges[2 * (i + first)] = off + 4;
    ranges[2 * (i + first) + 1] = 12 + readU32(target, off + 4);
  }
  checksum.crc32cRanges(target, ranges, total, sealOut, salt >>> 0);
  if (first === 1) writeU32(target, markAt, maskCrc(sealOut[0]));
  for (let i = 0; i < count; i++) writeU32(target, frameOffsets[i], maskCrc(sealOut[i + first]));
}

/** Convenience: a complete sealed frame. */
export function encodeFrame(entryId: number, payload: Uint8Array, salt: number, checksum: Checksummer): Uint8Array {
  const out = new Uint8Array(frameSize(payload.length));
  writeFrameUnsealed(out, 0, entryId, payload);
  writeU32(out, 0, maskCrc(checksum.crc32c(out.subarray(4), salt >>> 0)));
  return out;
}

// ---- sync marks (v2) ----

/**
 * A sync mark: a 24-byte frame that holds no entry. Its length field is MARK_LENGTH (the high bit
 * no payload length can have, and 8 body bytes); its id field is the id of the next entry (it
 * consumes none); its body is the watermark D: when the mark was written, the segment had been
 * fdatasynced up to D. The CRC covers length, id and D, seeded with the salt as every frame's.
 */
export const MARK_SIZE = 24;
export const MARK_LENGTH = 0x8000_0008;

/** Lays out a sync mark's fields at target[offset..offset+24), leaving its CRC for sealFrames (markAt). */
export function writeMarkUnsealed(target: Uint8Array, offset: number, nextEntryId: number, watermark: number): void {
  writeU32(target, offset + 4, MARK_LENGTH);
  writeU64(target, offset + 8, nextEntryId);
  writeU64(target, offset + 16, watermark);
}

/** Writes a sealed sync mark at target[offset..offset+24). */
export function writeMark(target: Uint8Array, offset: number, nextEntryId: number, watermark: number, salt: number, checksum: Checksummer): void {
  checkId(nextEntryId, 'entry id');
  writeMarkUnsealed(target, offset, nextEntryId, watermark);
  writeU32(target, offset, maskCrc(checksum.crc32c(target.subarray(offset + 4, offset + MARK_SIZE), salt >>> 0)));
}

/** A complete sealed sync mark. */
export function encodeMark(nextEntryId: number, watermark: number, salt: number, checksum: Checksummer): Uint8Array {
  const out = new Uint8Array(MARK_SIZE);
  writeMark(out, 0, nextEntryId, watermark, salt, checksum);
  return out;
}

/** Frames and marks as the witness search sees them (framed/witness-search.ts). */
export const WAL_FRAME_LAYOUT: FrameLayout = {
  headerSize: FRAME_HEADER_SIZE, maxLength: MAX_PAYLOAD_SIZE, ids: true, mark: { length: MARK_LENGTH, size: MARK_SIZE },
};
