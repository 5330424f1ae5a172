import assert from 'node:assert/strict';
import { crc32c, crc32cRanges } from '../lib/crc32c';
import { referenceCrc32c, rfc3720Vectors, xorshift32 } from './crc32c-oracle';

function randomBytes(next: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = next() & 0xff;
  return out;
}

describe('crc32c (TypeScript)', () => {
  it('matches the RFC 3720 test vectors', () => {
    for (const [name, data, expected] of rfc3720Vectors()) assert.equal(crc32c(data), expected, name);
  });

  it('matches the bitwise reference for every length 0..600 at every alignment', () => {
    const next = xorshift32(7);
    const backing = randomBytes(next, 640);
    for (let len = 0; len <= 600; len++) {
      const off = len & 7;
      const view = backing.subarray(off, off + len);
      const seed = next();
      assert.equal(crc32c(view, seed), referenceCrc32c(view, seed), `len ${len} offset ${off}`);
    }
  });

  it('matches the reference on large inputs taking the word path', () => {
    const next = xorshift32(11);
    const big = randomBytes(next, 70_000);
    for (const off of [0, 1, 2, 3, 5]) {
      const view = big.subarray(off, off + 65_536 + off * 7);
      assert.equal(crc32c(view), referenceCrc32c(view), `offset ${off}`);
    }
  });

  it('continues: crc32c(a ++ b) === crc32c(b, crc32c(a)) at every split', () => {
    const next = xorshift32(3);
    const data = randomBytes(next, 1500);
    const whole = crc32c(data);
    for (let split = 0; split <= data.length; split += 37) {
      assert.equal(crc32c(data.subarray(split), crc32c(data.subarray(0, split))), whole, `split ${split}`);
    }
    assert.equal(crc32c(data.subarray(data.length)), 0);
  });

  it('is unsigned and treats Buffers, plain Uint8Arrays and subarrays alike', () => {
    const bytes = Buffer.from('durability write-ahead log frame payload'.repeat(20));
    const copy = new Uint8Array(bytes);
    const value = crc32c(bytes);
    assert.ok(value >= 0 && value <= 0xffffffff);
    assert.equal(crc32c(copy), value);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    assert.equal(crc32c(padded.subarray(3)), value);
  });

  it('stays correct when the ArrayBuffer under a cached view grows, shrinks or is detached', () => {
    // Resizable buffers (ES2024) are available in Node >= 20; the view cache must notice.
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const buf = new Resizable(1024, { maxByteLength: 8192 });
    const bytes = new Uint8Array(buf);
    bytes.fill(0x5a);
    assert.equal(crc32c(new Uint8Array(buf, 0, 1024)), referenceCrc32c(new Uint8Array(buf, 0, 1024)));
    buf.resize(8192);
    const grown = new Uint8Array(buf, 0, 8192);
    grown.fill(0xa5, 1024);
    assert.equal(crc32c(grown), referenceCrc32c(grown));
    buf.resize(512);
    const shrunk = new Uint8Array(buf, 0, 512);
    assert.equal(crc32c(shrunk), referenceCrc32c(shrunk));

    const plain = new Uint8Array(4096).fill(1);
    const before = crc32c(plain);
    const moved = new Uint8Array(structuredClone(plain.buffer, { transfer: [plain.buffer] }));
    assert.equal(plain.length, 0);
    assert.equal(crc32c(plain), 0);
    assert.equal(crc32c(moved), before);
  });

  it('rejects non-byte input with TypeError', () => {
    assert.throws(() => crc32c('abc' as unknown as Uint8Array), TypeError);
    assert.throws(() => crc32c(new Uint16Array(4) as unknown as Uint8Array), TypeError);
  });
});

describe('crc32cRanges (TypeScript)', () => {
  it('equals crc32c of each range with the seed', () => {
    const next = xorshift32(5);
    const data = randomBytes(next, 5000);
    const count = 40;
    const ranges = new Uint32Array(2 * count);
    for (let k = 0; k < count; k++) {
      const start = next() % data.length;
      ranges[2 * k] = start;
      ranges[2 * k + 1] = k === 0 ? 0 : next() % (data.length - start + 1);
    }
    const seed = 0x9e3779b9;
    const out = new Uint32Array(count + 2).fill(0xdeadbeef);
    crc32cRanges(data, ranges, count, out, seed);
    for (let k = 0; k < count; k++) {
      const range = data.subarray(ranges[2 * k], ranges[2 * k] + ranges[2 * k + 1]);
      assert.equal(out[k], crc32c(range, seed), `range ${k}`);
    }
    assert.equal(out[count], 0xdeadbeef, 'writes only count results');
  });

  it('handles count 0 and a range ending exactly at the end', () => {
    const data = new Uint8Array(300).fill(9);
    const out = new Uint32Array(1);
    crc32cRanges(data, new Uint32Array(0), 0, new Uint32Array(0), 0);
    crc32cRanges(data, Uint32Array.of(0, 300), 1, out, 0);
    assert.equal(out[0], crc32c(data));
  });

  it('throws RangeError for ranges outside data or short arrays, before writing anything', () => {
    const data = new Uint8Array(100);
    const out = new Uint32Array(2).fill(7);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(0, 10, 95, 6), 2, out, 0), RangeError);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(101, 0), 1, out, 0), RangeError);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(0xffffffff, 2), 1, out, 0), RangeError);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(0, 1), 2, out, 0), RangeError);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(0, 1, 0, 1), 2, new Uint32Array(1), 0), RangeError);
    assert.throws(() => crc32cRanges(data, Uint32Array.of(0, 1), -1, out, 0), RangeError);
    assert.deepEqual([...out], [7, 7]);
  });
});
