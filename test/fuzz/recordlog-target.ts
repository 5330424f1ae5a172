// Record logs (lib/recordlog) under the fuzzer: valid files built with its format module, damaged
// blind and format-aware (lying lengths under valid CRCs, resealed headers, duplicated and
// torn frames), read strict and bestEffort with each checksummer. A success must re-encode to
// the file's bytes; failures must be CorruptionError (DecodeError for a codec).

import type { Checksummer } from '../../lib/backend/backend';
import { crc32c } from '../../lib/crc32c';
import { jsChecksummer } from '../../lib/directory/js-checksum';
import { MemoryDirectory } from '../../lib/directory/memory';
import type { Prng } from '../../lib/directory/prng';
import { CorruptionError, DecodeError } from '../../lib/errors';
import {
  MAX_RECORD_SIZE, RECORD_FRAME_HEADER_SIZE, RECORD_LOG_HEADER_SIZE, RECORD_MARK_LENGTH, RECORD_MARK_SIZE, encodeRecordLogHeader, writeRecordFrame,
  writeRecordMark,
} from '../../lib/recordlog/format';
import { forEachRecord, type RecordLogReadOptions } from '../../lib/recordlog/reader';
import type { RecordLogMode, RecordLogScan } from '../../lib/recordlog/scan';
import { json, raw, type Codec } from '../../lib/wal/codec';
import { maskCrc, readU32, readU64, writeU32 } from '../../lib/wal/format';
import { meteredDirectory } from './meter';
import { blindMutation, concat, randomBytes, randomLength } from './mutate';
import { agree, checkError, count, fail, FuzzFailure, reasonKey, recordWork, workLimit, type WalContext } from './wal-target';

const PATH = 'log/records';
const CHUNK = 1 << 20;

function bufferBound(fileSize: number, maxRecord: number): number {
  return Math.max(RECORD_LOG_HEADER_SIZE, Math.min(fileSize, Math.max(CHUNK, maxRecord + RECORD_FRAME_HEADER_SIZE)));
}

interface BuiltLog {
  bytes: Uint8Array;
  /** Where each frame (record or sync mark) starts, and the end of the last. */
  offsets: number[];
  /** Records (sync marks not counted). */
  records: number;
}

/** A valid log: version 1, or version 2 with sync marks (each vouching for some earlier frame boundary) between some records. */
function build(rng: Prng, large = false): BuiltLog {
  const w = rng.pick([8, 9, 16, 64, 100, 4096, 8 + rng.int(1000), 64 * 1024 * 1024, 0xffff_ffff]);
  const version = rng.chance(0.3) ? 1 : 2;
  const n = large ? 2 + rng.int(2) : rng.chance(0.1) ? 0 : 1 + rng.int(rng.chance(0.8) ? 6 : 30);
  const units: Array<Uint8Array | 'mark'> = [];
  for (let i = 0; i < n; i++) {
    if (version === 2 && rng.chance(0.3)) units.push('mark');
    // Large records (1..3 MiB) make the scan buffer grow past its first chunk.
    if (large) units.push(new Uint8Array((1 << 20) + rng.int(2 << 20)).fill(i + 1));
    else units.push(rng.chance(0.2) ? new Uint8Array(randomLength(rng, 100)) : randomBytes(rng, randomLength(rng, 200)));
  }
  if (version === 2 && n > 0 && rng.chance(0.5)) units.push('mark');
  const size = RECORD_LOG_HEADER_SIZE + units.reduce((s, u) => s + (u === 'mark' ? RECORD_MARK_SIZE : RECORD_FRAME_HEADER_SIZE + u.length), 0);
  const bytes = new Uint8Array(size);
  bytes.set(encodeRecordLogHeader(w, jsChecksummer, version), 0);
  const offsets = [RECORD_LOG_HEADER_SIZE];
  for (const u of units) {
    const at = offsets[offsets.length - 1];
    offsets.push(u === 'mark' ? writeRecordMark(bytes, at, rng.pick(offsets), jsChecksummer) : writeRecordFrame(bytes, at, u, jsChecksummer));
  }
  return { bytes, offsets, records: n };
}

function reseal(b: Uint8Array, off: number): void {
  if (off + RECORD_FRAME_HEADER_SIZE > b.length) return;
  const end = off + RECORD_FRAME_HEADER_SIZE + readU32(b, off + 4);
  if (end <= b.length) writeU32(b, off, maskCrc(crc32c(b.subarray(off + 4, end), 0)));
}

function frames(s: BuiltLog): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k + 1 < s.offsets.length; k++) out.push(s.bytes.subarray(s.offsets[k], s.offsets[k + 1]));
  return out;
}

