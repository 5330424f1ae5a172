// The node:fs backend's pread under a disk that misbehaves: reads that return less than asked
// before the end of the file, an error part-way, a read interrupted by a signal. It must read
// what the native core's PreadFull reads (native/platform_posix.cc) and fail where it fails.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { json } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { preadAll as preadWhole } from './support/pread-all';

type ReadSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;

/** Runs `fn` with fs.readSync answered by `read` (given the real one). */
function withReadSync<T>(read: (real: ReadSync, fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number, fn: () => T): T {
  const real = fs.readSync;
  fs.readSync = ((fd: number, buffer: Uint8Array, offset: number, length: number, position: number) =>
    read(real as unknown as ReadSync, fd, buffer, offset, length, position)) as unknown as typeof fs.readSync;
  try {
    return fn();
  } finally {
    fs.readSync = real;
  }
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected, read`), { code, syscall: 'read' });
}

describe('node:fs backend pread on a misbehaving disk', () => {
  const backend = tsBackend();
  let root: string;
  let file: string;
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-pread-'));
    file = path.join(root, 'f');
    fs.writeFileSync(file, content);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const preadAll = (): { n: number; bytes: Buffer } => preadWhole(backend, file, content.length);

  it('goes on after reads that return less than asked, to the end of the file', () => {
    const got = withReadSync((real, fd, b, o, l, p) => real(fd, b, o, Math.min(l, 7), p), preadAll);
    assert.equal(got.n, content.length);
    assert.deepEqual(got.bytes.subarray(0, got.n), content);
  });

  it('fails with the error that follows a short read, not with the bytes before it', () => {
    let calls = 0;
    assert.throws(
      () => withReadSync((real, fd, b, o, l, p) => {
        if (++calls === 2) throw errno('EIO');
        return real(fd, b, o, Math.min(l, 100), p);
      }, preadAll),
      (err: unknown) => err instanceof IoError && err.errno === 'EIO' && err.syscall === 'pread' && err.path === file,
    );
  });

  it('reads again after EINTR (a signal during a read on FUSE or NFS), as the native core does', () => {
    let calls = 0;
    const got = withReadSync((real, fd, b, o, l, p) => {
      if (++calls <= 2) throw errno('EINTR');
      return real(fd, b, o, l, p);
    }, preadAll);
    assert.equal(got.n, content.length);
    assert.deepEqual(got.bytes.subarray(0, got.n), content);
  });

  it('ends with IoError EINTR when every read is interrupted, instead of reading again forever', () => {
    // A FUSE server that answers EINTR to every read: the sync loop would hold the event loop for
    // good. The sentinel only stops the unfixed loop; the backend must give up long before it.
    let calls = 0;
    assert.throws(
      () => withReadSync(() => {
        if (++calls > 1_000_000) throw new Error('still reading after a million EINTRs');
        throw errno('EINTR');
      }, preadAll),
      (err: unknown) => err instanceof IoError && err.errno === 'EINTR' && err.syscall === 'pread' && err.path === file,
    );
  });

  it('reads on after many EINTRs when each read in between makes progress', () => {
    // Only EINTRs in a row with no byte read between them end the read: a signal storm over a
    // slow read that does advance is read through.
    let calls = 0;
    const got = withReadSync((real, fd, b, o, l, p) => {
      if (++calls % 50 !== 0) throw errno('EINTR');
      return real(fd, b, o, Math.min(l, 1), p);
    }, preadAll);
    assert.equal(got.n, content.length);
    assert.deepEqual(got.bytes.subarray(0, got.n), content);
  });

  it('a writer opened while reads are interrupted finds every entry and appends after them', () => {
    const dir = new FsDirectory(path.join(root, 'store'), { backend, create: true });
    const w = WalWriter.open<unknown>(dir, { codec: json });
    for (let i = 1; i <= 5; i++) w.append({ i });
    w.closeSync();
    let calls = 0;
    const id = withReadSync((real, fd, b, o, l, p) => {
      if (++calls % 2 === 1) throw errno('EINTR');
      return real(fd, b, o, l, p);
    }, () => {
      const again = WalWriter.open<unknown>(dir, { codec: json });
      try {
        return again.append({ i: 6 });
      } finally {
        again.closeSync();
      }
    });
    assert.equal(id, 6);
    assert.deepEqual(new WalReader<unknown>(dir, { codec: json }).replaySync({ mode: 'strict' }).map((r) => r.payload), [1, 2, 3, 4, 5, 6].map((i) => ({ i })));
  });
});
