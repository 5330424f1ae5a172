import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { LockedError } from '../lib/errors';
import { loadNative } from '../lib/native';
import { jsonCodec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { TEST_BUILD, testBuild } from './support/test-binding';

// What a worker leaves behind when it ends with a WAL writer still open. The native core
// releases, when an environment is torn down, every descriptor opened through it there (lock
// first), so terminate() frees the log for the next writer at once. The TypeScript backend's
// pid-file lock can run no code on terminate(), only when the worker ends by itself.

const LIB = path.join(__dirname, '..', 'lib');
const codec = jsonCodec<number>();

type Ending = 'terminate' | 'terminate-in-commit' | 'return' | 'process.exit';

interface Job {
  dir: string;
  backend: string;
  ending: Ending;
}

// Runs in the worker (eval): open a writer, make 100 entries durable, say so, then end as told
// without closing it.
const WRITER_SOURCE = `
const { parentPort, workerData: job } = require('node:worker_threads');
const { backendByName } = require(${JSON.stringify(path.join(LIB, 'backend', 'select'))});
const { FsDirectory } = require(${JSON.stringify(path.join(LIB, 'directory', 'fs'))});
const { jsonCodec } = require(${JSON.stringify(path.join(LIB, 'wal', 'codec'))});
const { WalWriter } = require(${JSON.stringify(path.join(LIB, 'wal', 'writer'))});
(async () => {
  const dir = new FsDirectory(job.dir, { create: true, backend: backendByName(job.backend) });
  const writer = WalWriter.open(dir, { codec: jsonCodec(), maxSegmentSize: 16 * 1024 });
  for (let i = 0; i < 100; i++) writer.append(i);
  await writer.sync();
  if (job.ending === 'return') return parentPort.postMessage(writer.durableEntryId);
  if (job.ending === 'process.exit') {
    parentPort.postMessage(writer.durableEntryId);
    return setImmediate(() => process.exit(0));
  }
  if (job.ending === 'terminate-in-commit') {
    // Commits stay in flight on the thread pool while the worker is torn down.
    for (let i = 100; i < 2000; i++) writer.appendDurable(i).catch(() => {});
    return parentPort.postMessage(writer.durableEntryId);
  }
  parentPort.postMessage(writer.durableEntryId);
  let i = 100;
  const more = () => {
    writer.append(i++);
    if (i % 64 === 0) writer.sync().then(() => setImmediate(more), () => {});
    else setImmediate(more);
  };
  more();
})();
`;

/** Starts the writer worker, waits for its first durable entries, then ends it as `job.ending` says. */
async function runWriterWorker(job: Job): Promise<number> {
  const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: job });
  const errors: unknown[] = [];
  worker.on('error', (e) => errors.push(e));
  const exited = once(worker, 'exit');
  const [durable] = (await once(worker, 'message')) as [number];
  if (job.ending.startsWith('terminate')) await worker.terminate();
  const [code] = (await exited) as [number];
  assert.deepEqual(errors, []);
  assert.equal(code, job.ending.startsWith('terminate') ? 1 : 0);
  return durable;
}

/** The log opens for a new writer (no LockedError) and holds at least the durable entries. */
function reopen(dir: string, backend: FsDirectory['backend'], durable: number): void {
  const writer = WalWriter.open(new FsDirectory(dir, { backend }), { codec });
  try {
    assert.ok(writer.lastEntryId >= durable, `${writer.lastEntryId} < ${durable}`);
    writer.append(-1);
  } finally {
    writer.closeSync();
  }
}

for (const backend of availableBackends()) {
  describe(`worker teardown with an open writer (${backend.name} backend)`, () => {
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-teardown-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const endings: Ending[] = ['return', 'process.exit'];
    if (backend.name === 'native') endings.push('terminate', 'terminate-in-commit');
    for (const ending of endings) {
      it(`a worker that ends by ${ending} leaves the log free for the next writer`, async () => {
        const dir = path.join(tmp, 'log');
        const durable = await runWriterWorker({ dir, backend: backend.name, ending });
        assert.ok(durable >= 100);
        reopen(dir, backend, durable);
      });
    }

    it('the lock is still held while the worker runs', async () => {
      const dir = path.join(tmp, 'log');
      const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { dir, backend: backend.name, ending: 'terminate' } satisfies Job });
      try {
        await once(worker, 'message');
        assert.throws(() => WalWriter.open(new FsDirectory(dir, { backend }), { codec }), LockedError);
      } finally {
        await worker.terminate();
      }
    });
  });
}

