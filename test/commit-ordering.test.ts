import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeFsBackend } from '../lib/backend/node-fs';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import type { WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidStateError } from '../lib/errors';
import { bytes } from './directory-contract';

// A commitAsync runs off the thread (the native core's commit thread, the thread pool on node:fs)
// or in a later microtask (memory, simulated files); an operation that changes the file from the
// calling thread meanwhile is not ordered against it. A truncate could be undone by the commit's
// write landing after it, or cut bytes between the commit's write and its fdatasync so that the
// commit reports durable bytes that are gone; a write could be cut by the commit's truncateTo,
// or be overwritten by it. So such calls are refused while a commit is in flight, on every kind
// of file, as truncate() is while a writeAsync is.

const BIG = 8 << 20;

/** Runs `op`; true when it threw InvalidStateError (anything else is rethrown). */
function refused(op: () => unknown): boolean {
  try {
    op();
  } catch (err) {
    if (err instanceof InvalidStateError) return true;
    throw err;
  }
  return false;
}

function kinds(root: () => string): [string, () => WritableFile][] {
  const out: [string, () => WritableFile][] = [
    ['node:fs', () => new FsDirectory(root(), { backend: tsBackend() }).create('f')],
    ['memory', () => new MemoryDirectory().create('f')],
    ['simulated', () => new SimulatedDirectory({ seed: 1 }).create('f')],
  ];
  const native = nativeBackend();
  if (native !== undefined) out.unshift(['the native core', () => new FsDirectory(root(), { backend: native }).create('f')]);
  return out;
}

/**
 * The node:fs backend with its off-thread fdatasyncs held until release(): a commit's write has
 * landed and its fdatasync has not run yet.
 */
class HeldSyncBackend extends NodeFsBackend {
  private readonly held: (() => void)[] = [];
  private arrived: (() => void) | undefined;

  override fdatasyncAsync(fd: number, path?: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.held.push(resolve);
      this.arrived?.();
    }).then(() => super.fdatasyncAsync(fd, path));
  }

  /** Resolves once an fdatasync is held. */
  syncHeld(): Promise<void> {
    if (this.held.length > 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.arrived = resolve));
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

