// Closing a file (or a record log writer) while its async work runs off the thread: the
// descriptor stays open until that work is done, so the work neither fails nor lands on a
// descriptor number the OS has handed to another file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { overriding } from './support/overriding';

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
const LOG = 'events.rlog';

if (fs.existsSync('/proc/self/fd')) {
  for (const backend of availableBackends()) {
    describe(`close with async work in flight (${backend.name})`, () => {
      let root: string;
      beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-close-flight-'));
      });
      afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

      for (const op of ['writeAsync', 'syncAsync', 'commitAsync'] as const) {
        it(`a file closed during ${op} keeps its descriptor until the operation is done`, async () => {
          const dir = new FsDirectory(root, { backend });
          const f = dir.create('data');
          const before = openFds();
          const bytes = new Uint8Array(1 << 20).fill(7);
          const running = op === 'writeAsync' ? f.writeAsync(bytes)
            : op === 'syncAsync' ? f.syncAsync()
            : f.commitAsync({ chunks: [bytes], position: 0 });
          f.close();
          assert.equal(openFds(), before, 'closed under the running operation');
          assert.throws(() => f.size(), /closed/i);
          await running;
          assert.equal(openFds(), before - 1, 'released once the operation ended');
          if (op !== 'syncAsync') assert.equal(fs.statSync(path.join(root, 'data')).size, bytes.length);
        });
      }

      for (const op of ['writeAsync', 'commitAsync'] as const) {
        it(`a close(2) failing once the ${op} it waited for succeeded leaves that success alone, and is published as 'deferred-close-failed'`, async () => {
          // close(2) can report EIO (network file systems); the descriptor is released anyway.
          const failingClose = overriding(backend, {
            close: (fd) => {
              backend.close(fd);
              throw new IoError('EIO', 'close', undefined);
            },
          });
          const events: DiagnosticEvent[] = [];
          const listen = (e: unknown): void => void events.push(e as DiagnosticEvent);
          channels.diagnostic.subscribe(listen);
          try {
            const f = new FsDirectory(root, { backend: failingClose }).create('data');
            const running = op === 'writeAsync' ? f.writeAsync(new Uint8Array([1, 2, 3])) : f.commitAsync({ chunks: [new Uint8Array([1, 2, 3])], position: 0 });
            f.close();
            await running;
            const failed = events.filter((e) => e.kind === 'deferred-close-failed');
            assert.equal(failed.length, 1);
            assert.ok(failed[0].error instanceof IoError && failed[0].error.syscall === 'close');
            assert.equal(fs.statSync(path.join(root, 'data')).size, 3);
          } finally {
            channels.diagnostic.unsubscribe(listen);
          }
        });
      }

      it('RecordLogWriter.close waits for a sync already running, then releases file and lock', async () => {
        const dir = new FsDirectory(root, { backend });
        const before = openFds();
        const w = RecordLogWriter.open(dir, LOG);
        w.append(new Uint8Array(64 * 1024));
        let firstDone = false;
        const first = w.sync().then(() => void (firstDone = true));
        await w.close();
        assert.equal(firstDone, true, 'close returned before the sync it found running');
        await first;
        assert.equal(openFds(), before);
        RecordLogWriter.open(dir, LOG).closeSync(); // the lock is free
      });
    });
  }
}

describe('RecordLogWriter after a failed fdatasync', () => {
  it('cuts the file back to its last completed fdatasync, as the WAL writer does', () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    const w = RecordLogWriter.open(dir, LOG);
    w.append(new Uint8Array([1, 2, 3]));
    w.syncSync();
    const synced = dir.readFile(LOG).length;
    w.append(new Uint8Array([4, 5, 6]));
    w.flushSync();
    assert.ok(dir.readFile(LOG).length > synced);
    dir.injectFault({ op: 'sync', error: 'EIO' });
    assert.throws(() => w.syncSync(), IoError);
    assert.equal(dir.readFile(LOG).length, synced, 'the bytes the failed fdatasync may have lost are cut');
  });
});
