// Group commit and the event loop, on real files with every backend: a 100 MiB durable burst
// never blocks the loop (timers keep firing, and it turns at least once per MAX_PER_TURN + 1
// commits; see stalls), 1,024
// concurrent callers complete on a 4-thread pool with one commit per round, a pending
// appendDurable keeps the process alive and an idle open writer does not delay its exit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommitSteps, FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import { COMMIT_DEPTH } from '../lib/wal/group-commit';

const MAX_PER_TURN = 4 * COMMIT_DEPTH;
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const child = path.join(__dirname, 'fixtures', 'group-commit-child.js');

function runChild(mode: string, root: string, backend: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, mode, root, backend], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => (out += chunk));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** Counts event-loop turns: one tick per check phase while running. */
function loopTicker(): { readonly ticks: number; stop(): void } {
  let ticks = 0;
  let running = true;
  const spin = (): void => {
    ticks++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  return {
    get ticks() {
      return ticks;
    },
    stop: () => void (running = false),
  };
}

/** `backend` with commitAsync done synchronously on the calling thread (a promise already settled). */
function blockingCommits(backend: FileBackend): FileBackend {
  const commitAsync = (fd: number, steps: CommitSteps, file?: string): Promise<void> => {
    try {
      backend.pwritev(fd, steps.chunks, steps.offset, file);
      if (steps.truncateTo !== undefined) backend.ftruncate(fd, steps.truncateTo, file);
      backend.fdatasync(fd, file);
      for (const d of steps.dirs) backend.fsyncDir(d);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return overriding(backend, { commitAsync });
}

for (const backend of availableBackends()) {
  describe(`group commit and the event loop (${backend.name})`, function () {
    this.timeout(60_000);
    let root: string;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-gc-loop-'));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    /** A durable burst of 100 calls of 16 × 64 KiB; the loop ticks seen at each commit, and timer firings. */
    async function burst(commitBackend: FileBackend): Promise<{ ticksAtCommit: number[]; timerDuring: number }> {
      const ticker = loopTicker();
      const ticksAtCommit: number[] = [];
      let timerTicks = 0;
      const timer = setInterval(() => void timerTicks++, 1);
      const w = WalWriter.create(new FsDirectory(root, { backend: commitBackend }), { codec: raw, observer: { onSync: () => void ticksAtCommit.push(ticker.ticks) } });
      const entry = new Uint8Array(64 * 1024).fill(1);
      const perCall = 16;
      const calls = 100;
      let timerDuring: number;
      let commits: number[];
      try {
        const timerBefore = timerTicks;
        const bursts = Array.from({ length: calls }, () => w.appendBatchDurable(Array.from({ length: perCall }, () => entry)));
        const results = await Promise.all(bursts);
        timerDuring = timerTicks - timerBefore;
        commits = ticksAtCommit.slice(); // close() syncs once more, from the same turn: not part of the burst
        assert.deepEqual(results[calls - 1].slice(-1), [calls * perCall]);
        assert.ok(w.currentSegmentId >= 2, 'the burst rotated');
        assert.ok(commits.length >= calls, `${commits.length} commits`);
      } finally {
        clearInterval(timer);
        ticker.stop();
        await w.close();
      }
      const count = new WalReader(new FsDirectory(root, { backend }), { codec: raw }).entryCountSync();
      assert.equal(count, calls * perCall);
      return { ticksAtCommit: commits, timerDuring };
    }

    /**
     * Commits that completed in the same loop turn as MAX_PER_TURN commits before them. A file
     * settles the commits done by the time the loop wakes in one go (COMMIT_DEPTH of them, or a
     * few more when its thread finishes another while the loop is still settling the last), and
     * at a rotation the old and the new segment file both wake it; commits run on the loop's own
     * thread all complete in the turn that started them (the control below).
     */
    function stalls(ticksAtCommit: number[]): number[] {
      const out: number[] = [];
      for (let i = MAX_PER_TURN; i < ticksAtCommit.length; i++) if (ticksAtCommit[i] <= ticksAtCommit[i - MAX_PER_TURN]) out.push(i);
      return out;
    }

    it('a 100 MiB durable burst leaves the loop turning at least once per MAX_PER_TURN + 1 commits, and a timer firing', async () => {
      const { ticksAtCommit, timerDuring } = await burst(backend);
      assert.deepEqual(stalls(ticksAtCommit), [], 'commits between which the loop did not turn');
      assert.ok(timerDuring >= 1, 'the 1 ms timer fired during the burst');
    });

    it('control: the same check catches commits done on the main thread', async () => {
      const { ticksAtCommit } = await burst(blockingCommits(backend));
      assert.ok(stalls(ticksAtCommit).length > 0, 'a commit path that blocks the loop must be seen to block it');
    });

    it('1,024 concurrent appendDurable callers complete with UV_THREADPOOL_SIZE=4, one commit per round', async () => {
      const { code, out } = await runChild('callers', root, backend.name, { UV_THREADPOOL_SIZE: '4' });
      assert.equal(code, 0);
      const result = JSON.parse(out) as { entries: number; commits: number; distinct: number; max: number };
      assert.equal(result.entries, 4096);
      assert.equal(result.distinct, 4096);
      assert.equal(result.max, 4096);
      // Each round's 1,024 callers land in one batch (+1 sync event from close): a commit per
      // round, not per caller, and never more than one pool thread busy with this writer.
      assert.equal(result.commits, 5);
    });

    it('a pending appendDurable keeps the process alive until it is durable', async () => {
      const { code, out } = await runChild('pending', root, backend.name);
      assert.equal(code, 0);
      assert.equal(out, 'durable 1\n');
      const ids = new WalReader(new FsDirectory(root, { backend }), { codec: raw }).replaySync().map((r) => r.entryId);
      assert.deepEqual(ids, [1]);
    });

    it('an idle open writer (with a flush timer) does not keep the process alive', async () => {
      const { code, out } = await runChild('idle', root, backend.name);
      assert.equal(code, 0);
      assert.equal(out, 'idle 1\n');
    });
  });
}
