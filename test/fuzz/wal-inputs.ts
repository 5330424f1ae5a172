// WAL segment files for the fuzzer: valid ones built with lib/wal/format.ts, then damaged the
// ways that matter to the decoder: blind byte damage, but also damage that keeps CRCs valid
// (resealed frames with wrong ids or lengths, resealed headers with odd fields), huge length
// fields, frames and headers borrowed from other segments, duplicated, dropped and swapped frames.

import { crc32c } from '../../lib/crc32c';
import { jsChecksummer } from '../../lib/directory/js-checksum';
import type { Prng } from '../../lib/directory/prng';
import {
  FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, encodeSegmentHeader, maskCrc, readU32, writeU32, writeU64,
} from '../../lib/wal/format';
import { buildMarkedSegment, buildSegment } from '../vectors/build';
import { blindMutation, concat, randomBytes, randomLength } from './mutate';

export interface SegmentInput {
  bytes: Uint8Array;
  /** The id in the file name (the header may disagree after mutation). */
  segmentId: number;
  /** True when no mutation was applied: every decoder must read it back exactly. */
  pristine: boolean;
  /** The payloads of a pristine segment, in order. */
  payloads: Uint8Array[];
  firstEntryId: number;
  /** Size of the largest payload built into it (before mutation). */
  largestPayload: number;
}

interface Built {
  bytes: Uint8Array;
  /** Frame starts, then the end of the last frame. */
  offsets: number[];
  salt: number;
  payloads: Uint8Array[];
  firstEntryId: number;
  segmentId: number;
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

function pickId(rng: Prng, room: number): number {
  const r = rng.next();
  if (r < 0.5) return 1 + rng.int(4);
  if (r < 0.8) return 1 + rng.int(1_000_000);
  if (r < 0.9) return 0x1_0000_0000 - 2 + rng.int(4); // the u32 boundary of the low half
  return MAX_ID - room - rng.int(3);
}

function pickWindow(rng: Prng): number {
  return rng.pick([1, 15, 16, 17, 64, 100, 4096, 1 + rng.int(1000), 64 * 1024 * 1024, 0xffff_ffff]);
}

function payload(rng: Prng, size: number, large: boolean): Uint8Array {
  if (large) {
    const p = new Uint8Array(size);
    const k = rng.nextUint32();
    for (let j = 0; j < size; j += 64) p[j] = (j ^ k) & 0xff;
    return p;
  }
  switch (rng.int(4)) {
    case 0: return new Uint8Array(size);
    case 1: return new Uint8Array(size).fill(0xff);
    default: return randomBytes(rng, size);
  }
}

export function buildRandomSegment(rng: Prng, opts: { segmentId?: number; firstEntryId?: number; large?: boolean } = {}): Built {
  const large = opts.large === true;
  const wanted = large ? 1 + rng.int(3) : rng.chance(0.1) ? 0 : 1 + rng.int(rng.chance(0.8) ? 6 : 40);
  const segmentId = opts.segmentId ?? pickId(rng, 0);
  const firstEntryId = opts.firstEntryId ?? pickId(rng, wanted);
  const count = Math.min(wanted, MAX_ID - firstEntryId + 1);
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const size = large ? (1 << 20) + rng.int(2 << 20) : randomLength(rng, 200);
    payloads.push(payload(rng, size, large));
  }
  // Half are v1 (no marks), half v2 with sync marks between some frames (and maybe at the end).
  const built = rng.chance(0.5) || firstEntryId + count > MAX_ID
    ? buildSegment({ segmentId, firstEntryId, syncWindow: pickWindow(rng), payloads }, jsChecksummer)
    : buildMarkedSegment({ segmentId, firstEntryId, syncWindow: pickWindow(rng), items: withMarks(rng, payloads) }, jsChecksummer);
  return { bytes: built.bytes, offsets: built.offsets, salt: built.header.salt, payloads, firstEntryId, segmentId };
}

function withMarks(rng: Prng, payloads: readonly Uint8Array[]): (Uint8Array | 'mark')[] {
  const items: (Uint8Array | 'mark')[] = [];
  for (const p of payloads) {
    if (items.length > 0 && rng.chance(0.3)) items.push('mark');
    items.push(p);
  }
  if (payloads.length > 0 && rng.chance(0.5)) items.push('mark');
  return items;
}

