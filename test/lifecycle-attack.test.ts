// The native core's lifecycle under attack: worker_threads terminated at random moments of a WAL
// storm (appendDurable at full speed, rotation every few KB, a follow() reader and recycling in
// the same worker, a second writer in another worker), processes that exit or die of an uncaught
// exception with commits in flight, and close() racing all of that. Whatever the moment: the
// process lives, no descriptor or thread is left behind, and every entry a writer reported
// durable is in the log when it reopens.
//
// Timing is random (a seed, printed on failure; DURABILITY_SEED replays it); DURABILITY_LONG=1
// repeats more.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { jsonCodec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import type { LifecycleWorkerJob } from './fixtures/lifecycle-worker';
import { startThreadPool } from './support/thread-pool';
import { followWorker } from './support/worker-outcome';
import { openDescriptors } from './support/descriptors';

const WORKER = path.join(__dirname, 'fixtures', 'lifecycle-worker.js');
const EXIT_CHILD = path.join(__dirname, 'fixtures', 'lifecycle-exit-child.js');
const LONG = process.env.DURABILITY_LONG === '1';
const codec = jsonCodec<number>();
const linux = process.platform === 'linux';

/** mulberry32: the delays of a run, from one seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = process.env.DURABILITY_SEED !== undefined ? Number(process.env.DURABILITY_SEED) : (Date.now() ^ process.pid) >>> 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const counts = () => ({ fds: fs.readdirSync('/proc/self/fd').length, threads: fs.readdirSync('/proc/self/task').length, targets: openDescriptors() });

/**
 * The descriptors of a round, taken once its workers exited and again once this thread reopened
 * their logs: a descriptor left open is named with the ones it was already open in, which tells
 * whether it came with the workers' teardown or with the reopen here.
 */
interface RoundPhase {
  readonly label: string;
  readonly targets: Map<string, string>;
}

function newTargets(base: Map<string, string>, now: Map<string, string>, phases: readonly RoundPhase[] = []): string {
  const added = [...now].filter(([fd, target]) => base.get(fd) !== target).map(([fd, target]) => {
    const openIn = phases.filter((p) => p.targets.get(fd) === target).map((p) => p.label);
    return `${fd} -> ${target} (open ${openIn.length === 0 ? 'in neither' : openIn.join(' and ')})`;
  });
  return added.length === 0 ? '' : `; new: ${added.join(', ')}`;
}

/** Waits (up to 10 s) for this process's descriptors and threads to come back down to `base`. */
async function settledTo(
  base: { fds: number; threads: number; targets: Map<string, string> }, what: string, phases: readonly RoundPhase[] = [],
): Promise<void> {
  let now = counts();
  for (let i = 0; i < 200 && (now.fds > base.fds || now.threads > base.threads); i++) {
    await sleep(50);
    now = counts();
  }
  assert.ok(
    now.fds <= base.fds,
    `${what}: ${now.fds} descriptors open, ${base.fds} before; ${now.threads} threads, ${base.threads} before (seed ${seed})${newTargets(base.targets, now.targets, phases)}`,
  );
  assert.ok(now.threads <= base.threads, `${what}: ${now.threads} threads, ${base.threads} before (seed ${seed})`);
}

/** Reopens the log here (recovery), then checks it holds 1..acked (or what truncation left of them) in order. */
function assertHolds(dir: string, acked: number, what: string): void {
  const backend = nativeBackend()!;
  // A worker terminated before it opened the log left no directory.
  const writer = WalWriter.open(new FsDirectory(dir, { create: true, backend }), { codec });
  try {
    assert.ok(writer.lastEntryId >= acked, `${what}: reopened at ${writer.lastEntryId}, ${acked} was reported durable (seed ${seed})`);
  } finally {
    writer.closeSync();
  }
  const records = new WalReader(new FsDirectory(dir, { backend }), { codec }).replaySync();
  if (acked > 0) assert.ok(records.length > 0 && records[records.length - 1].entryId >= acked, `${what}: replay ends before ${acked}`);
  records.forEach((r, i) => {
    assert.equal(r.payload, r.entryId, `${what}: entry ${r.entryId} holds ${r.payload}`);
    if (i > 0) assert.equal(r.entryId, records[i - 1].entryId + 1, `${what}: entries skip from ${records[i - 1].entryId} to ${r.entryId}`);
  });
}

