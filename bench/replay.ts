// Replay throughput of WalReader over real files (FsDirectory, page cache warm), native vs
// TypeScript checksum side by side. Raw codec, fixed-size payloads.
//
//   npx tsc -p . && node dist/bench/replay.js [entries=1000000] [payloadBytes=100]

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw, type Codec } from '../lib/wal/codec';
import {
  DEFAULT_SYNC_WINDOW, FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR, encodeSegmentHeader, sealFrames, segmentPath, writeFrameUnsealed,
} from '../lib/wal/format';
import { WalReader } from '../lib/wal/reader';

const lengthOnly: Codec<number> = { name: 'length', encode: () => new Uint8Array(0), decode: (b) => b.length };

const SEGMENT_BYTES = 64 * 1024 * 1024;
const ROUNDS = 3;

/** Writes `entries` frames into segments of ~64 MiB, sealed in batches as the writer does. */
function writeLog(dir: FsDirectory, entries: number, payloadBytes: number): number {
  dir.mkdirp(WAL_DIR);
  const payload = new Uint8Array(payloadBytes).fill(0x5a);
  const frame = FRAME_HEADER_SIZE + payloadBytes;
  const perSegment = Math.max(1, Math.floor((SEGMENT_BYTES - SEGMENT_HEADER_SIZE) / frame));
  const perChunk = Math.max(1, Math.floor((1 << 20) / frame));
  const chunk = new Uint8Array(perChunk * frame);
  const offsets = new Uint32Array(perChunk);
  let id = 1;
  let segmentId = 1;
  let bytes = 0;
  while (id <= entries) {
    const { bytes: head, header } = encodeSegmentHeader({ segmentId, firstEntryId: id, syncWindow: DEFAULT_SYNC_WINDOW }, dir.checksum);
    const f = dir.create(segmentPath(segmentId));
    f.write(head);
    const last = Math.min(entries, id + perSegment - 1);
    while (id <= last) {
      const n = Math.min(perChunk, last - id + 1);
      let off = 0;
      for (let i = 0; i < n; i++) {
        offsets[i] = off;
        off = writeFrameUnsealed(chunk, off, id++, payload);
      }
      sealFrames(chunk, offsets, n, header.salt, dir.checksum);
      f.write(chunk.subarray(0, off));
    }
    bytes += f.offset;
    f.sync();
    f.close();
    segmentId++;
  }
  dir.syncDir(WAL_DIR);
  return bytes;
}

function best(fn: () => void): number {
  let ms = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    fn();
    ms = Math.min(ms, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return ms;
}

async function bestAsync(fn: () => Promise<void>): Promise<number> {
  let ms = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    await fn();
    ms = Math.min(ms, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return ms;
}

async function measure(backend: FileBackend, root: string, entries: number): Promise<Record<string, number>> {
  const dir = new FsDirectory(root, { backend });
  const reader = new WalReader(dir, { codec: raw });
  const lengths = new WalReader(dir, { codec: lengthOnly });
  const check = (n: number): void => {
    if (n !== entries) throw new Error(`replayed ${n} entries, expected ${entries}`);
  };
  const rate = (ms: number): number => entries / (ms / 1000);
  return {
    'entryCountSync (verify only)': rate(best(() => check(reader.entryCountSync()))),
    'replaySync (decode + collect)': rate(best(() => check(reader.replaySync().length))),
    'records() (async stream)': rate(await bestAsync(async () => {
      let n = 0;
      for await (const rec of reader.records()) n += rec.entryId > 0 ? 1 : 0;
      check(n);
    })),
    // The same stream with a codec that copies nothing: what the reader itself costs.
    'records(), length-only codec': rate(await bestAsync(async () => {
      let n = 0;
      for await (const rec of lengths.records()) n += rec.payload > 0 ? 1 : 0;
      check(n);
    })),
  };
}

export interface ReplayResult {
  readonly entries: number;
  readonly payloadBytes: number;
  readonly logBytes: number;
  /** Entries per second per mode, keyed by backend name. */
  readonly perSecond: Record<string, Record<string, number>>;
}

/** Writes a log of `entries` raw payloads in a fresh temp dir and replays it on every backend. */
export async function measureReplay(entries = 1_000_000, payloadBytes = 100): Promise<ReplayResult & { root: string }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'durability-replay-'));
  try {
    const logBytes = writeLog(new FsDirectory(root), entries, payloadBytes);
    const perSecond: Record<string, Record<string, number>> = {};
    for (const b of availableBackends()) perSecond[b.name] = await measure(b, root, entries);
    return { entries, payloadBytes, logBytes, perSecond, root };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const entries = Number(process.argv[2] ?? 1_000_000);
  const payloadBytes = Number(process.argv[3] ?? 100);
  const { logBytes, perSecond, root } = await measureReplay(entries, payloadBytes);
  console.log(`replay: ${entries} entries x ${payloadBytes} B raw payload, ${(logBytes / 2 ** 20).toFixed(1)} MiB in ${root} (page cache warm), best of ${ROUNDS}`);
  const backends = Object.keys(perSecond);
  const results = backends.map((b) => perSecond[b]);
  const names = Object.keys(results[0]);
  const width = Math.max(...names.map((n) => n.length));
  console.log(`${''.padEnd(width)}  ${backends.map((b) => `${b} (entries/s)`.padStart(20)).join('')}`);
  for (const n of names) {
    console.log(`${n.padEnd(width)}  ${results.map((r) => `${(r[n] / 1e6).toFixed(2)} M`.padStart(20)).join('')}`);
  }
  console.log(`reproduce: npx tsc -p . && node dist/bench/replay.js ${entries} ${payloadBytes}`);
}

if (require.main === module) void main();
