import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { jsonCodec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import type { WriterWorkerJob, WriterWorkerResult } from './fixtures/writer-worker';

// WAL writers inside worker_threads: several at once, each with its own log; and a process
// whose workers are terminated, or which exits, with writers still open.

const WORKER = path.join(__dirname, 'fixtures', 'writer-worker.js');
const EXIT_CHILD = path.join(__dirname, 'fixtures', 'writer-worker-exit.js');
const codec = jsonCodec<{ worker: string; i: number }>();

for (const backend of availableBackends()) {
  describe(`WalWriter in worker threads (${backend.name} backend)`, () => {
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-workers-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('four workers at once each create, append, sync and close their own log', async () => {
      const entries = 2000;
      const dirs = [0, 1, 2, 3].map((i) => path.join(tmp, `log-${i}`));
      const results = await Promise.all(dirs.map(async (dir) => {
        const worker = new Worker(WORKER, { workerData: { dir, backend: backend.name, mode: 'write', entries } satisfies WriterWorkerJob });
        const errors: unknown[] = [];
        worker.on('error', (e) => errors.push(e));
        // Both listeners first: a worker that exits right after posting has its message drained
        // and 'exit' emitted in one turn, before a listener added after the message could see it.
        const exited = once(worker, 'exit');
        const [result] = (await once(worker, 'message')) as [WriterWorkerResult];
        const [code] = (await exited) as [number];
        assert.deepEqual(errors, []);
        assert.equal(code, 0);
        return result;
      }));
      for (const [i, dir] of dirs.entries()) {
        assert.deepEqual(results[i], { lastEntryId: entries, durableEntryId: entries, backend: backend.name });
        const records = new WalReader(new FsDirectory(dir, { backend }), { codec }).replaySync();
        assert.deepEqual(records.map((r) => r.payload), Array.from({ length: entries }, (_, k) => ({ worker: dir, i: k })));
      }
    });

    it('a process that terminates one writing worker and exits under another exits 0; the logs keep every synced entry and reopen', () => {
      const [a, b] = [path.join(tmp, 'a'), path.join(tmp, 'b')];
      const r = spawnSync(process.execPath, [EXIT_CHILD, a, b, backend.name], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.signal, null);
      const durable = JSON.parse(r.stdout) as { a: number; b: number };
      for (const [dir, synced] of [[a, durable.a], [b, durable.b]] as const) {
        assert.ok(synced >= 500);
        // The dead process's lock is gone; opening repairs whatever tail the exit cut.
        const writer = WalWriter.open(new FsDirectory(dir, { backend }), { codec });
        assert.ok(writer.lastEntryId >= synced, `${dir}: ${writer.lastEntryId} < ${synced}`);
        writer.closeSync();
        const records = new WalReader(new FsDirectory(dir, { backend }), { codec }).replaySync();
        assert.equal(records.length, records[records.length - 1].entryId);
        assert.deepEqual(records.slice(0, synced).map((x) => x.payload.i), Array.from({ length: synced }, (_, k) => k));
      }
    });
  });
}
