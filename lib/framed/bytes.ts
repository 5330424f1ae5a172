// Little-endian fields and the masked CRC, shared by every framed format (WAL segments, record
// logs, checkpoints). Manual byte access: no DataView per call on hot paths.

const MASK_DELTA = 0xa282ead8;
const TWO_32 = 0x1_0000_0000;
/** Largest high half of a u64 that still gives a safe integer (2^53 − 1). */
const MAX_SAFE_HIGH = 0x1f_ffff;

/** Stored CRCs are masked (rotated, plus a constant), as in LevelDB's log format. */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

export function readU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** A u64 as a number, or -1 when it exceeds 2^53 − 1. */
export function readU64(b: Uint8Array, o: number): number {
  const hi = readU32(b, o + 4);
  return hi > MAX_SAFE_HIGH ? -1 : hi * TWO_32 + readU32(b, o);
}

export function writeU64(b: Uint8Array, o: number, v: number): void {
  writeU32(b, o, v >>> 0);
  writeU32(b, o + 4, Math.floor(v / TWO_32));
}
