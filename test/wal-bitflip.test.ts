// Every single-bit flip of a small, fully synced log is detected. Strict replay always throws.
// Best-effort replay throws too, except where the format (docs/FORMAT.md) says the bytes may be
// a torn tail: a flip in frame k of the final segment when no later frame ends more than W bytes
// past frame k's start, or a flip in the zero-filled space after the last frame. There it
// returns the entries before the flip, never a wrong one.

import assert from 'node:assert/strict';
import { availableBackends } from '../lib/backend/select';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { SEGMENT_HEADER_SIZE, segmentPath } from '../lib/wal/format';
import { WalReader, type WalRecord } from '../lib/wal/reader';
import { buildSegment, writeSegmentFile, type BuiltSegment } from './vectors/build';

const FINAL_W = 100;

interface Seg {
  built: BuiltSegment;
  bytes: Uint8Array;
  firstEntryId: number;
  /** Where frames end (zeros follow up to bytes.length). */
  framesEnd: number;
}

function payload(id: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, j) => (id * 13 + j * 5) & 0xff);
}

function buildLog(checksum: MemoryDirectory['checksum']): Seg[] {
  const specs = [
    { sizes: [0, 7, 13, 30], zeros: 24, w: 4096 },
    { sizes: [5, 5, 40], zeros: 0, w: 4096 },
    { sizes: [20, 0, 20, 20, 20, 20], zeros: 40, w: FINAL_W },
  ];
  const segs: Seg[] = [];
  let first = 1;
  specs.forEach((spec, i) => {
    const payloads = spec.sizes.map((size, j) => payload(first + j, size));
    const built = buildSegment({ segmentId: i + 1, firstEntryId: first, syncWindow: spec.w, payloads }, checksum);
    const bytes = new Uint8Array(built.bytes.length + spec.zeros);
    bytes.set(built.bytes);
    segs.push({ built, bytes, firstEntryId: first, framesEnd: built.bytes.length });
    first += payloads.length;
  });
  return segs;
}

/** What the format says best-effort replay must do after flipping a bit at `offset` of segment `s`. */
function expected(segs: Seg[], s: number, offset: number): { throwsAt: number | 'header' } | { entries: number } {
  const seg = segs[s];
  if (offset < SEGMENT_HEADER_SIZE) return { throwsAt: 'header' };
  const offs = seg.built.offsets; // frame starts, then the end of frames
  const frame = offs.findIndex((o, k) => k < offs.length - 1 && offset >= o && offset < offs[k + 1]);
  const isFinal = s === segs.length - 1;
  const entriesBefore = seg.firstEntryId - 1 + (frame < 0 ? offs.length - 1 : frame);
  if (frame < 0) {
    // Zero-filled space after the last frame: the frame header at framesEnd is the bad one.
    return isFinal ? { entries: entriesBefore } : { throwsAt: seg.framesEnd };
  }
  if (!isFinal) return { throwsAt: offs[frame] };
  const lastEnd = offs[offs.length - 1];
  return lastEnd > offs[frame] + FINAL_W ? { throwsAt: offs[frame] } : { entries: entriesBefore };
}

describe('WAL bit flips', () => {
  for (const backend of availableBackends()) {
    it(`every single-bit flip of every segment is detected (${backend.name} checksum)`, () => {
      const dir = new MemoryDirectory({ checksum: backend });
      const segs = buildLog(backend);
      segs.forEach((seg, i) => writeSegmentFile(dir, i + 1, seg.bytes));
      const reader = new WalReader(dir, { codec: raw });
      const all = reader.replaySync();
      assert.equal(all.length, 13);
      const counts = { flips: 0, torn: 0, damage: 0 };

      segs.forEach((seg, s) => {
        const path = segmentPath(s + 1);
        for (let offset = 0; offset < seg.bytes.length; offset++) {
          for (let bit = 0; bit < 8; bit++) {
            const flipped = seg.bytes.slice();
            flipped[offset] ^= 1 << bit;
            dir.atomicWrite(path, flipped);
            counts.flips++;
            const where = `segment ${s + 1} offset ${offset} bit ${bit}`;
            const want = expected(segs, s, offset);
            const isError = (err: unknown): boolean => {
              assert.ok(err instanceof CorruptionError, `${where}: ${String(err)}`);
              assert.equal(err.file, path, where);
              if ('throwsAt' in want) {
                if (want.throwsAt === 'header') assert.ok(err.offset < SEGMENT_HEADER_SIZE, `${where}: ${err.message}`);
                else assert.equal(err.offset, want.throwsAt, `${where}: ${err.message}`);
              }
              return true;
            };
            assert.throws(() => reader.replaySync({ mode: 'strict' }), isError, where);
            if ('throwsAt' in want) {
              assert.throws(() => reader.replaySync({ mode: 'bestEffortTail' }), isError, where);
              counts.damage++;
            } else {
              let got: WalRecord<Uint8Array>[];
              try {
                got = reader.replaySync({ mode: 'bestEffortTail' });
              } catch (err) {
                assert.fail(`${where}: best-effort threw ${String(err)} where the format allows a torn tail`);
              }
              assert.equal(got.length, want.entries, where);
              assert.deepEqual(got, all.slice(0, got.length), where);
              counts.torn++;
            }
          }
          dir.atomicWrite(path, seg.bytes);
        }
      });
      // Both outcomes occur, so the expectation function is not vacuous.
      assert.ok(counts.torn > 0 && counts.damage > counts.torn, JSON.stringify(counts));
    });
  }
});
