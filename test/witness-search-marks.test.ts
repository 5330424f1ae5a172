// A v2 witness search looks for sync marks only (no entry frame can be a witness), and it finds
// them by their length field instead of trying every byte offset: an earlier life of 64 MiB behind
// a recycled segment's zeros cost 1.8 s per scan byte by byte. Here a plain loop over every offset
// is the oracle: on files of noise, zeros, planted marks (valid or not, under the right salt or
// not, with every kind of id and watermark) and stray copies of the length field, across the
// search's 1 MiB windows, the search must find the same first witness.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Checksummer } from '../lib/backend/backend';
import { MemoryDirectory } from '../lib/directory/memory';
import { SEARCH_NONE, findWitnessFrame, searchBudget } from '../lib/framed/witness-search';
import { maskCrc } from '../lib/framed/bytes';
import { MARK_LENGTH, MARK_SIZE, WAL_FRAME_LAYOUT, encodeMark, readU32, readU64, writeU32 } from '../lib/wal/format';

const WINDOW = 1 << 20;
const SALT = 0x5eed;
const TWO_32 = 0x1_0000_0000;

interface MarkQuery { from: number; markAbove: number; idMin: number; idBase: number | undefined }

/** The first offset ≥ from holding a sync mark the query accepts, trying every offset in turn. */
function everyOffset(bytes: Uint8Array, q: MarkQuery, checksum: Checksummer): number {
  for (let p = q.from; p + MARK_SIZE <= bytes.length; p++) {
    if (readU32(bytes, p + 4) !== MARK_LENGTH) continue;
    const id = readU32(bytes, p + 12) * TWO_32 + readU32(bytes, p + 8);
    const idMax = q.idBase === undefined ? Number.MAX_SAFE_INTEGER : q.idMin + Math.floor((p - q.idBase) / 16);
    if (id < q.idMin || id > idMax) continue;
    const d = readU32(bytes, p + 20) * TWO_32 + readU32(bytes, p + 16);
    if (d <= q.markAbove || d > p) continue;
    if (maskCrc(checksum.crc32c(bytes.subarray(p + 4, p + MARK_SIZE), SALT)) === readU32(bytes, p)) return p;
  }
  return SEARCH_NONE;
}

function search(dir: MemoryDirectory, bytes: Uint8Array, q: MarkQuery): number {
  dir.atomicWrite('f', bytes);
  const file = dir.openRead('f');
  try {
    return findWitnessFrame({
      layout: WAL_FRAME_LAYOUT, file, fileSize: bytes.length, checksum: dir.checksum, from: q.from, endBeyond: Infinity, markAbove: q.markAbove,
      salts: [SALT], idMin: q.idMin, idBase: q.idBase, budget: searchBudget(bytes.length, q.from),
    });
  } finally {
    file.close();
  }
}

interface Plant { at: Place; kind: 'mark' | 'bad-crc' | 'other-salt' | 'length-only'; id: number; watermark: number }

/** Where a plant goes: anywhere, or just before or after the search's first offset or its first window's edge (the window starts there). */
type Place = { anywhere: number } | { fromPlus: number } | { edgePlus: number };

function placeAt(place: Place, from: number, size: number): number {
  const at = 'anywhere' in place ? place.anywhere : 'fromPlus' in place ? from + place.fromPlus : from + WINDOW + place.edgePlus;
  return Math.max(0, Math.min(size - MARK_SIZE, at));
}

const plantArb = (size: number): fc.Arbitrary<Plant> => fc.record({
  at: fc.oneof(
    fc.record({ anywhere: fc.integer({ min: 0, max: size - MARK_SIZE }) }),
    fc.record({ fromPlus: fc.integer({ min: -2, max: 2 }) }),
    fc.record({ edgePlus: fc.integer({ min: -40, max: 8 }) }),
  ),
  kind: fc.constantFrom('mark' as const, 'bad-crc' as const, 'other-salt' as const, 'length-only' as const),
  id: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2 ** 40 })),
  watermark: fc.oneof(fc.integer({ min: 0, max: size }), fc.constant(32), fc.constant(2 ** 40)),
});

function build(size: number, noise: boolean, seed: number, plants: readonly Plant[], from: number, checksum: Checksummer): Uint8Array {
  const bytes = new Uint8Array(size);
  if (noise) {
    let x = seed | 1;
    for (let i = 0; i < size; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      // Runs of zeros between the noise, as in a segment with zeros kept ahead.
      bytes[i] = (i >> 12) % 3 === 0 ? 0 : x & 0xff;
    }
  }
  for (const p of plants) {
    const at = placeAt(p.at, from, size);
    if (p.kind === 'length-only') {
      writeU32(bytes, at + 4, MARK_LENGTH);
      continue;
    }
    const mark = encodeMark(Math.max(1, p.id), p.watermark, p.kind === 'other-salt' ? SALT + 1 : SALT, checksum);
    if (p.id === 0) mark.fill(0, 8, 16);
    if (p.kind === 'bad-crc') mark[0] ^= 1;
    bytes.set(mark, at);
  }
  return bytes;
}

describe('witness search for sync marks: by their length field, as every offset would find them', () => {
  it('finds the same first witness as a loop over every offset, across windows, noise, zeros and near-marks', () => {
    const dir = new MemoryDirectory();
    const size = WINDOW + 300_000;
    fc.assert(fc.property(
      fc.boolean(), fc.integer(), fc.array(plantArb(size), { maxLength: 24 }),
      fc.record({
        from: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: WINDOW - 64, max: WINDOW + 64 })),
        markAbove: fc.oneof(fc.integer({ min: 0, max: size }), fc.constant(-1), fc.constant(31)),
        idMin: fc.integer({ min: 1, max: 20 }),
        idBase: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: undefined }),
      }),
      (noise, seed, plants, q) => {
        const bytes = build(size, noise, seed, plants, q.from, dir.checksum);
        assert.equal(search(dir, bytes, q), everyOffset(bytes, q, dir.checksum));
      },
    ), { numRuns: 60 });
  });

  it('finds a lone mark at the first offset and at every offset around the first window\'s edge', () => {
    const dir = new MemoryDirectory();
    for (const from of [0, 1, 7]) {
      for (const at of [from, from + 1, ...Array.from({ length: 48 }, (_, k) => from + WINDOW - 40 + k)]) {
        const bytes = new Uint8Array(WINDOW + 4096);
        bytes.set(encodeMark(3, 0, SALT, dir.checksum), at);
        const q = { from, markAbove: -1, idMin: 1, idBase: undefined };
        assert.equal(everyOffset(bytes, q, dir.checksum), at);
        assert.equal(search(dir, bytes, q), at, `from ${from}, mark at ${at}`);
      }
    }
  });

  it('finds a valid mark that follows many stray copies of its length field', () => {
    const dir = new MemoryDirectory();
    const bytes = new Uint8Array(3 * WINDOW);
    for (let p = 100; p + 8 < bytes.length; p += 64) writeU32(bytes, p + 4, MARK_LENGTH);
    const at = 2 * WINDOW - 10; // straddles the second window's end
    bytes.set(encodeMark(7, 64, SALT, dir.checksum), at);
    const q = { from: 32, markAbove: 31, idMin: 1, idBase: undefined };
    assert.equal(everyOffset(bytes, q, dir.checksum), at);
    assert.equal(search(dir, bytes, q), at);
    assert.equal(readU64(bytes, at + 8), 7);
  });
});
