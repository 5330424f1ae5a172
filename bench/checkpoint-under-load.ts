// Durable appends while the service checkpoints: the closed loop of durable.ts (256 producers,
// raw codec, default options) on a log opened by recover(), with checkpoints of a state of
// `stateBytes` bytes, each truncating the segments the older of the two retained checkpoints
// covers and pruning the oldest checkpoint. What a service sees of its checkpoints: appends/s,
// the tail of the append latency, and the event loop's longest stall (monitorEventLoopDelay).
// Not part of the suite; bench/RESULTS.md reads its runs.
//
// One cell per process:
//   npx tsc -p . && node dist/bench/checkpoint-under-load.js <native|ts> [producers=256] [durationMs=4000] [stateBytes=8388608]
//       [--every-mib K] [--truncation delete|recycle]
// A checkpoint every 400 ms by default, or one every K MiB of log appended (--every-mib). The
// truncation deletes the segments (--truncation delete: recycleCapacity 0) or recycles as many
// as the writer has room for (--truncation recycle: the default recycleCapacity) and deletes the rest. With
// --every-mib the log is first filled (buffered appends, K MiB at a time, a checkpoint after
// each) until a checkpoint has truncated, so the window starts in the steady state: for
// recycling, recycle files waiting in the writer's pool. Prints one JSON line.
//
// Deletion against recycling, cells alternating, each in a process of its own:
//   npx tsc -p . && node dist/bench/checkpoint-under-load.js compare [--backend native] [--producers 256]
//       [--seconds 5] [--every-mib 128] [--state-bytes 65536] [--rounds 3]
// Prints each cell's line as it ends, then a table of both (appends/s, p50, p99, max) with the
// command that reproduces it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { recover, type RecoveredLog } from '../lib/recover';
import { raw } from '../lib/wal/codec';
import { FRAME_HEADER_SIZE } from '../lib/wal/format';
import { DEFAULT_RECYCLE_CAPACITY } from '../lib/wal/options';
import { closedLoop, PAYLOAD_BYTES } from './durable';

const DEFAULT_STATE_BYTES = 8 * 1024 * 1024;
const CHECKPOINT_EVERY_MS = 400;
const MIB = 1024 * 1024;
/** Log bytes an append adds: its frame (sync marks, a few per commit, not counted). */
const FRAME_BYTES = FRAME_HEADER_SIZE + PAYLOAD_BYTES;

type Truncation = 'delete' | 'recycle';

interface CellOptions {
  readonly backendName: string;
  readonly producers: number;
  readonly durationMs: number;
  readonly stateBytes: number;
  /** 0: a checkpoint every CHECKPOINT_EVERY_MS instead. */
  readonly everyMiB: number;
  readonly truncation: Truncation;
}

interface CheckpointTally {
  count: number;
  totalMs: number;
  truncated: number;
  recycled: number;
  /** Thresholds of --every-mib passed while the previous checkpoint still ran (not started). */
  skipped: number;
}

async function runCell(o: CellOptions): Promise<void> {
  const backend = o.backendName === 'native' ? nativeBackend() : o.backendName === 'ts' ? tsBackend() : undefined;
  if (backend === undefined) throw new Error(`unknown backend ${o.backendName}: native or ts`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-bench-checkpoint-'));
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);
  const state = new Uint8Array(o.stateBytes).fill(3);
  const log = await recover({
    dir: new FsDirectory(root, { backend }), codec: raw, stateCodec: raw, initial: state, apply: (s) => s,
    writer: o.truncation === 'delete' ? { recycleCapacity: 0 } : {},
  });
  const tally: CheckpointTally = { count: 0, totalMs: 0, truncated: 0, recycled: 0, skipped: 0 };
  let running: Promise<unknown> | undefined;
  const checkpoint = (): void => {
    if (running !== undefined) {
      tally.skipped++;
      return;
    }
    const started = process.hrtime.bigint();
    running = log.checkpoint(state).then((c) => {
      tally.count++;
      tally.totalMs += Number(process.hrtime.bigint() - started) / 1e6;
      tally.truncated += c.truncatedSegments;
      tally.recycled += c.recycledSegments;
    }).finally(() => {
      running = undefined;
    });
  };
  const everyAppends = Math.ceil((o.everyMiB * MIB) / FRAME_BYTES);
  if (o.everyMiB > 0) await fillToSteadyState(log, payload, everyAppends);
  const prefilled = { ...tally };
  const recycleFilesAtStart = o.truncation === 'delete' ? 0 : DEFAULT_RECYCLE_CAPACITY - log.writer.recycleRoom;
  let sinceCheckpoint = 0;
  const timer = o.everyMiB > 0 ? undefined : setInterval(checkpoint, CHECKPOINT_EVERY_MS);
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  try {
    const result = await closedLoop({
      mode: `recover() writer, raw codec, a checkpoint of ${o.stateBytes} B every ${o.everyMiB > 0 ? `${o.everyMiB} MiB of log` : `${CHECKPOINT_EVERY_MS} ms`}, truncation: ${o.truncation}`,
      append: async () => {
        await log.writer.appendDurable(payload);
        if (o.everyMiB > 0 && ++sinceCheckpoint >= everyAppends) {
          sinceCheckpoint = 0;
          checkpoint();
        }
      },
      close: async () => undefined,
    }, o.producers, o.durationMs, 500);
    stalls.disable();
    if (timer !== undefined) clearInterval(timer);
    await running;
    console.log(JSON.stringify({
      backend: o.backendName, truncation: o.truncation, producers: result.producers, perSecond: Math.round(result.perSecond),
      p50Us: result.p50Us, p99Us: result.p99Us, p999Us: result.p999Us, maxUs: Math.round(result.maxUs),
      eventLoopMaxStallMs: +(stalls.max / 1e6).toFixed(1), eventLoopP99StallMs: +(stalls.percentile(99) / 1e6).toFixed(2),
      everyMiB: o.everyMiB, stateBytes: o.stateBytes, recycleFilesAtStart,
      checkpoints: tally.count - prefilled.count, checkpointMeanMs: +((tally.totalMs - prefilled.totalMs) / Math.max(1, tally.count - prefilled.count)).toFixed(1),
      checkpointsSkipped: tally.skipped, segmentsTruncated: tally.truncated - prefilled.truncated, segmentsRecycled: tally.recycled - prefilled.recycled,
    }));
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await log.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Buffered appends, `everyAppends` at a time with a checkpoint after each, until a checkpoint
 * truncated the log (the third, with two retained): the window then starts with the log, its
 * checkpoints and the writer's recycle pool as they stay from then on.
 */
async function fillToSteadyState(log: RecoveredLog<Uint8Array, Uint8Array>, payload: Uint8Array, everyAppends: number): Promise<void> {
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < everyAppends; i++) log.writer.append(payload);
    await log.writer.sync();
    if ((await log.checkpoint(new Uint8Array(0))).truncatedSegments > 0) return;
  }
}

