// What the CRC32C tests check implementations against: a bit-at-a-time CRC straight from the
// definition (independent of lib/crc32c and the native kernels), the RFC 3720 test vectors, and
// a seeded xorshift32 so a random-input failure names a seed that replays it.

/** Bit-at-a-time CRC32C (Castagnoli, reflected 0x82f63b78); slow but obviously right. */
export function referenceCrc32c(data: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** RFC 3720 (iSCSI) appendix B.4 vectors, plus "123456789" and the empty input: [name, data, crc]. */
export function rfc3720Vectors(): Array<[string, Uint8Array, number]> {
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  return [
    ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
    ['32 0xFF bytes', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['0..31 ascending', ascending, 0x46dd794e],
    ['31..0 descending', ascending.slice().reverse(), 0x113fdb5c],
    ['"123456789"', Buffer.from('123456789'), 0xe3069283],
    ['empty', new Uint8Array(0), 0],
  ];
}

/** xorshift32: a reproducible stream of uint32s from a seed (0 is taken as 1). */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
