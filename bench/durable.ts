// Durable appends under N concurrent producers, closed loop: each producer awaits its durable
// append and issues the next at once. One target and one producer count per process, so stores
// never share a heap, a thread pool or a page-cache warm-up with each other.
//
//   npx tsc -p . && node dist/bench/durable.js <target> <producers> [durationMs=2000] [warmupMs=500]
//
// Targets: native and ts (WalWriter on FsDirectory with that backend, raw codec), native-json and
// ts-json (the same with the json codec), naive (bench/naive.ts), and the peers of bench/peers
// (lmdb, classic-level, better-sqlite3). Prints one JSON line.
// Throughput counts appends completed inside the measured window (it opens after the warm-up,
// once every producer has completed one append); latency is issue to
// completion of each of those, with the issue time taken as the previous completion of the same
// producer (one process.hrtime.bigint() per append).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { json, raw, type Codec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { NaiveLog } from './naive';
import { openPeer, PEER_TARGETS } from './peers/targets';

/** Payload of every durable append: 100 bytes, a 116-byte frame in the WAL. */
export const PAYLOAD_BYTES = 100;

export interface Target {
  /** One durable append for `producer`; resolves once it is on stable storage. */
  append(producer: number): Promise<unknown>;
  close(): Promise<void>;
  /** How the target was driven (API and settings), for the results. */
  readonly mode: string;
  /** Extra counters (fdatasync rounds, ...), read after the run. */
  counters?(): Record<string, number>;
}

/**
 * Latency histogram: 1 µs buckets up to 65.5 ms, then 1 ms buckets up to 65.5 s (the last one
 * collects anything slower). Fixed memory whatever the rate.
 */
export class Histogram {
  private readonly fine = new Float64Array(1 << 16);
  private readonly coarse = new Float64Array(1 << 16);
  count = 0;
  private sumNs = 0;
  private maxNs = 0;

  record(ns: number): void {
    const us = Math.floor(ns / 1000);
    if (us < 65536) this.fine[us]++;
    else this.coarse[Math.min(65535, Math.floor(us / 1000))]++;
    this.count++;
    this.sumNs += ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** The q-quantile in microseconds (bucket midpoint). */
  quantileUs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i];
      if (seen >= rank) return i + 0.5;
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i];
      if (seen >= rank) return i * 1000 + 500;
    }
    return this.maxNs / 1000;
  }

  summary(): LatencySummary {
    return {
      p50Us: this.quantileUs(0.5),
      p99Us: this.quantileUs(0.99),
      p999Us: this.quantileUs(0.999),
      meanUs: this.count === 0 ? NaN : this.sumNs / this.count / 1000,
      maxUs: this.maxNs / 1000,
    };
  }
}

export interface LatencySummary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly meanUs: number;
  readonly maxUs: number;
}

export interface DurableResult extends LatencySummary {
  readonly target: string;
  readonly mode: string;
  readonly producers: number;
  readonly seconds: number;
  readonly appends: number;
  readonly perSecond: number;
  /** Process CPU time (all threads) over wall time in the window, in percent of one core. */
  readonly cpuPercent: number;
  readonly counters: Record<string, number>;
}

const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

/** Runs `producers` closed-loop producers: warm-up, then a measured window of `durationMs`. */
export async function closedLoop(target: Target, producers: number, durationMs: number, warmupMs: number): Promise<Omit<DurableResult, 'target'>> {
  const hist = new Histogram();
  // The window opens after the warm-up and once every producer has completed an append: with a
  // slow store the first round (all producers queueing at once) can outlast the warm-up.
  let from = process.hrtime.bigint() + BigInt(Math.round(warmupMs * 1e6));
  const length = BigInt(Math.round(durationMs * 1e6));
  let to = from + length;
  let started = 0;
  const counters = (): Record<string, number> => target.counters?.() ?? {};
  let appends = 0;
  // Snapshots at the first completion inside the window and the first after it.
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let cpuTo: NodeJS.CpuUsage | undefined;
  let countersFrom: Record<string, number> = {};
  let countersTo: Record<string, number> | undefined;
  let wallFrom = 0n;
  let wallTo = 0n;
  const producer = async (p: number): Promise<void> => {
    let issued = process.hrtime.bigint();
    let first = true;
    while (issued < to) {
      await target.append(p);
      const done = process.hrtime.bigint();
      if (first) {
        first = false;
        if (++started === producers && done > from) {
          from = done;
          to = from + length;
        }
      }
      if (started < producers) {
        // still in the first round: nothing is measured yet
      } else if (done >= from && done < to) {
        if (cpuFrom === undefined) {
          cpuFrom = process.cpuUsage();
          countersFrom = counters();
          wallFrom = done;
        }
        appends++;
        hist.record(Number(done - issued));
      } else if (done >= to && cpuTo === undefined) {
        cpuTo = process.cpuUsage(cpuFrom);
        countersTo = counters();
        wallTo = done;
      }
      issued = done;
    }
  };
  await Promise.all(Array.from({ length: producers }, (_, p) => producer(p)));
  const cpu = cpuTo ?? process.cpuUsage(cpuFrom);
  const wallUs = Number((wallTo === 0n ? process.hrtime.bigint() : wallTo) - wallFrom) / 1000;
  const seconds = durationMs / 1000;
  return {
    mode: target.mode,
    producers,
    seconds,
    appends,
    perSecond: appends / seconds,
    ...hist.summary(),
    cpuPercent: cpuFrom !== undefined && wallUs > 0 ? (100 * (cpu.user + cpu.system)) / wallUs : 0,
    counters: diff(countersFrom, countersTo ?? counters()),
  };
}