if (nativeBackend() && linux) {
  describe(`native core lifecycle under attack (seed ${seed})`, () => {
    let tmp: string;
    before(startThreadPool);
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-lifecycle-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    /** Starts a storm worker on `dir`; `acked` holds the highest id it reported durable. */
    function storm(dir: string, name: string) {
      const state = { acked: 0 };
      const worker = new Worker(WORKER, { workerData: { dir, mode: 'storm' } satisfies LifecycleWorkerJob });
      const started = new Promise<void>((resolve) => worker.once('message', () => resolve()));
      worker.on('message', (id: number) => {
        if (id > state.acked) state.acked = id;
      });
      const outcome = followWorker<number>(worker, name);
      return { worker, state, started, outcome };
    }

    it('workers terminated at random moments of a storm leave no descriptor or thread and lose no acknowledged entry', async function () {
      const rounds = LONG ? 50 : 8;
      this.timeout(LONG ? 600_000 : 60_000);
      const rand = random(seed);
      const dirs = [path.join(tmp, 'a'), path.join(tmp, 'b')];
      const acked = [0, 0];
      let base: ReturnType<typeof counts> | undefined;
      for (let round = 0; round <= rounds; round++) {
        const workers = dirs.map((d, i) => storm(d, `storm ${i} round ${round}`));
        // Round 0 warms up and sets the baseline. Some terminations come before the first
        // commit, most during the storm.
        if (rand() < 0.8) await workers[0].started;
        await sleep(Math.floor(rand() * 40));
        const first = workers[0].worker.terminate();
        await sleep(Math.floor(rand() * 10));
        await Promise.all([first, workers[1].worker.terminate()]);
        const exited: RoundPhase = { label: 'once the workers exited', targets: openDescriptors() };
        for (const [i, w] of workers.entries()) {
          const { messages, errors, code } = await w.outcome;
          assert.deepEqual(errors, [], `round ${round}, worker ${i} (seed ${seed})`);
          // Node reports 0 for a worker terminated before it started running its script.
          if (messages.length > 0) assert.equal(code, 1);
          else assert.ok(code === 0 || code === 1, `round ${round}, worker ${i}: exit code ${code}`);
          acked[i] = Math.max(acked[i], w.state.acked);
          assertHolds(dirs[i], acked[i], `round ${round}, log ${i}`);
        }
        const reopened: RoundPhase = { label: 'after the reopen here', targets: openDescriptors() };
        if (base === undefined) {
          await sleep(200);
          base = counts();
        } else {
          await settledTo(base, `round ${round}`, [exited, reopened]);
        }
      }
      assert.ok(acked[0] > 0 && acked[1] > 0, 'the storms made entries durable');
    });

    for (const how of ['exit', 'throw'] as const) {
      it(`workers ending by ${how === 'exit' ? 'process.exit()' : 'an uncaught exception'} in the middle of a rotation leave nothing behind and lose no acknowledged entry`, async function () {
        const rounds = LONG ? 40 : 4;
        this.timeout(LONG ? 600_000 : 60_000);
        const rand = random(seed + 7 + how.length);
        const base = counts();
        for (let round = 0; round < rounds; round++) {
          const dir = path.join(tmp, `${how}-${round}`);
          const job: LifecycleWorkerJob = { dir, mode: 'storm', end: { how, atRotation: 1 + Math.floor(rand() * (LONG ? 20 : 6)) } };
          let acked = 0;
          const worker = new Worker(WORKER, { workerData: job });
          worker.on('message', (id: number) => {
            acked = Math.max(acked, id);
          });
          const { errors, code } = await followWorker<number>(worker, `${how} ${round}`);
          const what = `round ${round}, ${how} at rotation ${job.end!.atRotation} (seed ${seed})`;
          if (how === 'throw') {
            assert.equal(errors.length, 1, what);
            assert.match(String(errors[0]), /planned uncaught exception/);
            assert.equal(code, 1, what);
          } else {
            assert.deepEqual(errors, [], what);
            assert.equal(code, 3, what);
          }
          assertHolds(dir, acked, what);
          if (round === 0) Object.assign(base, counts()); // what the first worker creates for good is in it
          else await settledTo(base, what);
        }
      });
    }

    it('workers that run out of memory in a storm leave nothing behind and lose no acknowledged entry', async function () {
      this.timeout(LONG ? 600_000 : 60_000);
      const dir = path.join(tmp, 'oom');
      let acked = 0;
      let base: ReturnType<typeof counts> | undefined;
      for (let round = 0; round <= (LONG ? 20 : 3); round++) {
        const job: LifecycleWorkerJob = { dir, mode: 'storm', hog: true };
        const worker = new Worker(WORKER, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 24 } });
        worker.on('message', (id: number) => {
          acked = Math.max(acked, id);
        });
        const { errors, code } = await followWorker<number>(worker, `oom ${round}`);
        assert.deepEqual(errors.map((e) => (e as { code?: string }).code), ['ERR_WORKER_OUT_OF_MEMORY'], `round ${round}`);
        assert.equal(code, 1);
        assertHolds(dir, acked, `round ${round}`);
        if (base === undefined) base = counts();
        else await settledTo(base, `round ${round}`);
      }
      assert.ok(acked > 0, 'the storms made entries durable before running out of memory');
    });

    for (const how of ['exit', 'throw', 'worker-exit', 'exit-on-rotate'] as const) {
      it(`a process ending by ${how} with commits and rotations in flight exits as it should and loses no acknowledged entry`, function () {
        const runs = LONG ? 20 : 3;
        this.timeout(LONG ? 600_000 : 60_000);
        const rand = random(seed + how.length);
        for (let run = 0; run < runs; run++) {
          const dir = path.join(tmp, `${how}-${run}`);
          // A delay in ms, or for exit-on-rotate the rotation to exit at.
          const delay = how === 'exit-on-rotate' ? 1 + Math.floor(rand() * (LONG ? 20 : 6)) : Math.floor(rand() * 60);
          const child = spawnSync(process.execPath, [EXIT_CHILD, how, dir, String(delay)], { encoding: 'utf8', timeout: 60_000 });
          const what = `${how} after ${delay} ms (seed ${seed})`;
          assert.equal(child.signal, null, `${what}: killed by ${child.signal}: ${child.stderr}`);
          assert.equal(child.status, how === 'throw' ? 1 : 0, `${what}: ${child.stderr}`);
          if (how === 'throw') assert.match(child.stderr, /planned uncaught exception/);
          else assert.equal(child.stderr, '', what);
          const ids = child.stdout.split('\n').filter((l) => l !== '').map(Number);
          assertHolds(dir, Math.max(0, ...ids), what);
        }
      });
    }

    describe('close() racing the writer', () => {
      const open = (dir: string, extra: object = {}) =>
        WalWriter.open<number>(new FsDirectory(dir, { create: true, backend: nativeBackend()! }), { codec, maxSegmentSize: 4096, ...extra });

      /** Starts `n` appendDurable calls; the ids that resolved, and the errors of those that did not. */
      function storm(writer: WalWriter<number>, n: number) {
        const resolved: number[] = [];
        const rejected: unknown[] = [];
        const all = Promise.all(
          Array.from({ length: n }, () => {
            try {
              return writer.appendDurable(writer.nextEntryId).then((id) => void resolved.push(id), (err: unknown) => void rejected.push(err));
            } catch (err) {
              rejected.push(err);
              return undefined;
            }
          }),
        );
        return { resolved, rejected, all };
      }

      it('close() during an appendDurable storm with rotations commits every entry appended before it', async () => {
        const before = counts();
        const rand = random(seed + 1);
        for (let round = 0; round < (LONG ? 100 : 20); round++) {
          const dir = path.join(tmp, `c${round}`);
          const writer = open(dir);
          const s = storm(writer, 1 + Math.floor(rand() * 400));
          await sleep(Math.floor(rand() * 3));
          await writer.close();
          await s.all;
          assert.deepEqual(s.rejected, [], `round ${round} (seed ${seed})`);
          assertHolds(dir, Math.max(0, ...s.resolved), `round ${round}`);
          assert.equal(writer.durableEntryId, writer.lastEntryId);
        }
        await settledTo(before, 'after the closes');
      });

      it('closeSync() during a storm refuses with InvalidStateError and leaves the writer whole; close() then finishes', async () => {
        const dir = path.join(tmp, 'cs');
        const writer = open(dir);
        const s = storm(writer, 300);
        assert.throws(() => writer.closeSync(), { code: 'DURABILITY_INVALID_STATE' });
        await writer.close();
        await s.all;
        assert.deepEqual(s.rejected, []);
        assertHolds(dir, Math.max(...s.resolved), 'closeSync then close');
      });

      it('close() from the continuation of the last append, and appends after it, are clean', async () => {
        const dir = path.join(tmp, 'cont');
        const writer = open(dir);
        const s = storm(writer, 100);
        const last = writer.appendDurable(writer.nextEntryId);
        const closed = last.then(() => writer.close());
        const late = last.then(() => writer.appendDurable(-1));
        late.catch(() => undefined); // checked below, after the close
        assert.equal(await last, 101);
        await closed;
        await assert.rejects(late, { code: 'DURABILITY_CLOSED' });
        await s.all;
        assert.deepEqual(s.rejected, []);
        assertHolds(dir, 101, 'close in continuation');
      });

      it('close() right after recycle() and an idle mark, with commits in flight', async () => {
        const dir = path.join(tmp, 'rec');
        const writer = open(dir, { recycleCapacity: 4, idleMarkMs: 1 });
        for (let round = 0; round < 5; round++) {
          const s = storm(writer, 1000);
          await s.all;
          const maintenance = new WalMaintenance(new FsDirectory(dir, { backend: nativeBackend()! }));
          const ranges = maintenance.segmentRanges();
          assert.ok(ranges.length >= 3, `${ranges.length} segments`);
          writer.recycle(maintenance.truncateToRecycle(ranges[ranges.length - 2].lastEntryId));
          await sleep(2); // the idle mark's timer
        }
        const s = storm(writer, 200);
        await writer.close();
        await s.all;
        assert.deepEqual(s.rejected, []);
        assertHolds(dir, Math.max(...s.resolved), 'recycle then close');
      });

      it('a worker opening and closing 100 writers leaves no descriptor or thread behind', async function () {
        this.timeout(60_000);
        const run = async (writers: number) => {
          const worker = new Worker(WORKER, { workerData: { dir: tmp, mode: 'churn', writers } satisfies LifecycleWorkerJob });
          const { messages, errors, code } = await followWorker<unknown>(worker, 'churn');
          assert.deepEqual(errors, []);
          assert.equal(code, 0);
          assert.equal(messages[messages.length - 1], 'done');
        };
        await run(5); // warms up
        const before = counts();
        await run(LONG ? 1000 : 100);
        await settledTo(before, 'after 100 writers');
      });

      it('workers terminated while they open and close writers with appends in flight leave nothing behind and lose no acknowledged entry', async function () {
        this.timeout(LONG ? 600_000 : 60_000);
        const rand = random(seed + 3);
        const acked = new Array<number>(10).fill(0);
        let base: ReturnType<typeof counts> | undefined;
        for (let round = 0; round <= (LONG ? 40 : 6); round++) {
          const worker = new Worker(WORKER, { workerData: { dir: tmp, mode: 'churn', writers: 1000 } satisfies LifecycleWorkerJob });
          worker.on('message', (m: { log: number; id: number } | 'done') => {
            if (m !== 'done') acked[m.log] = Math.max(acked[m.log], m.id);
          });
          const started = new Promise((resolve) => worker.once('message', resolve));
          const outcome = followWorker<unknown>(worker, `churn ${round}`);
          // Mostly once it has made something durable (a slow start, as under the sanitizers,
          // would otherwise end every round before the first commit); sometimes during its start.
          if (rand() < 0.8) await started;
          await sleep(Math.floor(rand() * 60));
          await worker.terminate();
          const { errors } = await outcome;
          const exited: RoundPhase = { label: 'once the worker exited', targets: openDescriptors() };
          assert.deepEqual(errors, [], `round ${round} (seed ${seed})`);
          for (const [log, id] of acked.entries()) assertHolds(path.join(tmp, `w${log}`), id, `round ${round}, log w${log}`);
          const reopened: RoundPhase = { label: 'after the reopen here', targets: openDescriptors() };
          if (base === undefined) base = counts();
          else await settledTo(base, `round ${round}`, [exited, reopened]);
        }
        assert.ok(acked.some((id) => id > 0), 'the workers made entries durable');
      });
    });
  });
}
