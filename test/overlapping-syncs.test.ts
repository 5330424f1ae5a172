import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { NativeFileBackend } from '../lib/backend/native';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import type { WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidStateError, IoError, LockedError, PoisonedError } from '../lib/errors';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { bytes, text } from './directory-contract';
import { ErrseqBackend } from './support/errseq-backend';
import { overriding } from './support/overriding';
import { TEST_BUILD, testBuild } from './support/test-binding';

// Two fdatasyncs of one descriptor must never run at once. Linux reports a writeback error once
// per open file description, to whichever racing fdatasync checks first; the other returns 0
// although the bytes it was to make durable are gone (fsyncgate, within one process). The
// errseq double (support/errseq-backend.ts) holds off-thread fdatasyncs and hands a lost
// writeback's error to one of those racing, success to the others, first.

const isEio = (err: unknown): boolean => err instanceof IoError && err.errno === 'EIO' && err.syscall === 'fdatasync';

/** How a promise settled, without an unhandled rejection in between. */
function outcome(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; err: unknown }> {
  return p.then(() => ({ ok: true as const }), (err: unknown) => ({ ok: false as const, err }));
}

describe('overlapping fdatasyncs of one file', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-errseq-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const ordersCommits of [false, true]) {
    describe(ordersCommits ? 'commits ordered by the file (as on the native commit thread)' : 'commits chained by the directory layer (as on node:fs)', () => {
      function open(): { errseq: ErrseqBackend; dir: FsDirectory; file: WritableFile } {
        const errseq = new ErrseqBackend({ ordersCommits });
        const dir = new FsDirectory(root, { backend: errseq.backend });
        return { errseq, dir, file: dir.create('f') };
      }

      it('a syncAsync issued while another runs waits for it, and fails with its error when its writeback was lost', async () => {
        const { errseq, file } = open();
        file.write(bytes('first'));
        const first = outcome(file.syncAsync());
        file.write(bytes('second'));
        const second = outcome(file.syncAsync());
        await errseq.settle();
        assert.equal(errseq.heldSyncs, 1, 'the second fdatasync waits for the first');
        await errseq.loseWriteback();
        const a = await first;
        const b = await second;
        assert.ok(!a.ok && isEio(a.err));
        assert.ok(!b.ok, 'the second sync cannot report bytes durable that the lost writeback held');
        assert.equal(b.err, a.err, 'it fails with the first failure, unrun');
        assert.equal(errseq.overlaps, 0);
        file.close();
      });

      it('syncAsync after a commitAsync still running waits for it and fails with its error', async () => {
        const { errseq, file } = open();
        const commit = outcome(file.commitAsync({ chunks: [bytes('batch')], position: 0 }));
        await errseq.settle();
        const sync = outcome(file.syncAsync());
        await errseq.settle();
        assert.equal(errseq.heldSyncs, 1);
        await errseq.loseWriteback();
        const c = await commit;
        const s = await sync;
        assert.ok(!c.ok && isEio(c.err));
        assert.ok(!s.ok && s.err === c.err);
        assert.equal(errseq.overlaps, 0);
        file.close();
      });

      it('commitAsync after a syncAsync still running waits for it and fails with its error, unwritten', async () => {
        const { errseq, dir, file } = open();
        file.write(bytes('head'));
        const sync = outcome(file.syncAsync());
        await errseq.settle();
        const commit = outcome(file.commitAsync({ chunks: [bytes('batch')], position: 4 }));
        await errseq.settle();
        assert.equal(errseq.heldSyncs, 1);
        await errseq.loseWriteback();
        const s = await sync;
        const c = await commit;
        assert.ok(!s.ok && isEio(s.err));
        assert.ok(!c.ok && c.err === s.err);
        assert.equal(errseq.overlaps, 0);
        file.close();
        assert.equal(text(dir.readFile('f')), 'head', 'nothing was written behind the failed fdatasync');
      });

      it('without failures every sync and commit completes, one fdatasync at a time, in call order', async () => {
        const { errseq, dir, file } = open();
        const done: string[] = [];
        file.write(bytes('a'));
        const all = [
          file.syncAsync().then(() => done.push('sync 1')),
          file.commitAsync({ chunks: [bytes('b')], position: 1 }).then(() => done.push('commit 1')),
          file.syncAsync().then(() => done.push('sync 2')),
          file.commitAsync({ chunks: [bytes('c')], position: 2 }).then(() => done.push('commit 2')),
          file.commitAsync({ chunks: [bytes('d')], position: 3 }).then(() => done.push('commit 3')),
        ];
        await errseq.deliverUntil(Promise.all(all));
        assert.deepEqual(done, ['sync 1', 'commit 1', 'sync 2', 'commit 2', 'commit 3']);
        assert.equal(errseq.syncs, 5);
        assert.equal(errseq.overlaps, 0);
        file.sync();
        file.close();
        assert.equal(text(dir.readFile('f')), 'abcd');
      });

      it('sync() while a syncAsync runs is refused (InvalidStateError) without an fdatasync; the file stays usable', async () => {
        const { errseq, file } = open();
        file.write(bytes('x'));
        const pending = file.syncAsync();
        await errseq.settle();
        assert.throws(() => file.sync(), InvalidStateError);
        assert.equal(errseq.syncs, 1, 'no fdatasync raced the one in flight');
        errseq.deliver();
        await pending;
        file.sync();
        file.close();
      });

      it('sync() while a syncAsync runs cannot return before learning that its writeback was lost', async () => {
        const { errseq, file } = open();
        file.write(bytes('x'));
        const pending = outcome(file.syncAsync());
        await errseq.settle();
        assert.throws(() => file.sync(), InvalidStateError);
        await errseq.loseWriteback();
        const p = await pending;
        assert.ok(!p.ok && isEio(p.err));
        assert.throws(() => file.sync(), (err: unknown) => err === p.err);
        assert.equal(errseq.overlaps, 0);
        file.close();
      });

      it('sync() of a failed file throws its failure, not InvalidStateError, while syncs queued behind the failed one still settle', async () => {
        const { errseq, file } = open();
        file.write(bytes('x'));
        let fromSync: unknown;
        const first = file.syncAsync().catch((err: unknown) => {
          // The second syncAsync is still in flight here, about to fail unrun with this error.
          try {
            file.sync();
          } catch (syncErr) {
            fromSync = syncErr;
          }
          return err;
        });
        const second = outcome(file.syncAsync());
        await errseq.settle();
        await errseq.loseWriteback();
        const cause = await first;
        assert.ok(isEio(cause));
        assert.equal(fromSync, cause);
        const s = await second;
        assert.ok(!s.ok && s.err === cause);
        file.close();
      });

      it('sync() while a commit runs on a file that cannot wait for its commits is refused (InvalidStateError)', async () => {
        const { errseq, file } = open();
        assert.equal(file.waitsForCommits, false);
        const commit = file.commitAsync({ chunks: [bytes('batch')], position: 0 });
        await errseq.settle();
        assert.throws(() => file.sync(), InvalidStateError);
        assert.equal(errseq.overlaps, 0);
        errseq.deliver();
        await commit;
        file.sync();
        file.close();
      });
    });
  }

  it('sync() with commits queued on a file that runs them in place (memory, simulated) runs them first', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    const f = dir.create('f');
    dir.syncDir('');
    f.write(bytes('head'));
    const commit = f.commitAsync({ chunks: [bytes('batch')], position: 4 });
    f.sync();
    assert.equal(text(dir.durableContent('f') ?? new Uint8Array()), 'headbatch', 'the commit ran, then the sync');
    await commit;
    dir.injectFault({ op: 'sync', error: 'EIO' });
    const failing = outcome(f.commitAsync({ chunks: [bytes('lost')], position: 9 }));
    assert.throws(() => f.sync(), isEio);
    const c = await failing;
    assert.ok(!c.ok && isEio(c.err));
    f.close();

    // As on the commit thread: a commit that ran before the one whose fdatasync failed stays resolved.
    const sim = new SimulatedDirectory({ seed: 2 });
    const g = sim.create('g');
    sim.syncDir('');
    sim.injectFault({ op: 'sync', error: 'EIO', after: 1 });
    const ran = outcome(g.commitAsync({ chunks: [bytes('first')], position: 0 }));
    const lost = outcome(g.commitAsync({ chunks: [bytes('second')], position: 5 }));
    assert.throws(() => g.sync(), isEio);
    assert.deepEqual(await ran, { ok: true });
    const l = await lost;
    assert.ok(!l.ok && isEio(l.err));
    g.close();

    const mem = new MemoryDirectory().create('g');
    const queued = mem.commitAsync({ chunks: [bytes('abc')], position: 0 });
    mem.sync();
    assert.equal(mem.size(), 3, 'the queued commit ran before the sync');
    await queued;
    mem.close();
  });
});

