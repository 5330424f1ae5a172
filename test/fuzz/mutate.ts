// Format-agnostic byte mutations. Format-aware ones (lengths, ids, resealed CRCs) live beside
// each format's generator; these are the blind ones a damaged disk or a confused writer makes.

import type { Prng } from '../../lib/directory/prng';

export function randomBytes(rng: Prng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff;
  return out;
}

/** Lengths skewed small (most decoders' edge cases are in the first bytes), sometimes larger. */
export function randomLength(rng: Prng, max = 512): number {
  const r = rng.next();
  if (r < 0.5) return rng.int(48);
  if (r < 0.9) return rng.int(max);
  return rng.int(max * 8);
}

export function flipBits(rng: Prng, b: Uint8Array, count: number): void {
  if (b.length === 0) return;
  for (let i = 0; i < count; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
}

export function setBytes(rng: Prng, b: Uint8Array, count: number): void {
  if (b.length === 0) return;
  const interesting = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x10];
  for (let i = 0; i < count; i++) b[rng.int(b.length)] = rng.chance(0.5) ? rng.pick(interesting) : rng.nextUint32() & 0xff;
}

export function fill(rng: Prng, b: Uint8Array, value: number): void {
  if (b.length === 0) return;
  const start = rng.int(b.length);
  const end = Math.min(b.length, start + 1 + rng.int(rng.chance(0.5) ? 16 : b.length));
  b.fill(value, start, end);
}

export function truncate(rng: Prng, b: Uint8Array): Uint8Array {
  return b.subarray(0, rng.int(b.length + 1));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Zeros (preallocated space) or garbage after the end. */
export function extend(rng: Prng, b: Uint8Array): Uint8Array {
  const n = 1 + randomLength(rng, 256);
  return concat(b, rng.chance(0.6) ? new Uint8Array(n) : randomBytes(rng, n));
}

/** A prefix of `a` followed by a suffix of `b`: two files stitched at arbitrary points. */
export function splice(rng: Prng, a: Uint8Array, b: Uint8Array): Uint8Array {
  return concat(a.subarray(0, rng.int(a.length + 1)), b.subarray(rng.int(b.length + 1)));
}

/** Bytes [from, to) moved or copied elsewhere: duplicated or lost regions. */
export function duplicateRange(rng: Prng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return b;
  const from = rng.int(b.length);
  const to = Math.min(b.length, from + 1 + rng.int(64));
  const at = rng.int(b.length + 1);
  return concat(b.subarray(0, at), b.subarray(from, to), b.subarray(at));
}

export function deleteRange(rng: Prng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return b;
  const from = rng.int(b.length);
  const to = Math.min(b.length, from + 1 + rng.int(64));
  return concat(b.subarray(0, from), b.subarray(to));
}

/** One blind mutation, chosen at random; may return a new array. */
export function blindMutation(rng: Prng, b: Uint8Array, other: () => Uint8Array): Uint8Array {
  switch (rng.int(9)) {
    case 0: flipBits(rng, b, 1); return b;
    case 1: flipBits(rng, b, 1 + rng.int(8)); return b;
    case 2: setBytes(rng, b, 1 + rng.int(4)); return b;
    case 3: fill(rng, b, 0); return b;
    case 4: fill(rng, b, 0xff); return b;
    case 5: return truncate(rng, b);
    case 6: return extend(rng, b);
    case 7: return rng.chance(0.5) ? duplicateRange(rng, b) : deleteRange(rng, b);
    default: return splice(rng, b, other());
  }
}
