// checkpoints/pending is the staging name of every checkpoint (atomicWrite, then a rename to its
// own name). A directory there (planted, or left by a bad copy) makes every publish fail: the
// error must say so, and what to do, with a stable code, on every kind of directory; the package
// does not remove it (it is not the package's), and once it is gone publishing works again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { loadLatestCheckpoint, writeCheckpoint } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, NotRegularFileError } from '../lib/errors';
import { raw } from '../lib/wal/codec';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

/** A directory whose checkpoints/pending is a directory; removePending only where the test can remove one (memory and simulated directories cannot). */
const kinds: Array<{ name: string; make: () => { dir: Directory; removePending?: () => void } }> = [
  { name: 'MemoryDirectory', make: () => inMemory(new MemoryDirectory()) },
  { name: 'SimulatedDirectory', make: () => inMemory(new SimulatedDirectory({ seed: 3 })) },
];
for (const [name, backend] of [['native', nativeBackend()], ['ts', tsBackend()]] as const) {
  if (backend === undefined) continue;
  kinds.push({
    name: `FsDirectory(${name})`,
    make: () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-pending-dir-'));
      roots.push(root);
      fs.mkdirSync(path.join(root, 'checkpoints', 'pending', 'inside'), { recursive: true });
      return { dir: new FsDirectory(root, { backend }), removePending: () => fs.rmSync(path.join(root, 'checkpoints', 'pending'), { recursive: true }) };
    },
  });
}

function inMemory(dir: MemoryDirectory | SimulatedDirectory): { dir: Directory } {
  dir.mkdirp('checkpoints/pending/inside');
  return { dir };
}

describe('checkpoints/pending holding a directory', () => {
  for (const { name, make } of kinds) {
    it(`${name}: publishing fails with NotRegularFileError naming it and saying to remove it; the directory is left alone${name.startsWith('Fs') ? '; once removed, publishing works' : ''}`, () => {
      const { dir, removePending } = make();
      const state = new Uint8Array([1, 2, 3]);
      assert.throws(() => writeCheckpoint(dir, 7, state, { codec: raw }), (err: unknown) => {
        assert.ok(err instanceof NotRegularFileError, String(err));
        assert.equal(err.code, 'DURABILITY_NOT_REGULAR_FILE');
        assert.equal(err.path, 'checkpoints/pending');
        assert.equal(err.fileType, 'directory');
        assert.match(err.message, /staging name of every checkpoint.*remove/);
        assert.ok(err.cause instanceof IoError, 'the OS failure is kept as the cause');
        return true;
      });
      assert.deepEqual(dir.list('checkpoints/pending'), ['inside']);
      assert.equal(loadLatestCheckpoint(dir, { codec: raw }).checkpoint, undefined);
      if (removePending === undefined) return;
      removePending();
      writeCheckpoint(dir, 7, state, { codec: raw });
      assert.deepEqual(loadLatestCheckpoint(dir, { codec: raw }).checkpoint?.state, state);
    });
  }
});