/** Files of each kind whose commits a synchronous wait can see through (waitsForCommits). */
function waitingFiles(root: () => string): [string, () => WritableFile][] {
  const kinds: [string, () => WritableFile][] = [
    ['memory', () => new MemoryDirectory().create('f')],
    ['simulated', () => new SimulatedDirectory({ seed: 1 }).create('f')],
  ];
  const native = nativeBackend();
  if (native !== undefined) kinds.unshift(['the native core', () => new FsDirectory(root(), { backend: native }).create('f')]);
  return kinds;
}

describe('commits queued behind a syncAsync', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-errseq-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  // The native commit thread is handed such a commit only once the syncAsync settled, so nothing
  // synchronous can wait for it; memory and simulated files refuse as well, or a test passed on
  // them that the disk fails.
  for (const [name, open] of waitingFiles(() => root)) {
    it(`on ${name}: waitCommitsSync() is refused while a commit waits for a syncAsync (the commit thread was not handed it yet), not returned from with it unrun`, async () => {
      const f = open();
      f.write(bytes('head'));
      const syncing = f.syncAsync();
      const commit = f.commitAsync({ chunks: [bytes('batch')], position: 4 });
      assert.throws(() => f.waitCommitsSync(), InvalidStateError);
      assert.throws(() => f.sync(), InvalidStateError);
      await syncing;
      await commit;
      assert.equal(f.size(), 9);
      f.close();
    });

    it(`on ${name}: a failed file's waitCommitsSync() throws its failure while commits wait for a syncAsync, as sync() does, not InvalidStateError`, async () => {
      const f = open();
      // A commit whose directory fsync fails (the directory is missing) fails every kind of file.
      const cause = await f.commitAsync({ chunks: [bytes('x')], position: 0, syncDirs: ['missing'] }).then(() => undefined, (err: unknown) => err);
      assert.ok(cause instanceof IoError || cause instanceof Error);
      const syncing = outcome(f.syncAsync());
      const queued = outcome(f.commitAsync({ chunks: [bytes('y')], position: 1 }));
      assert.throws(() => f.waitCommitsSync(), (err: unknown) => err === cause);
      assert.throws(() => f.sync(), (err: unknown) => err === cause);
      const s = await syncing;
      const c = await queued;
      assert.ok(!s.ok && s.err === cause && !c.ok && c.err === cause, 'they failed with the same cause, unrun');
      f.close();
    });

    it(`on ${name}: once that syncAsync settled, sync() waits for every commit issued before it, those queued behind the syncAsync and those issued after`, async () => {
      const f = open();
      f.write(bytes('head'));
      const syncing = f.syncAsync();
      const queued = f.commitAsync({ chunks: [bytes('one')], position: 4 });
      const alsoQueued = f.commitAsync({ chunks: [bytes('two')], position: 7 });
      await syncing;
      const after = f.commitAsync({ chunks: [bytes('three')], position: 10 });
      f.sync();
      assert.equal(f.size(), 15, 'every commit issued before sync() ran when it returned');
      await Promise.all([queued, alsoQueued, after]);
      f.close();
    });
  }
});

