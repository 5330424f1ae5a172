// The ceiling: how fast any durable writer could go on this machine in a closed loop of N
// producers appending to a fresh log, measured from its two unavoidable parts, so a target above
// it shows as out of reach rather than as a writer's fault.
//
// - The disk's part of a round: a bare blocking loop of exactly the I/O a WAL round does at n
//   entries per round (n 116-byte frames written at the log's end, then fdatasync; zeros kept
//   ZERO_AHEAD bytes ahead of the log by writes + fdatasyncs of their own, as the writer does on a
//   fresh log, so that each round's fdatasync has no allocation to journal). Synchronous syscalls,
//   no thread, no event loop. A log that recycles its segments pays no zeros: its ceiling is higher.
// - The event loop's part, per entry: the same closed-loop harness as the durable cells
//   (durable.ts closedLoop) over a writer that does no I/O at all. Each append copies its payload
//   (json: encodes the same entry first) and returns a promise; one callback per turn settles every
//   promise of the turn, as a group commit would. What is left is what every caller of every
//   design pays: the promise, the await, the producer's own loop.
//
// A closed loop cannot overlap a round's fdatasync with the JS of its own callers: they append
// again only once it returned. A commit of zeros can run while they do (the writer queues it right
// behind the round's commit). So one cohort of N callers per round goes at most
// N / (fdatasync + N·J + the part of each zeros commit the JS does not cover, per round); two
// cohorts taking turns (the disk busy with one while the other runs its JS) at most
// (N/2) / max(fdatasync + zeros at N/2, (N/2)·J): the disk and the event loop each serve both
// cohorts in turn. It is generous on purpose: it leaves out the write syscall, every thread
// wake-up, and segment rotation; and the suite keeps the faster of two measurements.
//
//   npx tsc -p . && node dist/bench/ceiling.js [msPerCell=700]

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INLINE_ZERO_AHEAD, ZERO_AHEAD } from '../lib/wal/active-segment';
import { json, type Codec } from '../lib/wal/codec';
import { closedLoop, jsonEntry, payloadBytes, type Target } from './durable';

const FRAME = 116;

/** Bare rounds of one shape: mean microseconds per round of each step (zeros: amortized over the rounds). */
export interface DiskRound {
  readonly frames: number;
  readonly rounds: number;
  readonly writeUs: number;
  readonly fdatasyncUs: number;
  readonly zerosUs: number;
  /** Commits of zeros in the run: each took zerosUs × rounds ÷ zeroCommits. */
  readonly zeroCommits: number;
}

/** Closed loop with no I/O: event-loop microseconds per append at `producers`. */
export interface JsFloor {
  readonly codec: 'raw' | 'json';
  readonly producers: number;
  readonly usPerEntry: number;
}

export interface CeilingResult {
  readonly disk: readonly DiskRound[];
  readonly js: readonly JsFloor[];
}

/** Producer counts whose ceiling the suite reports, and the round shapes they need (N and N/2). */
export const CEILING_PRODUCERS = [64, 256, 1024] as const;
const SHAPES = [...new Set(CEILING_PRODUCERS.flatMap((n) => [n, n / 2]))].sort((a, b) => a - b);