/** The WAL targets: which backend, and raw bytes or a JSON object per entry. */
const WAL_TARGETS = {
  native: { backend: 'native', codec: 'raw' },
  ts: { backend: 'ts', codec: 'raw' },
  'native-json': { backend: 'native', codec: 'json' },
  'ts-json': { backend: 'ts', codec: 'json' },
} as const;
type WalTarget = keyof typeof WAL_TARGETS;

/** The json targets' entry: `{"id":<10 digits>,"body":"x…"}`, PAYLOAD_BYTES of JSON for ids below 9e9. */
const JSON_ID_BASE = 1_000_000_000;
const JSON_BODY = 'x'.repeat(PAYLOAD_BYTES - JSON.stringify({ id: JSON_ID_BASE, body: '' }).length);

/** The json targets' `i`-th entry: a fresh object per append, as a service would hand over. */
export function jsonEntry(i: number): { id: number; body: string } {
  return { id: JSON_ID_BASE + i, body: JSON_BODY };
}

/**
 * WalWriter on a real directory, default options, one PAYLOAD_BYTES entry per append: the raw
 * bytes, or (json) a fresh object per append whose JSON is as long. Counters: commits (onSync),
 * the backend's commitStats (process-wide; one target per process) and the event loop's active time.
 */
async function openWal(root: string, name: WalTarget, payload: Uint8Array): Promise<Target> {
  const spec = WAL_TARGETS[name];
  const backend = spec.backend === 'native' ? nativeBackend() : tsBackend();
  if (backend === undefined) throw new Error('the native core did not load');
  const dir = new FsDirectory(root, { backend });
  let commits = 0;
  // onSync fires once per group commit (and per sync); only counted, so the hook costs one call per batch.
  const observer = { onSync: () => void commits++ };
  let append: () => Promise<unknown>;
  let close: () => Promise<void>;
  if (spec.codec === 'raw') {
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, observer });
    append = () => w.appendDurable(payload);
    close = () => w.close();
  } else {
    const encoded = (json as Codec<unknown>).encode(jsonEntry(0));
    if (encoded.length !== PAYLOAD_BYTES) throw new Error(`json entry is ${encoded.length} bytes, not ${PAYLOAD_BYTES}`);
    const w = WalWriter.create<unknown>(dir, { codec: json, observer });
    let next = 0;
    append = () => w.appendDurable(jsonEntry(next++));
    close = () => w.close();
  }
  return {
    mode: `WalWriter.appendDurable, default options, ${spec.codec} codec`,
    append,
    close,
    counters: () => {
      const stats = backend.commitStats?.();
      return {
        commits,
        ...(stats === undefined ? {} : { backendCommits: stats.commits, writeNs: stats.writeNs, syncNs: stats.syncNs, wakeNs: stats.wakeNs }),
        elActiveMs: performance.eventLoopUtilization().active,
      };
    },
  };
}

async function openNaive(root: string, payload: Uint8Array): Promise<Target> {
  const log = await NaiveLog.open(path.join(root, 'naive.log'));
  return {
    mode: 'fs.promises write + datasync, one batch in flight',
    append: () => log.append(payload),
    close: () => log.close(),
    counters: () => ({ fdatasyncs: log.batches }),
  };
}

export const TARGETS = [...(Object.keys(WAL_TARGETS) as WalTarget[]), 'naive', ...PEER_TARGETS] as const;
export type TargetName = (typeof TARGETS)[number];

export async function openTarget(name: string, root: string, payload: Uint8Array): Promise<Target> {
  if (name in WAL_TARGETS) return openWal(root, name as WalTarget, payload);
  if (name === 'naive') return openNaive(root, payload);
  return openPeer(name, root, payload);
}

export function payloadBytes(): Uint8Array {
  return new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
}

/** Main-thread CPU profile of `run` (not of process start-up), written to `file` as a .cpuprofile. */
async function profiled<T>(file: string | undefined, run: () => Promise<T>): Promise<T> {
  if (file === undefined || file === '') return run();
  const session = new Session();
  session.connect();
  const post = (method: string): Promise<unknown> => new Promise((resolve, reject) => {
    session.post(method, (err, result) => (err ? reject(err) : resolve(result)));
  });
  await post('Profiler.enable');
  await post('Profiler.start');
  const result = await run();
  const { profile } = (await post('Profiler.stop')) as { profile: object };
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
  return result;
}

/**
 * One cell in a fresh temp dir. With DURABILITY_BENCH_CPUPROFILE=<file> the producers' run
 * (warm-up and window) is CPU-profiled into that file, through the in-process inspector.
 */
export async function measureDurable(name: string, producers: number, durationMs: number, warmupMs: number): Promise<DurableResult> {
  const root = mkdtempSync(path.join(os.tmpdir(), `durability-bench-${name}-`));
  try {
    const target = await openTarget(name, root, payloadBytes());
    const result = await profiled(process.env.DURABILITY_BENCH_CPUPROFILE, () => closedLoop(target, producers, durationMs, warmupMs));
    await target.close();
    return { target: name, ...result };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [name, producers, durationMs = '2000', warmupMs = '500'] = process.argv.slice(2);
  if (!(TARGETS as readonly string[]).includes(name) || !(Number(producers) >= 1)) {
    console.error(`usage: node dist/bench/durable.js <${TARGETS.join('|')}> <producers> [durationMs] [warmupMs]`);
    process.exit(2);
  }
  const result = await measureDurable(name, Number(producers), Number(durationMs), Number(warmupMs));
  console.log(JSON.stringify(result));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  });
}