/**
 * A backend whose off-thread writes wait until the test releases them, as the thread pool may run
 * a write after an fdatasync queued later; counts the fdatasyncs (alone or a commit's) that start
 * while a write issued before them has not been written.
 */
function heldWrites(real: FileBackend): { backend: FileBackend; release(): void; syncsAheadOfWrites: () => number } {
  const held: (() => void)[] = [];
  let unwritten = 0;
  let syncsAheadOfWrites = 0;
  const noteSyncStart = (): void => {
    if (unwritten > 0) syncsAheadOfWrites++;
  };
  const backend = overriding(real, {
    pwriteAsync: (fd, data, offset, p) => {
      unwritten++;
      return new Promise<void>((resolve) => held.push(resolve))
        .then(() => real.pwriteAsync(fd, data, offset, p))
        .finally(() => unwritten--);
    },
    fdatasyncAsync: (fd, p) => {
      noteSyncStart();
      return real.fdatasyncAsync(fd, p);
    },
    commitAsync: (fd, steps, p) => {
      noteSyncStart();
      return real.commitAsync(fd, steps, p);
    },
  });
  return { backend, release: () => held.splice(0).forEach((r) => r()), syncsAheadOfWrites: () => syncsAheadOfWrites };
}

describe('writes in flight (writeAsync) and the syncs after them', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-writes-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const backends: [string, FileBackend][] = [['node:fs', tsBackend()]];
  const native = nativeBackend();
  if (native !== undefined) backends.unshift(['the native core', native]);
  for (const [name, real] of backends) {
    it(`on ${name}: syncAsync and commitAsync issued behind a writeAsync start their fdatasync only once it was written, and sync() refuses meanwhile`, async () => {
      const held = heldWrites(real);
      const f = new FsDirectory(root, { backend: held.backend }).create('f');
      const written = f.writeAsync(bytes('written,'));
      const synced = f.syncAsync();
      const committed = f.commitAsync({ chunks: [bytes('committed')], position: 8 });
      assert.throws(() => f.sync(), InvalidStateError);
      held.release();
      await Promise.all([written, synced, committed]);
      assert.equal(held.syncsAheadOfWrites(), 0, 'an fdatasync started before the bytes it was to make durable were written');
      f.close();
      assert.equal(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'written,committed');
    });

    it(`on ${name}: a syncAsync behind a writeAsync that failed fails with its error, unrun`, async () => {
      const failing = overriding(real, { pwriteAsync: () => Promise.reject(new IoError('EIO', 'write', 'f')) });
      const f = new FsDirectory(root, { backend: failing }).create('f');
      const written = outcome(f.writeAsync(bytes('lost')));
      const synced = outcome(f.syncAsync());
      const w = await written;
      const s = await synced;
      assert.ok(!w.ok && !s.ok);
      assert.equal(s.err, w.err);
      f.close();
    });
  }

  for (const [name, open] of waitingFiles(() => root)) {
    it(`on ${name}: sync() is refused while a writeAsync is in flight, as on disk; once it settled, sync() and syncAsync() cover it`, async () => {
      const f = open();
      const written = f.writeAsync(bytes('bytes'));
      assert.throws(() => f.sync(), InvalidStateError);
      await written;
      f.sync();
      const again = f.writeAsync(bytes('more'));
      await f.syncAsync();
      await again;
      assert.equal(f.size(), 9);
      f.close();
    });

    it(`on ${name}: truncate() is refused while a writeAsync is in flight (the write could land after it, bringing the cut bytes back), as on disk`, async () => {
      const f = open();
      const written = f.writeAsync(new Uint8Array(1 << 16).fill(1));
      assert.throws(() => f.truncate(0), InvalidStateError);
      await written;
      f.truncate(0);
      f.write(bytes('new'));
      f.sync();
      assert.equal(f.size(), 3, 'the truncation took effect after the write');
      f.close();
    });

    it(`on ${name}: once the writeAsync (and syncAsync) a commit was queued behind settled, sync() waits for that commit, as the docs say`, async () => {
      const f = open();
      const written = f.writeAsync(bytes('head'));
      const queued = f.commitAsync({ chunks: [bytes('batch')], position: 4 });
      assert.throws(() => f.waitCommitsSync(), InvalidStateError);
      await written;
      f.sync();
      assert.equal(f.size(), 9, 'the commit queued behind the write ran before sync() returned');
      const more = f.writeAsync(bytes('more'));
      const synced = f.syncAsync();
      const alsoQueued = f.commitAsync({ chunks: [bytes('last')], position: 13 });
      await more;
      await synced;
      f.sync();
      assert.equal(f.size(), 17, 'the commit queued behind the write and the syncAsync ran before sync() returned');
      await Promise.all([queued, alsoQueued]);
      f.close();
    });
  }
});