const binding = loadNative().binding;
if (binding) {
  describe('native core: environment teardown', () => {
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-teardown-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('closes every descriptor a terminated worker opened through the core, and only those', async () => {
      // Each file gets a size no other open file has, so a descriptor number reused by this
      // thread after the worker's close cannot pass for the worker's file.
      const files = [0, 1, 2].map((i) => path.join(tmp, `f${i}`));
      const sizes = files.map((_f, i) => 40_000 + 7 * i);
      const mine = binding.open(path.join(tmp, 'main'), binding.constants.O_RDWR | binding.constants.O_CREAT);
      binding.pwrite(mine, Buffer.alloc(123), 0);
      const source = `
        const { parentPort, workerData } = require('node:worker_threads');
        const b = require(${JSON.stringify(loadNative().path)});
        const fds = workerData.files.map((f, i) => {
          const fd = b.open(f, b.constants.O_RDWR | b.constants.O_CREAT);
          b.pwrite(fd, Buffer.alloc(workerData.sizes[i]), 0);
          return fd;
        });
        b.close(fds[2]); // closed by the worker itself: not the env's to close again
        b.tryLockExclusive(fds[0]);
        parentPort.postMessage(fds);
        setInterval(() => {}, 1000);`;
      const worker = new Worker(source, { eval: true, workerData: { files, sizes } });
      const [fds] = (await once(worker, 'message')) as [number[]];
      for (const [i, fd] of fds.slice(0, 2).entries()) assert.equal(binding.fileSize(fd), sizes[i]);
      await worker.terminate();
      for (const [i, fd] of fds.entries()) {
        let size: number | string;
        try {
          size = binding.fileSize(fd);
        } catch (err) {
          size = (err as { code: string }).code;
        }
        assert.notEqual(size, sizes[i], `fd ${fd} still open on ${files[i]}`);
      }
      // The worker's lock is gone: a new open file description gets it.
      const again = binding.open(files[0], binding.constants.O_RDWR);
      try {
        assert.equal(binding.tryLockExclusive(again), true);
      } finally {
        binding.close(again);
      }
      assert.equal(binding.fileSize(mine), 123);
      binding.close(mine);
    });
  });
}

if (binding) {
  describe(`native core: completions during environment teardown ${TEST_BUILD}`, () => {
    let tmp: string;
    before(function () {
      this.timeout(600_000); // the first run builds the test addon
      testBuild();
    });
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-teardown-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('a completion that finds its worker torn down drops its result and never calls into the dying environment', async () => {
      const { binding: hooks, path: addon } = testBuild();
      // The worker queues thread-pool work of every kind, then blocks its own thread, so none of
      // the completions can run before terminate(): Node runs them all while it tears the
      // worker's environment down, before the environment's cleanup hooks.
      const ROUNDS = 30;
      const source = `
        const { parentPort, workerData } = require('node:worker_threads');
        const b = require(workerData.addon);
        const fd = b.open(workerData.file, b.constants.O_RDWR | b.constants.O_CREAT);
        for (let i = 0; i < ${ROUNDS}; i++) {
          b.pwriteAsync(fd, Buffer.alloc(4096, i), i * 4096).catch(() => {});
          b.fdatasyncAsync(fd).catch(() => {});
          b.commitAsync(fd, [Buffer.alloc(512, i)], i * 512, -1, [workerData.dir]).catch(() => {});
          b.fsyncDirAsync(workerData.dir).catch(() => {});
        }
        parentPort.postMessage('queued');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);`;
      const before = hooks.__completionStats();
      const worker = new Worker(source, { eval: true, workerData: { addon, file: path.join(tmp, 'f'), dir: tmp } });
      await once(worker, 'message');
      await worker.terminate();
      const after = hooks.__completionStats();
      assert.equal(after.settleFailed - before.settleFailed, 0, 'completions called into the dying environment');
      assert.equal(after.dropped - before.dropped, 4 * ROUNDS, 'every completion of the torn-down worker dropped its result');
    });

    it('completions in a live environment settle their promises', async () => {
      const { binding: hooks } = testBuild();
      const before = hooks.__completionStats();
      const fd = hooks.open(path.join(tmp, 'live'), hooks.constants.O_RDWR | hooks.constants.O_CREAT);
      try {
        assert.equal(await hooks.pwriteAsync(fd, Buffer.alloc(10), 0), 10);
        await hooks.fdatasyncAsync(fd);
        await assert.rejects(hooks.fsyncDirAsync(path.join(tmp, 'missing')), { code: 'ENOENT' });
      } finally {
        hooks.close(fd);
      }
      const after = hooks.__completionStats();
      assert.deepEqual([after.settled - before.settled, after.dropped - before.dropped, after.settleFailed - before.settleFailed], [3, 0, 0]);
    });
  });
}