/** Recomputes the CRC of the frame at `off` from whatever its length field says, if it fits in the file. */
function resealFrame(b: Uint8Array, off: number, salt: number): void {
  if (off + FRAME_HEADER_SIZE > b.length) return;
  const end = off + FRAME_HEADER_SIZE + readU32(b, off + 4);
  if (end > b.length) return;
  writeU32(b, off, maskCrc(crc32c(b.subarray(off + 4, end), salt >>> 0)));
}

function resealHeader(b: Uint8Array): number {
  const salt = crc32c(b.subarray(0, 28), 0);
  writeU32(b, 28, maskCrc(salt));
  return salt;
}

function frameOf(s: Built, k: number): Uint8Array {
  return s.bytes.subarray(s.offsets[k], s.offsets[k + 1]);
}

function framesOf(s: Built): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k + 1 < s.offsets.length; k++) out.push(frameOf(s, k));
  return out;
}

function reassemble(s: Built, frames: Uint8Array[]): Built {
  const bytes = concat(s.bytes.subarray(0, SEGMENT_HEADER_SIZE), ...frames);
  const offsets = [SEGMENT_HEADER_SIZE];
  for (const f of frames) offsets.push(offsets[offsets.length - 1] + f.length);
  return { ...s, bytes, offsets };
}

/** A mutation that knows the frame layout. */
function structuredMutation(rng: Prng, s: Built, other: () => Built): Built {
  const n = s.offsets.length - 1;
  const b = s.bytes.slice();
  const k = rng.int(Math.max(1, n));
  const off = n > 0 ? s.offsets[k] : SEGMENT_HEADER_SIZE;
  switch (rng.int(11)) {
    case 0: { // a length field that lies, often huge, sometimes with a CRC that agrees
      if (off + 8 > b.length) return { ...s, bytes: b };
      const left = b.length - off - FRAME_HEADER_SIZE;
      writeU32(b, off + 4, rng.pick([0xffff_ffff, 0x8000_0000, MAX_PAYLOAD_SIZE, MAX_PAYLOAD_SIZE + 1, left, left + 1, Math.max(0, left - 1), rng.nextUint32() >>> rng.int(32)]) >>> 0);
      if (rng.chance(0.5)) resealFrame(b, off, s.salt);
      return { ...s, bytes: b };
    }
    case 1: { // an id that breaks the sequence, under a valid CRC
      if (off + FRAME_HEADER_SIZE > b.length) return { ...s, bytes: b };
      const cur = s.firstEntryId + k;
      const id = rng.pick([0, cur - 1, cur + 1, cur + 2, MAX_ID, MAX_ID + 1, 2 ** 64 - 1, rng.nextUint32()]);
      if (id >= 2 ** 53) {
        writeU32(b, off + 8, rng.nextUint32());
        writeU32(b, off + 12, id === 2 ** 64 - 1 ? 0xffff_ffff : 0x20_0000 + rng.int(0xffe0_0000));
      } else {
        writeU64(b, off + 8, id);
      }
      resealFrame(b, off, s.salt);
      return { ...s, bytes: b };
    }
    case 2: { // header fields a writer never produces, under a valid header CRC
      const field = rng.int(6);
      if (field === 0) b[4] = rng.pick([0, 2, 0xff]);
      else if (field === 1) b[6] = 1 << rng.int(8);
      else if (field === 2) writeU64(b, 8, rng.pick([0, s.segmentId + 1, MAX_ID + 1]));
      else if (field === 3) writeU64(b, 16, rng.pick([0, s.firstEntryId + 1, MAX_ID + 1]));
      else if (field === 4) writeU32(b, 24, 0);
      else writeU32(b, 24, rng.nextUint32());
      const salt = resealHeader(b);
      // Frames resealed under the new salt: the header CRC is then the only thing vouching for it.
      if (rng.chance(0.5)) for (let i = 0; i < n; i++) resealFrame(b, s.offsets[i], salt);
      return { ...s, bytes: b, salt };
    }
    case 3: { // the header of another segment (a recycled file whose new header never landed)
      const o = other();
      b.set(o.bytes.subarray(0, Math.min(SEGMENT_HEADER_SIZE, b.length)), 0);
      return { ...s, bytes: b };
    }
    case 4: { // a frame of another segment (other salt) in the middle
      const o = other();
      const frames = framesOf(s);
      const borrowed = framesOf(o);
      if (borrowed.length === 0) return s;
      frames.splice(rng.int(frames.length + 1), rng.chance(0.5) ? 1 : 0, rng.pick(borrowed));
      return reassemble(s, frames);
    }
    case 5: { // a frame written twice
      const frames = framesOf(s);
      if (frames.length === 0) return s;
      frames.splice(rng.chance(0.5) ? k + 1 : frames.length, 0, frames[k]);
      return reassemble(s, frames);
    }
    case 6: { // a frame lost, or two swapped
      const frames = framesOf(s);
      if (frames.length === 0) return s;
      if (rng.chance(0.5)) frames.splice(k, 1);
      else {
        const j = rng.int(frames.length);
        [frames[k], frames[j]] = [frames[j], frames[k]];
      }
      return reassemble(s, frames);
    }
    case 7: { // a torn last append: a partial frame, or a whole one zeroed in part
      const f = n > 0 ? frameOf(s, k) : randomBytes(rng, 20);
      return { ...s, bytes: concat(b, f.subarray(0, rng.int(f.length))) };
    }
    case 8: { // preallocated zeros, then a frame that validates beyond them
      const zeros = new Uint8Array(rng.int(200));
      const frames = framesOf(s);
      if (frames.length === 0) return { ...s, bytes: concat(b, zeros) };
      const cut = rng.int(frames.length);
      return { ...s, bytes: concat(b.subarray(0, s.offsets[cut]), zeros, ...frames.slice(cut)), offsets: [SEGMENT_HEADER_SIZE] };
    }
    case 9: { // a zero-length frame header of all zeros in the middle
      return { ...s, bytes: concat(b.subarray(0, off), new Uint8Array(FRAME_HEADER_SIZE), b.subarray(off)), offsets: [SEGMENT_HEADER_SIZE] };
    }
    default: { // the whole file re-framed: every CRC resealed after blind damage
      const damaged = blindMutation(rng, b, () => other().bytes);
      const copy = damaged === b ? b : damaged.slice();
      for (let i = 0; i < n; i++) if (s.offsets[i] < copy.length) resealFrame(copy, s.offsets[i], s.salt);
      return { ...s, bytes: copy, offsets: [SEGMENT_HEADER_SIZE] };
    }
  }
}