if (nativeBackend() !== undefined) {
  describe(`overlapping fdatasyncs of one file on the native core ${TEST_BUILD}`, () => {
    let root: string;
    before(function () {
      this.timeout(600_000); // the first run may build the test addon
      testBuild();
    });
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-errseq-'));
    });
    afterEach(() => {
      testBuild().binding.__setFaultInjection(null);
      fs.rmSync(root, { recursive: true, force: true });
    });

    it('sync() while a commit runs on the commit thread waits for it, and throws its error', async () => {
      // The hook fails the commit's fdatasync as a lost writeback would reach it; the fdatasync
      // sync() makes itself succeeds, as a racing one does: only waiting for the commit tells.
      const dir = new FsDirectory(root, { backend: new NativeFileBackend(testBuild().binding) });
      const f = dir.create('f');
      testBuild().binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO });
      const commit = outcome(f.commitAsync({ chunks: [bytes('batch')], position: 0 }));
      assert.throws(() => f.sync(), isEio);
      const c = await commit;
      assert.ok(!c.ok && isEio(c.err));
      f.close();
    });

    it("sync() that learns of a later commit's failure before an earlier commit's success reached JS leaves that commit resolved", async () => {
      // The commit thread ran the first commit (its fdatasync returned) and failed the second;
      // sync() waits for both and throws the failure before the first one's completion arrives.
      // A rejection would say its bytes may not be durable, and a caller could write them again.
      const dir = new FsDirectory(root, { backend: new NativeFileBackend(testBuild().binding) });
      const f = dir.create('f');
      testBuild().binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO, after: 1 });
      const first = outcome(f.commitAsync({ chunks: [bytes('first')], position: 0 }));
      const second = outcome(f.commitAsync({ chunks: [bytes('second')], position: 5 }));
      assert.throws(() => f.sync(), isEio);
      assert.deepEqual(await first, { ok: true }, 'its fdatasync returned before the failure');
      const c = await second;
      assert.ok(!c.ok && isEio(c.err));
      assert.throws(() => f.sync(), isEio, 'the file stays failed');
      f.close();
    });

    it('syncAsync issued while a commit runs starts its fdatasync only once the commit settled', async () => {
      const events: string[] = [];
      const real = new NativeFileBackend(testBuild().binding);
      const backend = overriding(real, {
        fdatasyncAsync: (fd, p) => {
          events.push('fdatasync started');
          return real.fdatasyncAsync(fd, p);
        },
        commitAsync: (fd, steps, p) => {
          const commit = real.commitAsync(fd, steps, p);
          void commit.then(() => events.push('commit done'));
          return commit;
        },
      });
      const f = new FsDirectory(root, { backend }).create('f');
      await Promise.all([f.commitAsync({ chunks: [bytes('batch')], position: 0 }), f.syncAsync()]);
      assert.deepEqual(events, ['commit done', 'fdatasync started']);
      f.close();
    });
  });
}

