// Byte layout of a checkpoint file (docs/FORMAT.md, "Checkpoint file"): a 28-byte header and
// the state codec's payload, one CRC over both. Decoding checks the claimed length against the
// maximum and against the file's real size before anything of that length is allocated.

import type { Checksummer } from '../backend/backend';
import { EncodeError, InvalidArgumentError } from '../errors';
import { requireChecksummer, typeName } from '../guards';
import { maskCrc, readU32, readU64, writeU32, writeU64 } from '../framed/bytes';
import type { HeaderCheck } from '../framed/header-check';

export const CHECKPOINT_MAGIC = 0x504b4344; // "DCKP" as a little-endian u32
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_HEADER_SIZE = 28;
export const MAX_CHECKPOINT_PAYLOAD = 256 * 1024 * 1024;

export interface CheckpointHeader {
  readonly version: number;
  readonly flags: number;
  /** -1 when the stored u64 exceeds 2^53 − 1. */
  readonly lastEntryId: number;
  /** -1 when the stored u64 exceeds 2^53 − 1. */
  readonly payloadLength: number;
  readonly storedCrc: number;
}

/** Header and payload in one buffer, ready for atomicWrite. */
export function encodeCheckpoint(lastEntryId: number, payload: Uint8Array, checksum: Checksummer): Uint8Array {
  if (!Number.isSafeInteger(lastEntryId) || lastEntryId < 0) throw new EncodeError(`checkpoint lastEntryId must be an integer ≥ 0, got ${lastEntryId}`);
  const notBytes = (): InvalidArgumentError => new InvalidArgumentError(`encodeCheckpoint takes the state's encoded bytes (a Uint8Array), not ${typeName(payload)}`);
  const length: unknown = (payload as { length?: unknown } | null | undefined)?.length;
  if (typeof length !== 'number') throw notBytes();
  if (length > MAX_CHECKPOINT_PAYLOAD) {
    throw new EncodeError(`checkpoint state encodes to ${length} bytes, more than the format's ${MAX_CHECKPOINT_PAYLOAD}`);
  }
  if (!(payload instanceof Uint8Array)) throw notBytes();
  requireChecksummer(checksum, 'encodeCheckpoint');
  const out = new Uint8Array(CHECKPOINT_HEADER_SIZE + payload.length);
  writeU32(out, 0, CHECKPOINT_MAGIC);
  out[4] = CHECKPOINT_VERSION; // u16 version, then u16 flags = 0
  writeU64(out, 8, lastEntryId);
  writeU64(out, 16, payload.length);
  out.set(payload, CHECKPOINT_HEADER_SIZE);
  writeU32(out, 24, maskCrc(checkpointCrc(out.subarray(0, 24), payload, checksum)));
  return out;
}

export function checkpointCrc(headerPrefix: Uint8Array, payload: Uint8Array, checksum: Checksummer): number {
  return checksum.crc32c(payload, checksum.crc32c(headerPrefix, 0));
}

/**
 * The header's fields, if the bytes can be one. Never 'torn' (a checkpoint appears whole, by
 * rename, or not at all), and never `crcValid`: the CRC covers the payload too, so the reader
 * checks it once it has read the payload.
 */
export function checkCheckpointHeader(bytes: Uint8Array): HeaderCheck<CheckpointHeader> {
  const n = bytes.length;
  if (n < CHECKPOINT_HEADER_SIZE) return { kind: 'bad', offset: n, reason: `truncated header (${n} of ${CHECKPOINT_HEADER_SIZE} bytes)`, crcValid: false };
  if (readU32(bytes, 0) !== CHECKPOINT_MAGIC) return { kind: 'bad', offset: 0, reason: 'bad magic (not a checkpoint file)', crcValid: false };
  const header = {
    version: bytes[4] | (bytes[5] << 8),
    flags: bytes[6] | (bytes[7] << 8),
    lastEntryId: readU64(bytes, 8),
    payloadLength: readU64(bytes, 16),
    storedCrc: readU32(bytes, 24),
  };
  return { kind: 'ok', header };
}
