// One writer per log whatever mix of backends: the native backend's flock and the node:fs
// backend's pid file are one lock (lib/backend/lockfile.ts). Every pairing of holder and
// contender backend, across processes, in one thread, across worker threads, and `repair`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { LockedError } from '../lib/errors';
import { json } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { holdingProcess, kill } from './support/lock-holder';

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const backends = availableBackends();
const pairs: [FileBackend, FileBackend][] = backends.flatMap((a) => backends.map((b): [FileBackend, FileBackend] => [a, b]));

function entries(root: string, backend: FileBackend): unknown[] {
  return new WalReader(new FsDirectory(root, { backend }), { codec: json }).replaySync().map((r) => r.payload);
}

function openWith(root: string, backend: FileBackend): WalWriter<unknown> {
  return WalWriter.open(new FsDirectory(root, { backend }), { codec: json });
}

describe('one writer per log across backends', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-lock-interop-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [holder, contender] of pairs) {
    const name = `${holder.name} holds, ${contender.name} contends`;

    it(`across processes: ${name}; the holder's entries survive its death`, async () => {
      const child = await holdingProcess(root, holder.name as 'native' | 'ts');
      try {
        assert.throws(() => openWith(root, contender), LockedError);
      } finally {
        await kill(child);
      }
      const writer = openWith(root, contender);
      assert.equal(writer.append({ from: 'contender' }), 2);
      writer.closeSync();
      assert.deepEqual(entries(root, contender), [{ from: child.pid }, { from: 'contender' }]);
    });

    it(`in one thread: ${name}`, () => {
      const first = openWith(root, holder);
      first.append({ from: 'holder' });
      try {
        assert.throws(() => openWith(root, contender), LockedError);
      } finally {
        first.closeSync();
      }
      const second = openWith(root, contender);
      assert.equal(second.append({ from: 'contender' }), 2);
      second.closeSync();
    });

    it(`across worker threads: ${name}, both ways round`, async () => {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { backendByName } = require(workerData.select);
         const { FsDirectory } = require(workerData.fs);
         const { WalWriter } = require(workerData.writer);
         const { json } = require(workerData.codec);
         const open = () => WalWriter.open(new FsDirectory(workerData.root, { backend: backendByName(workerData.backend) }), { codec: json });
         let writer = open();
         parentPort.postMessage('locked');
         parentPort.on('message', (m) => {
           if (m === 'close') { writer.closeSync(); parentPort.postMessage('closed'); return; }
           try { writer = open(); writer.closeSync(); parentPort.postMessage('opened'); }
           catch (err) { parentPort.postMessage(err.code); }
         });`,
        {
          eval: true,
          workerData: {
            root, backend: holder.name,
            select: path.join(__dirname, '..', 'lib', 'backend', 'select.js'),
            fs: path.join(__dirname, '..', 'lib', 'directory', 'fs.js'),
            writer: path.join(__dirname, '..', 'lib', 'wal', 'writer.js'),
            codec: path.join(__dirname, '..', 'lib', 'wal', 'codec.js'),
          },
        },
      );
      try {
        assert.deepEqual(await once(worker, 'message'), ['locked']);
        assert.throws(() => openWith(root, contender), LockedError, 'the worker holds it');
        worker.postMessage('close');
        assert.deepEqual(await once(worker, 'message'), ['closed']);
        const mine = openWith(root, contender);
        try {
          worker.postMessage('open');
          assert.deepEqual(await once(worker, 'message'), ['DURABILITY_LOCKED'], 'the main thread holds it');
        } finally {
          mine.closeSync();
        }
        worker.postMessage('open');
        assert.deepEqual(await once(worker, 'message'), ['opened']);
      } finally {
        await worker.terminate();
      }
    });

    it(`repair (${contender.name}) refuses a log a ${holder.name} writer holds, and cuts nothing`, async () => {
      const child = await holdingProcess(root, holder.name as 'native' | 'ts');
      try {
        const wal = path.join(root, 'wal');
        const final = fs.readdirSync(wal).filter((n) => n.endsWith('.wal')).sort().pop()!;
        // What a writer mid-append can look like to a scanner: a frame not yet complete.
        fs.appendFileSync(path.join(wal, final), Buffer.from([9, 9, 9, 9, 9, 9, 9]));
        const before = fs.readFileSync(path.join(wal, final));
        const r = spawnSync(process.execPath, [CLI, 'repair', root], { encoding: 'utf8', env: { ...process.env, DURABILITY_BACKEND: contender.name } });
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /locked by another writer/);
        assert.deepEqual(fs.readFileSync(path.join(wal, final)), before);
      } finally {
        await kill(child);
      }
    });
  }
});
