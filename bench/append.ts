// Buffered append throughput of WalWriter on real files (FsDirectory), native vs TypeScript
// backend side by side in one run: 100 B and 1 KiB payloads, raw and json codecs.
//
//   npx tsc -p . && node dist/bench/append.js [mebibytesPerRun=96] [runs=5]
//
// What is timed: append() of every entry plus the final flushSync(), under the 'manual' policy
// (the 1 MiB frame buffer is written whenever it fills: one crc32cRanges call and one pwrite
// each). The sync window and segment size are set above the volume written, so no fdatasync
// falls inside the timed region: this measures the CPU path (encode, frame, seal, write to the
// page cache), not the disk. Opening, closing (fdatasync) and deleting are outside it.
// Runs alternate between backends so drift hits both; the median run is reported.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { json, raw, type Codec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';

const MIB = 1024 * 1024;

interface Case {
  readonly codec: 'raw' | 'json';
  readonly size: number;
  readonly entries: readonly unknown[];
  /** Share of mebibytesPerRun this case writes (json is ~10x slower: less volume keeps the run short). */
  readonly volume: number;
}

function rawEntries(size: number): Uint8Array[] {
  return Array.from({ length: 64 }, (_, k) => new Uint8Array(size).map((_, i) => (i * 31 + k) & 0xff));
}

/** Objects whose JSON text is exactly `size` bytes. */
function jsonEntries(size: number): object[] {
  return Array.from({ length: 1024 }, (_, k) => {
    const base = { id: 1_000_000 + k, op: 'set', key: `user:${k.toString(36).padStart(6, '0')}`, value: '' };
    const fill = size - JSON.stringify(base).length;
    return { ...base, value: 'v'.repeat(Math.max(0, fill)) };
  });
}

const cases: Case[] = [
  { codec: 'raw', size: 100, entries: rawEntries(100), volume: 1 },
  { codec: 'raw', size: 1024, entries: rawEntries(1024), volume: 1 },
  { codec: 'json', size: 100, entries: jsonEntries(100), volume: 0.1 },
  { codec: 'json', size: 1024, entries: jsonEntries(1024), volume: 0.25 },
];

/** One timed run writing `mib` MiB of frames; returns entries per second. */
function run(backend: FileBackend, c: Case, mib: number): number {
  const root = mkdtempSync(path.join(os.tmpdir(), 'durability-bench-append-'));
  try {
    const dir = new FsDirectory(root, { backend });
    const codec = (c.codec === 'raw' ? raw : json) as Codec<unknown>;
    const w = WalWriter.create(dir, {
      codec, flushPolicy: 'manual', syncWindow: 0xffffffff, maxSegmentSize: 8 * 1024 * MIB,
    });
    const count = Math.floor((mib * MIB) / (16 + c.size));
    const entries = c.entries;
    const mask = entries.length - 1;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) w.append(entries[i & mask]);
    w.flushSync();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    w.closeSync();
    return count / seconds;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (perSecond: number): string => (perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M/s` : `${(perSecond / 1e3).toFixed(0)} k/s`);

export interface AppendResult {
  readonly codec: 'raw' | 'json';
  readonly payloadBytes: number;
  /** Median entries per second, keyed by backend name. */
  readonly perSecond: Record<string, number>;
}

/** Measures every case (native and ts side by side); stops early, with the cases done, once `budgetMs` has passed. */
export function measureAppend(mebibytes = 96, runs = 5, budgetMs = 55_000): AppendResult[] {
  const deadline = Date.now() + budgetMs;
  const backends = availableBackends();
  const out: AppendResult[] = [];
  for (const c of cases) {
    // Warm-up: one short run per backend, so the first timed run is not the JIT's.
    for (const b of backends) run(b, c, Math.min(16, mebibytes) * c.volume);
    const results = new Map<FileBackend, number[]>(backends.map((b) => [b, []]));
    for (let r = 0; r < runs && Date.now() < deadline; r++) for (const b of backends) results.get(b)!.push(run(b, c, mebibytes * c.volume));
    out.push({ codec: c.codec, payloadBytes: c.size, perSecond: Object.fromEntries(backends.map((b) => [b.name, median(results.get(b)!)])) });
    if (Date.now() >= deadline) break;
  }
  return out;
}

function main(): void {
  const mebibytes = Number(process.argv[2] ?? 96);
  const runs = Number(process.argv[3] ?? 5);
  const backends = availableBackends();
  console.log(`WalWriter buffered append, FsDirectory in ${os.tmpdir()}, ${mebibytes} MiB of frames per raw run (json: less), median of ${runs} runs`);
  console.log(`backends: ${backends.map((b) => b.name).join(', ')}; node ${process.version}; ${os.cpus().length} cpus`);
  const header = ['codec', 'payload', ...backends.map((b) => b.name), ...(backends.length > 1 ? ['native/ts'] : []), 'MB/s (first)'];
  const rows: string[][] = [];
  for (const r of measureAppend(mebibytes, runs)) {
    const med = backends.map((b) => r.perSecond[b.name]);
    const row = [r.codec, `${r.payloadBytes} B`, ...med.map(fmt)];
    if (backends.length > 1) row.push(`${(med[0] / med[1]).toFixed(2)}x`);
    row.push(((med[0] * (16 + r.payloadBytes)) / 1e6).toFixed(0));
    rows.push(row);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((x, i) => x.padEnd(widths[i])).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log('reproduce: npx tsc -p . && node dist/bench/append.js [mebibytesPerRun] [runs]');
}

if (require.main === module) main();
