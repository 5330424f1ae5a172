// The benchmark suite (`npm run bench`): every figure of the project in one sequence, each
// measurement in a fresh child process, bounded in time (default ≤ 5 min, --quick ≤ 1 min, not
// counting the one-time peer install). Prints a markdown report, writes
// bench/results/<date>.json, bench/results/<date>.md and bench/results/concurrency.svg.
//
//   npm run bench [-- --quick] [-- --no-peers] [-- --record]
//
// --record also writes the report to bench/RESULTS.md (keeping its hand-written analysis).
// Internally the suite runs itself as `suite.js --child <append|replay|crc32c> <args>`.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { measureAppend, type AppendResult } from './append';
import { hotFunctions, type HotFunction } from './cpuprofile';
import { measureCrc32c, type Crc32cResult } from './crc32c';
import { PAYLOAD_BYTES, type DurableResult } from './durable';
import { CEILING_PRODUCERS, ceilingAt, fasterCeiling, heldTo, measuredFloor, type CeilingResult } from './ceiling';
import type { FdatasyncResult } from './fdatasync';
import { ensurePeers } from './peers/install';
import { peerVersion, PEER_TARGETS, repoRoot } from './peers/targets';
import { measureReplay, type ReplayResult } from './replay';
import { Scratch } from './scratch';
import { throughputChart, type Series } from './svg';

const PRODUCERS = [1, 16, 64, 256, 1024] as const;

/** The run's temp root (see scratch.ts); every child's temp dirs go under it. */
let scratch: Scratch | undefined;

interface Profile {
  readonly name: 'default' | 'quick';
  readonly budgetMs: number;
  readonly durableMs: number;
  readonly warmupMs: number;
  readonly fdatasyncMs: number;
  readonly appendMiB: number;
  readonly appendRuns: number;
  readonly appendBudgetMs: number;
  readonly replayEntries: number;
  /** Time replay usually takes with replayEntries (a guess, to decide whether it still fits). */
  readonly replayNeedMs: number;
  /** Length of each of bench/crc32c.ts's 7 timed rounds per cell, and the time the whole takes. */
  readonly crc32cRoundMs: number;
  readonly crc32cNeedMs: number;
  /** Window of each of bench/ceiling.ts's cells (6 with no I/O, then 6 disk shapes). */
  readonly ceilingMs: number;
  /** Measure the fdatasync loop after the durable cells too (the reference is the faster run). */
  readonly fdatasyncTwice: boolean;
}



const PROFILES: Record<Profile['name'], Profile> = {
  default: {
    name: 'default', budgetMs: 285_000, durableMs: 3000, warmupMs: 600, fdatasyncMs: 2000, fdatasyncTwice: true, ceilingMs: 1000,
    appendMiB: 48, appendRuns: 3, appendBudgetMs: 40_000, replayEntries: 300_000, replayNeedMs: 15_000, crc32cRoundMs: 80, crc32cNeedMs: 9_000,
  },
  quick: {
    name: 'quick', budgetMs: 44_000, durableMs: 300, warmupMs: 100, fdatasyncMs: 500, fdatasyncTwice: false, ceilingMs: 150,
    appendMiB: 4, appendRuns: 1, appendBudgetMs: 3_000, replayEntries: 50_000, replayNeedMs: 3_000, crc32cRoundMs: 20, crc32cNeedMs: 3_000,
  },
};

export interface Results {
  readonly date: string;
  readonly profile: Profile;
  readonly command: string;
  readonly machine: Record<string, string | number>;
  readonly peers: Record<string, string>;
  readonly fdatasync: FdatasyncResult[];
  readonly durable: DurableResult[];
  readonly append?: AppendResult[];
  readonly replay?: ReplayResult;
  readonly crc32c?: Crc32cResult;
  /** How fast any writer could go here on a fresh log (bench/ceiling.ts), measured before and after the durable cells. */
  readonly ceiling: CeilingResult[];
  /** Main-thread CPU profiles of cells behind missed targets: throughput under the profiler, hottest functions. */
  readonly profiles: Array<{ readonly cell: string; readonly perSecond: number; readonly cpuPercent: number; readonly hot: HotFunction[] }>;
  /** os.loadavg() at the start and end of the measurements: other work on the machine skews every figure. */
  readonly load: { readonly start: number[]; readonly end: number[] };
  readonly notes: string[];
  readonly seconds: number;
}

// ---- child processes ----------------------------------------------------------------------

/** Runs `node <script> ...args` and returns the JSON of its last stdout line; kills it at `timeoutMs`. */
function runChild<T>(script: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  // Tearing down (signal, EPIPE): the process ends once the running children have exited.
  if (scratch?.stopping === true) return new Promise<T>(() => undefined);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: scratch?.env(env) ?? env });
    scratch?.track(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      let parsed: unknown;
      try {
        parsed = JSON.parse(last);
      } catch {
        parsed = undefined;
      }
      if (code === 0 && parsed !== undefined) return resolve(parsed as T);
      const why = (parsed as { error?: string } | undefined)?.error ?? (signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}`);
      reject(new Error(`${why}${err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
    });
  });
}

