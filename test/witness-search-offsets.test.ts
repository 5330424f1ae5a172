// A witness search tries every byte offset after a bad frame, but walks only the offsets a cheap
// necessary condition leaves (lib/framed/witness-search.ts windowScan): in a v2 search, where only
// sync marks can be witnesses, their length field; where every id a witness may carry is below
// 2^32, a zero high half of the id after a nonzero low half; else a nonzero byte where the id lies.
// The first two are found with Buffer.indexOf: byte by byte, the 64 MiB earlier life behind a
// recycled segment's zeros cost a strict read 1.8 s and a reopen after a kill 2.9 s. Here a plain
// loop over every offset is the oracle: on files of noise, runs of zeros, planted frames and marks
// (valid, with a bad CRC, under another salt, with ids on both sides of 2^32 and zero ids, every
// watermark) and stray length fields, across the search's 1 MiB windows, each search must find
// the same first witness.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Checksummer } from '../lib/backend/backend';
import { MemoryDirectory } from '../lib/directory/memory';
import { SEARCH_NONE, findWitnessFrame, searchBudget } from '../lib/framed/witness-search';
import { maskCrc } from '../lib/framed/bytes';
import { MARK_LENGTH, MARK_SIZE, MAX_PAYLOAD_SIZE, WAL_FRAME_LAYOUT, encodeFrame, encodeMark, readU32, readU64, writeU32, writeU64 } from '../lib/wal/format';

const WINDOW = 1 << 20;
const SALT = 0x5eed;
const TWO_32 = 0x1_0000_0000;

interface Query { from: number; endBeyond: number; markAbove: number | undefined; idMin: number; idBase: number | undefined }

/** The first offset ≥ from holding a witness the query accepts, trying every offset in turn. */
function everyOffset(bytes: Uint8Array, q: Query, checksum: Checksummer): number {
  for (let p = q.from; p + 16 <= bytes.length; p++) {
    const len = readU32(bytes, p + 4);
    let end: number;
    if (len === MARK_LENGTH) {
      end = p + MARK_SIZE;
      if (q.markAbove === undefined || end > bytes.length) continue;
      const d = readU32(bytes, p + 20) * TWO_32 + readU32(bytes, p + 16);
      if (d <= q.markAbove || d > p) continue;
    } else {
      end = p + 16 + len;
      if (len > MAX_PAYLOAD_SIZE || end <= q.endBeyond || end > bytes.length) continue;
    }
    const id = readU32(bytes, p + 12) * TWO_32 + readU32(bytes, p + 8);
    const idMax = q.idBase === undefined ? Number.MAX_SAFE_INTEGER : q.idMin + Math.floor((p - q.idBase) / 16);
    if (id < q.idMin || id > idMax) continue;
    if (maskCrc(checksum.crc32c(bytes.subarray(p + 4, end), SALT)) === readU32(bytes, p)) return p;
  }
  return SEARCH_NONE;
}

function search(dir: MemoryDirectory, bytes: Uint8Array, q: Query): number {
  dir.atomicWrite('f', bytes);
  const file = dir.openRead('f');
  try {
    return findWitnessFrame({
      layout: WAL_FRAME_LAYOUT, file, fileSize: bytes.length, checksum: dir.checksum, from: q.from, endBeyond: q.endBeyond, markAbove: q.markAbove,
      salts: [SALT], idMin: q.idMin, idBase: q.idBase, budget: searchBudget(bytes.length, q.from),
    });
  } finally {
    file.close();
  }
}

type Kind = 'frame' | 'mark' | 'bad-crc' | 'other-salt' | 'length-only';
interface Plant { at: Place; kind: Kind; id: number; watermark: number; payload: number; zerosBefore: number }

/** Where a plant goes: anywhere, or just after the search's first offset, or around its first window's edge. */
type Place = { anywhere: number } | { fromPlus: number } | { edgePlus: number };

function placeAt(place: Place, from: number, size: number, length: number): number {
  const at = 'anywhere' in place ? place.anywhere : 'fromPlus' in place ? from + place.fromPlus : from + WINDOW + place.edgePlus;
  return Math.max(0, Math.min(size - length, at));
}

const SIZE = WINDOW + 200_000;

const plantArb: fc.Arbitrary<Plant> = fc.record({
  at: fc.oneof(
    fc.record({ anywhere: fc.integer({ min: 0, max: SIZE }) }),
    fc.record({ fromPlus: fc.integer({ min: -2, max: 40 }) }),
    fc.record({ edgePlus: fc.integer({ min: -60, max: 8 }) }),
  ),
  kind: fc.constantFrom<Kind>('frame', 'frame', 'mark', 'bad-crc', 'other-salt', 'length-only'),
  // Ids of both halves: small, on either side of 2^32, large, and 0.
  id: fc.oneof(
    fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.integer({ min: TWO_32 - 3, max: TWO_32 + 3 }), fc.integer({ min: 1, max: 2 ** 40 }),
  ),
  watermark: fc.oneof(fc.integer({ min: 0, max: SIZE }), fc.constant(32), fc.constant(2 ** 40)),
  payload: fc.integer({ min: 0, max: 300 }),
  // A run of zeros right before the plant, as zero-filled space before a frame.
  zerosBefore: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 70 })),
});