/**
 * Bait for the witness search: after a bad first frame (or a header that fails its CRC), every
 * 16-byte slot looks like a frame that could be a witness (length fits and ends near the end of
 * the file, id in range) but fails its CRC. Each candidate costs a CRC over the rest of the file,
 * so without its budget the search would be quadratic in the file size.
 */
function searchBait(rng: Prng): SegmentInput {
  const segmentId = 1 + rng.int(3);
  const firstEntryId = 1 + rng.int(1000);
  const size = (8 << 10) + 16 * rng.int(8 << 10);
  const b = new Uint8Array(size);
  b.set(encodeSegmentHeader({ segmentId, firstEntryId, syncWindow: 16 + rng.int(64) }, jsChecksummer).bytes, 0);
  if (rng.chance(0.5)) b[rng.int(28)] ^= 1 << rng.int(8); // the header fails its CRC: the search runs from the header
  for (let p = SEGMENT_HEADER_SIZE; p + FRAME_HEADER_SIZE <= size; p += FRAME_HEADER_SIZE) {
    writeU32(b, p, rng.nextUint32());
    writeU32(b, p + 4, size - p - FRAME_HEADER_SIZE - rng.int(4));
    writeU64(b, p + 8, firstEntryId);
  }
  return { bytes: b, segmentId, pristine: false, payloads: [], firstEntryId, largestPayload: 0 };
}

