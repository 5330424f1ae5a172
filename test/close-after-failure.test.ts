// When a step fails and the close(2) that cleans up after it fails too (EIO or EBADF on some
// network file systems), the step's failure is the one to report: it says what went wrong with
// the data (a header not synced, a lock not released, a reservation refused). The close's must
// not replace it. The same rule as fsync-dir-errors.test.ts, for the three places left.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { tsBackend } from '../lib/backend/select';
import type { WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { IoError } from '../lib/errors';
import { SEGMENT_HEADER_SIZE } from '../lib/wal/format';
import { createPlannedFile, planSegment, reuseSegment } from '../lib/wal/segment-create';
import { overriding, wrappingFiles } from './support/overriding';

const isEio = (syscall: string) => (err: unknown): boolean => err instanceof IoError && err.errno === 'EIO' && err.syscall === syscall;
const spec = { segmentId: 2, firstEntryId: 10, syncWindow: 1 << 20, createdAt: 0, preallocate: 0 };

/** A file whose close(2) fails after it closed (the descriptor is gone either way). */
function closeFails(file: WritableFile, closed: string[]): WritableFile {
  return overriding(file, {
    close: () => {
      file.close();
      closed.push(file.path);
      throw new IoError('EBADF', 'close', file.path);
    },
  });
}

describe('a failing close(2) does not replace the failure before it', () => {
  it('FsLock.release: the unlock failure is thrown, not the close failure, and the descriptor is closed', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-close-after-'));
    try {
      const inner = tsBackend();
      const closed: number[] = [];
      let lockFd = -1;
      const backend: FileBackend = overriding(inner, {
        tryLock: (fd: number, p: string) => {
          lockFd = fd;
          return inner.tryLock(fd, p);
        },
        unlock: (fd: number, p: string) => {
          inner.unlock(fd, p);
          throw new IoError('EIO', 'flock', p);
        },
        close: (fd: number) => {
          inner.close(fd);
          if (fd !== lockFd) return;
          closed.push(fd);
          throw new IoError('EBADF', 'close', root);
        },
      });
      const lock = new FsDirectory(root, { backend }).lock('LOCK');
      assert.throws(() => lock.release(), isEio('flock'));
      assert.deepEqual(closed, [lockFd]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("reuseSegment: the recycled file's fdatasync failure is thrown, not its close failure", () => {
    const inner = new MemoryDirectory();
    inner.mkdirp('wal');
    const recycled = inner.create('wal/00000000000000000001.recycle');
    recycled.write(new Uint8Array(4096));
    recycled.sync();
    recycled.close();
    const closed: string[] = [];
    const dir = wrappingFiles(inner, (file) => closeFails(overriding(file, {
      sync: () => {
        throw new IoError('EIO', 'fdatasync', file.path);
      },
    }), closed));
    assert.throws(() => reuseSegment(dir, 'wal/00000000000000000001.recycle', spec, inner.checksum), isEio('fdatasync'));
    assert.deepEqual(closed, ['wal/00000000000000000001.recycle']);
  });

  it("createPlannedFile: the reservation's failure is thrown, not the close failure", () => {
    const inner = new MemoryDirectory();
    inner.mkdirp('wal');
    const closed: string[] = [];
    const dir = wrappingFiles(inner, (file) => closeFails(overriding(file, {
      allocate: () => {
        throw new IoError('EIO', 'fallocate', file.path);
      },
    }), closed));
    const segment = planSegment(spec, inner.checksum);
    assert.throws(() => createPlannedFile(dir, segment, SEGMENT_HEADER_SIZE + 4096), isEio('fallocate'));
    assert.deepEqual(closed, [segment.path]);
    assert.equal(segment.exists, false);
  });
});
