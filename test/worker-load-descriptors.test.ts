// A worker terminated right after it loaded the package, or right after the pure-TS backend synced
// a directory, leaves no descriptor open in the process. Neither may leave a close(2) queued on
// libuv's thread pool: Node removes a descriptor from
// the worker's own list (the ones it closes at teardown) when fs.close is called, and a terminated
// worker's teardown cancels requests the pool has not started, so a close still waiting there
// never runs. msgpackr's native extractor did that: its loader (node-gyp-build-optional-packages)
// asks detect-libc for the C library, which reads /proc/self/exe and closes it with fs.close.
// On a busy pool (a loaded machine) the lifecycle tests saw "23 descriptors open, 22 before", the
// new one the node binary. Here the pool is held busy on purpose (this thread's
// opens of FIFOs no one writes to), so whatever loading queues is still queued at the teardown.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { followWorker } from './support/worker-outcome';
import { openDescriptors } from './support/descriptors';

const PACKAGE_ENTRY = path.join(__dirname, '..', 'lib', 'index.js');
const BACKENDS = path.join(__dirname, '..', 'lib', 'backend', 'select.js');
/** The pool's size as libuv reads it (default 4, at most 1024). */
const POOL_THREADS = Math.min(1024, Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4));

/** Threads of this process blocked in open(2) of a FIFO no one has opened for writing. */
function threadsInFifoOpen(): number {
  let n = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${tid}/wchan`, 'utf8') === 'wait_for_partner') n++;
    } catch {
      // the thread ended while listed
    }
  }
  return n;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

/**
 * Holds every thread of libuv's pool in open(2) of a FIFO until `release` opens them for writing;
 * resolves once all of them are in open(2). An open still queued behind other pool work would hold
 * no thread, and a non-blocking writer's open finds no reader there (ENXIO).
 */
async function holdThreadPool(dir: string): Promise<{ release(): Promise<void> }> {
  const fifos = Array.from({ length: POOL_THREADS }, (_, i) => path.join(dir, `fifo-${i}`));
  for (const fifo of fifos) {
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, `mkfifo ${fifo}: ${made.stderr}`);
  }
  const opened = fifos.map((fifo) => new Promise<number>((resolve, reject) => fs.open(fifo, 'r', (err, fd) => (err ? reject(err) : resolve(fd)))));
  const release = async (): Promise<void> => {
    for (const fifo of fifos) {
      // A reader waiting in open(2) counts as one: a non-blocking writer's open succeeds and wakes
      // it. One not there yet (still queued when holding failed) comes once others are released.
      for (;;) {
        try {
          fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
          await tick();
        }
      }
    }
    for (const fd of await Promise.all(opened)) fs.closeSync(fd);
  };
  const deadline = Date.now() + 30_000;
  while (threadsInFifoOpen() < POOL_THREADS) {
    if (Date.now() > deadline) {
      await release();
      throw new Error(`${threadsInFifoOpen()} of ${POOL_THREADS} thread-pool threads reached open(2) of a FIFO in 30 s`);
    }
    await tick();
  }
  return { release };
}

if (process.platform === 'linux') {
  describe('a worker that loads the package', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-worker-load-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('and is terminated with the thread pool busy leaves no descriptor open', async function () {
      this.timeout(60_000);
      // A first worker, so that what the first one creates for good is in the baseline.
      await followWorker(new Worker('0', { eval: true }), 'warm-up');
      const before = openDescriptors();
      const pool = await holdThreadPool(dir);
      try {
        const worker = new Worker(
          `require(${JSON.stringify(PACKAGE_ENTRY)}).jsonCodec(); require('node:worker_threads').parentPort.postMessage('loaded');`,
          { eval: true },
        );
        const loaded = new Promise((resolve) => worker.once('message', resolve));
        const outcome = followWorker<string>(worker, 'loader');
        assert.equal(await loaded, 'loaded');
        // Whatever loading queued on the pool is still queued: the teardown cancels it.
        await worker.terminate();
        assert.deepEqual((await outcome).errors, []);
      } finally {
        await pool.release();
      }
      const left = [...openDescriptors()].filter(([fd, target]) => before.get(fd) !== target).map(([fd, target]) => `${fd} -> ${target}`);
      assert.deepEqual(left, [], `descriptors left open (the node binary is ${fs.readlinkSync('/proc/self/exe')})`);
    });

    it("and is terminated right after the pure-TS backend's directory fsync leaves the directory's descriptor closed", async function () {
      this.timeout(60_000);
      const synced = path.join(dir, 'synced');
      fs.mkdirSync(synced);
      // The worker stops when its fsync returns until this thread holds every pool thread, so
      // anything the backend then queues on the pool stays queued until the teardown.
      const gate = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(
        `const fs = require('node:fs');
        const { parentPort, workerData } = require('node:worker_threads');
        const fsync = fs.fsync;
        fs.fsync = (fd, cb) => fsync(fd, (err) => {
          parentPort.postMessage('synced');
          Atomics.wait(workerData, 0, 0);
          cb(err);
          setImmediate(() => parentPort.postMessage('went on'));
        });
        require(${JSON.stringify(BACKENDS)}).tsBackend().fsyncDirAsync(${JSON.stringify(synced)});`,
        { eval: true, workerData: gate },
      );
      const outcome = followWorker<string>(worker, 'directory fsync');
      const messages: unknown[] = [];
      const wentOn = new Promise((resolve) => worker.on('message', (m) => messages.push(m) === 2 && resolve(m)));
      await new Promise((resolve) => worker.once('message', resolve));
      const pool = await holdThreadPool(dir);
      try {
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        await wentOn;
        await worker.terminate();
        assert.deepEqual((await outcome).errors, []);
      } finally {
        await pool.release();
      }
      assert.deepEqual(messages, ['synced', 'went on']);
      const left = [...openDescriptors()].filter(([, target]) => target === synced);
      assert.deepEqual(left, [], 'the directory fsynced in the terminated worker is still open here');
    });
  });
}