/** One segment file: random bytes, a random header-shaped prefix, or a mutated valid segment. */
export function segmentInput(rng: Prng, large = false): SegmentInput {
  if (!large && rng.chance(0.002)) return searchBait(rng);
  const r = rng.next();
  if (!large && r < 0.08) {
    const segmentId = 1 + rng.int(3);
    return { bytes: randomBytes(rng, randomLength(rng)), segmentId, pristine: false, payloads: [], firstEntryId: 1, largestPayload: 0 };
  }
  if (!large && r < 0.14) {
    // A valid header, then garbage: the frame parser sees arbitrary lengths and ids.
    const segmentId = 1 + rng.int(3);
    const { bytes: head } = encodeSegmentHeader({ segmentId, firstEntryId: pickId(rng, 0), syncWindow: pickWindow(rng) }, jsChecksummer);
    return { bytes: concat(head, randomBytes(rng, randomLength(rng))), segmentId, pristine: false, payloads: [], firstEntryId: 1, largestPayload: 0 };
  }
  const base = buildRandomSegment(rng, { large });
  const largestPayload = base.payloads.reduce((m, p) => Math.max(m, p.length), 0);
  const other = (): Built => buildRandomSegment(rng, { segmentId: base.segmentId, firstEntryId: rng.chance(0.5) ? base.firstEntryId : undefined });
  if (rng.chance(0.1)) {
    const bytes = rng.chance(0.3) ? concat(base.bytes, new Uint8Array(rng.int(300))) : base.bytes;
    return { bytes, segmentId: base.segmentId, pristine: true, payloads: base.payloads, firstEntryId: base.firstEntryId, largestPayload };
  }
  let s = base;
  const rounds = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let i = 0; i < rounds; i++) {
    if (rng.chance(0.5)) s = structuredMutation(rng, s, other);
    else s = { ...s, bytes: blindMutation(rng, s.bytes.slice(), () => other().bytes), offsets: [SEGMENT_HEADER_SIZE] };
  }
  return { bytes: s.bytes, segmentId: base.segmentId, pristine: false, payloads: [], firstEntryId: base.firstEntryId, largestPayload };
}

export interface LogInput {
  /** File name (under wal/) and bytes of each segment. */
  files: { name: string; bytes: Uint8Array }[];
}

/** A whole log of 1..4 segments, consecutive and chained, then damaged in one place or in its layout. */
export function logInput(rng: Prng): LogInput {
  const count = 1 + rng.int(4);
  let segmentId = 1 + rng.int(3);
  let first = rng.chance(0.8) ? 1 : pickId(rng, 200);
  const segs: Built[] = [];
  for (let i = 0; i < count; i++) {
    const s = buildRandomSegment(rng, { segmentId: segmentId++, firstEntryId: first });
    first += s.payloads.length;
    segs.push(s);
  }
  const files = segs.map((s) => ({ name: `${String(s.segmentId).padStart(20, '0')}.wal`, bytes: s.bytes }));
  const victim = rng.int(count);
  switch (rng.int(6)) {
    case 0: break; // intact
    case 1: files.splice(victim, 1); break; // a segment lost: a gap, or a log that starts later
    case 2: files[victim].name = `${segs[victim].segmentId}.wal`; break; // unpadded: still the same id
    case 3: files.push({ name: rng.pick(['x.wal', '0.wal', '99999999999999999999.wal', `${segs[victim].segmentId}.wal`, 'LOCK', 'recycle-1']), bytes: segs[victim].bytes }); break;
    case 4: { // contents of two segments exchanged, or one segment's header on another
      const j = rng.int(count);
      if (rng.chance(0.5)) [files[victim].bytes, files[j].bytes] = [files[j].bytes, files[victim].bytes];
      else files[victim].bytes = concat(segs[j].bytes.subarray(0, SEGMENT_HEADER_SIZE), segs[victim].bytes.subarray(SEGMENT_HEADER_SIZE));
      break;
    }
    default: {
      const s = segs[victim];
      const other = (): Built => buildRandomSegment(rng, { segmentId: s.segmentId, firstEntryId: s.firstEntryId });
      files[victim].bytes = rng.chance(0.5) ? structuredMutation(rng, s, other).bytes : blindMutation(rng, s.bytes.slice(), () => other().bytes);
    }
  }
  return { files };
}