describe('record log syncs racing on the log file', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-errseq-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  function open(options: { syncWindow?: number; bufferSize?: number } = {}): { errseq: ErrseqBackend; dir: FsDirectory; w: RecordLogWriter } {
    const errseq = new ErrseqBackend();
    const dir = new FsDirectory(root, { backend: errseq.backend });
    return { errseq, dir, w: RecordLogWriter.open(dir, 'log', options) };
  }

  it('sync() while another sync() runs: the second cannot resolve when the first one\'s writeback was lost', async () => {
    const { errseq, w } = open();
    w.append(bytes('one'));
    const first = outcome(w.sync());
    await errseq.settle();
    w.append(bytes('two'));
    const second = outcome(w.sync());
    await errseq.settle();
    const before = w.durableSize;
    await errseq.loseWriteback();
    errseq.deliver();
    const a = await first;
    const b = await second;
    assert.ok(!a.ok && isEio(a.err));
    assert.ok(!b.ok, 'the second sync reported records durable that the lost writeback held');
    assert.equal(w.durableSize, before);
    assert.equal(errseq.overlaps, 0);
    await assert.rejects(w.close(), PoisonedError);
  });

  it('syncSync() while sync() runs is refused without writing or poisoning; durableSize only moves when a sync succeeds', async () => {
    const { errseq, w } = open();
    w.append(bytes('one'));
    const pending = outcome(w.sync());
    await errseq.settle();
    const durable = w.durableSize;
    w.append(bytes('two'));
    assert.throws(() => w.syncSync(), InvalidStateError);
    w.flushSync(); // the refusal did not poison the writer
    assert.equal(w.durableSize, durable, 'nothing was reported durable');
    assert.equal(errseq.overlaps, 0);
    await errseq.loseWriteback();
    const p = await pending;
    assert.ok(!p.ok && isEio(p.err));
    assert.throws(() => w.syncSync(), PoisonedError, 'the lost writeback poisons the writer');
    assert.throws(() => w.closeSync(), PoisonedError);
  });

  it('syncSync() after the sync() it was refused for succeeded makes every record durable', async () => {
    const { errseq, dir, w } = open();
    w.append(bytes('one'));
    const pending = w.sync();
    await errseq.settle();
    w.append(bytes('two'));
    assert.throws(() => w.syncSync(), InvalidStateError);
    errseq.deliver();
    await pending;
    w.syncSync();
    assert.equal(w.durableSize, w.size);
    w.closeSync();
    assert.deepEqual(readRecordLog(dir, 'log').records.map(text), ['one', 'two']);
  });

  it('an append that must sync first (the sync window is full) while sync() runs is refused, the record not taken', async () => {
    const { errseq, dir, w } = open({ syncWindow: 4096, bufferSize: 0 });
    w.append(new Uint8Array(1000));
    const pending = outcome(w.sync());
    await errseq.settle();
    for (let i = 0; i < 3; i++) w.append(new Uint8Array(1000));
    const size = w.size;
    assert.throws(() => w.append(new Uint8Array(1000)), InvalidStateError);
    assert.equal(w.size, size, 'the record was not taken');
    assert.equal(errseq.overlaps, 0);
    errseq.deliver();
    assert.ok((await pending).ok);
    w.append(new Uint8Array(1000));
    const closing = w.close();
    await errseq.deliverUntil(closing);
    await closing;
    assert.equal(readRecordLog(dir, 'log').records.length, 5);
  });

  it('closeSync() while sync() runs is refused and keeps the lock; once that sync failed it reports the poison and lets go', async () => {
    const { errseq, dir, w } = open();
    w.append(bytes('one'));
    const pending = outcome(w.sync());
    await errseq.settle();
    assert.throws(() => w.closeSync(), InvalidStateError);
    assert.equal(errseq.overlaps, 0);
    assert.throws(() => RecordLogWriter.open(dir, 'log'), LockedError, 'the writer still holds its lock');
    await errseq.loseWriteback();
    const p = await pending;
    assert.ok(!p.ok && isEio(p.err));
    assert.throws(() => w.closeSync(), PoisonedError);
    RecordLogWriter.open(dir, 'log').closeSync();
  });

  it('close() while sync() runs waits for it, then syncs what came after', async () => {
    const { errseq, dir, w } = open();
    w.append(bytes('one'));
    const pending = w.sync();
    await errseq.settle();
    const closing = w.close();
    await errseq.deliverUntil(closing);
    await pending;
    await closing;
    assert.equal(errseq.overlaps, 0);
    assert.deepEqual(readRecordLog(dir, 'log').records.map(text), ['one']);
  });
});