async function childMain(kind: string, args: string[]): Promise<void> {
  let result: unknown;
  if (kind === 'append') result = measureAppend(Number(args[0]), Number(args[1]), Number(args[2]));
  else if (kind === 'replay') {
    const { root: _root, ...r } = await measureReplay(Number(args[0]), PAYLOAD_BYTES);
    result = r;
  } else if (kind === 'crc32c') result = measureCrc32c(Number(args[0]));
  else throw new Error(`unknown child ${kind}`);
  console.log(JSON.stringify(result));
}

// ---- machine --------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return '';
  }
}

function machine(root: string): Record<string, string | number> {
  const cpus = os.cpus();
  const tmp = os.tmpdir();
  const fs = sh('df', ['-PT', tmp]).split('\n')[1]?.split(/\s+/) ?? [];
  const commit = sh('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD']);
  const dirty = sh('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) !== '';
  let backend: string;
  try {
    backend = availableBackends().map((b) => b.name).join(', ');
  } catch (err) {
    backend = `unknown (${(err as Error).message})`;
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    logicalCpus: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${process.arch}`,
    node: process.version,
    tmpdir: tmp,
    filesystem: fs.length >= 2 ? `${fs[1]} on ${fs[0]}` : 'unknown',
    commit: commit === '' ? 'unknown' : `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    backends: backend,
  };
}

// ---- formatting -----------------------------------------------------------------------------

