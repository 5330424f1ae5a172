// The node:fs backend's lock within one process: a second open of a locked log is refused while
// the first holder's descriptor still refers to the lock file (lib/backend/lockfile.ts). Whether
// it does is asked with fstat, which a network or FUSE file system can fail (EIO, ESTALE: it
// revalidates with the server). Only EBADF says the descriptor was closed; any other failure says
// nothing, and must not let a second writer take a lock the first still holds.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError, LockedError } from '../lib/errors';
import { json, type Codec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const codec = json as Codec<unknown>;

describe('a node:fs lock whose holder cannot be fstat-ed', () => {
  let root: string;
  const realFstat = fs.fstatSync;
  let failing: string | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-lock-fstat-'));
    // Installed before the first writer locks: the lock keeps the fstat it was taken with.
    failing = undefined;
    fs.fstatSync = ((...a: Parameters<typeof fs.fstatSync>) => {
      if (failing !== undefined) throw Object.assign(new Error(`${failing}: injected, fstat`), { code: failing, syscall: 'fstat' });
      return realFstat(...a);
    }) as typeof fs.fstatSync;
  });
  afterEach(() => {
    fs.fstatSync = realFstat;
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const errno of ['EIO', 'ESTALE']) {
    it(`${errno}: a second writer is refused, and the first writes on`, () => {
      const dir = new FsDirectory(root, { backend: tsBackend(), create: true });
      const first = WalWriter.open(dir, { codec });
      try {
        first.append('first');
        failing = errno;
        assert.throws(() => WalWriter.open(dir, { codec }).closeSync(), (err: unknown) => err instanceof LockedError || (err instanceof IoError && err.errno === errno));
        failing = undefined;
        assert.throws(() => WalWriter.open(dir, { codec }), LockedError, 'still held once fstat answers again');
        first.append('second');
      } finally {
        failing = undefined;
        first.closeSync();
      }
      assert.deepEqual(new WalReader(dir, { codec }).replaySync({ mode: 'strict' }).map((r) => r.payload), ['first', 'second']);
    });
  }
});