interface CellLine {
  truncation: Truncation;
  perSecond: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  checkpointMeanMs: number;
}

function compare(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string', default: 'native' },
      producers: { type: 'string', default: '256' },
      seconds: { type: 'string', default: '5' },
      'every-mib': { type: 'string', default: '128' },
      'state-bytes': { type: 'string', default: '65536' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const rounds = Number(values.rounds);
  const lines: CellLine[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternating, and the first cell of each round taking turns, so a drift of the machine over
    // the run (page cache, the disk's own state) falls on both alike.
    const order: Truncation[] = round % 2 === 0 ? ['delete', 'recycle'] : ['recycle', 'delete'];
    for (const truncation of order) {
      const args = [__filename, values.backend!, values.producers!, String(Number(values.seconds) * 1000), values['state-bytes']!, '--every-mib', values['every-mib']!, '--truncation', truncation];
      const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (child.status !== 0) throw new Error(`cell ${truncation} failed (exit ${String(child.status)}): ${child.stdout}`);
      const line = child.stdout.trim().split('\n').pop()!;
      console.log(line);
      lines.push(JSON.parse(line) as CellLine);
    }
  }
  const ms = (us: number): string => (us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`);
  console.log(`\n${values.backend}, ${values.producers} producers, ${values.seconds} s a cell, a checkpoint (${values['state-bytes']} B state) every ${values['every-mib']} MiB of log, ${rounds} rounds`);
  console.log('| truncation | appends/s | p50 | p99 | max | checkpoint mean |');
  console.log('|---|---|---|---|---|---|');
  for (const truncation of ['delete', 'recycle'] as const) {
    const cells = lines.filter((l) => l.truncation === truncation);
    const list = (f: (l: CellLine) => string): string => cells.map(f).join(', ');
    const label = truncation === 'delete' ? 'delete (recycleCapacity 0)' : `recycle (the default, recycleCapacity ${DEFAULT_RECYCLE_CAPACITY})`;
    console.log(`| ${label} | ${list((l) => `${Math.round(l.perSecond / 1000)} k`)} | ${list((l) => ms(l.p50Us))} | ${list((l) => ms(l.p99Us))} | ${list((l) => ms(l.maxUs))} | ${list((l) => `${l.checkpointMeanMs} ms`)} |`);
  }
  console.log(`\nreproduce: npx tsc -p . && node dist/bench/checkpoint-under-load.js compare --backend ${values.backend} --producers ${values.producers} --seconds ${values.seconds} --every-mib ${values['every-mib']} --state-bytes ${values['state-bytes']} --rounds ${rounds}`);
}

function cell(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'every-mib': { type: 'string', default: '0' }, truncation: { type: 'string', default: 'recycle' } },
  });
  const [backendName, producersArg, durationArg, stateArg] = positionals;
  const truncation = values.truncation;
  if (truncation !== 'delete' && truncation !== 'recycle') throw new Error(`--truncation delete|recycle, not ${String(truncation)}`);
  return runCell({
    backendName: backendName ?? '', producers: Number(producersArg ?? 256), durationMs: Number(durationArg ?? 4000),
    stateBytes: Number(stateArg ?? DEFAULT_STATE_BYTES), everyMiB: Number(values['every-mib']), truncation,
  });
}

const argv = process.argv.slice(2);
if (argv[0] === 'compare') compare(argv.slice(1));
else void cell(argv);
