// Feeds WAL inputs through scanSegment and WalReader and checks what comes back against the
// format, not against another implementation of it:
// - failures are CorruptionError (DecodeError for a codec), naming the file and an offset in it;
// - every frame handed out re-encodes, with the header's salt, to exactly the file's bytes up
//   to validEnd; a clean end is followed by zeros only; only bestEffortTail reports a torn tail;
// - the stricter reading never succeeds where the laxer one fails, and agrees when both succeed;
// - the native and TypeScript checksummers give identical outcomes;
// - work and buffer sizes stay within what the input's size justifies (meter.ts).

import { rmSync, writeFileSync } from 'node:fs';
import nodePath from 'node:path';
import type { Checksummer, FileBackend } from '../../lib/backend/backend';
import { FsDirectory } from '../../lib/directory/fs';
import { MemoryDirectory } from '../../lib/directory/memory';
import { CorruptionError, DecodeError, DurabilityError } from '../../lib/errors';
import { json, msgpack, raw, type Codec } from '../../lib/wal/codec';
import {
  FRAME_HEADER_SIZE, MARK_LENGTH, MARK_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR, encodeFrame, encodeSegmentHeader, readU32,
} from '../../lib/wal/format';
import { WalReader, type ReplayMode } from '../../lib/wal/reader';
import { scanSegment, type ScanMode, type SegmentScan } from '../../lib/wal/segment-scan';
import { type SegmentRef } from '../../lib/wal/segment-files';
import { segmentIndexCodec } from '../../lib/wal/segment-index';
import type { Prng } from '../../lib/directory/prng';
import type { Directory } from '../../lib/directory/directory';
import { meteredDirectory, type Meter } from './meter';
import type { LogInput, SegmentInput } from './wal-inputs';

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

export function fail(what: string, detail: string): never {
  throw new FuzzFailure(`${what}: ${detail}`);
}

/** The scan buffers are 1 MiB chunks, grown only to hold one frame of at most the maximum. */
const CHUNK = 1 << 20;

export function walBufferBound(fileSize: number, maxPayload: number): number {
  const roundedFile = (fileSize + 3) & ~3;
  return Math.max(SEGMENT_HEADER_SIZE, Math.min(roundedFile, Math.max(CHUNK, maxPayload + FRAME_HEADER_SIZE)));
}

/** Work a decode may do on `bytes` bytes: linear, with the witness searches' fixed slack. */
export function workLimit(bytes: number, files = 1): number {
  return 32 * bytes + files * (8 << 20);
}

export interface Stats {
  inputs: number;
  decodes: number;
  outcomes: Map<string, number>;
  /** Largest work / (file size + 1024) seen, to show how far from the limit decoders run. */
  maxWorkRatio: number;
  largestBuffer: number;
}

export function newStats(): Stats {
  return { inputs: 0, decodes: 0, outcomes: new Map(), maxWorkRatio: 0, largestBuffer: 0 };
}

export function count(stats: Stats, key: string): void {
  stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
}

/** A short, digit-free form of an error reason, for counting which checks the fuzzer reached. */
export function reasonKey(err: DurabilityError): string {
  const text = err instanceof CorruptionError ? err.reason : err.message;
  const [first, ...rest] = text.replace(/\d+/g, 'N').replace(/\s*\([^)]*\)/g, '').split(';');
  return `${err.name}: ${first.slice(0, 60)}${rest.length > 0 ? `; ${rest.join(';').trim().slice(0, 60)}` : ''}`;
}

export function recordWork(stats: Stats, meter: Meter, bytes: number): void {
  stats.decodes++;
  stats.maxWorkRatio = Math.max(stats.maxWorkRatio, meter.work / (bytes + 1024));
  stats.largestBuffer = Math.max(stats.largestBuffer, meter.largestBuffer);
}

/** Accepts only the error classes `allowed`; anything else (TypeError, RangeError, a work limit) fails the run. */
type ErrorClass = abstract new (...args: never[]) => DurabilityError;

