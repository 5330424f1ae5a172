// The native commit thread (native/commit_thread.h) has the lifetime of its descriptor: it starts
// with the first commitAsync, and closing the descriptor, or tearing down the environment that
// opened it (a terminated worker), stops and joins it. Counted with /proc/self/task: a thread
// left running would show as one more task.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { startThreadPool } from './support/thread-pool';

const LIB = path.join(__dirname, '..', 'lib');
const tasks = (): number => fs.readdirSync('/proc/self/task').length;

/** Threads end asynchronously to /proc only on the way out of join: wait until the count drops to `n` (or give up). */
async function settleTo(n: number): Promise<number> {
  for (let i = 0; i < 200 && tasks() > n; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return tasks();
}

const backend = nativeBackend();
if (backend !== undefined && process.platform === 'linux') {
  describe('native commit threads', function () {
    this.timeout(60_000);
    let tmp: string;
    before(startThreadPool);
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-commit-thread-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('starts with a descriptor’s first commit and is joined when the descriptor closes', async () => {
      const file = path.join(tmp, 'f');
      const before = tasks();
      const fd = backend.open(file, 'create');
      assert.equal(tasks(), before, 'opening starts no thread');
      await backend.commitAsync(fd, { chunks: [Buffer.from('abc')], offset: 0, dirs: [] }, file);
      assert.equal(tasks(), before + 1, 'one thread per descriptor that committed');
      await backend.commitAsync(fd, { chunks: [Buffer.from('def')], offset: 3, dirs: [] }, file);
      assert.equal(tasks(), before + 1, 'the same thread runs its later commits');
      backend.close(fd);
      assert.equal(tasks(), before, 'close joined it');
      assert.equal(fs.readFileSync(file).toString(), 'abcdef');
    });

    it('a commit on a number that is not open rejects with EBADF and starts no thread; the file next given that number commits', async () => {
      const file = path.join(tmp, 'f');
      const ebadf = (err: unknown): boolean => err instanceof IoError && err.errno === 'EBADF';
      const closed = backend.open(path.join(tmp, 'closed'), 'create');
      backend.close(closed);
      const before = tasks();
      for (const fd of [closed, 2 ** 31 - 1]) {
        await assert.rejects(backend.commitAsync(fd, { chunks: [Buffer.from('x')], offset: 0, dirs: [] }), ebadf);
        await assert.rejects(backend.commitAsync(fd, { chunks: [], offset: 0, dirs: [] }), ebadf);
      }
      assert.equal(tasks(), before, 'no commit thread for a number not open');
      const fd = backend.open(file, 'create');
      assert.equal(fd, closed, 'the OS handed the number out again');
      await backend.commitAsync(fd, { chunks: [Buffer.from('hello')], offset: 0, dirs: [] }, file);
      backend.close(fd);
      assert.equal(tasks(), before);
      assert.equal(fs.readFileSync(file, 'utf8'), 'hello');
    });

    it('a descriptor closed behind the binding’s back hands neither its thread nor its failure to the next file given its number', async () => {
      const file = path.join(tmp, 'f');
      const before = tasks();
      const stale = backend.open(path.join(tmp, 'stale'), 'create');
      await backend.commitAsync(stale, { chunks: [Buffer.from('x')], offset: 0, dirs: [] });
      fs.closeSync(stale); // not through the binding: its commit thread lives on, and now fails
      await assert.rejects(backend.commitAsync(stale, { chunks: [Buffer.from('y')], offset: 1, dirs: [] }), (err) => err instanceof IoError && err.errno === 'EBADF');
      const fd = backend.open(file, 'create');
      assert.equal(fd, stale, 'the OS handed the number out again');
      assert.equal(tasks(), before, 'opening the number again stopped the stale thread');
      await backend.commitAsync(fd, { chunks: [Buffer.from('hello')], offset: 0, dirs: [] }, file);
      backend.close(fd);
      assert.equal(tasks(), before);
      assert.equal(fs.readFileSync(file, 'utf8'), 'hello');
    });

    it('a writer that rotates through segments and closes leaves no commit thread behind', async () => {
      const before = tasks();
      const w = WalWriter.create(new FsDirectory(tmp, { backend }), { codec: raw, maxSegmentSize: 4096 });
      await Promise.all(Array.from({ length: 500 }, () => w.appendDurable(new Uint8Array(100))));
      assert.ok(w.currentSegmentId > 5);
      assert.ok(tasks() <= before + 2, 'at most the current segment and the one being closed have a thread');
      await w.close();
      assert.equal(tasks(), before);
      assert.equal(new WalReader(new FsDirectory(tmp, { backend }), { codec: raw }).entryCountSync(), 500);
    });

    it('close() with commits pending waits for them, then joins the thread', async () => {
      const before = tasks();
      const w = WalWriter.create(new FsDirectory(tmp, { backend }), { codec: raw });
      const pending = Array.from({ length: 2000 }, (_, i) => w.appendDurable(new Uint8Array(100).fill(i & 0xff)));
      await w.close();
      assert.deepEqual((await Promise.all(pending)).slice(-1), [2000]);
      assert.equal(tasks(), before);
      assert.equal(new WalReader(new FsDirectory(tmp, { backend }), { codec: raw }).entryCountSync(), 2000);
    });

    it('a worker terminated with commits queued leaves no commit thread and no descriptor behind', async () => {
      const fdsBefore = fs.readdirSync('/proc/self/fd').length;
      const before = tasks();
      const source = `
        const { parentPort, workerData } = require('node:worker_threads');
        const { nativeBackend } = require(${JSON.stringify(path.join(LIB, 'backend', 'select'))});
        const { FsDirectory } = require(${JSON.stringify(path.join(LIB, 'directory', 'fs'))});
        const { raw } = require(${JSON.stringify(path.join(LIB, 'wal', 'codec'))});
        const { WalWriter } = require(${JSON.stringify(path.join(LIB, 'wal', 'writer'))});
        const w = WalWriter.create(new FsDirectory(workerData, { backend: nativeBackend() }), { codec: raw, maxSegmentSize: 1 << 20 });
        for (let i = 0; i < 20000; i++) w.appendDurable(new Uint8Array(100)).catch(() => {});
        parentPort.postMessage('queued');`;
      const worker = new Worker(source, { eval: true, workerData: tmp });
      const errors: unknown[] = [];
      worker.on('error', (e) => errors.push(e));
      await once(worker, 'message');
      assert.equal(await worker.terminate(), 1);
      assert.deepEqual(errors, []);
      assert.equal(await settleTo(before), before, 'threads left running after the worker ended');
      assert.equal(fs.readdirSync('/proc/self/fd').length, fdsBefore, 'descriptors left open');
      // What the torn-down writer made durable is a clean log the next writer opens.
      const w = WalWriter.open(new FsDirectory(tmp, { backend }), { codec: raw });
      w.closeSync();
    });
  });
}