describe('calls that change a file while a commit of it is in flight', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-commit-order-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [name, open] of kinds(() => root)) {
    it(`on ${name}: truncate() is refused while a commit is in flight, never undone by the commit's write landing after it`, async () => {
      const f = open();
      const commit = f.commitAsync({ chunks: [new Uint8Array(BIG).fill(7)], position: 0 });
      const wasRefused = refused(() => f.truncate(0));
      await commit;
      if (!wasRefused) assert.equal(f.size(), 0, `the truncate to 0 issued after the commit was undone by it: the file grew back to ${f.size()} bytes`);
      assert.ok(wasRefused, 'truncate() is refused while the commit is in flight');
      assert.equal(f.size(), BIG, 'nothing was cut');
      f.truncate(0);
      assert.equal(f.size(), 0, 'once the commit settled, truncate() works');
      f.close();
    });

    it(`on ${name}: writeAt() is refused while a commit with truncateTo is in flight, never cut by it`, async () => {
      const f = open();
      f.write(bytes('0123456789'));
      f.sync();
      const commit = f.commitAsync({ chunks: [bytes('ab')], position: 0, truncateTo: 4 });
      const wasRefused = refused(() => f.writeAt(bytes('tail'), 10));
      await commit;
      if (!wasRefused) {
        f.sync();
        assert.equal(f.size(), 14, `the writeAt issued after the commit was cut by its truncateTo: the file is ${f.size()} bytes`);
      }
      assert.ok(wasRefused, 'writeAt() is refused while the commit is in flight');
      assert.equal(f.size(), 4);
      f.writeAt(bytes('tail'), 4);
      f.sync();
      assert.equal(f.size(), 8);
      f.close();
    });

    it(`on ${name}: write, writev, writeAsync, writeAt, allocate and truncate are refused while a commit is in flight and leave the file as the commit left it`, async () => {
      const f = open();
      const commit = f.commitAsync({ chunks: [bytes('batch')], position: 0 });
      const calls: [string, () => unknown][] = [
        ['write', () => f.write(bytes('x'))],
        ['writev', () => f.writev([bytes('x')])],
        ['writeAt', () => f.writeAt(bytes('x'), 100)],
        ['allocate', () => f.allocate(4096)],
        ['truncate', () => f.truncate(1)],
      ];
      for (const [call, op] of calls) {
        assert.ok(refused(op), `${call}() is refused while the commit is in flight`);
      }
      await assert.rejects(f.writeAsync(bytes('x')), InvalidStateError, 'writeAsync() is refused while the commit is in flight');
      assert.equal(f.offset, 0, 'no refused call moved the offset');
      await commit;
      assert.equal(f.size(), 5, 'the file is as the commit left it');
      f.writeAt(bytes('!'), 5);
      f.write(bytes('B'));
      await f.writeAsync(bytes('a'));
      f.sync();
      assert.deepEqual(f.size(), 6, 'once the commit settled, writes work');
      f.close();
    });
  }

  for (const [name, open] of kinds(() => root).filter(([n]) => n !== 'node:fs')) {
    it(`on ${name}: after waitCommitsSync() the commits that ran no longer hold truncate() or writes back`, async () => {
      const f = open();
      const commit = f.commitAsync({ chunks: [bytes('batch')], position: 0 });
      f.waitCommitsSync();
      f.truncate(2);
      f.writeAt(bytes('zz'), 2);
      f.sync();
      await commit;
      assert.equal(f.size(), 4);
      f.close();
    });

    it(`on ${name}: a commit handed over after waitCommitsSync() holds truncate() back once the one that ran settles`, async () => {
      const f = open();
      const ran = f.commitAsync({ chunks: [bytes('batch')], position: 0 });
      f.waitCommitsSync();
      const next = f.commitAsync({ chunks: [new Uint8Array(BIG).fill(7)], position: 5 });
      let nextSettled = false;
      void next.then(() => (nextSettled = true), () => (nextSettled = true));
      await ran;
      // The settled commit was the one waitCommitsSync saw run; the one behind it did not settle.
      assert.equal(nextSettled, false, 'the second commit is still in flight');
      const wasRefused = refused(() => f.truncate(0));
      await next;
      if (name === 'the native core') {
        // On the commit thread an 8 MiB write and its fdatasync are still running here.
        if (!wasRefused) assert.equal(f.size(), 5 + BIG, `the truncate to 0 issued while the second commit was in flight left ${f.size()} bytes of a commit that reported them durable`);
        assert.ok(wasRefused, 'truncate() is refused while the second commit is in flight');
        assert.equal(f.size(), 5 + BIG);
      } else if (!wasRefused) {
        // Memory and simulated files may run the second commit (synchronously, in a microtask)
        // before the caller resumes, its promise settling later: a truncate let through then is
        // ordered after it, so nothing undoes the truncate.
        assert.equal(f.size(), 0, 'a truncate let through comes after every commit handed over before it');
      } else assert.equal(f.size(), 5 + BIG);
      f.close();
    });
  }

  it('on node:fs: a truncate() between a commit\'s write and its fdatasync cannot cut bytes the commit then reports durable', async () => {
    const backend = new HeldSyncBackend();
    const f = new FsDirectory(root, { backend }).create('f');
    const commit = f.commitAsync({ chunks: [bytes('durable')], position: 0 });
    await backend.syncHeld();
    const wasRefused = refused(() => f.truncate(0));
    backend.release();
    await commit;
    assert.equal(f.size(), 7, 'the commit resolved, so its bytes must be in the file');
    assert.ok(wasRefused);
    f.close();
  });
});
