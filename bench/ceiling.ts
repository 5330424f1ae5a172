// The ceiling: how fast any durable writer could go on this machine in a closed loop of N
// producers, measured from its two unavoidable parts, so a target above it shows as out of reach
// rather than as a writer's fault.
//
// - The disk's part of a round: a bare blocking loop of exactly the I/O a WAL round does at n
//   entries per round (n 116-byte frames written at the log's end, then fdatasync; zeros kept
//   ZERO_AHEAD bytes ahead of the log by writes + fdatasyncs of their own, as the writer does on a
//   fresh log, so that each round's fdatasync has no allocation to journal). Synchronous syscalls,
//   no thread, no event loop.
// - The event loop's part, per entry: the same closed-loop harness as the durable cells
//   (durable.ts closedLoop) over a writer that does no I/O at all. Each append copies its payload
//   (json: encodes the same entry first) and returns a promise; one callback per turn settles every
//   promise of the turn, as a group commit would. What is left is what every caller of every
//   design pays: the promise, the await, the producer's own loop.
//
// A closed loop cannot overlap a round's fdatasync with the JS of its own callers: they append
// again only once it returned. So one cohort of N callers per round goes at most
// N / (fdatasync + zeros + N·J), and two cohorts taking turns (the disk busy with one while the
// other runs its JS) at most (N/2) / max(fdatasync + zeros at N/2, (N/2)·J): the disk and the event
// loop each serve both cohorts in turn. It is generous on purpose: it leaves out the write syscall
// (which could overlap the JS), every thread wake-up, and segment rotation.
//
//   npx tsc -p . && node dist/bench/ceiling.js [msPerCell=700]

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ZERO_AHEAD } from '../lib/wal/active-segment';
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
    const zeros = new Uint8Array(ZERO_AHEAD);
    // A segment's first commit carries its first zeros (ActiveSegment.zeroAhead): not timed.
    let spanEnd = ZERO_AHEAD;
    writeSync(fd, zeros, 0, ZERO_AHEAD, 0);
    fdatasyncSync(fd);
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
      }
      const zeroed = process.hrtime.bigint();
      writeNs += written - t;
      syncNs += synced - written;
      zeroNs += zeroed - synced;
      t = zeroed;
    }
    const us = (ns: bigint): number => Number(ns) / 1000 / Math.max(1, rounds);
    return { frames, rounds, writeUs: us(writeNs), fdatasyncUs: us(syncNs), zerosUs: us(zeroNs) };
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
      js.push({ codec, producers, usPerEntry: r.appends > 0 ? (r.seconds * 1e6) / r.appends : NaN });
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
  /** Every caller in every round: N / (fdatasync + zeros + N·J). */
  readonly oneCohort: number;
  /** Two cohorts taking turns: (N/2) / max(fdatasync + zeros at N/2, (N/2)·J). */
  readonly twoCohorts: number;
}

/** The ceiling at `producers` (see the top of this file), or undefined without the shapes it needs. */
export function ceilingAt(r: CeilingResult, codec: 'raw' | 'json', producers: number): Ceiling | undefined {
  const disk = (frames: number): number | undefined => {
    const d = r.disk.find((x) => x.frames === frames);
    return d === undefined ? undefined : d.fdatasyncUs + d.zerosUs;
  };
  const j = r.js.find((x) => x.codec === codec && x.producers === producers)?.usPerEntry;
  const whole = disk(producers);
  const half = disk(producers / 2);
  if (j === undefined || whole === undefined || half === undefined) return undefined;
  return {
    oneCohort: (producers / (whole + producers * j)) * 1e6,
    twoCohorts: (producers / 2 / Math.max(half, (producers / 2) * j)) * 1e6,
  };
}

if (require.main === module) {
  measureCeiling(Number(process.argv[2] ?? 700)).then((r) => console.log(JSON.stringify(r)), (err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  });
}
