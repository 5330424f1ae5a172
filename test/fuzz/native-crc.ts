// The native CRC entry points the decoders lean on, fed directly: every kernel, odd offsets and
// lengths, views that end exactly at the end of their ArrayBuffer (under ASan the next byte is a
// redzone, so a kernel that reads one word too far is caught), batches of ranges including ones
// that leave the buffer or wrap around 2^32, and `out` aliasing `ranges` or the data.

import type { NativeBinding } from '../../binding';
import { crc32c as jsCrc32c } from '../../lib/crc32c';
import type { Prng } from '../../lib/directory/prng';
import { count, fail, type Stats } from './wal-target';

interface ResizableBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const Resizable = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableBuffer;

function freshBytes(rng: Prng, n: number): Uint8Array {
  // Its own ArrayBuffer (off-heap, malloc'd with a redzone under ASan), or an on-heap small array,
  // or a resizable buffer: the three shapes a Uint8Array's storage takes in V8.
  const r = rng.next();
  const b = r < 0.6 ? new Uint8Array(new ArrayBuffer(n)) : r < 0.9 ? new Uint8Array(n) : new Uint8Array(new Resizable(n, { maxByteLength: n + 64 }));
  for (let i = 0; i < n; i++) b[i] = rng.nextUint32() & 0xff;
  return b;
}

/** Shrinks a resizable buffer under an existing view: the view may end up shorter, or out of bounds (length 0). */
function maybeShrink(rng: Prng, b: Uint8Array): void {
  const buffer = b.buffer as ResizableBuffer;
  if ((buffer as { resizable?: boolean }).resizable === true && rng.chance(0.5)) buffer.resize(rng.int(b.byteLength + 1));
}

function size(rng: Prng): number {
  const r = rng.next();
  if (r < 0.5) return rng.int(80);
  if (r < 0.9) return rng.int(1200);
  return rng.int(70_000);
}

function expectRangeError(where: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    if (err instanceof RangeError) return;
    fail(where, `threw ${String(err)} instead of a RangeError`);
  }
  fail(where, 'accepted an out-of-bounds batch');
}

/** One case per call: a kernel comparison, a valid batch, a bad batch, or aliasing. */
export function fuzzNativeCrc(binding: NativeBinding, rng: Prng, stats: Stats): void {
  const buf = freshBytes(rng, size(rng));
  const from = rng.chance(0.5) ? 0 : rng.int(buf.length + 1);
  const to = rng.chance(0.6) ? buf.length : from + rng.int(buf.length - from + 1);
  const data = rng.chance(0.5) ? buf.subarray(from, to) : new Uint8Array(buf.buffer, from);
  maybeShrink(rng, buf);
  const seed = rng.chance(0.3) ? 0 : rng.nextUint32();
  // What JS sees through the view now (an out-of-bounds view has length 0 and no subarray).
  const snap = Uint8Array.from({ length: data.length }, (_, i) => data[i]);
  const want = jsCrc32c(snap, seed);
  const kind = rng.int(4);
  if (kind === 0) {
    for (const kernel of binding.crc32cKernels()) {
      const got = binding.crc32cWithKernel(kernel, data, seed);
      if (got !== want) fail(`crc32cWithKernel(${kernel})`, `length ${data.length} at offset ${from}, seed ${seed}: ${got} != ${want}`);
    }
    if (binding.crc32c(data, seed) !== want || binding.crc32cPortable(data, seed) !== want) fail('crc32c', `length ${data.length}: disagrees with JS`);
    count(stats, 'native crc: kernels');
    return;
  }
  const n = rng.int(rng.chance(0.8) ? 8 : 40);
  const ranges = new Uint32Array(2 * n + rng.int(3));
  for (let i = 0; i < n; i++) {
    const start = rng.chance(0.2) ? data.length : rng.int(data.length + 1);
    const len = rng.chance(0.3) ? data.length - start : rng.int(data.length - start + 1);
    ranges[2 * i] = start;
    ranges[2 * i + 1] = len;
  }
  if (kind === 1) {
    const out = new Uint32Array(n + rng.int(3));
    binding.crc32cRanges(data, ranges, n, out, seed);
    for (let i = 0; i < n; i++) {
      const expected = jsCrc32c(snap.subarray(ranges[2 * i], ranges[2 * i] + ranges[2 * i + 1]), seed);
      if (out[i] !== expected) fail('crc32cRanges', `range ${i} of ${n} [${ranges[2 * i]}, +${ranges[2 * i + 1]}) over ${data.length} bytes: ${out[i]} != ${expected}`);
    }
    count(stats, 'native crc: ranges');
    return;
  }
  if (kind === 2) {
    const bad = rng.int(Math.max(1, n));
    const total = Math.max(n, bad + 1);
    const r2 = new Uint32Array(2 * total);
    r2.set(ranges.subarray(0, 2 * n));
    const shape = rng.int(4);
    if (shape === 0) [r2[2 * bad], r2[2 * bad + 1]] = [0xffff_ffff, 2]; // start + length wraps in 32 bits
    else if (shape === 1) [r2[2 * bad], r2[2 * bad + 1]] = [data.length + 1, 0];
    else if (shape === 2) [r2[2 * bad], r2[2 * bad + 1]] = [rng.int(data.length + 1), 0xffff_ffff];
    else [r2[2 * bad], r2[2 * bad + 1]] = [data.length, 1];
    const out = new Uint32Array(total).fill(0xdead);
    expectRangeError('crc32cRanges(out of bounds)', () => binding.crc32cRanges(data, r2, total, out, seed));
    if (out.some((v) => v !== 0xdead)) fail('crc32cRanges(out of bounds)', 'wrote results before refusing the batch');
    expectRangeError('crc32cRanges(short ranges)', () => binding.crc32cRanges(data, r2, total + 1 + rng.int(4), new Uint32Array(total + 8), seed));
    expectRangeError('crc32cRanges(short out)', () => binding.crc32cRanges(data, r2, total, new Uint32Array(rng.int(total)), seed));
    count(stats, 'native crc: refused');
    return;
  }
  // Aliasing: results land on ranges still to be read, or on the data. Only safety is asserted
  // (a RangeError or some result); the values are not defined.
  try {
    if (rng.chance(0.5)) binding.crc32cRanges(data, ranges, n, ranges.subarray(rng.int(Math.max(1, ranges.length - n + 1))), seed);
    else if (data.byteOffset % 4 === 0 && data.length >= 4 * n) binding.crc32cRanges(data, ranges, n, new Uint32Array(data.buffer, data.byteOffset, n), seed);
  } catch (err) {
    if (!(err instanceof RangeError)) fail('crc32cRanges(aliased)', `threw ${String(err)}`);
  }
  count(stats, 'native crc: aliased');
}
