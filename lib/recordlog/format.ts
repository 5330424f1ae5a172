// Record log format (docs/FORMAT.md, "Record log"): a 16-byte file header, then frames
// `u32 mask(crc32c(bytes 4 .. 8+length)) | u32 length | payload`. No entry ids, no salt: the
// file is never recycled, and a torn tail is cut off before anything is appended again.
// Version 2 adds sync marks (16-byte frames carrying how far the file had been fdatasynced when
// they were written), so bit rot in synced bytes reads as damage wherever it is; version 1 files
// are still read, and appended to, without them.

import type { Checksummer } from '../backend/backend';
import { InvalidArgumentError } from '../errors';
import { maskCrc, readU32, writeU32, writeU64 } from '../framed/bytes';
import { mayBeTornHeader, type HeaderCheck } from '../framed/header-check';
import type { FrameLayout } from '../framed/witness-search';
import { MARK_LENGTH } from '../wal/format';

export const RECORD_LOG_MAGIC = 0x43455244; // "DREC" as a little-endian u32
/** The version new files get; RECORD_LOG_V1 files are still read and appended to. */
export const RECORD_LOG_VERSION = 2;
export const RECORD_LOG_V1 = 1;
export const RECORD_LOG_HEADER_SIZE = 16;
export const RECORD_FRAME_HEADER_SIZE = 8;
export const MAX_RECORD_SIZE = 64 * 1024 * 1024;
export const DEFAULT_RECORD_SYNC_WINDOW = 64 * 1024 * 1024;

/**
 * A sync mark (version 2): `u32 mask(crc32c(bytes 4..16)) | u32 MARK_LENGTH | u64 D`, a frame that
 * holds no record. MARK_LENGTH has the high bit no record length can have (and says 8 body
 * bytes, as the WAL's marks do). D: when the mark was written, the file had been fdatasynced up
 * to D (RECORD_LOG_HEADER_SIZE ≤ D ≤ the mark's own offset).
 */
export const RECORD_MARK_SIZE = 16;
export const RECORD_MARK_LENGTH = MARK_LENGTH;

export function encodeRecordLogHeader(syncWindow: number, checksum: Checksummer, version: number = RECORD_LOG_VERSION): Uint8Array {
  if (!Number.isInteger(syncWindow) || syncWindow < RECORD_FRAME_HEADER_SIZE || syncWindow > 0xffff_ffff) {
    throw new InvalidArgumentError(`syncWindow must be an integer in [${RECORD_FRAME_HEADER_SIZE}, 2^32-1], got ${syncWindow}`);
  }
  const b = new Uint8Array(RECORD_LOG_HEADER_SIZE);
  writeU32(b, 0, RECORD_LOG_MAGIC);
  b[4] = version; // u16 version, u16 flags = 0
  writeU32(b, 8, syncWindow);
  writeU32(b, 12, maskCrc(checksum.crc32c(b.subarray(0, 12), 0)));
  return b;
}

export interface RecordLogHeader {
  readonly syncWindow: number;
  readonly version: number;
}

/** `bytes`: the first min(16, size) bytes of the file. */
export function checkRecordLogHeader(bytes: Uint8Array, checksum: Checksummer): HeaderCheck<RecordLogHeader> {
  const n = bytes.length;
  if (mayBeTornHeader(bytes, RECORD_LOG_HEADER_SIZE, RECORD_LOG_MAGIC)) {
    return { kind: 'torn', offset: 0, reason: n < RECORD_LOG_HEADER_SIZE ? `header truncated (${n} of ${RECORD_LOG_HEADER_SIZE} bytes)` : 'header is all zero' };
  }
  const bad = (offset: number, reason: string, crcValid: boolean): HeaderCheck<RecordLogHeader> => ({ kind: 'bad', offset, reason, crcValid });
  if (n < RECORD_LOG_HEADER_SIZE || readU32(bytes, 0) !== RECORD_LOG_MAGIC) return bad(0, 'bad magic (not a record log)', false);
  if (maskCrc(checksum.crc32c(bytes.subarray(0, 12), 0)) !== readU32(bytes, 12)) return bad(12, 'header CRC mismatch', false);
  const version = bytes[4] | (bytes[5] << 8);
  if (version !== RECORD_LOG_VERSION && version !== RECORD_LOG_V1) {
    return bad(4, `unsupported record log version ${version} (this reader knows ${RECORD_LOG_V1} and ${RECORD_LOG_VERSION})`, true);
  }
  const flags = bytes[6] | (bytes[7] << 8);
  if (flags !== 0) return bad(6, `nonzero header flags 0x${flags.toString(16)}`, true);
  const syncWindow = readU32(bytes, 8);
  if (syncWindow < RECORD_FRAME_HEADER_SIZE) return bad(8, `sync window ${syncWindow} is below the frame header size`, true);
  return { kind: 'ok', header: { syncWindow, version } };
}

/** Writes length and payload at target[offset..] and seals the CRC; returns the next offset. */
export function writeRecordFrame(target: Uint8Array, offset: number, payload: Uint8Array, checksum: Checksummer): number {
  writeU32(target, offset + 4, payload.length);
  target.set(payload, offset + RECORD_FRAME_HEADER_SIZE);
  const end = offset + RECORD_FRAME_HEADER_SIZE + payload.length;
  writeU32(target, offset, maskCrc(checksum.crc32c(target.subarray(offset + 4, end), 0)));
  return end;
}

/** Writes a sealed sync mark vouching for [0, watermark) at target[offset..offset+16); returns the next offset. */
export function writeRecordMark(target: Uint8Array, offset: number, watermark: number, checksum: Checksummer): number {
  writeU32(target, offset + 4, RECORD_MARK_LENGTH);
  writeU64(target, offset + 8, watermark);
  const end = offset + RECORD_MARK_SIZE;
  writeU32(target, offset, maskCrc(checksum.crc32c(target.subarray(offset + 4, end), 0)));
  return end;
}

/** Frames (and, in version 2, sync marks) as the witness search sees them, records up to `maxLength`. */
export function recordFrameLayout(maxLength: number): FrameLayout {
  return { headerSize: RECORD_FRAME_HEADER_SIZE, maxLength, ids: false, mark: { length: RECORD_MARK_LENGTH, size: RECORD_MARK_SIZE } };
}