export function checkError(err: unknown, allowed: readonly ErrorClass[], where: string, fileSize?: number): DurabilityError {
  if (!(err instanceof DurabilityError) || !allowed.some((c) => err instanceof c)) {
    const text = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    fail(where, `threw something other than ${allowed.map((c) => c.name).join('/')}: ${text}`);
  }
  if (err instanceof CorruptionError && fileSize !== undefined && (err.offset < 0 || err.offset > fileSize || !Number.isInteger(err.offset))) {
    fail(where, `CorruptionError offset ${err.offset} is outside the file (${fileSize} bytes): ${err.message}`);
  }
  return err;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

interface ScanCase {
  isFinal: boolean;
  mode: ScanMode;
  expectedFirstEntryId: number | undefined;
  maxPayloadSize: number | undefined;
}

/** What a scan must satisfy when it succeeds, given the bytes it read. */
function checkScan(where: string, bytes: Uint8Array, segmentId: number, c: ScanCase, r: SegmentScan, frames: { id: number; payload: Uint8Array }[], checksum: Checksummer): void {
  if (r.fileSize !== bytes.length) fail(where, `fileSize ${r.fileSize}, file has ${bytes.length}`);
  if (r.tail === 'torn' && (c.mode !== 'bestEffortTail' || !c.isFinal)) fail(where, 'torn tail reported outside bestEffortTail on the final segment');
  if (r.header === undefined) {
    if (r.tail !== 'torn' || r.validEnd !== 0 || frames.length !== 0) fail(where, `torn header with validEnd ${r.validEnd}, ${frames.length} frames`);
    return;
  }
  const h = r.header;
  if (h.segmentId !== segmentId) fail(where, `header id ${h.segmentId} accepted for file id ${segmentId}`);
  if (c.expectedFirstEntryId !== undefined && h.firstEntryId !== c.expectedFirstEntryId) fail(where, 'first entry id differs from the expected one');
  const head = encodeSegmentHeader(h, checksum);
  if (!equalBytes(head.bytes, bytes.subarray(0, SEGMENT_HEADER_SIZE)) || head.header.salt !== h.salt) fail(where, 'accepted header does not re-encode to the file bytes');
  if (r.firstEntryId !== h.firstEntryId || r.frameCount !== frames.length || r.lastEntryId !== h.firstEntryId + frames.length - 1) {
    fail(where, `result counts disagree with the frames: ${JSON.stringify(r)} vs ${frames.length} frames`);
  }
  let off = SEGMENT_HEADER_SIZE;
  const max = c.maxPayloadSize ?? MAX_PAYLOAD_SIZE;
  // A v2 segment's good sync marks lie between the frames handed out: step over them.
  const skipMarks = (): void => {
    while (h.version >= 2 && off + MARK_SIZE <= bytes.length && readU32(bytes, off + 4) === MARK_LENGTH && off + MARK_SIZE <= r.validEnd) off += MARK_SIZE;
  };
  frames.forEach((f, i) => {
    skipMarks();
    if (f.id !== h.firstEntryId + i) fail(where, `frame ${i} has id ${f.id}, expected ${h.firstEntryId + i}`);
    if (f.payload.length > max) fail(where, `frame ${i} of ${f.payload.length} bytes exceeds maxPayloadSize ${max}`);
    const enc = encodeFrame(f.id, f.payload, h.salt, checksum);
    if (!equalBytes(enc, bytes.subarray(off, off + enc.length))) fail(where, `frame ${i} handed out does not match the file bytes at ${off}`);
    off += enc.length;
  });
  skipMarks();
  if (off !== r.validEnd) fail(where, `frames end at ${off}, validEnd is ${r.validEnd}`);
  if (r.tail === 'clean' && !allZero(bytes.subarray(r.validEnd))) fail(where, `clean end at ${r.validEnd} but nonzero bytes follow`);
  if (r.tail === 'torn' && r.validEnd >= bytes.length) fail(where, 'torn tail at the end of the file');
}

function segmentDir(checksum: Checksummer, segmentId: number, bytes: Uint8Array): { dir: MemoryDirectory; seg: SegmentRef } {
  const dir = new MemoryDirectory({ checksum });
  dir.mkdirp(WAL_DIR);
  const path = `${WAL_DIR}/${String(segmentId).padStart(20, '0')}.wal`;
  const f = dir.create(path);
  f.write(bytes);
  f.close();
  return { dir, seg: { segmentId, path } };
}

export interface WalContext {
  readonly checksummers: readonly Checksummer[];
  readonly meter: Meter;
  readonly stats: Stats;
  /** Real files: a scratch root with wal/ in it, and the backends to read it through. */
  readonly fs?: { readonly root: string; readonly backends: readonly FileBackend[] };
}

/** One scan through the meter; the outcome as a string that must match across checksummers. */
export function scanOutcome(ctx: WalContext, dir: Directory, seg: SegmentRef, bytes: Uint8Array, c: ScanCase, label: string): string {
  const where = `scanSegment[${label} ${dir.checksum.name} final=${c.isFinal} ${c.mode} max=${c.maxPayloadSize} first=${c.expectedFirstEntryId}]`;
  const frames: { id: number; payload: Uint8Array }[] = [];
  ctx.meter.reset(workLimit(bytes.length));
  let out: string;
  try {
    const r = scanSegment(meteredDirectory(dir, ctx.meter), seg, {
      isFinal: c.isFinal, mode: c.mode, expectedFirstEntryId: c.expectedFirstEntryId, maxPayloadSize: c.maxPayloadSize,
      onFrame: (id, p) => frames.push({ id, payload: p.slice() }),
    });
    checkScan(where, bytes, seg.segmentId, c, r, frames, dir.checksum);
    out = `ok ${JSON.stringify(r)}`;
    count(ctx.stats, `wal scan: ${r.header === undefined ? 'torn header' : r.tail}`);
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    // A good frame over the caller's limit (within the format's) is a DecodeError, never a cut.
    const allowed = c.maxPayloadSize === undefined ? [CorruptionError] : [CorruptionError, DecodeError];
    const e = checkError(err, allowed, where, bytes.length);
    const file = (e as CorruptionError | DecodeError).file;
    if (file !== seg.path) fail(where, `${e.name} names ${file}, not ${seg.path}`);
    count(ctx.stats, `wal scan: ${reasonKey(e)}`);
    out = `${e.name} ${e.message}`;
  }
  const bound = walBufferBound(bytes.length, c.maxPayloadSize ?? MAX_PAYLOAD_SIZE);
  if (ctx.meter.largestBuffer > bound) fail(where, `read into a ${ctx.meter.largestBuffer}-byte buffer; bound for a ${bytes.length}-byte file is ${bound}`);
  recordWork(ctx.stats, ctx.meter, bytes.length);
  return out;
}

function pickScanOptions(rng: Prng, input: SegmentInput): Pick<ScanCase, 'expectedFirstEntryId' | 'maxPayloadSize'> {
  // A limit just above the largest payload makes the scan buffer grow right up to it.
  const tight = input.largestPayload + rng.int(64);
  const maxPayloadSize = rng.chance(0.7) ? undefined : rng.pick([0, 1, 16, rng.int(300), tight, tight, MAX_PAYLOAD_SIZE]);
  const r = rng.next();
  const expectedFirstEntryId = r < 0.6 ? undefined : r < 0.9 ? input.firstEntryId : 1 + rng.int(1000);
  return { maxPayloadSize, expectedFirstEntryId };
}

/**
 * All four readings of one segment file, with each checksummer, from memory and (withFs) from a
 * real file through each backend, which must read it exactly as memory does with its checksummer.
 */
export function fuzzSegment(ctx: WalContext, rng: Prng, input: SegmentInput, withFs = false): void {
  const opts = pickScanOptions(rng, input);
  const cases: ScanCase[] = [
    { isFinal: true, mode: 'strict', ...opts },
    { isFinal: true, mode: 'bestEffortTail', ...opts },
    { isFinal: false, mode: 'strict', ...opts },
    { isFinal: false, mode: 'bestEffortTail', ...opts },
  ];
  const perChecksummer: string[] = [];
  for (const checksum of ctx.checksummers) {
    const { dir, seg } = segmentDir(checksum, input.segmentId, input.bytes);
    const [finalStrict, finalBest, midStrict, midBest] = cases.map((c) => scanOutcome(ctx, dir, seg, input.bytes, c, 'memory'));
    const where = `segment readings [${checksum.name}]`;
    if (finalStrict.startsWith('ok') && finalStrict !== finalBest) fail(where, `strict succeeded but bestEffortTail differs:\n${finalStrict}\n${finalBest}`);
    if (midStrict.startsWith('ok') && midStrict !== finalStrict) fail(where, `non-final succeeded but final differs:\n${midStrict}\n${finalStrict}`);
    if (midStrict !== midBest) fail(where, `non-final segment read differently by mode:\n${midStrict}\n${midBest}`);
    if (input.pristine && opts.maxPayloadSize === undefined && (opts.expectedFirstEntryId ?? input.firstEntryId) === input.firstEntryId) {
      const want = input.payloads.length;
      if (!finalStrict.startsWith('ok') || !midStrict.startsWith('ok')) fail(where, `a valid segment was refused: ${finalStrict} / ${midStrict}`);
      if (!finalStrict.includes(`"frameCount":${want},`)) fail(where, `a valid segment of ${want} frames read as ${finalStrict}`);
    }
    perChecksummer.push([finalStrict, finalBest, midStrict, midBest].join('\n'));
  }
  agree(ctx, 'segment readings', perChecksummer);
  if (withFs && ctx.fs !== undefined) throughFs(ctx, ctx.fs.root, ctx.fs.backends, input, cases, perChecksummer);
}

function throughFs(ctx: WalContext, root: string, backends: readonly FileBackend[], input: SegmentInput, cases: readonly ScanCase[], memory: readonly string[]): void {
  const seg = { segmentId: input.segmentId, path: `${WAL_DIR}/${String(input.segmentId).padStart(20, '0')}.wal` };
  const file = nodePath.join(root, seg.path);
  writeFileSync(file, input.bytes);
  try {
    for (const backend of backends) {
      const k = ctx.checksummers.findIndex((c) => c.name === backend.name);
      if (k < 0) fail('FsDirectory', `no checksummer named ${backend.name} to compare with`);
      const dir = new FsDirectory(root, { backend });
      const got = cases.map((c) => scanOutcome(ctx, dir, seg, input.bytes, c, 'fs')).join('\n');
      if (got !== memory[k]) fail(`FsDirectory[${backend.name}]`, `a real file reads differently from memory:\n${got}\n---\n${memory[k]}`);
      count(ctx.stats, `fs reads: ${backend.name}`);
    }
  } finally {
    rmSync(file, { force: true });
  }
}

export function agree(ctx: WalContext, what: string, outcomes: readonly string[]): void {
  for (let i = 1; i < outcomes.length; i++) {
    if (outcomes[i] !== outcomes[0]) {
      fail(what, `${ctx.checksummers[0].name} and ${ctx.checksummers[i].name} checksummers disagree:\n${outcomes[0]}\n---\n${outcomes[i]}`);
    }
  }
}

const CODECS: readonly Codec<unknown>[] = [raw, json, msgpack, segmentIndexCodec() as Codec<unknown>];

function hashRecords(records: readonly { entryId: number; payload: unknown }[], codec: Codec<unknown>): string {
  let h = 0x811c9dc5;
  const mix = (v: number): void => {
    h = Math.imul(h ^ v, 0x01000193) >>> 0;
  };
  for (const r of records) {
    mix(r.entryId % 0x1_0000_0000);
    const bytes = codec === raw ? (r.payload as Uint8Array) : Buffer.from(JSON.stringify(r.payload) ?? 'undefined');
    for (let i = 0; i < bytes.length; i++) mix(bytes[i]);
  }
  return `${records.length} records, ids ${records[0]?.entryId}..${records[records.length - 1]?.entryId}, hash ${h.toString(16)}`;
}

function replayOutcome(ctx: WalContext, dir: Directory, codec: Codec<unknown>, mode: ReplayMode, from: number, totalBytes: number, files: number, largestFile: number, maxPayloadSize: number | undefined): { text: string; ids?: number[] } {
  const where = `WalReader.replaySync[${dir.checksum.name} ${codec.name} ${mode} from=${from} max=${maxPayloadSize}]`;
  ctx.meter.reset(workLimit(totalBytes, files));
  let result: { text: string; ids?: number[] };
  try {
    const reader = new WalReader(meteredDirectory(dir, ctx.meter), { codec, maxPayloadSize });
    const records = reader.replaySync({ mode, fromEntryId: from });
    const ids = records.map((r) => r.entryId);
    for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1] + 1) fail(where, `entry ${ids[i]} follows ${ids[i - 1]}`);
    if (ids.length > 0 && ids[0] < from) fail(where, `entry ${ids[0]} returned below fromEntryId ${from}`);
    result = { text: `ok ${hashRecords(records, codec)}`, ids };
    count(ctx.stats, `wal replay: ok`);
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    // DecodeError: a codec that cannot decode, or an entry over the reader's maxPayloadSize.
    const e = checkError(err, codec === raw && maxPayloadSize === undefined ? [CorruptionError] : [CorruptionError, DecodeError], where);
    count(ctx.stats, `wal replay: ${reasonKey(e)}`);
    result = { text: `${e.name} ${e.message}` };
  }
  const bound = walBufferBound(largestFile, maxPayloadSize ?? MAX_PAYLOAD_SIZE);
  if (ctx.meter.largestBuffer > bound) fail(where, `read into a ${ctx.meter.largestBuffer}-byte buffer; bound for files of ≤ ${largestFile} bytes is ${bound}`);
  recordWork(ctx.stats, ctx.meter, totalBytes);
  return result;
}

