// The committed format vectors: how each is built, and what a reader must make of it.
// Expectations are stated by hand here (not computed by the reader under test).

import type { Checksummer } from '../../lib/backend/backend';
import { buildMarkedSegment, buildSegment } from './build';
import { FRAME_HEADER_SIZE } from '../../lib/wal/format';

export type Outcome =
  | { kind: 'ok'; tail: 'clean' | 'torn' | 'stale'; entries: number; validEnd: number }
  | { kind: 'error'; offset: number };

export interface VectorCase {
  name: string;
  description: string;
  segmentId: number;
  bytes: Uint8Array;
  marks: { at: number; note: string }[];
  /** Payloads (hex) of the entries, from the segment's first entry id. */
  entries: { entryId: number; payloadHex: string }[];
  strict: Outcome;
  bestEffortTail: Outcome;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function vectorCases(checksum: Checksummer): VectorCase[] {
  const basicPayloads = [text('hello'), new Uint8Array(0), Uint8Array.from({ length: 32 }, (_, i) => i)];
  const basic = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 4096, payloads: basicPayloads }, checksum);
  const [f1, f2, f3, end] = basic.offsets;
  const basicMarks = [
    { at: 0, note: 'segment header: magic, version 1, flags 0, segment 1, first entry 1, W 4096, masked header CRC' },
    { at: f1, note: 'frame: masked CRC, length 5, entry 1, "hello"' },
    { at: f2, note: 'frame: masked CRC, length 0, entry 2, empty payload' },
    { at: f3, note: 'frame: masked CRC, length 32, entry 3, bytes 00..1f' },
  ];
  const basicEntries = basicPayloads.map((p, i) => ({ entryId: i + 1, payloadHex: hex(p) }));
  const cases: VectorCase[] = [];

  cases.push({
    name: 'segment-basic',
    description: 'header + 3 frames (one with an empty payload), ends exactly at a frame boundary',
    segmentId: 1, bytes: basic.bytes, marks: basicMarks, entries: basicEntries,
    strict: { kind: 'ok', tail: 'clean', entries: 3, validEnd: end },
    bestEffortTail: { kind: 'ok', tail: 'clean', entries: 3, validEnd: end },
  });

  cases.push({
    name: 'segment-torn',
    description: 'segment-basic cut 3 bytes short: the last frame is torn',
    segmentId: 1, bytes: basic.bytes.slice(0, end - 3), marks: basicMarks, entries: basicEntries.slice(0, 2),
    strict: { kind: 'error', offset: f3 },
    bestEffortTail: { kind: 'ok', tail: 'torn', entries: 2, validEnd: f3 },
  });

  const zeroTail = new Uint8Array(end + 100);
  zeroTail.set(basic.bytes);
  cases.push({
    name: 'segment-zero-tail',
    description: 'segment-basic followed by 100 zero bytes of preallocated space: a clean end',
    segmentId: 1, bytes: zeroTail, marks: [...basicMarks, { at: end, note: 'preallocated space (zeros)' }], entries: basicEntries,
    strict: { kind: 'ok', tail: 'clean', entries: 3, validEnd: end },
    bestEffortTail: { kind: 'ok', tail: 'clean', entries: 3, validEnd: end },
  });

  // A file that was segment 3 (entries 40..44) recycled as segment 7: the new header and two
  // new frames overwrite its start, its later frames remain, sealed under the old salt.
  const old = buildSegment({ segmentId: 3, firstEntryId: 40, syncWindow: 4096, payloads: [0, 1, 2, 3, 4].map((i) => text(`old entry ${40 + i}`)) }, checksum);
  const fresh = buildSegment({ segmentId: 7, firstEntryId: 100, syncWindow: 4096, payloads: [text('a'), text('bc')] }, checksum);
  const recycled = old.bytes.slice();
  recycled.set(fresh.bytes, 0);
  const freshEnd = fresh.offsets[2];
  cases.push({
    name: 'segment-recycled',
    description: 'segment 7 written over a recycled segment 3: stale frames (old salt) after the valid end are a torn tail, never entries',
    segmentId: 7, bytes: recycled,
    marks: [
      { at: 0, note: 'segment header: segment 7, first entry 100, W 4096' },
      { at: fresh.offsets[0], note: 'frame: entry 100, "a"' },
      { at: fresh.offsets[1], note: 'frame: entry 101, "bc"' },
      { at: freshEnd, note: 'stale bytes of the file\'s previous life as segment 3 (frames sealed with its salt)' },
    ],
    entries: [{ entryId: 100, payloadHex: hex(text('a')) }, { entryId: 101, payloadHex: hex(text('bc')) }],
    strict: { kind: 'error', offset: freshEnd },
    bestEffortTail: { kind: 'ok', tail: 'torn', entries: 2, validEnd: freshEnd },
  });

  // W = 64: a bad frame followed by valid frames ending more than 64 bytes past it had been synced.
  const dmg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: [1, 2, 3, 4, 5, 6].map((i) => text(`entry number ${i}....`)) }, checksum);
  const damaged = dmg.bytes.slice();
  damaged[dmg.offsets[1] + 20] ^= 0x01;
  cases.push({
    name: 'segment-damaged',
    description: 'W = 64; one bit flipped in the payload of entry 2, while entry 6 ends far beyond offset(entry 2) + W: damage in both modes',
    segmentId: 1, bytes: damaged,
    marks: [{ at: 0, note: 'segment header: segment 1, first entry 1, W 64' },
      ...dmg.offsets.slice(0, -1).map((at, i) => ({ at, note: `frame: entry ${i + 1}${i === 1 ? ' (bit 0 of payload byte 4 flipped)' : ''}` }))],
    entries: [{ entryId: 1, payloadHex: hex(text('entry number 1....')) }],
    strict: { kind: 'error', offset: dmg.offsets[1] },
    bestEffortTail: { kind: 'error', offset: dmg.offsets[1] },
  });

  const shortHeader = basic.bytes.slice(0, 20);
  cases.push({
    name: 'segment-torn-header',
    description: 'only 20 of the 32 header bytes reached the disk: an empty torn segment when final',
    segmentId: 1, bytes: shortHeader, marks: [{ at: 0, note: 'first 20 bytes of a segment header' }], entries: [],
    strict: { kind: 'error', offset: 20 },
    bestEffortTail: { kind: 'ok', tail: 'torn', entries: 0, validEnd: 0 },
  });

  // Format v2: sync marks. Entries 1 and 2, a mark (everything before it synced), entry 3, and
  // the mark close writes.
  const v2Payloads = [text('one'), text('two'), text('three')];
  const v2 = buildMarkedSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 4096, items: [v2Payloads[0], v2Payloads[1], 'mark', v2Payloads[2], 'mark'] }, checksum);
  const [g1, g2, m1, g3, m2, v2End] = v2.offsets;
  const v2Marks = [
    { at: 0, note: 'segment header: magic, version 2, flags 0, segment 1, first entry 1, W 4096, masked header CRC' },
    { at: g1, note: 'frame: entry 1, "one"' },
    { at: g2, note: 'frame: entry 2, "two"' },
    { at: m1, note: `sync mark: masked CRC, length 0x80000008, next entry 3, watermark ${m1}` },
    { at: g3, note: 'frame: entry 3, "three"' },
    { at: m2, note: `sync mark: next entry 4, watermark ${m2} (written by close)` },
  ];
  const v2Entries = v2Payloads.map((p, i) => ({ entryId: i + 1, payloadHex: hex(p) }));
  cases.push({
    name: 'segment-v2-marks',
    description: 'format v2: 3 frames and 2 sync marks (which hold no entry), ending at a mark',
    segmentId: 1, bytes: v2.bytes, marks: v2Marks, entries: v2Entries,
    strict: { kind: 'ok', tail: 'clean', entries: 3, validEnd: v2End },
    bestEffortTail: { kind: 'ok', tail: 'clean', entries: 3, validEnd: v2End },
  });
  const v2Damaged = v2.bytes.slice();
  v2Damaged[g3 + 17] ^= 0x01;
  cases.push({
    name: 'segment-v2-damaged',
    description: 'segment-v2-marks with one bit of entry 3 flipped: the closing mark vouches for it, so damage in both modes (W plays no part in v2)',
    segmentId: 1, bytes: v2Damaged, marks: v2Marks, entries: v2Entries.slice(0, 2),
    strict: { kind: 'error', offset: g3 },
    bestEffortTail: { kind: 'error', offset: g3 },
  });
  cases.push({
    name: 'segment-v2-torn',
    description: 'segment-v2-marks cut inside entry 3 (no mark after it): a torn tail, the log ends after the first mark',
    segmentId: 1, bytes: v2.bytes.slice(0, m2 - 2), marks: v2Marks.slice(0, 5), entries: v2Entries.slice(0, 2),
    strict: { kind: 'error', offset: g3 },
    bestEffortTail: { kind: 'ok', tail: 'torn', entries: 2, validEnd: g3 },
  });

  // A recycled file (its earlier life: segment 3, v1 frames under the old salt) reused as v2
  // segment 8: the header has FLAG_EARLIER_LIFE, two frames and a mark, then the 16 zero bytes
  // the writer keeps ahead of the log, then what is left of the earlier life.
  const reused = buildMarkedSegment({ segmentId: 8, firstEntryId: 200, syncWindow: 4096, earlierLife: true, items: [text('x'), 'mark', text('yz')] }, checksum);
  const [r1, rm, r2, reusedEnd] = reused.offsets;
  const earlier = old.bytes.slice();
  earlier.set(reused.bytes, 0);
  earlier.fill(0, reusedEnd, reusedEnd + FRAME_HEADER_SIZE);
  cases.push({
    name: 'segment-v2-earlier-life',
    description: 'v2 segment 8 in a recycled file (flag 0x0001): zeros, then the earlier life\'s bytes: the end of the log in both modes (tail "stale")',
    segmentId: 8, bytes: earlier,
    marks: [
      { at: 0, note: 'segment header: magic, version 2, flags 0x0001 (FLAG_EARLIER_LIFE), segment 8, first entry 200, W 4096, masked header CRC' },
      { at: r1, note: 'frame: entry 200, "x"' },
      { at: rm, note: `sync mark: next entry 201, watermark ${rm}` },
      { at: r2, note: 'frame: entry 201, "yz"' },
      { at: reusedEnd, note: '16 zero bytes the writer keeps between the log and the earlier life' },
      { at: reusedEnd + FRAME_HEADER_SIZE, note: 'the rest of the file\'s earlier life as segment 3 (frames sealed with its salt)' },
    ],
    entries: [{ entryId: 200, payloadHex: hex(text('x')) }, { entryId: 201, payloadHex: hex(text('yz')) }],
    strict: { kind: 'ok', tail: 'stale', entries: 2, validEnd: reusedEnd },
    bestEffortTail: { kind: 'ok', tail: 'stale', entries: 2, validEnd: reusedEnd },
  });
  return cases;
}
