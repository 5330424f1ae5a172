// The physical reference: a bare loop of one 116-byte write and one fdatasync, with synchronous
// syscalls (no thread pool, no promises), on the same disk as the other measurements (os.tmpdir()).
// Two file shapes, since the journal work an fdatasync triggers depends on them:
//   grow       each write appends, so the file size changes every round (as naive.log does);
//   overwrite  writes cycle through the first 64 KiB of a file already written and synced, so
//              no metadata changes (the cheapest fdatasync there is).
// The suite takes the faster of the two as the fdatasync-bound reference, which is the strict choice.
// A third shape only explains the durable cells: growBatch appends 256 frames (29,696 B) per
// round, what a group commit at 256 producers writes into a growing segment; each such round
// allocates blocks, which a 116 B append mostly does not. A fourth, offLoop, repeats the overwrite
// loop through the native commit thread, awaited from the event loop: the same syscalls plus the
// two thread wake-ups any non-blocking durable append pays.
//
//   npx tsc -p . && node dist/bench/fdatasync.js [durationMs=2000]

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import { CompletionPoll } from '../lib/wal/completion-poll';
import { DEFAULT_COMMIT_POLL_MICROS } from '../lib/wal/options';
import { Histogram, type LatencySummary } from './durable';

const FRAME = 116;
const OVERWRITE_SPAN = 64 * 1024;

export interface FdatasyncMode extends LatencySummary {
  readonly rounds: number;
  readonly perSecond: number;
}

export interface FdatasyncResult {
  readonly bytesPerWrite: number;
  readonly grow: FdatasyncMode;
  readonly overwrite: FdatasyncMode;
  readonly growBatch: FdatasyncMode;
  /**
   * The overwrite loop, but each write + fdatasync runs as one native commitAsync awaited from
   * the event loop (the descriptor's commit thread, then the loop seeing its completion; the loop
   * polls meanwhile as the writer's does, lib/wal/completion-poll.ts): the floor of any durable
   * append that must not block the event loop. Absent without the native core.
   */
  readonly offLoop?: FdatasyncMode;
}

/** Times back-to-back rounds for `durationMs`: each lap ends one round and starts the next. */
class RoundClock {
  private readonly hist = new Histogram();
  private readonly start = process.hrtime.bigint();
  private readonly end: bigint;
  private t = this.start;
  private rounds = 0;

  constructor(durationMs: number) {
    this.end = this.start + BigInt(Math.round(durationMs * 1e6));
  }

  get running(): boolean {
    return this.t < this.end;
  }

  /** The round number about to run. */
  get round(): number {
    return this.rounds;
  }

  lap(): void {
    const now = process.hrtime.bigint();
    this.hist.record(Number(now - this.t));
    this.t = now;
    this.rounds++;
  }

  result(): FdatasyncMode {
    return { rounds: this.rounds, perSecond: this.rounds / (Number(this.t - this.start) / 1e9), ...this.hist.summary() };
  }
}

function loop(fd: number, durationMs: number, position: (round: number) => number, bytes = FRAME): FdatasyncMode {
  const frame = new Uint8Array(bytes).fill(0xa5);
  const clock = new RoundClock(durationMs);
  while (clock.running) {
    writeSync(fd, frame, 0, bytes, position(clock.round));
    fdatasyncSync(fd);
    clock.lap();
  }
  return clock.result();
}

async function offLoopRounds(path: string, durationMs: number): Promise<FdatasyncMode | undefined> {
  const backend = nativeBackend();
  if (backend === undefined) return undefined;
  const fd = backend.open(path, 'create');
  try {
    const frame = new Uint8Array(FRAME).fill(0xa5);
    const slots = Math.floor(OVERWRITE_SPAN / FRAME);
    const run = async (ms: number): Promise<FdatasyncMode> => {
      const clock = new RoundClock(ms);
      let pending = false;
      const poll = new CompletionPoll(DEFAULT_COMMIT_POLL_MICROS, () => pending);
      while (clock.running) {
        const done = backend.commitAsync(fd, { chunks: [frame], offset: (clock.round % slots) * FRAME, dirs: [] }, path);
        pending = true;
        const startedAt = poll.started();
        await done;
        pending = false;
        poll.completed(startedAt);
        clock.lap();
      }
      return clock.result();
    };
    await run(Math.min(200, durationMs / 4)); // warm-up
    return await run(durationMs / 2);
  } finally {
    backend.close(fd);
  }
}

export async function measureFdatasync(durationMs = 2000): Promise<FdatasyncResult> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'durability-bench-fdatasync-'));
  try {
    const growFd = openSync(path.join(root, 'grow'), 'wx');
    let end = 0;
    const append = (): number => (end += FRAME) - FRAME;
    loop(growFd, Math.min(200, durationMs / 4), append); // warm-up
    const grow = loop(growFd, durationMs / 2, append);
    closeSync(growFd);

    const overFd = openSync(path.join(root, 'overwrite'), 'wx');
    writeSync(overFd, new Uint8Array(OVERWRITE_SPAN));
    fdatasyncSync(overFd);
    const slots = Math.floor(OVERWRITE_SPAN / FRAME);
    loop(overFd, Math.min(200, durationMs / 4), (r) => (r % slots) * FRAME);
    const overwrite = loop(overFd, durationMs / 2, (r) => (r % slots) * FRAME);
    closeSync(overFd);
    const offLoop = await offLoopRounds(path.join(root, 'overwrite'), durationMs);

    const batchFd = openSync(path.join(root, 'grow-batch'), 'wx');
    const batch = 256 * FRAME;
    let batchEnd = 0;
    const growGroup = loop(batchFd, durationMs / 3, () => (batchEnd += batch) - batch, batch);
    closeSync(batchFd);
    return { bytesPerWrite: FRAME, grow, overwrite, growBatch: growGroup, ...(offLoop === undefined ? {} : { offLoop }) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  measureFdatasync(Number(process.argv[2] ?? 2000)).then((r) => console.log(JSON.stringify(r)), (err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  });
}
