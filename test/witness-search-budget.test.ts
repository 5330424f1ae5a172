// The witness search walks only the offsets a cheap necessary condition leaves (sync marks' length
// fields, small ids, nonzero bytes: lib/framed/witness-search.ts windowScan) and charges its CRC
// budget only for candidates that pass the cheap checks, so skipping the others must leave the
// budget's outcome as it was. Here a plain loop over every offset, charging what candidate()
// charges, is the oracle of findWitnessFrame under small budgets (where SEARCH_UNDECIDED is
// decided) and of surveyWitnesses (several witnesses, one shared window, one budget across them),
// for the WAL layout and the record log's (no ids), v1 and v2 searches, files of any length.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Checksummer } from '../lib/backend/backend';
import { MemoryDirectory } from '../lib/directory/memory';
import { SEARCH_NONE, SEARCH_UNDECIDED, findWitnessFrame, searchBudget, surveyWitnesses, type FrameLayout, type FrameSearch } from '../lib/framed/witness-search';
import { maskCrc } from '../lib/framed/bytes';
import { MARK_LENGTH, WAL_FRAME_LAYOUT, encodeFrame, encodeMark, readU32, writeU32 } from '../lib/wal/format';
import { recordFrameLayout, writeRecordFrame, writeRecordMark } from '../lib/recordlog/format';

const WINDOW = 1 << 20;
const SALT = 0x5eed;
const TWO_32 = 0x1_0000_0000;
const RECORD_LAYOUT = recordFrameLayout(1 << 16);

type Query = Omit<FrameSearch, 'file' | 'checksum' | 'layout' | 'fileSize'>;

/** The first witness at or after `from` trying every offset, charging `state.budget` as the search does. */
function everyOffset(bytes: Uint8Array, layout: FrameLayout, q: Query, from: number, state: { budget: number }, checksum: Checksummer): number {
  const hs = layout.headerSize;
  for (let p = from; p + hs <= bytes.length; p++) {
    const len = readU32(bytes, p + 4);
    let end: number;
    if (layout.mark !== undefined && len === layout.mark.length) {
      end = p + layout.mark.size;
      if (q.markAbove === undefined || end > bytes.length) continue;
      const d = readU32(bytes, end - 4) * TWO_32 + readU32(bytes, end - 8);
      if (d <= q.markAbove || d > p) continue;
    } else {
      end = p + hs + len;
      if (len > layout.maxLength || end <= q.endBeyond || end > bytes.length) continue;
    }
    if (layout.ids) {
      const id = readU32(bytes, p + 12) * TWO_32 + readU32(bytes, p + 8);
      const idMax = q.idBase === undefined ? Number.MAX_SAFE_INTEGER : q.idMin + Math.floor((p - q.idBase) / hs);
      if (id < q.idMin || id > idMax) continue;
    } else if (len === 0 && readU32(bytes, p) === 0) {
      continue;
    }
    for (const salt of q.salts) {
      state.budget -= end - p;
      if (state.budget < 0) return SEARCH_UNDECIDED;
      if (maskCrc(checksum.crc32c(bytes.subarray(p + 4, end), salt)) === readU32(bytes, p)) return p;
    }
  }
  return SEARCH_NONE;
}

/** surveyWitnesses by every offset: each search from the end of the witness before, the budget shared. */
function surveyEveryOffset(bytes: Uint8Array, layout: FrameLayout, q: Query, checksum: Checksummer): number[] {
  const found: number[] = [];
  let left = q.budget;
  for (let at = q.from; at <= bytes.length - layout.headerSize && !(bytes.length <= q.endBeyond && q.markAbove === undefined);) {
    const granted = Math.min(searchBudget(bytes.length, at), left);
    const state = { budget: granted };
    const p = everyOffset(bytes, layout, q, at, state, checksum);
    found.push(p);
    if (p < 0) return found;
    left -= granted - state.budget;
    const len = readU32(bytes, p + 4);
    at = p + (layout.mark !== undefined && len === layout.mark.length ? layout.mark.size : layout.headerSize + len);
  }
  found.push(SEARCH_NONE);
  return found;
}

function withFile<T>(bytes: Uint8Array, run: (file: FrameSearch['file'], checksum: Checksummer) => T): T {
  const dir = new MemoryDirectory();
  dir.atomicWrite('f', bytes);
  const file = dir.openRead('f');
  try {
    return run(file, dir.checksum);
  } finally {
    file.close();
  }
}

/** Bytes with a background of zeros, noise or a short repeated pattern, and frames and marks planted in it. */
const fileArb = fc.record({
  size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 6000 }), fc.integer({ min: WINDOW - 40, max: WINDOW + 3000 })),
  pattern: fc.oneof(fc.constant([0]), fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 13 })),
  plants: fc.array(fc.record({
    at: fc.oneof(fc.record({ any: fc.nat() }), fc.record({ fromPlus: fc.integer({ min: -2, max: 40 }) }), fc.record({ edgePlus: fc.integer({ min: -60, max: 8 }) })),
    mark: fc.boolean(), payload: fc.integer({ min: 0, max: 90 }), badCrc: fc.boolean(),
    id: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.integer({ min: TWO_32 - 2, max: TWO_32 + 2 }), fc.constant(2 ** 53 - 1)),
    watermark: fc.nat(), lengthOnly: fc.boolean(), zerosBefore: fc.integer({ min: 0, max: 40 }),
  }), { maxLength: 14 }),
});

type FileSpec = typeof fileArb extends fc.Arbitrary<infer T> ? T : never;

