// The fuzz loop: input i of seed s is generated from its own PRNG (so any failure replays alone
// with `--seed s --only i`), is one WAL segment file or whole log, and is read by every decoder
// with every checksummer (wal-target.ts). Alongside, in fixed proportions: record logs,
// checkpoint directories, direct native CRC cases, and segments read through FsDirectory on
// each file backend (real files, the native pread path).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeBinding } from '../../binding';
import type { Checksummer, FileBackend } from '../../lib/backend/backend';
import { Prng } from '../../lib/directory/prng';
import { WAL_DIR } from '../../lib/wal/format';
import { fuzzCheckpoints } from './checkpoint-target';
import { Meter } from './meter';
import { fuzzNativeCrc } from './native-crc';
import { fuzzRecordLog } from './recordlog-target';
import { logInput, segmentInput } from './wal-inputs';
import { FuzzFailure, fuzzLog, fuzzSegment, newStats, type Stats, type WalContext } from './wal-target';

export interface FuzzOptions {
  seed: number;
  /** WAL inputs (segment files and logs); the other targets run alongside in proportion. */
  inputs: number;
  /** Run only this input index (replay of a failure). */
  only?: number;
  /** Checksummers whose outcomes must agree (the native backend's and the TypeScript one). */
  checksummers: readonly Checksummer[];
  /** The raw binding, for the direct CRC cases. */
  native?: NativeBinding;
  /** File backends for the FsDirectory cases (a segment input goes through them with probability fsRate). */
  fsBackends?: readonly FileBackend[];
  fsRate?: number;
  /** Probability that a segment input is large (frames of 1..3 MiB: buffer growth). */
  largeRate?: number;
  onProgress?: (done: number, stats: Stats) => void;
}

function inputSeed(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.imul(h, 0x27d4eb2d) >>> 0;
}

export function runFuzz(options: FuzzOptions): Stats {
  const stats = newStats();
  const backends = options.fsBackends ?? [];
  const root = backends.length > 0 ? fs.mkdtempSync(path.join(os.tmpdir(), 'durability-fuzz-')) : undefined;
  if (root !== undefined) fs.mkdirSync(path.join(root, WAL_DIR));
  const ctx: WalContext = {
    checksummers: options.checksummers, meter: new Meter(), stats, fs: root === undefined ? undefined : { root, backends },
  };
  const fsRate = options.fsRate ?? 0.01;
  const largeRate = options.largeRate ?? 0.0005;
  // Decoders throw on most inputs; capturing a stack for each costs more than the decode. A failing
  // input is replayed with stacks on, for the report.
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const first = options.only ?? 0;
    const end = options.only === undefined ? options.inputs : options.only + 1;
    for (let i = first; i < end; i++) {
      try {
        runOne(ctx, new Prng(inputSeed(options.seed, i)), options.native, fsRate, largeRate);
      } catch {
        Error.stackTraceLimit = stackLimit;
        let text = 'failed once, passed when replayed';
        try {
          runOne(ctx, new Prng(inputSeed(options.seed, i)), options.native, fsRate, largeRate);
        } catch (err) {
          text = err instanceof FuzzFailure ? err.message : `unexpected ${err instanceof Error ? err.stack : String(err)}`;
        }
        throw new FuzzFailure(`fuzz input ${i} of seed ${options.seed} (replay: npm run fuzz -- --seed ${options.seed} --only ${i}):\n${text}`);
      }
      stats.inputs++;
      if (options.onProgress && (i + 1) % 10_000 === 0) options.onProgress(i + 1, stats);
    }
  } finally {
    Error.stackTraceLimit = stackLimit;
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  }
  return stats;
}

function runOne(ctx: WalContext, rng: Prng, native: NativeBinding | undefined, fsRate: number, largeRate: number): void {
  if (rng.chance(0.85)) {
    const input = segmentInput(rng, rng.chance(largeRate));
    fuzzSegment(ctx, rng, input, rng.chance(fsRate));
  } else {
    fuzzLog(ctx, rng, logInput(rng));
  }
  if (rng.chance(0.15)) fuzzRecordLog(ctx, rng, rng.chance(largeRate));
  if (rng.chance(0.1)) fuzzCheckpoints(ctx, rng);
  if (native !== undefined && rng.chance(0.1)) fuzzNativeCrc(native, rng, ctx.stats);
}

/** Outcome counts, most frequent first, for the end-of-run summary. */
export function summarize(stats: Stats): string {
  const lines = [...stats.outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${String(v).padStart(9)}  ${k}`);
  return [
    `${stats.inputs} WAL inputs, ${stats.decodes} metered decodes`,
    `largest read buffer ${stats.largestBuffer} bytes; max work ratio ${stats.maxWorkRatio.toFixed(2)} units per (byte + 1024)`,
    ...lines,
  ].join('\n');
}