function diskRounds(root: string, frames: number, durationMs: number): DiskRound {
  const file = path.join(root, `round-${frames}`);
  const fd = openSync(file, 'wx');
  try {
    const batch = new Uint8Array(frames * FRAME).fill(0xa5);
    // A round larger than ZERO_AHEAD would make the writer carry its zeros inline instead.
    if (batch.length >= ZERO_AHEAD) throw new RangeError(`${frames} frames per round pass ZERO_AHEAD`);
    const zeros = new Uint8Array(INLINE_ZERO_AHEAD);
    // A segment's first commit carries its first zeros (ActiveSegment.zeroAhead): not timed.
    let spanEnd = INLINE_ZERO_AHEAD;
    writeSync(fd, zeros, 0, INLINE_ZERO_AHEAD, 0);
    fdatasyncSync(fd);
    let zeroCommits = 0;
    let end = 0;
    let rounds = 0;
    let writeNs = 0n;
    let syncNs = 0n;
    let zeroNs = 0n;
    const until = process.hrtime.bigint() + BigInt(Math.round(durationMs * 1e6));
    for (let t = process.hrtime.bigint(); t < until; rounds++) {
      writeSync(fd, batch, 0, batch.length, end);
      end += batch.length;
      const written = process.hrtime.bigint();
      fdatasyncSync(fd);
      const synced = process.hrtime.bigint();
      // ActiveSegment.zeroAheadAsync: when fewer than ZERO_AHEAD zeroed bytes are left, the next
      // ZERO_AHEAD go out as a commit of their own, before the next round's frames.
      while (end + ZERO_AHEAD > spanEnd) {
        writeSync(fd, zeros, 0, ZERO_AHEAD, spanEnd);
        fdatasyncSync(fd);
        spanEnd += ZERO_AHEAD;
        zeroCommits++;
      }
      const zeroed = process.hrtime.bigint();
      writeNs += written - t;
      syncNs += synced - written;
      zeroNs += zeroed - synced;
      t = zeroed;
    }
    const us = (ns: bigint): number => Number(ns) / 1000 / Math.max(1, rounds);
    return { frames, rounds, writeUs: us(writeNs), fdatasyncUs: us(syncNs), zerosUs: us(zeroNs), zeroCommits };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** A writer without I/O: every append copies its payload and waits for the turn's one settle callback. */
function noIoTarget(codec: 'raw' | 'json'): Target {
  const payload = payloadBytes();
  const stage = new Uint8Array(1024 * 1024);
  let at = 0;
  let next = 0;
  let waiting: Array<() => void> = [];
  const settle = (): void => {
    const wake = waiting;
    waiting = [];
    for (const resolve of wake) resolve();
  };
  const encode = codec === 'json' ? (json as Codec<unknown>).encode : undefined;
  return {
    mode: `no I/O, ${codec}`,
    append: () => {
      const bytes = encode === undefined ? payload : encode(jsonEntry(next++));
      if (at + bytes.length > stage.length) at = 0;
      stage.set(bytes, at);
      at += bytes.length;
      return new Promise<void>((resolve) => {
        if (waiting.push(resolve) === 1) setImmediate(settle);
      });
    },
    close: async () => {},
  };
}

export async function measureCeiling(msPerCell = 700): Promise<CeilingResult> {
  const js: JsFloor[] = [];
  for (const codec of ['raw', 'json'] as const) {
    for (const producers of CEILING_PRODUCERS) {
      const r = await closedLoop(noIoTarget(codec), producers, msPerCell, msPerCell / 3);
      // A window no append completed in (a stalled, loaded machine) measured nothing: no floor.
      if (r.appends > 0) js.push({ codec, producers, usPerEntry: (r.seconds * 1e6) / r.appends });
    }
  }
  const root = mkdtempSync(path.join(os.tmpdir(), 'durability-bench-ceiling-'));
  try {
    diskRounds(root, SHAPES[0], msPerCell / 4); // warm-up
    return { disk: SHAPES.map((frames) => diskRounds(root, frames, msPerCell)), js };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The ceiling at some producer count, in entries/s, for each way of grouping the callers. */
export interface Ceiling {
  /** Every caller in every round: N / (fdatasync + N·J + what of each zeros commit the JS does not cover, per round). */
  readonly oneCohort: number;
  /** Two cohorts taking turns: (N/2) / max(fdatasync + zeros at N/2, (N/2)·J). */
  readonly twoCohorts: number;
}

/** The ceiling at `producers` (see the top of this file), or undefined without the shapes it needs. */
export function ceilingAt(r: CeilingResult, codec: 'raw' | 'json', producers: number): Ceiling | undefined {
  const j = r.js.find((x) => x.codec === codec && x.producers === producers)?.usPerEntry;
  const whole = r.disk.find((x) => x.frames === producers);
  const half = r.disk.find((x) => x.frames === producers / 2);
  if (!measuredFloor(j) || whole === undefined || half === undefined) return undefined;
  const js = producers * j;
  // A zeros commit runs behind a round's commit, while that round's callers run their JS.
  const zeroCommitUs = whole.zeroCommits > 0 ? (whole.zerosUs * whole.rounds) / whole.zeroCommits : 0;
  const uncovered = whole.zeroCommits > 0 ? (Math.max(0, zeroCommitUs - js) * whole.zeroCommits) / whole.rounds : 0;
  return {
    oneCohort: (producers / (whole.fdatasyncUs + js + uncovered)) * 1e6,
    twoCohorts: (producers / 2 / Math.max(half.fdatasyncUs + half.zerosUs, js / 2)) * 1e6,
  };
}

/** What a target is held to: one cohort where it asks every caller into every round, else the faster of the two. */
export function heldTo(c: Ceiling, everyCallerEveryRound: boolean): number {
  return everyCallerEveryRound ? c.oneCohort : Math.max(c.oneCohort, c.twoCohorts);
}

/**
 * The faster of two measurements, part by part (the ceiling is generous): each disk shape from the
 * run where its round was shorter, each JS floor from the run where it was lower.
 */
export function fasterCeiling(runs: readonly CeilingResult[]): CeilingResult | undefined {
  if (runs.length === 0) return undefined;
  const disk = runs[0].disk.map((d) => runs.flatMap((r) => r.disk.filter((x) => x.frames === d.frames))
    .reduce((a, b) => (b.fdatasyncUs + b.zerosUs < a.fdatasyncUs + a.zerosUs ? b : a)));
  const js: JsFloor[] = [];
  for (const f of runs.flatMap((r) => r.js)) {
    if (!measuredFloor(f.usPerEntry)) continue;
    const i = js.findIndex((x) => x.codec === f.codec && x.producers === f.producers);
    if (i < 0) js.push(f);
    else if (f.usPerEntry < js[i].usPerEntry) js[i] = f;
  }
  return { disk, js };
}

/**
 * A JS floor that holds a figure. Results written before measureCeiling left unmeasured floors
 * out hold NaN for them, which a child's JSON line (and a results file) carries as null.
 */
export function measuredFloor(usPerEntry: number | null | undefined): usPerEntry is number {
  return typeof usPerEntry === 'number' && Number.isFinite(usPerEntry);
}

if (require.main === module) {
  measureCeiling(Number(process.argv[2] ?? 700)).then((r) => console.log(JSON.stringify(r)), (err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  });
}