function mutate(rng: Prng, s: BuiltLog): Uint8Array {
  const b = s.bytes.slice();
  const n = s.offsets.length - 1;
  const k = rng.int(Math.max(1, n));
  const off = s.offsets[Math.min(k, n)];
  switch (rng.int(7)) {
    case 0: {
      if (off + 8 > b.length) return b;
      const left = b.length - off - RECORD_FRAME_HEADER_SIZE;
      writeU32(b, off + 4, rng.pick([0xffff_ffff, MAX_RECORD_SIZE, MAX_RECORD_SIZE + 1, left, left + 1, Math.max(0, left - 1), rng.nextUint32() >>> rng.int(32)]) >>> 0);
      if (rng.chance(0.5)) reseal(b, off);
      return b;
    }
    case 1: { // header fields under a valid header CRC
      const f = rng.int(3);
      if (f === 0) b[4] = rng.pick([0, 3]);
      else if (f === 1) b[7] = 1 << rng.int(8);
      else writeU32(b, 8, rng.int(8));
      writeU32(b, 12, maskCrc(crc32c(b.subarray(0, 12), 0)));
      return b;
    }
    case 2: {
      const fs = frames(s);
      if (fs.length > 0) fs.splice(rng.int(fs.length + 1), 0, fs[k]);
      return concat(b.subarray(0, RECORD_LOG_HEADER_SIZE), ...fs);
    }
    case 3: {
      const f = n > 0 ? s.bytes.subarray(s.offsets[k], s.offsets[k + 1]) : randomBytes(rng, 12);
      return concat(b, f.subarray(0, rng.int(f.length)));
    }
    case 4: {
      const fs = frames(s);
      const cut = rng.int(fs.length + 1);
      return concat(b.subarray(0, s.offsets[cut]), new Uint8Array(rng.int(200)), ...fs.slice(cut));
    }
    case 5: {
      const d = blindMutation(rng, b, () => build(rng).bytes);
      const copy = d === b ? b : d.slice();
      for (let i = 0; i < n; i++) reseal(copy, s.offsets[i]);
      return copy;
    }
    default:
      return blindMutation(rng, b, () => build(rng).bytes);
  }
}

/** Every 8-byte slot after the header a frame that fails its CRC but would be a witness: see wal-inputs.ts searchBait. */
function searchBait(rng: Prng): Uint8Array {
  const size = (8 << 10) + 8 * rng.int(16 << 10);
  const b = new Uint8Array(size);
  b.set(encodeRecordLogHeader(8 + rng.int(64), jsChecksummer), 0);
  for (let p = RECORD_LOG_HEADER_SIZE; p + RECORD_FRAME_HEADER_SIZE <= size; p += RECORD_FRAME_HEADER_SIZE) {
    writeU32(b, p, rng.nextUint32() | 1);
    writeU32(b, p + 4, size - p - RECORD_FRAME_HEADER_SIZE - rng.int(4));
  }
  return b;
}

export function recordLogInput(rng: Prng, large = false): { bytes: Uint8Array; pristine: number | undefined; largest: number } {
  if (large) {
    const s = build(rng, true);
    const largest = Math.max(...frames(s).map((f) => f.length - RECORD_FRAME_HEADER_SIZE));
    return { bytes: rng.chance(0.5) ? s.bytes : mutate(rng, s), pristine: undefined, largest };
  }
  if (rng.chance(0.005)) return { bytes: searchBait(rng), pristine: undefined, largest: 0 };
  if (rng.chance(0.08)) return { bytes: randomBytes(rng, randomLength(rng)), pristine: undefined, largest: 0 };
  const s = build(rng);
  if (rng.chance(0.1)) return { bytes: s.bytes, pristine: s.records, largest: 0 };
  let bytes = mutate(rng, s);
  if (rng.chance(0.2)) bytes = blindMutation(rng, bytes.slice(), () => build(rng).bytes);
  return { bytes, pristine: undefined, largest: 0 };
}