function build(noise: boolean, seed: number, plants: readonly Plant[], from: number, checksum: Checksummer): Uint8Array {
  const bytes = new Uint8Array(SIZE);
  if (noise) {
    let x = seed | 1;
    for (let i = 0; i < SIZE; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      // Runs of zeros between the noise, as in a segment with zeros kept ahead.
      bytes[i] = (i >> 12) % 3 === 0 ? 0 : x & 0xff;
    }
  }
  for (const p of plants) {
    const salt = p.kind === 'other-salt' ? SALT + 1 : SALT;
    const id = Math.max(1, p.id);
    const planted = p.kind === 'frame' || (p.kind === 'bad-crc' && p.payload % 2 === 0) || (p.kind === 'other-salt' && p.payload % 2 === 0)
      ? encodeFrame(id, new Uint8Array(p.payload).fill(0x41 + (p.payload % 7)), salt, checksum)
      : encodeMark(id, p.watermark, salt, checksum);
    const at = placeAt(p.at, from, SIZE, planted.length);
    bytes.fill(0, Math.max(0, at - p.zerosBefore), at);
    if (p.kind === 'length-only') {
      writeU32(bytes, at + 4, MARK_LENGTH);
      continue;
    }
    if (p.id === 0) planted.fill(0, 8, 16);
    if (p.kind === 'bad-crc') planted[0] ^= 1;
    bytes.set(planted, at);
  }
  return bytes;
}

const queryArb = fc.record({
  from: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: WINDOW - 64, max: WINDOW + 64 })),
  // Infinity: a v2 search (marks only); otherwise frames ending past it are witnesses too.
  endBeyond: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: SIZE })),
  markAbove: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: SIZE }), fc.constant(-1), fc.constant(31)),
  // Small ids (bounded below 2^32 when idBase is set), or ids whose bound crosses 2^32.
  idMin: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: TWO_32 - 100_000, max: TWO_32 + 2 })),
  idBase: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: undefined }),
});

describe('witness search: the offsets it walks find what every offset would', () => {
  it('finds the same first witness as a loop over every offset, across windows, noise, zeros, frames, marks and ids on both sides of 2^32', () => {
    const dir = new MemoryDirectory();
    fc.assert(fc.property(fc.boolean(), fc.integer(), fc.array(plantArb, { maxLength: 24 }), queryArb, (noise, seed, plants, q) => {
      const bytes = build(noise, seed, plants, q.from, dir.checksum);
      assert.equal(search(dir, bytes, q), everyOffset(bytes, q, dir.checksum));
    }), { numRuns: 120 });
  });

  it('finds a lone mark or frame at the first offset and at every offset around the first window\'s edge', () => {
    const dir = new MemoryDirectory();
    const witnesses = [
      { name: 'mark', bytes: encodeMark(3, 0, SALT, dir.checksum), q: { endBeyond: Infinity, markAbove: -1, idBase: undefined } },
      { name: 'frame, small ids', bytes: encodeFrame(1, new Uint8Array(5), SALT, dir.checksum), q: { endBeyond: 0, markAbove: undefined, idBase: 0 } },
      { name: 'frame, any id', bytes: encodeFrame(3, new Uint8Array(5), SALT, dir.checksum), q: { endBeyond: 0, markAbove: undefined, idBase: undefined } },
    ];
    for (const w of witnesses) {
      for (const from of [0, 7]) {
        for (const at of [from, from + 1, ...Array.from({ length: 32 }, (_, k) => from + WINDOW - 28 + k)]) {
          for (const filled of [false, true]) {
            // Zeros, or bytes that are not zeros right around the witness (the rest zeros: fast to search).
            const bytes = new Uint8Array(WINDOW + 4096);
            if (filled) bytes.fill(0x5a, Math.max(0, at - 2048), at + 2048);
            bytes.set(w.bytes, at);
            const q = { from, idMin: 1, ...w.q };
            assert.equal(search(dir, bytes, q), at, `${w.name}: from ${from}, at ${at}, filled around: ${filled}`);
          }
        }
      }
    }
  });

  it('finds a valid mark that follows many stray copies of its length field', () => {
    const dir = new MemoryDirectory();
    const bytes = new Uint8Array(3 * WINDOW);
    for (let p = 100; p + 8 < bytes.length; p += 64) writeU32(bytes, p + 4, MARK_LENGTH);
    const at = 2 * WINDOW - 10; // straddles the second window's end
    bytes.set(encodeMark(7, 64, SALT, dir.checksum), at);
    const q = { from: 32, endBeyond: Infinity, markAbove: 31, idMin: 1, idBase: undefined };
    assert.equal(everyOffset(bytes, q, dir.checksum), at);
    assert.equal(search(dir, bytes, q), at);
    assert.equal(readU64(bytes, at + 8), 7);
  });

  it('finds a frame of a small id behind long runs of zeros and many zero high halves whose low half is zero too', () => {
    const dir = new MemoryDirectory();
    const bytes = new Uint8Array(3 * WINDOW);
    // Words of 0x01 between zero runs: the id-high-half pattern everywhere, the low half mostly zero.
    for (let p = 0; p < bytes.length; p += 4096) bytes.fill(1, p, p + 3);
    const at = 2 * WINDOW + 333;
    bytes.set(encodeFrame(9, new Uint8Array(40).fill(7), SALT, dir.checksum), at);
    writeU64(bytes, at - 8, 0);
    const q = { from: 16, endBeyond: 0, markAbove: undefined, idMin: 1, idBase: 0 };
    assert.equal(everyOffset(bytes, q, dir.checksum), at);
    assert.equal(search(dir, bytes, q), at);
  });
});