const rate = (n: number | undefined): string => {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)} k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
};
const ms = (us: number | undefined): string => {
  if (us === undefined || !Number.isFinite(us)) return '–';
  if (us >= 10_000) return `${(us / 1000).toFixed(0)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(1)} ms`;
  return `${us.toFixed(0)} µs`;
};
const gbps = (b: number | undefined): string => (b === undefined ? '–' : (b / 1e9).toFixed(2));
const times = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(digits)}×`);

const LABELS: Record<string, string> = {
  native: 'durability, native',
  ts: 'durability, pure TS',
  'native-json': 'durability, native, json',
  'ts-json': 'durability, pure TS, json',
  naive: 'naive reference',
  lmdb: 'lmdb',
  'classic-level': 'classic-level',
  'better-sqlite3': 'better-sqlite3',
};
const COLORS: Record<string, string> = {
  native: '#1f5fbf', ts: '#6fa8ff', 'native-json': '#123a75', 'ts-json': '#a9c9ff', naive: '#888888', lmdb: '#d9822b', 'classic-level': '#2e9e5b', 'better-sqlite3': '#b03a9e',
};

/** The physical reference: the faster of the fdatasync runs and shapes (the strict choice). */
function fdatasyncReference(runs: readonly FdatasyncResult[]): { perSecond: number; p50Us: number; shape: string } | undefined {
  let best: { perSecond: number; p50Us: number; shape: string } | undefined;
  for (const r of runs) {
    for (const shape of ['grow', 'overwrite'] as const) {
      const m = r[shape];
      if (best === undefined || m.perSecond > best.perSecond) best = { perSecond: m.perSecond, p50Us: m.p50Us, shape };
    }
  }
  return best;
}

/** The fastest p50 of the overwrite loop run through the native commit thread (fdatasync.ts offLoop). */
function offLoopFloor(runs: readonly FdatasyncResult[]): number | undefined {
  const p50s = runs.map((r) => r.offLoop?.p50Us).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return p50s.length === 0 ? undefined : Math.min(...p50s);
}

/** The WAL targets per codec: the json ones are checked against the same peer cells (which store raw bytes). */
const CODECS = [
  { codec: 'raw', native: 'native', ts: 'ts' },
  { codec: 'json', native: 'native-json', ts: 'ts-json' },
] as const;
const WAL_TARGETS = CODECS.flatMap((c) => [c.native, c.ts]);

interface TargetCheck {
  readonly codec: string;
  readonly what: string;
  readonly required: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
  /** The native cell to CPU-profile when the target is missed. */
  readonly profile: { readonly target: string; readonly producers: number };
}

/** Where issue 12 asks every caller to be in every round (entries per round ≥ 0.9 × producers). */
const ONE_ROUND_PRODUCERS = 256;

/** The ceiling a target at `producers` is held to (bench/ceiling.ts heldTo): one cohort where issue 12 asks every caller into every round. */
function ceilingFor(c: CeilingResult | undefined, codec: 'raw' | 'json', producers: number): number | undefined {
  const most = c === undefined ? undefined : ceilingAt(c, codec, producers);
  return most === undefined ? undefined : heldTo(most, producers === ONE_ROUND_PRODUCERS);
}

export function checks(r: Pick<Results, 'durable' | 'fdatasync' | 'ceiling'>): TargetCheck[] {
  const at = (t: string, n: number): DurableResult | undefined => r.durable.find((d) => d.target === t && d.producers === n);
  const ref = fdatasyncReference(r.fdatasync);
  const fastest = fasterCeiling(r.ceiling);
  const out: TargetCheck[] = [];
  type Cell = TargetCheck['profile'];
  const check = (codec: string, profile: Cell, what: string, required: string, measured: string | undefined, pass: boolean | undefined): void => {
    out.push({ codec, what, required, measured: measured ?? 'not measured', pass: measured === undefined ? undefined : pass, profile });
  };
  // A missed ratio of native over another store says beside it how far any writer could go here:
  // the ceiling (bench/ceiling.ts) over that store's own figure. Below the target, it is out of reach.
  const ratio = (codec: string, profile: Cell, what: string, min: number, a: number | undefined, b: number | undefined, producers = profile.producers): void => {
    const x = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
    const most = ceilingFor(fastest, codec === 'json' ? 'json' : 'raw', producers);
    const bound = x === undefined || x >= min || most === undefined || b === undefined ? undefined : most / b;
    const which = producers === ONE_ROUND_PRODUCERS ? 'on a fresh log, every caller in every round' : 'on a fresh log';
    const note = bound === undefined ? '' : `; the ceiling ${which}: ${times(bound)}${bound < min ? ', out of reach in this run' : ''}`;
    check(codec, profile, what, `≥ ${min}×`, x === undefined ? undefined : `${times(x)}${note}`, x !== undefined && x >= min);
  };
  for (const { codec, native, ts } of CODECS) {
    const single = { target: native, producers: 1 };
    const many = { target: native, producers: 256 };
    const n256 = at(native, 256);
    const one = at(native, 1);
    ratio(codec, many, '256 producers: native ÷ lmdb durable put', 2.5, n256?.perSecond, at('lmdb', 256)?.perSecond);
    ratio(codec, many, '256 producers: native ÷ naive reference', 2, n256?.perSecond, at('naive', 256)?.perSecond);
    for (const n of [64, 256, 1024]) ratio(codec, many, `${n} producers: native ÷ pure TS`, 1.5, at(native, n)?.perSecond, at(ts, n)?.perSecond, n);
    check(codec, many, '256 producers: native p99 latency', '≤ 1 ms', n256 && ms(n256.p99Us), n256 !== undefined && n256.p99Us <= 1000);
    const lat = one !== undefined && ref !== undefined ? one.p50Us / ref.p50Us : undefined;
    // Beside it, what the same syscalls cost when awaited off the event loop (the commit thread
    // and the loop's wake-up, no WAL): how much of the gap is the hop every async design pays.
    const floor = offLoopFloor(r.fdatasync);
    const floorNote = floor === undefined || ref === undefined ? '' : `; the bare loop through the commit thread: ${times(floor / ref.p50Us)} (${ms(floor)})`;
    check(codec, single, `1 producer: native p50 ÷ bare fdatasync p50 (${ms(ref?.p50Us)}, ${ref?.shape ?? '–'})`, '≤ 1.2×',
      lat === undefined ? undefined : `${times(lat)} (${ms(one?.p50Us)})${floorNote}`, lat !== undefined && lat <= 1.2);
    // Beside it, the ceiling of any design that pays one fdatasync per commit, as both do: the
    // bare write + fdatasync loop over better-sqlite3.
    const sqlite = at('better-sqlite3', 1)?.perSecond;
    const vsSqlite = one !== undefined && sqlite !== undefined && sqlite > 0 ? one.perSecond / sqlite : undefined;
    const bare = ref !== undefined && sqlite !== undefined && sqlite > 0 ? ref.perSecond / sqlite : undefined;
    const missed = vsSqlite !== undefined && vsSqlite < 1.2;
    const ceiling = bare === undefined ? '' : `; the bare fdatasync loop: ${times(bare)}${missed && bare < 1.2 ? ', out of reach in this run' : ''}`;
    check(codec, single, '1 producer: native ÷ better-sqlite3 (WAL, synchronous=FULL)', '≥ 1.2×',
      vsSqlite === undefined ? undefined : `${times(vsSqlite)}${ceiling}`, vsSqlite !== undefined && vsSqlite >= 1.2);
    const whole = at(native, ONE_ROUND_PRODUCERS);
    const rounds = whole?.counters.commits;
    const perRound = whole !== undefined && rounds !== undefined && rounds > 0 ? whole.appends / rounds : undefined;
    const n = ONE_ROUND_PRODUCERS;
    check(codec, { target: native, producers: n }, `${n} producers: entries per fdatasync round`, `≥ ${(0.9 * n).toFixed(0)} (0.9 × ${n})`,
      perRound === undefined ? undefined : `${perRound.toFixed(1)} of ${n}`, perRound !== undefined && perRound >= 0.9 * n);
  }
  const many = { target: 'native', producers: 256 };
  const n256 = at('native', 256);
  ratio('raw', many, '256 producers: native ÷ classic-level put {sync:true}', 50, n256?.perSecond, at('classic-level', 256)?.perSecond);
  const limit = ref === undefined ? undefined : 256 * ref.perSecond;
  const share = n256 !== undefined && limit !== undefined ? n256.perSecond / limit : undefined;
  check('raw', many, `256 producers: native ÷ fdatasync-bound limit (256 × ${rate(ref?.perSecond)}/s = ${rate(limit)}/s)`, '≥ 50 %',
    share === undefined ? undefined : `${(share * 100).toFixed(0)} %`, share !== undefined && share >= 0.5);
  return out;
}

/** Microseconds as a bare number: one decimal below 10. */
const usec = (us: number | undefined): string => (us === undefined || !Number.isFinite(us) ? '–' : us < 10 ? us.toFixed(1) : us.toFixed(0));

/** Where a WAL cell's group-commit rounds go: the writer's counters, the backend's commitStats, the event loop's active time. */
function roundBreakdown(r: Results): string[] {
  const overwrite = r.fdatasync.map((f) => f.overwrite.p50Us).filter(Number.isFinite);
  const bare = overwrite.length === 0 ? undefined : Math.min(...overwrite);
  const L: string[] = ['## Per-round breakdown', ''];
  L.push(
    'One row per WAL cell, averaged over its measured window. Rounds are the writer\'s group commits ' +
    '(its onSync count); write, fdatasync and wake are the backend\'s own `commitStats()` per commit (on the native ' +
    'core that includes the commits of zeros kept ahead of the log, one per 256 KiB of log): the gather ' +
    'write, then ftruncate + fdatasync + directory fsyncs, then (native only) the time from the commit thread ' +
    'finishing to the event loop settling the promise. On node:fs that hop back from the thread pool is inside ' +
    'each step\'s callback time, so it is counted in the write and fdatasync columns. Event loop per entry is the ' +
    'loop\'s active time (`performance.eventLoopUtilization()`) over the window divided by the appends: ' +
    'everything the main thread spent per entry, including the turns it polls while a commit is in flight ' +
    '(groupCommit.pollMicros, lib/wal/completion-poll.ts), so it is an upper bound on the JS cost. The round\'s wall time (1 s ÷ rounds/s) stands beside the bare ' +
    `overwrite fdatasync p50 of the physical reference (${ms(bare)}), the floor a round can approach; the native ` +
    'commit thread runs the next round while JS wakes the last one\'s callers, so the columns can add up to more than the wall time.',
    '',
  );
  L.push('| store | producers | rounds/s | entries per round | write µs | fdatasync µs | fdatasync end → JS µs | event loop µs per entry | round wall time (÷ bare fdatasync p50) |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of WAL_TARGETS) {
    for (const n of [1, 64, 256]) {
      const c = r.durable.find((d) => d.target === t && d.producers === n);
      if (c === undefined) continue;
      const k = c.counters;
      const perSecond = (k.commits ?? 0) / c.seconds;
      const perCommit = (ns: number | undefined): string => (ns === undefined || !(k.backendCommits > 0) ? '–' : usec(ns / k.backendCommits / 1000));
      const wake = t.startsWith('ts') ? 'in the callbacks' : perCommit(k.wakeNs);
      const js = k.elActiveMs === undefined || c.appends === 0 ? '–' : usec((k.elActiveMs * 1000) / c.appends);
      const wall = perSecond > 0 ? 1e6 / perSecond : undefined;
      const versus = wall !== undefined && bare !== undefined ? ` (${times(wall / bare, 1)})` : '';
      L.push(`| ${LABELS[t] ?? t} | ${n} | ${rate(perSecond)} | ${k.commits > 0 ? (c.appends / k.commits).toFixed(1) : '–'} | ${perCommit(k.writeNs)} | ${perCommit(k.syncNs)} | ${wake} | ${js} | ${wall === undefined ? '–' : `${ms(wall)}${versus}`} |`);
    }
  }
  L.push('');
  return L;
}

/** The ceiling (bench/ceiling.ts): its two measured parts, and each WAL cell beside it. */
export function ceilingSection(r: Pick<Results, 'ceiling' | 'durable'>): string[] {
  const c = fasterCeiling(r.ceiling);
  if (c === undefined) return [];
  const L: string[] = ['## Ceiling: the fastest any writer could go here on a fresh log', ''];
  L.push(
    'How fast a closed loop of N producers appending to a fresh log could go on this machine whatever the writer, from two ' +
    'measured parts (bench/ceiling.ts), each the faster of a measurement before and one after the durable cells. The ' +
    'disk\'s part: a bare blocking loop of the I/O a WAL round does (n frames of 116 B written at the end, fdatasync, and ' +
    'zeros kept 256 KiB ahead by writes + fdatasyncs of their own, shown amortized per round). The event loop\'s part: ' +
    'the durable cells\' harness over a writer with no I/O (each append copies its payload, json encodes it first, and one ' +
    'callback per turn settles the turn\'s promises). A caller appends again only once its round\'s fdatasync returned, ' +
    'while a commit of zeros may run during its JS; so one cohort per round goes at most N ÷ (fdatasync + N × JS + what ' +
    'of the zeros the JS does not cover), and two cohorts taking turns at most (N/2) ÷ max(fdatasync + zeros at N/2, ' +
    '(N/2) × JS): the disk and the event loop each serve both in turn. The targets are held to the faster of the two, ' +
    `except at ${ONE_ROUND_PRODUCERS} producers, where issue 12 asks for every caller in every round (one cohort). ` +
    'It is generous: no write syscall, no thread wake-up, no rotation. A log that recycles its segments writes no zeros.',
    '',
  );
  L.push('| frames per round | write µs | fdatasync µs | zeros µs per round |', '|---:|---:|---:|---:|');
  for (const d of c.disk) L.push(`| ${d.frames} | ${usec(d.writeUs)} | ${usec(d.fdatasyncUs)} | ${usec(d.zerosUs)} |`);
  L.push('');
  const at = (t: string, n: number): number | undefined => r.durable.find((d) => d.target === t && d.producers === n)?.perSecond;
  L.push('| codec | producers | JS µs per entry (no I/O) | ceiling: one cohort / two | native (÷ ceiling held to) | pure TS | ceiling ÷ pure TS |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const { codec, native, ts } of CODECS) {
    for (const n of CEILING_PRODUCERS) {
      const j = c.js.find((x) => x.codec === codec && x.producers === n)?.usPerEntry;
      const both = ceilingAt(c, codec, n);
      const most = ceilingFor(c, codec, n);
      const mine = at(native, n);
      const theirs = at(ts, n);
      const share = mine !== undefined && most !== undefined ? ` (${(100 * mine / most).toFixed(0)} %)` : '';
      const split = both === undefined ? '–' : `${rate(both.oneCohort)} / ${rate(both.twoCohorts)}`;
      L.push(`| ${codec} | ${n} | ${measuredFloor(j) ? j.toFixed(2) : '–'} | ${split} | ${rate(mine)}${share} | ${rate(theirs)} | ${most !== undefined && theirs !== undefined ? times(most / theirs) : '–'} |`);
    }
  }
  L.push('');
  return L;
}

function report(r: Results): string {
  const L: string[] = [];
  const m = r.machine;
  L.push('## Setup', '');
  L.push(`- Date: ${r.date}; profile: ${r.profile.name} (${(r.seconds / 60).toFixed(1)} min)`);
  L.push(`- Machine: ${m.cpu}, ${m.logicalCpus} logical CPUs, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}`);
  L.push(`- Disk: temp dirs in ${m.tmpdir} (${m.filesystem}), the same for every store`);
  L.push(`- durability ${m.commit}; backends: ${m.backends}`);
  L.push(`- Peers: ${Object.entries(r.peers).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  L.push(`- Load average (1 min) at start / end: ${r.load.start[0].toFixed(1)} / ${r.load.end[0].toFixed(1)} on ${m.logicalCpus} CPUs${r.load.start[0] > Number(m.logicalCpus) * 0.5 ? ' — other work was running: figures are skewed' : ''}`);
  L.push(`- Reproduce: \`${r.command}\``, '');

  L.push('## Targets', '');
  L.push('| codec | target | required | measured | |', '|---|---|---:|---:|:-:|');
  for (const c of checks(r)) L.push(`| ${c.codec} | ${c.what} | ${c.required} | ${c.measured} | ${c.pass === undefined ? '–' : c.pass ? '✓' : '✗'} |`);
  L.push('');

  const targets = [...new Set(r.durable.map((d) => d.target))];
  const cell = (t: string, n: number): DurableResult | undefined => r.durable.find((d) => d.target === t && d.producers === n);
  L.push(`## Durable appends/s (${PAYLOAD_BYTES} B payloads, closed loop, ${r.profile.durableMs / 1000} s window per cell)`, '');
  L.push(`| store | ${PRODUCERS.map((n) => `${n} producer${n > 1 ? 's' : ''}`).join(' | ')} |`, `|---|${PRODUCERS.map(() => '---:').join('|')}|`);
  for (const t of targets) L.push(`| ${LABELS[t] ?? t} | ${PRODUCERS.map((n) => rate(cell(t, n)?.perSecond)).join(' | ')} |`);
  const ref = fdatasyncReference(r.fdatasync);
  if (ref !== undefined) L.push(`| fdatasync-bound limit (N × ${rate(ref.perSecond)}/s) | ${PRODUCERS.map((n) => rate(n * ref.perSecond)).join(' | ')} |`);
  L.push('');
  L.push('## Latency p50 / p99', '');
  L.push(`| store | ${PRODUCERS.join(' | ')} |`, `|---|${PRODUCERS.map(() => '---:').join('|')}|`);
  for (const t of targets) {
    L.push(`| ${LABELS[t] ?? t} | ${PRODUCERS.map((n) => {
      const c = cell(t, n);
      return c === undefined ? '–' : `${ms(c.p50Us)} / ${ms(c.p99Us)}`;
    }).join(' | ')} |`);
  }
  L.push('');
  L.push('## Where the time went: process CPU % (all threads, 100 = one core) · fdatasync rounds/s · entries per round', '');
  L.push(`| store | ${PRODUCERS.join(' | ')} |`, `|---|${PRODUCERS.map(() => '---:').join('|')}|`);
  for (const t of targets) {
    L.push(`| ${LABELS[t] ?? t} | ${PRODUCERS.map((n) => {
      const c = cell(t, n);
      if (c === undefined) return '–';
      const rounds = c.counters.commits ?? c.counters.fdatasyncs;
      return rounds === undefined || rounds === 0 ? `${Math.round(c.cpuPercent)} %` : `${Math.round(c.cpuPercent)} % · ${rate(rounds / c.seconds)} · ${(c.appends / rounds).toFixed(1)}`;
    }).join(' | ')} |`);
  }
  L.push('');
  L.push('How each store was driven:', '');
  for (const t of targets) {
    const d = r.durable.find((x) => x.target === t);
    if (d !== undefined) L.push(`- ${LABELS[t] ?? t}: ${d.mode}`);
  }
  L.push('');

  L.push(...roundBreakdown(r));

  L.push('## Physical reference: bare write + fdatasync loop (116 B per round unless said)', '');
  L.push('| run | shape | rounds/s | p50 | p99 |', '|---|---|---:|---:|---:|');
  r.fdatasync.forEach((f, i) => {
    for (const shape of ['grow', 'overwrite', 'growBatch', 'offLoop'] as const) {
      const m = f[shape];
      const label = shape === 'growBatch' ? 'grow by 256 frames (not the reference)' : shape === 'offLoop' ? 'overwrite via the native commit thread, awaited from the event loop' : shape;
      if (m !== undefined) L.push(`| ${i === 0 ? 'before' : 'after'} | ${label} | ${rate(m.perSecond)} | ${ms(m.p50Us)} | ${ms(m.p99Us)} |`);
    }
  });
  L.push('');
  L.push(...ceilingSection(r));

  if (r.append !== undefined) {
    L.push('## Buffered append (entries/s, no fdatasync in the timed region)', '');
    L.push('| codec | payload | native | pure TS | native ÷ TS |', '|---|---:|---:|---:|---:|');
    for (const a of r.append) {
      L.push(`| ${a.codec} | ${a.payloadBytes} B | ${rate(a.perSecond.native)} | ${rate(a.perSecond.ts)} | ${times(a.perSecond.native / a.perSecond.ts)} |`);
    }
    L.push('');
  }
  if (r.replay !== undefined) {
    const rp = r.replay;
    L.push(`## Replay (entries/s, ${rp.entries} × ${rp.payloadBytes} B, page cache warm)`, '');
    L.push('| mode | native | pure TS |', '|---|---:|---:|');
    for (const mode of Object.keys(rp.perSecond.native ?? rp.perSecond.ts ?? {})) L.push(`| ${mode} | ${rate(rp.perSecond.native?.[mode])} | ${rate(rp.perSecond.ts?.[mode])} |`);
    L.push('');
  }
  if (r.crc32c !== undefined) {
    const c = r.crc32c;
    L.push(`## CRC32C (GB/s; native kernel: ${c.kernel}, family ${c.impl})`, '');
    const others = c.others ?? [];
    L.push(`| size | native ${c.kernel} (used) |${others.map((k) => ` native ${k} |`).join('')} native portable | JS |`, `|---|---:|${'---:|'.repeat(others.length)}---:|---:|`);
    for (const row of c.rows) L.push(`| ${row.label} | ${gbps(row.hardware)} |${others.map((_, i) => ` ${gbps(row.others?.[i])} |`).join('')} ${gbps(row.portable)} | ${gbps(row.js)} |`);
    if (c.batched64 !== undefined) L.push(`| 64 B frames, 1024 per crc32cRanges call | ${gbps(c.batched64)} |${' – |'.repeat(others.length)} – | – |`);
    L.push('');
  }
  for (const p of r.profiles) {
    L.push(`## CPU profile, ${p.cell} (main thread; ${rate(p.perSecond)}/s and ${Math.round(p.cpuPercent)} % CPU under the profiler)`, '');
    L.push('| self time | function |', '|---:|---|');
    for (const h of p.hot) L.push(`| ${h.percent.toFixed(1)} % | \`${h.name}\` |`);
    L.push('');
  }
  if (r.notes.length > 0) {
    L.push('## Notes from this run', '');
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  return L.join('\n');
}

function chart(r: Results): string {
  const series: Series[] = [];
  for (const t of [...new Set(r.durable.map((d) => d.target))]) {
    const points = PRODUCERS.flatMap((n) => {
      const d = r.durable.find((x) => x.target === t && x.producers === n);
      return d === undefined ? [] : [[n, d.perSecond] as const];
    });
    series.push({ label: LABELS[t] ?? t, points, color: COLORS[t] ?? '#000' });
  }
  const ref = fdatasyncReference(r.fdatasync);
  if (ref !== undefined) series.push({ label: 'fdatasync-bound limit', points: PRODUCERS.map((n) => [n, n * ref.perSecond] as const), color: '#c0392b', dashed: true });
  return throughputChart(
    'Durable appends/s vs concurrent producers',
    `${PAYLOAD_BYTES} B entries, closed loop; ${r.machine.cpu}, ${r.machine.logicalCpus} CPUs; Node ${r.machine.node}; ${r.date}`,
    PRODUCERS, series,
  );
}

// ---- the sequence ---------------------------------------------------------------------------

async function main(argv: string[]): Promise<void> {
  scratch = new Scratch();
  scratch.removeOnExit();
  try {
    await measureAndReport(argv);
  } finally {
    scratch.remove();
  }
}

async function measureAndReport(argv: string[]): Promise<void> {
  const started = Date.now();
  const profile = PROFILES[argv.includes('--quick') ? 'quick' : 'default'];
  const withPeers = !argv.includes('--no-peers');
  const root = repoRoot();
  const notes: string[] = [];
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const flags = [profile.name === 'quick' ? '--quick' : '', withPeers ? '' : '--no-peers'].filter(Boolean);
  const command = `npm ci && npm run bench${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}`;

  const peers: Record<string, string> = {};
  let peerTargets: string[] = [];
  if (withPeers) {
    const install = ensurePeers(log);
    if (install.status === 'failed') notes.push(install.note ?? 'peer install failed');
    else if (install.status === 'installed') log(`peers installed in ${install.seconds.toFixed(0)} s (not counted in the time bound)`);
    for (const p of PEER_TARGETS) {
      const v = peerVersion(p);
      peers[p] = v ?? 'not installed';
      if (v !== undefined) peerTargets.push(p);
      else notes.push(`${p} skipped: not installed in bench/peers/node_modules${install.status === 'failed' ? ' (the install failed)' : ' (its build failed; npm ci left the optional dependency out)'}`);
    }
  } else {
    for (const p of PEER_TARGETS) peers[p] = 'skipped (--no-peers)';
  }
  const host = machine(root);
  const measuringFrom = Date.now();
  const loadStart = os.loadavg();
  const deadline = measuringFrom + profile.budgetMs;
  const left = (): number => deadline - Date.now();
  log(`bench: ${profile.name} profile, budget ${profile.budgetMs / 1000} s; temp dirs under ${(scratch as Scratch).root}`);

  const fdatasync: FdatasyncResult[] = [];
  const fsync = async (): Promise<void> => {
    log('bare fdatasync loop');
    try {
      fdatasync.push(await runChild<FdatasyncResult>('fdatasync.js', [String(profile.fdatasyncMs)], profile.fdatasyncMs * 5 + 10_000));
    } catch (err) {
      notes.push(`fdatasync loop failed: ${(err as Error).message}`);
    }
  };
  await fsync();

  const optional = async <T>(what: string, script: string, args: string[], needMs: number): Promise<T | undefined> => {
    if (left() <= 0) {
      notes.push(`${what} skipped: time budget spent`);
      return undefined;
    }
    log(what);
    try {
      return await runChild<T>(script, args, Math.max(needMs * 3, left() + needMs));
    } catch (err) {
      notes.push(`${what} failed: ${(err as Error).message}`);
      return undefined;
    }
  };
  const ceiling: CeilingResult[] = [];
  const measureCeiling = async (): Promise<void> => {
    const c = await optional<CeilingResult>('ceiling', 'ceiling.js', [String(profile.ceilingMs)], profile.ceilingMs * 14);
    if (c !== undefined) ceiling.push(c);
  };
  await measureCeiling();
  const crc32c = await optional<Crc32cResult>('crc32c', 'suite.js', ['--child', 'crc32c', String(profile.crc32cRoundMs)], profile.crc32cNeedMs);
  const replay = await optional<ReplayResult>('replay', 'suite.js', ['--child', 'replay', String(profile.replayEntries)], profile.replayNeedMs);
  const appendBudget = Math.min(profile.appendBudgetMs, Math.max(1000, left() - 3000));
  const append = await optional<AppendResult[]>('buffered append', 'suite.js', ['--child', 'append', String(profile.appendMiB), String(profile.appendRuns), String(appendBudget)], 3_000);

  // Then the durable cells, in the time left (less the final fdatasync loop): each window is the
  // profile's, shortened (to half at most) when earlier cells ran long, and cells are dropped
  // only once the whole budget is spent. The CPU-bound parts above delete what they wrote, so
  // they leave no writeback behind for these.
  const profiling = argv.includes('--profile') || profile.name === 'default';
  // Profiling: up to four cells (1 and 256 producers, raw and json).
  const reserveMs = (profile.fdatasyncTwice ? profile.fdatasyncMs * 1.2 + 1_000 + profile.ceilingMs * 15 : 0) + (profiling ? 4 * (profile.durableMs + profile.warmupMs + 1_500) : 0);
  const durable: DurableResult[] = [];
  const targets = [...WAL_TARGETS, 'naive', ...peerTargets];
  const broken = new Set<string>();
  let cellsLeft = PRODUCERS.length * targets.length;
  let overheadMs = profile.name === 'quick' ? 400 : 800; // process start, open, drain, close: refined as cells run
  let shortest = profile.durableMs;
  const skipped: string[] = [];
  // Producer counts in the outer loop, so drift over the run hits every store at a similar point.
  for (const n of PRODUCERS) {
    for (const t of targets) {
      const share = (left() - reserveMs) / cellsLeft-- - overheadMs - profile.warmupMs;
      if (broken.has(t)) continue;
      if (left() <= 0) {
        skipped.push(`${t} × ${n}`);
        continue;
      }
      const windowMs = Math.round(Math.max(profile.durableMs / 2, Math.min(profile.durableMs, share)));
      shortest = Math.min(shortest, windowMs);
      log(`durable: ${t} × ${n} (${windowMs} ms)`);
      const cellStart = Date.now();
      try {
        const d = await runChild<DurableResult>('durable.js', [t, String(n), String(windowMs), String(profile.warmupMs)], (windowMs + profile.warmupMs) * 4 + 15_000);
        durable.push(d);
        if (d.appends === 0) notes.push(`${t} at ${n} producers: no append completed inside the ${windowMs} ms window (latency longer than the window)`);
        log(`  ${rate(d.perSecond)}/s  p50 ${ms(d.p50Us)}  p99 ${ms(d.p99Us)}  cpu ${Math.round(d.cpuPercent)} %`);
      } catch (err) {
        broken.add(t);
        notes.push(`${t} skipped from ${n} producers on: ${(err as Error).message}`);
      }
      overheadMs = 0.5 * overheadMs + 0.5 * Math.max(0, Date.now() - cellStart - windowMs - profile.warmupMs);
    }
  }
  if (shortest < profile.durableMs) notes.push(`some durable windows were shortened to stay in the time budget (shortest ${shortest} ms; see the JSON)`);
  if (skipped.length > 0) notes.push(`time budget spent, not measured: ${skipped.join(', ')}`);
  if (profile.fdatasyncTwice) {
    await fsync();
    await measureCeiling();
  }

  // A CPU profile of the native cells behind missed targets, for the notes on why.
  const profiles: Results['profiles'] = [];
  if (profiling) {
    const cells = new Map<string, TargetCheck['profile']>();
    for (const c of checks({ durable, fdatasync, ceiling })) if (c.pass === false) cells.set(`${c.profile.target} × ${c.profile.producers}`, c.profile);
    for (const [cell, { target, producers }] of cells) {
      if (left() <= 0) break;
      if (broken.has(target)) continue;
      log(`profiling ${cell}`);
      const dir = mkdtempSync(path.join((scratch as Scratch).root, 'profile-'));
      try {
        const file = path.join(dir, `${target}.cpuprofile`);
        const d = await runChild<DurableResult>('durable.js', [target, String(producers), String(profile.durableMs), String(profile.warmupMs)],
          (profile.durableMs + profile.warmupMs) * 4 + 15_000, { ...process.env, DURABILITY_BENCH_CPUPROFILE: file });
        profiles.push({ cell, perSecond: d.perSecond, cpuPercent: d.cpuPercent, hot: hotFunctions(file, root) });
      } catch (err) {
        notes.push(`profile of ${cell} failed: ${(err as Error).message}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const loadEnd = os.loadavg();

  const date = new Date().toISOString();
  const results: Results = {
    date, profile, command, machine: host, peers, fdatasync, durable, append, replay, crc32c, ceiling, profiles,
    load: { start: loadStart, end: loadEnd }, notes, seconds: (Date.now() - measuringFrom) / 1000,
  };
  const md = report(results);
  console.log(md);

  const outDir = path.join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stem = date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  writeFileSync(path.join(outDir, `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(outDir, `${stem}.md`), `# Benchmark results, ${date}\n\n${md}`);
  writeFileSync(path.join(outDir, 'concurrency.svg'), chart(results));
  log(`wrote bench/results/${stem}.json, bench/results/${stem}.md, bench/results/concurrency.svg (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  if (argv.includes('--record')) {
    const file = path.join(root, 'bench', 'RESULTS.md');
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const marker = '<!-- analysis: hand-written below this line, kept by --record -->';
    const analysis = previous.includes(marker) ? previous.slice(previous.indexOf(marker)) : `${marker}\n`;
    writeFileSync(file, `# Benchmark results\n\nWritten by \`npm run bench -- --record\` from bench/results/${stem}.json; chart: [results/concurrency.svg](results/concurrency.svg).\n\n${md}\n${analysis}`);
    log('wrote bench/RESULTS.md');
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const run = argv[0] === '--child' ? childMain(argv[1], argv.slice(2)) : main(argv);
  run.catch((err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.stack ?? err.message : String(err) }));
    process.exit(1);
  });
}