function countOutcome(ctx: WalContext, dir: Directory, mode: ReplayMode, totalBytes: number, files: number, maxPayloadSize: number | undefined): string {
  const where = `WalReader.entryCountSync[${dir.checksum.name} ${mode}]`;
  ctx.meter.reset(workLimit(totalBytes, files));
  try {
    return `ok ${new WalReader(meteredDirectory(dir, ctx.meter), { codec: raw, maxPayloadSize }).entryCountSync({ mode })}`;
  } catch (err) {
    const e = checkError(err, maxPayloadSize === undefined ? [CorruptionError] : [CorruptionError, DecodeError], where);
    return `${e.name} ${e.message}`;
  }
}

/** A whole log through WalReader: both modes, a fromEntryId, a codec, entryCountSync. */
export function fuzzLog(ctx: WalContext, rng: Prng, input: LogInput): void {
  const codec = rng.chance(0.7) ? raw : rng.pick(CODECS);
  const maxPayloadSize = rng.chance(0.8) ? undefined : rng.int(300);
  const total = input.files.reduce((n, f) => n + f.bytes.length, 0);
  const largest = input.files.reduce((n, f) => Math.max(n, f.bytes.length), 0);
  const files = input.files.length + 1;
  const fromPick = rng.next();
  const perChecksummer: string[] = [];
  for (const checksum of ctx.checksummers) {
    const dir = new MemoryDirectory({ checksum });
    dir.mkdirp(WAL_DIR);
    for (const f of input.files) {
      const w = dir.create(`${WAL_DIR}/${f.name}`);
      w.write(f.bytes);
      w.close();
    }
    const strict = replayOutcome(ctx, dir, codec, 'strict', 1, total, files, largest, maxPayloadSize);
    const best = replayOutcome(ctx, dir, codec, 'bestEffortTail', 1, total, files, largest, maxPayloadSize);
    const where = `log readings [${checksum.name} ${codec.name}]`;
    if (strict.text.startsWith('ok') && strict.text !== best.text) fail(where, `strict succeeded but bestEffortTail differs:\n${strict.text}\n${best.text}`);
    const parts = [strict.text, best.text];
    if (codec === raw) {
      for (const [mode, full] of [['strict', strict], ['bestEffortTail', best]] as const) {
        const n = countOutcome(ctx, dir, mode, total, files, maxPayloadSize);
        const expected = full.ids === undefined ? full.text : `ok ${full.ids.length}`;
        if (n !== expected) fail(where, `entryCountSync(${mode}) says ${n}, replay says ${expected}`);
      }
    }
    if (best.ids !== undefined && best.ids.length > 0) {
      const ids = best.ids;
      const from = ids[0] + Math.floor(fromPick * (ids.length + 1));
      const partial = replayOutcome(ctx, dir, codec, 'bestEffortTail', from, total, files, largest, maxPayloadSize);
      const want = ids.filter((id) => id >= from);
      if (partial.ids === undefined || partial.ids.join() !== want.join()) {
        fail(where, `replay from ${from} gave ${partial.text} (${partial.ids?.join()}), the full replay has ${want.join()}`);
      }
      parts.push(partial.text);
    }
    perChecksummer.push(parts.join('\n'));
  }
  agree(ctx, 'log readings', perChecksummer);
}
