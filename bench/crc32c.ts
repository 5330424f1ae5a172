// CRC32C throughput, side by side in one run: the native hardware kernel chosen at load (and
// the other hardware kernels this CPU can run), the native portable (slicing-by-8) kernel, the
// TypeScript implementation, and the native kernel fed many small frames per call through
// crc32cRanges (how the WAL seals a batch). Prints a markdown table.
//
//   npx cmake-js compile && npx tsc -p . && npm run bench:crc32c
//
// Each cell is the median of 7 timed rounds of ~80 ms after a warm-up; the whole run takes
// about 15 s. Figures move with the machine's load: compare within one run.

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { crc32c as jsCrc32c } from '../lib/crc32c';
import { loadNative } from '../lib/native';

const ROUNDS = 7;
const ROUND_MS = 80;
const WARMUP_MS = 40;
const BATCH = 1024; // frames per crc32cRanges call

let sink = 0; // results feed this so no call can be optimised away
let roundMs = ROUND_MS; // measureCrc32c's argument: the suite's --quick profile uses shorter rounds

/** Bytes per second of `step` (which processes `bytesPerStep`), median of timed rounds. */
function measure(bytesPerStep: number, step: () => void): number {
  const until = (ms: number): number => {
    let steps = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < 16; i++) step();
      steps += 16;
      now = performance.now();
    }
    return (steps * bytesPerStep) / ((now - start) / 1000);
  };
  until(WARMUP_MS);
  const rates = Array.from({ length: ROUNDS }, () => until(roundMs)).sort((a, b) => a - b);
  return rates[ROUNDS >> 1];
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const SIZES: Array<[string, number]> = [
  ['64 B', 64],
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
  ['1 MiB', 1024 * 1024],
];

const gbps = (bytesPerSecond: number | undefined): string => (bytesPerSecond === undefined ? '–' : (bytesPerSecond / 1e9).toFixed(2));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '–' : `${(a / b).toFixed(1)}×`);

export interface Crc32cRow {
  readonly label: string;
  readonly bytes: number;
  /** Bytes per second; undefined when the native core did not load. */
  readonly hardware: number | undefined;
  readonly portable: number | undefined;
  readonly js: number;
  /** The other hardware kernels this CPU can run (Crc32cResult.others), bytes per second each. */
  readonly others: readonly number[];
}

export interface Crc32cResult {
  /** Native kernel family (crc32cImpl), or 'not loaded'. */
  readonly impl: string;
  /** The kernel `crc32c` uses (crc32cKernels()[0]), or 'none'. */
  readonly kernel: string;
  /** Other hardware kernels this CPU can run, measured for comparison with the chosen one. */
  readonly others: readonly string[];
  readonly rows: readonly Crc32cRow[];
  /** 64 B frames, BATCH per crc32cRanges call (bytes per second). */
  readonly batched64: number | undefined;
}

/** `msPerRound`: length of each of the ROUNDS timed rounds (80 ms: about 8 s in all). */
export function measureCrc32c(msPerRound = ROUND_MS): Crc32cResult {
  roundMs = msPerRound;
  const binding = loadNative().binding;
  const impl = binding?.crc32cImpl() ?? 'not loaded';
  const kernels = binding?.crc32cKernels() ?? [];
  const kernel = kernels[0] ?? 'none';
  const others = kernels.slice(1).filter((k) => k !== 'table');
  const rows: Crc32cRow[] = [];
  let batched64: number | undefined;
  for (const [label, size] of SIZES) {
    const data = randomBytes(size);
    // Each step continues from the previous result, as a real streaming checksum would.
    let crc = 0;
    const hardware = binding ? measure(size, () => void (crc = binding.crc32c(data, crc))) : undefined;
    const alternatives = binding ? others.map((k) => measure(size, () => void (crc = binding.crc32cWithKernel(k, data, crc)))) : [];
    const portable = binding ? measure(size, () => void (crc = binding.crc32cPortable(data, crc))) : undefined;
    const js = measure(size, () => void (crc = jsCrc32c(data, crc)));
    sink ^= crc;
    rows.push({ label, bytes: size, hardware, portable, js, others: alternatives });
    if (size === 64 && binding) {
      const frames = randomBytes(64 * BATCH);
      const ranges = new Uint32Array(2 * BATCH);
      for (let i = 0; i < BATCH; i++) ranges.set([i * 64, 64], 2 * i);
      const out = new Uint32Array(BATCH);
      batched64 = measure(64 * BATCH, () => {
        binding.crc32cRanges(frames, ranges, BATCH, out, 0);
        sink ^= out[BATCH - 1];
      });
    }
  }
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` observable
  return { impl, kernel, others, rows, batched64 };
}

function main(): void {
  const { impl, kernel, others, rows, batched64 } = measureCrc32c();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const dashes = ' – |'.repeat(others.length);
  console.log(`# CRC32C throughput (GB/s = 10^9 bytes/s; median of ${ROUNDS} rounds)\n`);
  console.log(`Machine: ${cpu}, ${os.cpus().length} logical CPUs, ${process.platform}-${process.arch}; Node ${process.version}; native kernel: ${kernel} (crc32cImpl: ${impl})\n`);
  console.log(`| size | native hardware (${kernel}) |${others.map((k) => ` native ${k} |`).join('')} native portable (slicing-by-8) | JS (lib/crc32c.ts) | hardware ÷ JS | portable ÷ JS |`);
  console.log(`|---|---:|${'---:|'.repeat(others.length)}---:|---:|---:|---:|`);
  for (const r of rows) {
    console.log(`| ${r.label} | ${gbps(r.hardware)} |${r.others.map((o) => ` ${gbps(o)} |`).join('') || dashes} ${gbps(r.portable)} | ${gbps(r.js)} | ${ratio(r.hardware, r.js)} | ${ratio(r.portable, r.js)} |`);
    if (r.bytes === 64 && batched64 !== undefined) {
      console.log(`| 64 B × ${BATCH} per call, crc32cRanges | ${gbps(batched64)} |${dashes} – | – | ${ratio(batched64, r.js)} (${ratio(batched64, r.hardware)} one call per frame) | – |`);
    }
  }
  console.log('\nReproduce: `npx cmake-js compile && npx tsc -p . && npm run bench:crc32c`');
  if (impl === 'not loaded') console.log(`\nThe native core did not load:\n  ${loadNative().attempts.join('\n  ')}`);
}

if (require.main === module) main();
