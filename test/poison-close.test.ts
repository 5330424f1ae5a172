import assert from 'node:assert/strict';
import type { WritableFile } from '../lib/directory/directory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';

// A commit fails while batches that end their segment wait behind it: poisoning closes those
// segments, and a close can fail too (close(2) reports a writeback error on NFS). That second
// failure must not stop the writer from rejecting its callers, nor escape as an unhandled rejection.
describe('poisoning when closing a segment fails too', () => {
  it('every waiting appendDurable rejects with the commit\'s cause; nothing is left pending or unhandled', async () => {
    const dir = new SimulatedDirectory({ seed: 7 });
    let closeFails = false;
    let closesFailed = 0;
    const wrap = (file: WritableFile, path: string): WritableFile => {
      const close = file.close.bind(file);
      file.close = () => {
        close();
        if (closeFails && path.endsWith('.wal')) {
          closesFailed++;
          throw new IoError('EIO', 'close', path);
        }
      };
      return file;
    };
    const create = dir.create.bind(dir);
    dir.create = (path: string) => wrap(create(path), path);
    const openAppend = dir.openAppend.bind(dir);
    dir.openAppend = (path: string) => wrap(openAppend(path), path);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 1024 });
      for (let i = 0; i < 3; i++) await w.appendDurable(new Uint8Array(100));
      closeFails = true;
      dir.injectFault({ op: 'sync', error: 'EIO' });
      // 60 frames of 116 bytes: several rotations queued behind the failing commit.
      const settled = Promise.allSettled(Array.from({ length: 60 }, () => w.appendDurable(new Uint8Array(100))));
      // A bound on a hang, not a speed: the simulated directory settles every commit within milliseconds.
      const outcomes = await Promise.race([settled, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 10_000).unref())]);
      assert.notEqual(outcomes, 'pending', 'callers were left waiting');
      if (outcomes === 'pending') return;
      await new Promise((r) => setImmediate(r));
      assert.ok(closesFailed > 0, 'a segment close failed while the writer was poisoned');
      assert.deepEqual(outcomes.filter((o) => o.status === 'fulfilled'), [], 'nothing after the failed commit is reported durable');
      for (const o of outcomes) assert.ok(o.status === 'rejected' && (o.reason instanceof IoError || o.reason instanceof PoisonedError), String((o as PromiseRejectedResult).reason));
      assert.deepEqual(unhandled, []);
      assert.equal(w.poisoned, true);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

// A close that failed is not made good by closing again: the entries it could not sync may be
// lost, so a second close, whichever form, reports the poison as the first did.
describe('closing a poisoned writer again', () => {
  it('close() after a closeSync() that failed rejects with PoisonedError', async () => {
    const dir = new SimulatedDirectory({ seed: 8 });
    const w = WalWriter.create(dir, { codec: raw, flushPolicy: 'manual' });
    w.append(new Uint8Array(8));
    dir.injectFault({ op: 'sync', error: 'EIO' });
    assert.throws(() => w.closeSync(), IoError);
    assert.equal(w.poisoned, true);
    await assert.rejects(w.close(), PoisonedError);
    assert.throws(() => w.closeSync(), PoisonedError);
  });

  it('closeSync() after a close() that rejected throws PoisonedError', async () => {
    const dir = new SimulatedDirectory({ seed: 9 });
    const w = WalWriter.create(dir, { codec: raw });
    dir.injectFault({ op: 'sync', error: 'EIO' });
    await assert.rejects(w.appendDurable(new Uint8Array(8)), IoError);
    await assert.rejects(w.close(), PoisonedError);
    assert.throws(() => w.closeSync(), PoisonedError);
  });
});
