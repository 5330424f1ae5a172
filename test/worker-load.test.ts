// The native core is context-aware: it loads in worker_threads (one, and several at once), works
// there, and survives workers being terminated, or the process exiting, with operations in flight.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { nativeBackend } from '../lib/backend/select';
import type { NativeWorkerJob, NativeWorkerResult } from './fixtures/native-worker';

const WORKER = path.join(__dirname, 'fixtures', 'native-worker.js');
const EXIT_CHILD = path.join(__dirname, 'fixtures', 'native-exit.js');

if (nativeBackend()) {
  describe('native core in worker threads', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-worker-'));
    });
    after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    async function run(id: number): Promise<NativeWorkerResult> {
      const job: NativeWorkerJob = { dir, id, mode: 'work' };
      const worker = new Worker(WORKER, { workerData: job });
      const errors: unknown[] = [];
      worker.on('error', (err) => errors.push(err));
      const [result] = (await once(worker, 'message')) as [NativeWorkerResult];
      const [code] = (await once(worker, 'exit')) as [number];
      assert.deepEqual(errors, []);
      assert.equal(code, 0);
      return result;
    }

    function check(result: NativeWorkerResult, id: number): void {
      const data = Buffer.alloc(64 * 1024 + id, id + 1);
      assert.equal(result.id, id);
      assert.equal(result.crc, result.jsCrc);
      assert.equal(result.size, 2 * data.length);
      assert.equal(result.onDisk, nativeBackend()?.crc32c(Buffer.concat([data, data])));
      assert.ok(fs.readFileSync(path.join(dir, `worker-${id}`)).equals(Buffer.concat([data, data])));
    }

    it('loads through the backend selector in one worker, checksums, writes and syncs there', async () => {
      check(await run(0), 0);
    });

    it('does the same in four workers at once, and the main thread keeps working', async () => {
      const results = await Promise.all([1, 2, 3, 4].map(run));
      results.forEach((r, i) => check(r, i + 1));
      assert.equal(nativeBackend()?.crc32c(Buffer.from('123456789')), 0xe3069283);
    });

    it('survives terminating workers while their async writes and syncs are in flight', async () => {
      const workers = [10, 11, 12].map((id) => new Worker(WORKER, { workerData: { dir, id, mode: 'flood' } satisfies NativeWorkerJob }));
      const errors: unknown[] = [];
      for (const w of workers) w.on('error', (err) => errors.push(err));
      await Promise.all(workers.map((w) => once(w, 'message')));
      const codes = await Promise.all(workers.map((w) => w.terminate()));
      assert.deepEqual(codes, [1, 1, 1]);
      assert.deepEqual(errors, []);
      check(await run(13), 13); // and a fresh worker still loads and works
    });

    for (const how of ['exit', 'return']) {
      it(`a process ending by ${how === 'exit' ? 'process.exit()' : 'terminating its workers'} with native work in flight exits cleanly`, () => {
        const child = spawnSync(process.execPath, [EXIT_CHILD, how, dir], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(child.signal, null, `killed by ${child.signal}: ${child.stderr}`);
        assert.equal(child.status, 0, child.stderr);
        assert.equal(child.stderr, '');
      });
    }
  });
}
