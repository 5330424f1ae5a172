// Checkpoint files (lib/checkpoint) under the fuzzer. readCheckpointFile reports damage as a
// value, never by throwing; what it accepts must re-encode to the file byte for byte. Whole
// checkpoint directories go through loadLatestCheckpoint, which may only skip, return, or throw
// CorruptionError (a valid file it cannot use) / DecodeError (the codec refused verified bytes).

import { crc32c } from '../../lib/crc32c';
import { jsChecksummer } from '../../lib/directory/js-checksum';
import { MemoryDirectory } from '../../lib/directory/memory';
import type { Prng } from '../../lib/directory/prng';
import { CorruptionError, DecodeError } from '../../lib/errors';
import { CHECKPOINT_HEADER_SIZE, MAX_CHECKPOINT_PAYLOAD, encodeCheckpoint } from '../../lib/checkpoint/format';
import { CHECKPOINT_DIR, checkpointFileName, loadLatestCheckpoint, readCheckpointFile } from '../../lib/checkpoint/store';
import { json, raw, type Codec } from '../../lib/wal/codec';
import { maskCrc, writeU32, writeU64 } from '../../lib/wal/format';
import { meteredDirectory } from './meter';
import { blindMutation, randomBytes, randomLength } from './mutate';
import { agree, checkError, count, fail, FuzzFailure, reasonKey, recordWork, workLimit, type WalContext } from './wal-target';

function resealed(b: Uint8Array): Uint8Array {
  if (b.length >= CHECKPOINT_HEADER_SIZE) {
    const crc = crc32c(b.subarray(CHECKPOINT_HEADER_SIZE), crc32c(b.subarray(0, 24), 0));
    writeU32(b, 24, maskCrc(crc));
  }
  return b;
}

function checkpointBytes(rng: Prng, lastEntryId: number): Uint8Array {
  const payload = rng.chance(0.5) ? randomBytes(rng, randomLength(rng, 300)) : Buffer.from(JSON.stringify({ n: rng.int(1000), s: 'x'.repeat(rng.int(40)) }));
  const good = encodeCheckpoint(lastEntryId, payload, jsChecksummer);
  if (rng.chance(0.15)) return good;
  const b = good.slice();
  switch (rng.int(5)) {
    case 0: // a payload length that lies, under a valid CRC or not
      writeU64(b, 16, rng.pick([0, MAX_CHECKPOINT_PAYLOAD, MAX_CHECKPOINT_PAYLOAD + 1, Number.MAX_SAFE_INTEGER, payload.length + 1, rng.nextUint32()]));
      if (rng.chance(0.3)) writeU32(b, 20, 0xffff_ffff);
      return rng.chance(0.5) ? resealed(b) : b;
    case 1: // version, flags, last entry id: bytes a writer made on purpose, with odd values
      if (rng.chance(0.4)) b[4] = rng.pick([0, 2]);
      else if (rng.chance(0.5)) b[6] = 1;
      else writeU32(b, 12, 0xffff_ffff);
      return resealed(b);
    case 2:
      return resealed(blindMutation(rng, b, () => good).slice());
    default:
      return blindMutation(rng, b, () => encodeCheckpoint(lastEntryId + 1, randomBytes(rng, rng.int(50)), jsChecksummer));
  }
}

function readOutcome(ctx: WalContext, dir: MemoryDirectory, path: string, bytes: Uint8Array, expected: number | undefined): string {
  const where = `readCheckpointFile[${dir.checksum.name} ${path}]`;
  ctx.meter.reset(workLimit(bytes.length));
  let out: string;
  try {
    const r = readCheckpointFile(meteredDirectory(dir, ctx.meter), path, expected);
    if (r.ok) {
      const enc = encodeCheckpoint(r.lastEntryId, r.payload, dir.checksum);
      if (enc.length !== bytes.length || enc.some((v, i) => v !== bytes[i])) fail(where, 'accepted checkpoint does not re-encode to the file bytes');
      if (expected !== undefined && r.lastEntryId !== expected) fail(where, `accepted last entry ${r.lastEntryId} for a file named ${expected}`);
      out = `ok ${r.lastEntryId} ${r.payload.length}`;
      count(ctx.stats, 'checkpoint: ok');
    } else {
      if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset > bytes.length) fail(where, `damage offset ${r.offset} outside a ${bytes.length}-byte file`);
      out = `${r.damaged ? 'damaged' : 'unsupported'} @${r.offset} ${r.reason}`;
      count(ctx.stats, `checkpoint: ${r.damaged ? 'damaged' : 'unsupported'}: ${r.reason.replace(/\d+/g, 'N').slice(0, 50)}`);
    }
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    fail(where, `threw instead of reporting damage: ${text}`);
  }
  const bound = Math.max(CHECKPOINT_HEADER_SIZE, bytes.length);
  if (ctx.meter.largestBuffer > bound) fail(where, `read into a ${ctx.meter.largestBuffer}-byte buffer for a ${bytes.length}-byte file`);
  recordWork(ctx.stats, ctx.meter, bytes.length);
  return out;
}

function loadOutcome(ctx: WalContext, dir: MemoryDirectory, codec: Codec<unknown>, total: number, files: number): string {
  const where = `loadLatestCheckpoint[${dir.checksum.name} ${codec.name}]`;
  ctx.meter.reset(workLimit(total, files));
  try {
    const r = loadLatestCheckpoint(meteredDirectory(dir, ctx.meter), { codec });
    count(ctx.stats, `checkpoint load: ${r.checkpoint === undefined ? 'none' : 'loaded'}`);
    return `ok ${r.checkpoint?.path} ${r.skipped.map((s) => `${s.path}@${s.offset}`).join(',')}`;
  } catch (err) {
    const e = checkError(err, [CorruptionError, DecodeError], where);
    count(ctx.stats, `checkpoint load: ${reasonKey(e)}`);
    return `${e.name} ${e.message}`;
  } finally {
    recordWork(ctx.stats, ctx.meter, total);
  }
}

export function fuzzCheckpoints(ctx: WalContext, rng: Prng): void {
  const n = 1 + rng.int(3);
  const files: { name: string; bytes: Uint8Array; id: number; expected: number | undefined }[] = [];
  for (let i = 0; i < n; i++) {
    const id = rng.chance(0.8) ? 10 * (i + 1) : rng.int(100);
    const bytes = rng.chance(0.05) ? randomBytes(rng, randomLength(rng)) : checkpointBytes(rng, rng.chance(0.9) ? id : id + 1);
    files.push({ name: rng.chance(0.9) ? checkpointFileName(id) : `${id}.ckpt`, bytes, id, expected: rng.chance(0.5) ? id : undefined });
  }
  const codec = rng.chance(0.5) ? raw : json;
  const total = files.reduce((s, f) => s + f.bytes.length, 0);
  const per: string[] = [];
  for (const checksum of ctx.checksummers) {
    const dir = new MemoryDirectory({ checksum });
    dir.mkdirp(CHECKPOINT_DIR);
    const parts: string[] = [];
    for (const f of files) {
      const path = `${CHECKPOINT_DIR}/${f.name}`;
      if (dir.exists(path)) dir.delete(path);
      const w = dir.create(path);
      w.write(f.bytes);
      w.close();
      parts.push(readOutcome(ctx, dir, path, f.bytes, f.expected));
    }
    parts.push(loadOutcome(ctx, dir, codec, total, n));
    per.push(parts.join('\n'));
  }
  agree(ctx, 'checkpoint readings', per);
}
