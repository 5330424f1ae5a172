import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeFsBackend } from '../lib/backend/node-fs';
import { IoError } from '../lib/errors';

// fsyncDir opens the directory, fsyncs it and closes it. When the fsync fails, that is the
// failure to report: the directory's entries may not be durable. A close(2) failing after it
// (EIO on some network file systems) must not replace it. The native core returns the fsync's
// result before the close's (native/platform_posix.cc FsyncDir); node:fs is made to fail here.

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall}`), { code, syscall, errno: -1 });
}

const isFsyncEio = (err: unknown): boolean => err instanceof IoError && err.errno === 'EIO' && err.syscall === 'fsync';

describe('fsyncDir on node:fs when both the fsync and the close fail', () => {
  let root: string;
  const saved = { fsyncSync: fs.fsyncSync, closeSync: fs.closeSync, fsync: fs.fsync, close: fs.close };
  /** The descriptors fsync was asked to flush: only their close fails. */
  let synced: Set<number>;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-fsyncdir-'));
    synced = new Set();
    fs.fsyncSync = (fd: number) => {
      synced.add(fd);
      throw errnoError('EIO', 'fsync');
    };
    fs.closeSync = (fd: number) => {
      saved.closeSync(fd);
      if (synced.delete(fd)) throw errnoError('EBADF', 'close');
    };
    fs.fsync = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      synced.add(fd);
      setImmediate(() => cb(errnoError('EIO', 'fsync')));
    }) as typeof fs.fsync;
    fs.close = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      saved.close(fd, (err) => cb(err ?? (synced.delete(fd) ? errnoError('EBADF', 'close') : null)));
    }) as typeof fs.close;
  });
  afterEach(() => {
    Object.assign(fs, saved);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('fsyncDir throws the fsync error, not the close error', () => {
    assert.throws(() => new NodeFsBackend().fsyncDir(root), isFsyncEio);
    assert.equal(synced.size, 0, 'the directory was closed');
  });

  it('fsyncDirAsync rejects with the fsync error, not the close error', async () => {
    await assert.rejects(new NodeFsBackend().fsyncDirAsync(root), isFsyncEio);
    assert.equal(synced.size, 0, 'the directory was closed');
  });
});