/** The bytes of `spec`; plants placed relative to the search's first offset land there or at its first window's edge. */
function build(spec: FileSpec, ids: boolean, from: number): Uint8Array {
  const { size, pattern, plants } = spec;
  const checksum = new MemoryDirectory().checksum;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = pattern[i % pattern.length];
  for (const p of plants) {
    let frame: Uint8Array;
    if (ids) {
      const id = Math.max(1, p.id);
      frame = p.mark ? encodeMark(id, p.watermark % (size + 1), SALT, checksum) : encodeFrame(id, new Uint8Array(p.payload).fill(p.payload), SALT, checksum);
      if (p.id === 0) {
        // Id 0 with a valid CRC: never a witness (idMin ≥ 1).
        frame.fill(0, 8, 16);
        writeU32(frame, 0, maskCrc(checksum.crc32c(frame.subarray(4), SALT)));
      }
    } else {
      frame = new Uint8Array(p.mark ? 16 : 8 + p.payload);
      if (p.mark) writeRecordMark(frame, 0, p.watermark % (size + 1), checksum);
      else writeRecordFrame(frame, 0, new Uint8Array(p.payload).fill(p.payload), checksum);
    }
    if (p.badCrc) frame[0] ^= 1;
    if (frame.length > size) continue;
    const want = 'any' in p.at ? p.at.any : 'fromPlus' in p.at ? from + p.at.fromPlus : from + WINDOW + p.at.edgePlus;
    const at = Math.max(0, want) % (size - frame.length + 1);
    bytes.fill(0, Math.max(0, at - p.zerosBefore), at);
    if (p.lengthOnly) writeU32(bytes, at + 4, MARK_LENGTH);
    else bytes.set(frame, at);
  }
  return bytes;
}

const queryArb = (ids: boolean) => fc.record({
  from: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat(), fc.integer({ min: WINDOW - 40, max: WINDOW + 40 })),
  endBeyond: fc.oneof(fc.constant(Infinity), fc.nat()),
  markAbove: fc.oneof(fc.constant(undefined), fc.constant(0), fc.constant(31), fc.integer({ min: -1, max: 1 << 21 })),
  // ≥ 1 as every WAL caller passes (below 1 the walk's nonzero-byte condition is only approximate).
  idMin: ids ? fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: TWO_32 - 20_000, max: TWO_32 + 2 }), fc.constant(2 ** 53 - 2)) : fc.constant(0),
  idBase: fc.oneof(fc.constant(undefined), fc.nat(), fc.integer({ min: 0, max: 64 })),
  budget: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 200_000 }), fc.constant(-1)),
  twoSalts: fc.boolean(),
});

interface RawQuery { from: number; endBeyond: number; markAbove: number | undefined; idMin: number; idBase: number | undefined; budget: number; twoSalts: boolean }

function check(layout: FrameLayout, spec: FileSpec, raw: RawQuery): void {
  const from = raw.from % (spec.size + 8);
  const bytes = build(spec, layout.ids, from);
  const q: Query = {
    from, endBeyond: raw.endBeyond, markAbove: raw.markAbove, idMin: raw.idMin, idBase: raw.idBase,
    salts: raw.twoSalts ? [SALT + 1, SALT] : [SALT], budget: raw.budget < 0 ? searchBudget(bytes.length, from) : raw.budget,
  };
  withFile(bytes, (file, checksum) => {
    const s: FrameSearch = { ...q, layout, file, fileSize: bytes.length, checksum };
    const nothing = from > bytes.length - layout.headerSize || (bytes.length <= q.endBeyond && q.markAbove === undefined);
    const want = nothing ? SEARCH_NONE : everyOffset(bytes, layout, q, from, { budget: q.budget }, checksum);
    assert.equal(findWitnessFrame(s), want);
    // The budget at which the outcome turns: what the oracle spends on the way to its answer.
    const unbounded = { budget: Number.MAX_SAFE_INTEGER };
    const answer = nothing ? SEARCH_NONE : everyOffset(bytes, layout, q, from, unbounded, checksum);
    const spent = Number.MAX_SAFE_INTEGER - unbounded.budget;
    if (spent > 0) {
      assert.equal(findWitnessFrame({ ...s, budget: spent }), answer);
      assert.equal(findWitnessFrame({ ...s, budget: spent - 1 }), SEARCH_UNDECIDED);
    }
    // The witnesses found, then the survey's result, as surveyEveryOffset lists them.
    const seen: number[] = [];
    seen.push(surveyWitnesses(s, (offset) => seen.push(offset)));
    assert.deepEqual(seen, surveyEveryOffset(bytes, layout, q, checksum));
  });
}

describe('witness search: budget and survey match a walk over every offset', () => {
  it('WAL layout: the same witness or SEARCH_UNDECIDED under any budget, and the same survey', () => {
    fc.assert(fc.property(fileArb, queryArb(true), (spec, q) => check(WAL_FRAME_LAYOUT, spec, q)), { numRuns: 150 });
  });

  it('record-log layout (no ids): the same witness or SEARCH_UNDECIDED under any budget, and the same survey', () => {
    fc.assert(fc.property(fileArb, queryArb(false), (spec, q) => check(RECORD_LAYOUT, spec, q)), { numRuns: 100 });
  });

  it('a survey from past the end of a file (one that shrank since its size was taken) finds nothing instead of throwing', () => {
    withFile(new Uint8Array(10), (file, checksum) => {
      for (const from of [10, 11, 14, 32, 100]) {
        const s: FrameSearch = {
          layout: WAL_FRAME_LAYOUT, file, fileSize: 10, checksum, from, endBeyond: from, markAbove: 0, salts: [SALT], idMin: 1, idBase: from, budget: searchBudget(10, from),
        };
        assert.equal(surveyWitnesses(s, () => assert.fail('no witness in 10 bytes')), SEARCH_NONE, `from ${from}`);
        assert.equal(findWitnessFrame(s), SEARCH_NONE, `from ${from}`);
      }
    });
  });
});