function checkRead(where: string, bytes: Uint8Array, mode: RecordLogMode, scan: RecordLogScan, records: Uint8Array[], checksum: Checksummer): void {
  if (scan.fileSize !== bytes.length) fail(where, `fileSize ${scan.fileSize}, file has ${bytes.length}`);
  if (scan.count !== records.length) fail(where, `count ${scan.count}, ${records.length} records handed out`);
  if (scan.tail === 'torn' && mode !== 'bestEffortTail') fail(where, 'torn tail in strict mode');
  if (scan.headerTorn) {
    if (scan.tail !== 'torn' || scan.validEnd !== 0 || records.length !== 0) fail(where, `torn header with ${JSON.stringify(scan)}`);
    return;
  }
  const head = encodeRecordLogHeader(scan.syncWindow, checksum, scan.version);
  for (let i = 0; i < RECORD_LOG_HEADER_SIZE; i++) if (head[i] !== bytes[i]) fail(where, 'accepted header does not re-encode to the file bytes');
  let off = RECORD_LOG_HEADER_SIZE;
  let watermark = 0;
  /** Passes over the sync marks at `off` (version 2), checking each re-encodes and vouches only for bytes before it. */
  const skipMarks = (): void => {
    while (scan.version === 2 && off + RECORD_MARK_SIZE <= scan.validEnd && readU32(bytes, off + 4) === RECORD_MARK_LENGTH) {
      const d = readU64(bytes, off + 8);
      if (d < RECORD_LOG_HEADER_SIZE || d > off) fail(where, `accepted a sync mark at ${off} vouching for ${d}`);
      const enc = new Uint8Array(RECORD_MARK_SIZE);
      writeRecordMark(enc, 0, d, checksum);
      for (let j = 0; j < enc.length; j++) if (enc[j] !== bytes[off + j]) fail(where, `sync mark at ${off} does not re-encode to the file bytes`);
      watermark = Math.max(watermark, d);
      off += RECORD_MARK_SIZE;
    }
  };
  for (const [i, r] of records.entries()) {
    skipMarks();
    const enc = new Uint8Array(RECORD_FRAME_HEADER_SIZE + r.length);
    writeRecordFrame(enc, 0, r, checksum);
    for (let j = 0; j < enc.length; j++) if (enc[j] !== bytes[off + j]) fail(where, `record ${i} does not match the file bytes at ${off}`);
    off += enc.length;
  }
  skipMarks();
  if (watermark !== scan.watermark) fail(where, `marks carry watermark ${watermark}, the scan says ${scan.watermark}`);
  if (off !== scan.validEnd) fail(where, `records end at ${off}, validEnd is ${scan.validEnd}`);
  if (scan.tail === 'clean') for (let j = off; j < bytes.length; j++) if (bytes[j] !== 0) fail(where, `clean end at ${off} but byte ${j} is nonzero`);
}

function readOutcome(ctx: WalContext, dir: MemoryDirectory, bytes: Uint8Array, mode: RecordLogMode, codec: Codec<unknown>, maxRecordSize: number | undefined): string {
  const where = `forEachRecord[${dir.checksum.name} ${mode} ${codec.name} max=${maxRecordSize}]`;
  ctx.meter.reset(workLimit(bytes.length));
  let out: string;
  try {
    const records: Uint8Array[] = [];
    const options: RecordLogReadOptions<unknown> = { mode, codec, maxRecordSize };
    const scan = forEachRecord(meteredDirectory(dir, ctx.meter), PATH, options, (r) => {
      records.push(codec === raw ? (r as Uint8Array) : new Uint8Array(0));
    });
    if (codec === raw) checkRead(where, bytes, mode, scan, records, dir.checksum);
    out = `ok ${JSON.stringify(scan)}`;
    count(ctx.stats, `record log: ${scan.headerTorn ? 'torn header' : scan.tail}`);
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    // DecodeError: a codec that cannot decode, or a good record over the reader's maxRecordSize.
    const e = checkError(err, codec === raw && maxRecordSize === undefined ? [CorruptionError] : [CorruptionError, DecodeError], where, bytes.length);
    count(ctx.stats, `record log: ${reasonKey(e)}`);
    out = `${e.name} ${e.message}`;
  }
  const bound = bufferBound(bytes.length, maxRecordSize ?? MAX_RECORD_SIZE);
  if (ctx.meter.largestBuffer > bound) fail(where, `read into a ${ctx.meter.largestBuffer}-byte buffer; bound for a ${bytes.length}-byte file is ${bound}`);
  recordWork(ctx.stats, ctx.meter, bytes.length);
  return out;
}

export function fuzzRecordLog(ctx: WalContext, rng: Prng, large = false): void {
  const input = recordLogInput(rng, large);
  const codec = large || rng.chance(0.85) ? raw : json;
  // A limit just above the largest record makes the buffer grow right up to it.
  const maxRecordSize = large ? (rng.chance(0.7) ? input.largest + rng.int(64) : undefined) : rng.chance(0.8) ? undefined : rng.int(300);
  const per: string[] = [];
  for (const checksum of ctx.checksummers) {
    const dir = new MemoryDirectory({ checksum });
    dir.mkdirp('log');
    const f = dir.create(PATH);
    f.write(input.bytes);
    f.close();
    const strict = readOutcome(ctx, dir, input.bytes, 'strict', codec, maxRecordSize);
    const best = readOutcome(ctx, dir, input.bytes, 'bestEffortTail', codec, maxRecordSize);
    const where = `record log readings [${checksum.name}]`;
    if (strict.startsWith('ok') && strict !== best) fail(where, `strict succeeded but bestEffort differs:\n${strict}\n${best}`);
    if (input.pristine !== undefined && codec === raw && maxRecordSize === undefined && !strict.includes(`"count":${input.pristine},`)) {
      fail(where, `a valid log of ${input.pristine} records read as ${strict}`);
    }
    per.push(`${strict}\n${best}`);
  }
  agree(ctx, 'record log readings', per);
}
