// A Directory of the caller's own whose WRITE side breaks its contract: a method that throws an
// error of its own (a TypeError), or answers outside the contract (create() answering null or a
// Promise, a synchronous write or fdatasync answering a Promise, so nothing is done yet when it
// returns; an asynchronous commit or fdatasync answering no Promise at all). The package must
// meet it as an IoError EIO naming the call (with a thrown error as its cause), poison the writer
// as a failed fdatasync does, and never report as durable an entry or a checkpoint that such a
// call was to make durable.

import assert from 'node:assert/strict';
import { CheckpointPublisher } from '../lib/publisher';
import type { Directory, WritableFile } from '../lib/directory/directory';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { checkedDirectory } from '../lib/directory/foreign';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { json, raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const FRAME = 16 + 20;
const entry = (): Uint8Array => new Uint8Array(20).fill(7);

/** A hostile answer: `real` runs the method as it should; the answer is what the caller gets. */
type Hostility = (real: () => unknown) => unknown;

const HOSTILE: Record<string, Hostility> = {
  'throwing a TypeError': () => {
    throw new TypeError('x is not a function');
  },
  // A synchronous call done "later": nothing has happened when it returns.
  'answering a Promise': (real) => Promise.resolve().then(real),
};

/** Every write-side file method a writer calls, hostile from the moment `armed()` says so. */
function hostileFile(file: WritableFile, method: keyof WritableFile, hostility: Hostility, armed: () => boolean): WritableFile {
  const real = (file[method] as (...a: unknown[]) => unknown).bind(file);
  return overriding(file, { [method]: (...args: unknown[]) => (armed() ? hostility(() => real(...args)) : real(...args)) } as Partial<WritableFile>);
}

function assertEio(err: unknown, call: string, cause?: unknown): true {
  assert.ok(err instanceof IoError, `an IoError, not ${String(err)}`);
  assert.equal(err.errno, 'EIO');
  assert.match(err.message, new RegExp(call));
  if (cause !== undefined) assert.equal((err as Error & { cause?: unknown }).cause, cause);
  return true;
}

describe("a Directory of the caller's own whose write side breaks its contract", () => {
  describe('the WAL writer, synchronous mode', () => {
    for (const [name, hostility] of Object.entries(HOSTILE)) {
      for (const method of ['writeAt', 'sync'] as const) {
        it(`WritableFile.${method}() ${name}: syncSync() throws an IoError EIO, the writer is poisoned, nothing more is reported durable`, () => {
          let armed = false;
          let thrown: unknown;
          const dir = wrappingFiles(new MemoryDirectory(), (f) => hostileFile(f, method, (real) => {
            try {
              return hostility(real);
            } catch (err) {
              thrown = err;
              throw err;
            }
          }, () => armed));
          const w = WalWriter.create(dir, { codec: raw, preallocate: false });
          w.append(entry());
          w.syncSync();
          assert.equal(w.durableEntryId, 1);
          armed = true;
          w.append(entry());
          assert.throws(() => w.syncSync(), (err) => assertEio(err, method, thrown));
          assert.equal(w.poisoned, true);
          assert.equal(w.durableEntryId, 1, 'entry 2 was never proven durable');
          assert.throws(() => w.append(entry()), PoisonedError);
          assert.throws(() => w.closeSync(), PoisonedError);
        });
      }
    }

    it('create() answering null at rotation: the append throws an IoError EIO naming create, not a TypeError from inside', () => {
      let armed = false;
      const plain = new MemoryDirectory();
      const dir = overriding<Directory>(plain, { create: (p: string) => (armed ? (null as unknown as WritableFile) : plain.create(p)) });
      const w = WalWriter.create(dir, { codec: raw, preallocate: false, maxSegmentSize: 32 + 2 * FRAME });
      w.append(entry());
      w.append(entry());
      armed = true;
      assert.throws(() => w.append(entry()), (err) => assertEio(err, 'create'));
      assert.equal(w.poisoned, true);
      assert.throws(() => w.append(entry()), PoisonedError);
    });

    it('syncDir() answering a Promise: syncSync() throws an IoError EIO and the new segment is not reported durable', () => {
      const plain = new MemoryDirectory();
      let armed = false;
      const dir = overriding<Directory>(plain, {
        syncDir: (p: string) => (armed ? (Promise.resolve().then(() => plain.syncDir(p)) as unknown as void) : plain.syncDir(p)),
      });
      const w = WalWriter.create(dir, { codec: raw, preallocate: false, maxSegmentSize: 32 + 2 * FRAME });
      w.append(entry());
      w.append(entry());
      w.syncSync();
      armed = true;
      // Entry 3 rotates: segment 2's directory entry needs a directory fsync that never comes.
      w.append(entry());
      assert.throws(() => w.syncSync(), (err) => assertEio(err, 'syncDir'));
      assert.equal(w.poisoned, true);
      assert.equal(w.durableEntryId, 2, "entry 3's segment may not survive a power cut");
    });
  });

  it("lock() answering no lock: the writer's open ends in an IoError EIO naming lock, not a TypeError when it lets go", () => {
    const plain = new MemoryDirectory();
    const dir = overriding<Directory>(plain, { lock: (() => undefined) as unknown as Directory['lock'] });
    assert.throws(() => WalWriter.create(dir, { codec: raw }), (err) => assertEio(err, 'lock'));
  });

  it('the built-in directories pass as they are (no layer on their append path); a Proxy of one, a subclass, or one with a method replaced is checked', () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'durability-foreign-'));
    try {
      for (const d of [new MemoryDirectory(), new SimulatedDirectory({ seed: 1 }), new FsDirectory(root)] as Directory[]) assert.equal(checkedDirectory(d), d);
      const memory = new MemoryDirectory();
      const proxied = overriding(memory, {});
      assert.notEqual(checkedDirectory(proxied), proxied);
      assert.equal(checkedDirectory(proxied), checkedDirectory(proxied), 'one wrapper per Directory');
      assert.equal(checkedDirectory(checkedDirectory(proxied)), checkedDirectory(proxied), 'never wrapped twice');
      class Mine extends MemoryDirectory {}
      const mine = new Mine();
      assert.notEqual(checkedDirectory(mine), mine);
      const notOne = { list: 'x' } as unknown as Directory;
      assert.equal(checkedDirectory(notOne), notOne, 'not a Directory: left for requireDirectory to refuse by name');
      const patched = new MemoryDirectory();
      patched.syncDir = () => undefined;
      assert.notEqual(checkedDirectory(patched), patched);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe('the WAL writer, group-commit mode', () => {
    for (const [name, hostility] of Object.entries({
      'throwing a TypeError': HOSTILE['throwing a TypeError'],
      'answering no Promise (nothing was written or synced)': () => undefined,
      'rejecting with a TypeError': () => Promise.reject(new TypeError('commit is not a function')),
    } satisfies Record<string, Hostility>)) {
      it(`WritableFile.commitAsync() ${name}: appendDurable rejects with an IoError EIO, the writer is poisoned, durableEntryId does not move`, async () => {
        let armed = false;
        const dir = wrappingFiles(new MemoryDirectory(), (f) => hostileFile(f, 'commitAsync', hostility, () => armed));
        const w = WalWriter.create(dir, { codec: raw, preallocate: false });
        assert.equal(await w.appendDurable(entry()), 1);
        armed = true;
        await assert.rejects(w.appendDurable(entry()), (err) => assertEio(err, 'commitAsync'));
        assert.equal(w.poisoned, true);
        assert.equal(w.durableEntryId, 1);
        await assert.rejects(w.appendDurable(entry()), PoisonedError);
        await assert.rejects(w.close(), PoisonedError);
      });
    }
  });

  describe('the record log writer', () => {
    it('WritableFile.sync() throwing a TypeError: syncSync() throws an IoError EIO whose cause it is, and the writer is poisoned', () => {
      let armed = false;
      const typeError = new TypeError('sync is not a function');
      const dir = wrappingFiles(new MemoryDirectory(), (f) => hostileFile(f, 'sync', () => {
        throw typeError;
      }, () => armed));
      const w = RecordLogWriter.open(dir, 'log', { idleMarkMs: 0 });
      armed = true;
      w.append(entry());
      assert.throws(() => w.syncSync(), (err) => assertEio(err, 'sync', typeError));
      assert.throws(() => w.append(entry()), PoisonedError);
    });

    it('WritableFile.syncAsync() answering no Promise: sync() rejects with an IoError EIO instead of reporting an fdatasync that never ran', async () => {
      let armed = false;
      const dir = wrappingFiles(new MemoryDirectory(), (f) => hostileFile(f, 'syncAsync', () => undefined, () => armed));
      const w = RecordLogWriter.open(dir, 'log', { idleMarkMs: 0 });
      armed = true;
      w.append(entry());
      await assert.rejects(w.sync(), (err) => assertEio(err, 'syncAsync'));
      assert.throws(() => w.append(entry()), PoisonedError);
    });
  });

  describe('the checkpoint publisher', () => {
    async function publishThrough(hostile: (plain: MemoryDirectory) => Partial<Directory>): Promise<{ err: unknown; segments: string[] }> {
      const plain = new MemoryDirectory();
      let armed = false;
      const overrides = hostile(plain);
      const armedOverrides = Object.fromEntries(Object.entries(overrides).map(([k, f]) => [k, (...a: unknown[]) => (armed ? (f as (...x: unknown[]) => unknown)(...a) : (plain as unknown as Record<string, (...x: unknown[]) => unknown>)[k](...a))]));
      const dir = overriding<Directory>(plain, armedOverrides as Partial<Directory>);
      const w = WalWriter.create(dir, { codec: json, preallocate: false, maxSegmentSize: 32 + 2 * 40 });
      for (let i = 0; i < 10; i++) w.append({ n: i });
      w.syncSync();
      const publisher = new CheckpointPublisher(dir, { writer: w, stateCodec: json, retain: 1 });
      armed = true;
      const err = await publisher.checkpoint({ upTo: w.lastEntryId }).then(() => undefined, (e: unknown) => e);
      armed = false;
      w.closeSync();
      return { err, segments: plain.list('wal') };
    }

    it('atomicWrite() throwing a TypeError: checkpoint() rejects with an IoError EIO whose cause it is; no segment is removed', async () => {
      const typeError = new TypeError('atomicWrite exploded');
      const before = (() => {
        const d = new MemoryDirectory();
        const w = WalWriter.create(d, { codec: json, preallocate: false, maxSegmentSize: 32 + 2 * 40 });
        for (let i = 0; i < 10; i++) w.append({ n: i });
        w.closeSync();
        return d.list('wal').length;
      })();
      const { err, segments } = await publishThrough(() => ({ atomicWrite: () => { throw typeError; } }));
      assertEio(err, 'atomicWrite', typeError);
      assert.equal(segments.length, before, 'the log was not truncated for a checkpoint never written');
    });

    it('atomicWriteAsync() answering no Promise: checkpoint() rejects with an IoError EIO; no segment is removed for a checkpoint never written', async () => {
      const { err, segments } = await publishThrough(() => ({ atomicWriteAsync: (() => undefined) as unknown as Directory['atomicWriteAsync'] }));
      assertEio(err, 'atomicWriteAsync');
      assert.ok(segments.length > 1, `segments left: ${segments.join(', ')}`);
    });
  });
});
