import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import type { FileBackend } from '../lib/backend/backend';
import { pidFilePath } from '../lib/backend/lockfile';
import { OWNED_BYTES } from '../lib/backend/owned-bytes';
import { NativeFileBackend } from '../lib/backend/native';
import { availableBackends, nativeBackend, tsBackend } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import { IoError, toIoError } from '../lib/errors';
import type { TestNativeBinding } from '../binding';
import { referenceCrc32c } from './crc32c-oracle';
import { TEST_BUILD, testBuild } from './support/test-binding';

const backends = availableBackends();
const ts = backends.find((b) => b.name === 'ts') as FileBackend;
const NO_PREALLOCATION = ['EOPNOTSUPP', 'ENOTSUP', 'EINVAL', 'ENOSYS'];

function assertIoError(err: unknown, errno: string, syscall: string | RegExp, file?: string): true {
  assert.ok(err instanceof IoError, `expected IoError, got ${String(err)}`);
  assert.equal(err.code, 'DURABILITY_IO');
  assert.equal(err.errno, errno);
  if (typeof syscall === 'string') assert.equal(err.syscall, syscall);
  else assert.match(err.syscall, syscall);
  if (file !== undefined) assert.equal(err.path, file);
  return true;
}

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-backend-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

let seq = 0;
function freshDir(): string {
  const dir = path.join(root, `d${seq++}`);
  fs.mkdirSync(dir);
  return dir;
}

describe('file backends: agreement', () => {
  it('always include the ts backend, each under a distinct name', () => {
    const names = backends.map((b) => b.name);
    assert.ok(names.includes('ts'));
    assert.equal(new Set(names).size, names.length);
  });

  it('compute the same crc32c and crc32cRanges as a bitwise reference on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 0xffffffff }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 12 }), (data, seed, picks) => {
        const expected = referenceCrc32c(data, seed);
        const ranges = new Uint32Array(2 * picks.length);
        picks.forEach(([a, b], k) => {
          const start = data.length === 0 ? 0 : a % (data.length + 1);
          ranges[2 * k] = start;
          ranges[2 * k + 1] = b % (data.length - start + 1);
        });
        for (const backend of backends) {
          assert.equal(backend.crc32c(data, seed), expected, backend.name);
          const out = new Uint32Array(picks.length);
          backend.crc32cRanges(data, ranges, picks.length, out, seed);
          picks.forEach((_, k) => {
            const slice = data.subarray(ranges[2 * k], ranges[2 * k] + ranges[2 * k + 1]);
            assert.equal(out[k], referenceCrc32c(slice, seed), `${backend.name} range ${k}`);
          });
        }
      }),
      { numRuns: 60 },
    );
  });

  type Op =
    | { kind: 'pwrite'; offset: number; data: Uint8Array; async: boolean }
    | { kind: 'pwritev'; offset: number; chunks: Uint8Array[]; async: boolean }
    | { kind: 'ftruncate'; length: number };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('pwrite' as const), offset: fc.nat(70_000), data: fc.uint8Array({ maxLength: 5000 }), async: fc.boolean() }),
    fc.record({
      kind: fc.constant('pwritev' as const),
      offset: fc.nat(70_000),
      chunks: fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 6 }),
      async: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('ftruncate' as const), length: fc.nat(80_000) }),
  );

  /** What POSIX says the file holds after the ops: holes and extensions read as zeros. */
  function model(ops: readonly Op[]): Buffer {
    let file = Buffer.alloc(0);
    const place = (offset: number, data: Uint8Array): void => {
      if (data.length === 0) return;
      if (offset + data.length > file.length) file = Buffer.concat([file, Buffer.alloc(offset + data.length - file.length)]);
      file.set(data, offset);
    };
    for (const op of ops) {
      if (op.kind === 'pwrite') place(op.offset, op.data);
      else if (op.kind === 'pwritev') place(op.offset, Buffer.concat(op.chunks));
      else file = op.length <= file.length ? file.subarray(0, op.length) : Buffer.concat([file, Buffer.alloc(op.length - file.length)]);
    }
    return Buffer.from(file);
  }

  async function apply(backend: FileBackend, file: string, ops: readonly Op[]): Promise<Buffer> {
    const fd = backend.open(file, 'truncate');
    try {
      for (const op of ops) {
        if (op.kind === 'pwrite') {
          if (op.async) await backend.pwriteAsync(fd, op.data, op.offset, file);
          else backend.pwrite(fd, op.data, op.offset, file);
        } else if (op.kind === 'pwritev') {
          if (op.async) await backend.commitAsync(fd, { chunks: op.chunks, offset: op.offset, dirs: [] }, file);
          else backend.pwritev(fd, op.chunks, op.offset, file);
        } else {
          backend.ftruncate(fd, op.length, file);
        }
      }
      backend.fdatasync(fd, file);
      const size = backend.fileSize(fd, file);
      const back = Buffer.alloc(size);
      assert.equal(backend.pread(fd, back, 0, file), size);
      return back;
    } finally {
      backend.close(fd);
    }
  }

  it('turn the same random pwrite/pwritev/ftruncate sequence into identical file bytes', async () => {
    const dir = freshDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), async (ops) => {
        const expected = model(ops);
        run++;
        for (const backend of backends) {
          const file = path.join(dir, `${backend.name}-${run}`);
          const viaRead = await apply(backend, file, ops);
          const onDisk = fs.readFileSync(file);
          assert.ok(onDisk.equals(expected), `${backend.name}: file differs from model (${onDisk.length} vs ${expected.length} bytes)`);
          assert.ok(viaRead.equals(expected), `${backend.name}: pread differs from model`);
          fs.unlinkSync(file);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('file backends: a failed write or read names the same syscall on both', () => {
  // node:fs reports pwrite and pwritev as `write` and pread as `read`; IoError.syscall is part of
  // the error a user logs and matches on, so it must not depend on the backend that ran.
  for (const backend of backends) {
    it(`'${backend.name}': pwrite, pwritev, pread, fallocate`, async () => {
      const file = path.join(freshDir(), 'f');
      fs.writeFileSync(file, 'x');
      const ro = backend.open(file, 'read');
      try {
        assert.throws(() => backend.pwrite(ro, Buffer.from('y'), 0, file), (err) => assertIoError(err, 'EBADF', 'pwrite', file));
        await assert.rejects(backend.pwriteAsync(ro, Buffer.from('y'), 0, file), (err) => assertIoError(err, 'EBADF', 'pwrite', file));
        assert.throws(() => backend.pwritev(ro, [Buffer.from('y'), Buffer.from('z')], 0, file), (err) => assertIoError(err, 'EBADF', 'pwritev', file));
        await assert.rejects(backend.commitAsync(ro, { chunks: [Buffer.from('y')], offset: 0, dirs: [] }, file), (err) => assertIoError(err, 'EBADF', 'pwritev', file));
      } finally {
        backend.close(ro);
      }
      const closed = backend.open(file, 'readWrite');
      backend.close(closed);
      assert.throws(() => backend.pread(closed, Buffer.alloc(1), 0, file), (err) => assertIoError(err, 'EBADF', 'pread', file));
      assert.throws(() => backend.fallocate(closed, 0, 16, file), (err) => assertIoError(err, 'EBADF', 'fallocate', file));
      assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    });
  }
});

for (const backend of backends) {
  describe(`file backend '${backend.name}'`, () => {
    let dir: string;
    beforeEach(() => {
      dir = freshDir();
    });

    it('pread returns short counts at end of file and 0 past it', () => {
      const file = path.join(dir, 'f');
      fs.writeFileSync(file, Buffer.from('0123456789'));
      const fd = backend.open(file, 'read');
      try {
        const target = Buffer.alloc(8, 0xee);
        assert.equal(backend.pread(fd, target, 6, file), 4);
        assert.deepEqual([...target], [...Buffer.from('6789'), 0xee, 0xee, 0xee, 0xee]);
        assert.equal(backend.pread(fd, target, 10, file), 0);
        assert.equal(backend.pread(fd, target, 1_000_000, file), 0);
        assert.equal(backend.pread(fd, Buffer.alloc(0), 0, file), 0);
        const full = Buffer.alloc(10);
        assert.equal(backend.pread(fd, full, 0, file), 10);
        assert.equal(full.toString(), '0123456789');
      } finally {
        backend.close(fd);
      }
    });

    it('open modes: create keeps, truncate empties, createNew refuses existing, readWrite needs the file', () => {
      const file = path.join(dir, 'f');
      const missing = path.join(dir, 'missing');
      fs.writeFileSync(file, 'keep me');
      let fd = backend.open(file, 'create');
      assert.equal(backend.fileSize(fd, file), 7);
      backend.close(fd);
      assert.throws(() => backend.open(file, 'createNew'), (err) => assertIoError(err, 'EEXIST', 'open', file));
      assert.throws(() => backend.open(missing, 'readWrite'), (err) => assertIoError(err, 'ENOENT', 'open', missing));
      assert.throws(() => backend.open(missing, 'read'), (err) => assertIoError(err, 'ENOENT', 'open', missing));
      assert.equal(fs.existsSync(missing), false);
      fd = backend.open(file, 'truncate');
      assert.equal(backend.fileSize(fd, file), 0);
      backend.close(fd);
      fd = backend.open(missing, 'createNew');
      backend.pwrite(fd, Buffer.from('new'), 0, missing);
      backend.close(fd);
      assert.equal(fs.readFileSync(missing, 'utf8'), 'new');
      fd = backend.open(missing, 'readWrite');
      backend.pwrite(fd, Buffer.from('N'), 0, missing);
      backend.close(fd);
      assert.equal(fs.readFileSync(missing, 'utf8'), 'New');
    });

    it('a read-only descriptor refuses writes with EBADF naming the path', async () => {
      const file = path.join(dir, 'ro');
      fs.writeFileSync(file, 'x');
      const fd = backend.open(file, 'read');
      try {
        assert.throws(() => backend.pwrite(fd, Buffer.from('y'), 0, file), (err) => assertIoError(err, 'EBADF', /write/, file));
        await assert.rejects(backend.pwriteAsync(fd, Buffer.from('y'), 0, file), (err) => assertIoError(err, 'EBADF', /write/, file));
        await assert.rejects(backend.commitAsync(fd, { chunks: [Buffer.from('y')], offset: 0, dirs: [] }, file), (err) => assertIoError(err, 'EBADF', /write/, file));
      } finally {
        backend.close(fd);
      }
      assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    });

    it('operations on a closed descriptor throw IoError EBADF carrying the given path', async () => {
      const file = path.join(dir, 'closed');
      const fd = backend.open(file, 'create');
      backend.close(fd);
      const check = (err: unknown): true => assertIoError(err, 'EBADF', /./, file);
      assert.throws(() => backend.fdatasync(fd, file), check);
      assert.throws(() => backend.fileSize(fd, file), check);
      assert.throws(() => backend.ftruncate(fd, 0, file), check);
      assert.throws(() => backend.pread(fd, Buffer.alloc(1), 0, file), check);
      assert.throws(() => backend.pwritev(fd, [Buffer.from('a')], 0, file), check);
      await assert.rejects(backend.fdatasyncAsync(fd, file), check);
    });

    it('close with a commit pending lets it finish on its own file: a file opened next is untouched', async () => {
      const file = path.join(dir, 'a');
      const other = path.join(dir, 'other');
      fs.writeFileSync(other, "someone else's data");
      const fd = backend.open(file, 'create');
      const commit = backend.commitAsync(fd, { chunks: [Buffer.from('abcdef')], offset: 0, truncateTo: 4, dirs: [] }, file);
      backend.close(fd);
      // The OS gives an open the lowest free number: this one's, wherever close released it.
      const next = backend.open(other, 'readWrite');
      try {
        await commit;
      } finally {
        backend.close(next);
      }
      assert.equal(fs.readFileSync(other, 'utf8'), "someone else's data");
      assert.equal(fs.readFileSync(file, 'utf8'), 'abcd', 'the commit wrote and truncated its own file');
      // node:fs descriptors are the OS's: the deferred close did happen.
      if (backend.name === 'ts' && next !== fd) assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
    });

    it('a closed descriptor is gone even while its commits run: commitAsync and close on it fail with EBADF', async () => {
      const file = path.join(dir, 'a');
      const fd = backend.open(file, 'create');
      const commit = backend.commitAsync(fd, { chunks: [Buffer.from('abc')], offset: 0, dirs: [] }, file);
      backend.close(fd);
      await assert.rejects(backend.commitAsync(fd, { chunks: [Buffer.from('x')], offset: 0, dirs: [] }, file), (err) => assertIoError(err, 'EBADF', /write/, file));
      assert.throws(() => backend.close(fd), (err) => assertIoError(err, 'EBADF', 'close'));
      await commit;
      assert.equal(fs.readFileSync(file, 'utf8'), 'abc');
    });

    it('rejects negative or non-integer offsets instead of writing at the current position', () => {
      const file = path.join(dir, 'args');
      const fd = backend.open(file, 'create');
      try {
        assert.throws(() => backend.pwrite(fd, Buffer.from('a'), -1, file), RangeError);
        assert.throws(() => backend.pwrite(fd, Buffer.from('a'), 1.5, file), RangeError);
        assert.throws(() => backend.pread(fd, Buffer.alloc(1), -1, file), RangeError);
        assert.throws(() => backend.ftruncate(fd, -1, file), RangeError);
        assert.throws(() => backend.pwriteAsync(fd, Buffer.from('a'), -1, file), RangeError);
        assert.throws(() => backend.commitAsync(fd, { chunks: [Buffer.from('a')], offset: -1, dirs: [] }, file), RangeError);
        assert.equal(backend.fileSize(fd, file), 0);
      } finally {
        backend.close(fd);
      }
    });

    it('pwritev writes many chunks contiguously, including empty ones and more than IOV_MAX', async () => {
      const file = path.join(dir, 'v');
      const fd = backend.open(file, 'create');
      try {
        const chunks = Array.from({ length: 1500 }, (_, i) => Buffer.alloc(i % 3, i & 0xff));
        backend.pwritev(fd, chunks, 5, file);
        // Owned chunks reach the gather write as they are (a caller's are copied into one first).
        await backend.commitAsync(fd, { chunks, offset: 5 + 1500, dirs: [], [OWNED_BYTES]: true }, file);
        backend.pwritev(fd, [], 0, file);
        await backend.commitAsync(fd, { chunks: [], offset: 0, dirs: [] }, file);
      } finally {
        backend.close(fd);
      }
      const one = Buffer.concat(Array.from({ length: 1500 }, (_, i) => Buffer.alloc(i % 3, i & 0xff)));
      assert.equal(one.length, 1500);
      assert.ok(fs.readFileSync(file).equals(Buffer.concat([Buffer.alloc(5), one, one])));
    });

    it('fdatasync and fsyncDir work in sync and async forms; fsyncDir names a missing path', async () => {
      const file = path.join(dir, 's');
      const fd = backend.open(file, 'create');
      try {
        backend.pwrite(fd, Buffer.from('abc'), 0, file);
        backend.fdatasync(fd, file);
        await backend.pwriteAsync(fd, Buffer.from('def'), 3, file);
        await backend.fdatasyncAsync(fd, file);
      } finally {
        backend.close(fd);
      }
      assert.equal(fs.readFileSync(file, 'utf8'), 'abcdef');
      backend.fsyncDir(dir);
      await backend.fsyncDirAsync(dir);
      const gone = path.join(dir, 'no-such-dir');
      assert.throws(() => backend.fsyncDir(gone), (err) => assertIoError(err, 'ENOENT', /open/, gone));
      await assert.rejects(backend.fsyncDirAsync(gone), (err) => assertIoError(err, 'ENOENT', /open/, gone));
    });

    it('rename, unlink, mkdir, readdir and exists behave and fail with IoError', () => {
      const a = path.join(dir, 'a');
      const b = path.join(dir, 'b');
      const sub = path.join(dir, 'sub');
      fs.writeFileSync(a, 'A');
      assert.equal(backend.exists(a), true);
      assert.equal(backend.exists(b), false);
      assert.equal(backend.exists(path.join(a, 'child')), false, 'a path under a file does not exist');
      backend.rename(a, b);
      assert.equal(backend.exists(a), false);
      assert.equal(fs.readFileSync(b, 'utf8'), 'A');
      assert.throws(() => backend.rename(a, b), (err) => assertIoError(err, 'ENOENT', 'rename', a));
      backend.mkdir(sub);
      assert.equal(backend.exists(sub), true);
      assert.throws(() => backend.mkdir(sub), (err) => assertIoError(err, 'EEXIST', 'mkdir', sub));
      assert.deepEqual(backend.readdir(dir).sort(), ['b', 'sub']);
      assert.throws(() => backend.readdir(a), (err) => assertIoError(err, 'ENOENT', /scandir|opendir|readdir/, a));
      backend.unlink(b);
      assert.equal(backend.exists(b), false);
      assert.throws(() => backend.unlink(b), (err) => assertIoError(err, 'ENOENT', 'unlink', b));
      assert.deepEqual(backend.readdir(dir), ['sub']);
    });

    it('fallocate either extends the file with zeros keeping its bytes, or reports that it cannot', () => {
      const file = path.join(dir, 'pre');
      const fd = backend.open(file, 'create');
      try {
        backend.pwrite(fd, Buffer.from('head'), 0, file);
        let supported = true;
        try {
          backend.fallocate(fd, 0, 4096, file);
        } catch (err) {
          supported = false;
          assert.ok(err instanceof IoError, String(err));
          assert.ok(NO_PREALLOCATION.includes(err.errno), err.errno);
          assert.equal(err.syscall, 'fallocate');
          assert.equal(err.path, file);
        }
        const bytes = fs.readFileSync(file);
        if (supported) assert.ok(bytes.equals(Buffer.concat([Buffer.from('head'), Buffer.alloc(4092)])));
        else assert.equal(bytes.toString(), 'head');
        // The ts backend never preallocates: that is a promise the Directory layer relies on.
        if (backend.name === 'ts') assert.equal(supported, false);
      } finally {
        backend.close(fd);
      }
      assert.throws(() => backend.fallocate(fd, 0, 16, file), (err) => assertIoError(err, 'EBADF', /./, file));
    });

    it('tryLock excludes a second descriptor until unlock, and close releases like flock', () => {
      const file = path.join(dir, 'LOCK');
      const fd1 = backend.open(file, 'create');
      const fd2 = backend.open(file, 'create');
      const fd3 = backend.open(file, 'create');
      try {
        assert.equal(backend.tryLock(fd1, file).acquired, true);
        assert.equal(backend.tryLock(fd1, file).acquired, true, 'relocking through the holder succeeds');
        assert.equal(backend.tryLock(fd2, file).acquired, false);
        backend.unlock(fd2, file); // not the holder: no effect
        assert.equal(backend.tryLock(fd2, file).acquired, false);
        backend.unlock(fd1, file);
        assert.equal(backend.tryLock(fd2, file).acquired, true);
        assert.equal(backend.tryLock(fd1, file).acquired, false);
        backend.close(fd2);
        assert.equal(backend.tryLock(fd3, file).acquired, true, 'closing the holder released it');
        backend.unlock(fd3, file);
      } finally {
        backend.close(fd1);
        backend.close(fd3);
      }
    });

    // On Windows the native backend's descriptors index its own HANDLE table, not the C runtime's
    // descriptors that fs.closeSync closes: nothing can close one behind its back.
    if (!(process.platform === 'win32' && backend.name === 'native')) it('a lock whose descriptor was closed behind the backend is released', () => {
      const file = path.join(dir, 'LOCK');
      const fd1 = backend.open(file, 'create');
      assert.equal(backend.tryLock(fd1, file).acquired, true);
      fs.closeSync(fd1);
      const fd2 = backend.open(file, 'create');
      try {
        assert.equal(backend.tryLock(fd2, file).acquired, true);
        backend.unlock(fd2, file);
      } finally {
        backend.close(fd2);
      }
    });
  });
}

// ---- errno names: one failure, one name, whichever backend reports it ----

/** An error as node:fs builds it for errno `n`: libuv's name, or "Unknown system error -n" where it has none. */
function nodeFsError(n: number, syscall: string): NodeJS.ErrnoException {
  const code = util.getSystemErrorName(-n);
  return Object.assign(new Error(`${code}: ${code}, ${syscall}`), { code, errno: -n, syscall });
}

/** Errnos libuv cannot name (node:fs reports them as "Unknown system error -n") that a disk or NFS can give. */
const UNNAMED_BY_LIBUV = (['EDQUOT', 'ESTALE', 'ENOLCK'] as const).filter((name) => {
  const n = os.constants.errno[name];
  return n !== undefined && util.getSystemErrorName(-n).startsWith('Unknown system error');
});

describe('toIoError', () => {
  it('names an errno libuv cannot name from its number', () => {
    assert.ok(UNNAMED_BY_LIBUV.length > 0 || process.platform === 'win32', 'this platform has errnos libuv leaves unnamed');
    for (const name of UNNAMED_BY_LIBUV) {
      const raw = nodeFsError(os.constants.errno[name], 'fdatasync');
      const err = toIoError(raw, '/some/file');
      assertIoError(err, name, 'fdatasync', '/some/file');
      assert.equal((err as IoError).cause, raw);
    }
  });

  it('names errno 95 (Linux) ENOTSUP, as libuv does, whether the native core said EOPNOTSUPP or node:fs ENOTSUP', () => {
    const { ENOTSUP, EOPNOTSUPP } = os.constants.errno;
    const expected = ENOTSUP === EOPNOTSUPP ? 'ENOTSUP' : 'EOPNOTSUPP';
    assertIoError(toIoError(Object.assign(new Error('EOPNOTSUPP'), { code: 'EOPNOTSUPP', errno: EOPNOTSUPP, syscall: 'fallocate' })), expected, 'fallocate');
    assertIoError(toIoError(nodeFsError(ENOTSUP, 'fallocate')), 'ENOTSUP', 'fallocate');
  });

  it('an OS error whose number this platform cannot name is EUNKNOWN; errors that are not from the OS pass through', () => {
    const unknown = Object.assign(new Error('UNKNOWN: unknown error, write'), { code: 'UNKNOWN', errno: -4094, syscall: 'write' });
    assertIoError(toIoError(unknown, '/f'), 'EUNKNOWN', 'write', '/f');
    const typeError = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(toIoError(typeError), typeError);
    const plain = new Error('plain');
    assert.equal(toIoError(plain), plain);
  });
});

if (nativeBackend() !== undefined) {
  describe(`file backends: a failing fdatasync has one errno name on both ${TEST_BUILD}`, () => {
    const mutableFs = fs as unknown as { fdatasync: (fd: number, cb: (err: Error | null) => void) => void };
    const realFdatasync = mutableFs.fdatasync;
    let binding: TestNativeBinding;
    before(function () {
      this.timeout(600_000); // the first run may build the test addon
      binding = testBuild().binding;
    });
    afterEach(() => {
      binding.__setFaultInjection(null);
      mutableFs.fdatasync = realFdatasync;
    });

    /** The errno name commitAsync rejects with when its fdatasync fails with errno `n`. */
    async function nameOf(backend: FileBackend, n: number): Promise<string> {
      const file = path.join(freshDir(), 'f');
      const fd = backend.open(file, 'create');
      try {
        if (backend.name === 'native') binding.__setFaultInjection({ op: 'fdatasync', errno: n });
        else mutableFs.fdatasync = (_fd, cb) => process.nextTick(cb, nodeFsError(n, 'fdatasync'));
        const err: unknown = await backend.commitAsync(fd, { chunks: [Buffer.from('x')], offset: 0, dirs: [] }, file).then(
          () => assert.fail('the commit succeeded'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof IoError, `expected IoError, got ${String(err)}`);
        assert.equal(err.syscall, 'fdatasync');
        assert.equal(err.path, file);
        return err.errno;
      } finally {
        backend.close(fd);
      }
    }

    for (const name of [...UNNAMED_BY_LIBUV, 'EOPNOTSUPP', 'EIO'] as const) {
      it(`errno ${name}`, async () => {
        const n = os.constants.errno[name];
        const native = await nameOf(new NativeFileBackend(binding), n);
        const ts = await nameOf(tsBackend(), n);
        assert.equal(native, ts);
        assert.equal(native, name === 'EOPNOTSUPP' && n === os.constants.errno.ENOTSUP ? 'ENOTSUP' : name);
      });
    }
  });
}

// ---- the ts backend's retry loops, driven by a node:fs that moves a few bytes per call ----

describe('ts backend: short reads and writes', () => {
  type Patchable = Record<'writeSync' | 'writevSync' | 'readSync' | 'write' | 'writev', (...args: never[]) => unknown>;
  const mutableFs = fs as unknown as Patchable;
  const { writeSync, writevSync, readSync, write, writev } = mutableFs;
  const saved = { writeSync, writevSync, readSync, write, writev };
  const STEP = 3;
  afterEach(() => Object.assign(mutableFs, saved));

  function firstBytes(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const c of chunks) {
      if (n <= 0) break;
      out.push(c.subarray(0, n));
      n -= Math.min(n, c.length);
    }
    return out;
  }

  function throttle(): void {
    const { writeSync, writevSync, readSync, write, writev } = saved as unknown as typeof fs;
    Object.assign(mutableFs, {
      writeSync: (fd: number, b: Uint8Array, off: number, len: number, pos: number) => writeSync(fd, b, off, Math.min(len, STEP), pos),
      readSync: (fd: number, b: Uint8Array, off: number, len: number, pos: number) => readSync(fd, b, off, Math.min(len, STEP), pos),
      writevSync: (fd: number, chunks: Uint8Array[], pos: number) => writevSync(fd, firstBytes(chunks, STEP), pos),
      write: (fd: number, b: Uint8Array, off: number, len: number, pos: number, cb: (e: Error | null, n: number) => void) =>
        write(fd, b, off, Math.min(len, STEP), pos, cb),
      writev: (fd: number, chunks: Uint8Array[], pos: number, cb: (e: Error | null, n: number) => void) =>
        writev(fd, firstBytes(chunks, STEP), pos, cb),
    });
  }

  it('continues short writes and reads until every byte is moved', async () => {
    const file = path.join(freshDir(), 'short');
    const fd = ts.open(file, 'create');
    const data = Buffer.from('the quick brown fox jumps over the lazy dog');
    const chunks = [Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cdefg'), Buffer.from('h'), Buffer.from('ijklmnop')];
    try {
      throttle();
      ts.pwrite(fd, data, 0, file);
      await ts.pwriteAsync(fd, data, 100, file);
      ts.pwritev(fd, chunks, 200, file);
      await ts.commitAsync(fd, { chunks, offset: 300, dirs: [], [OWNED_BYTES]: true }, file);
      const back = Buffer.alloc(data.length);
      assert.equal(ts.pread(fd, back, 100, file), data.length);
      assert.ok(back.equals(data));
    } finally {
      Object.assign(mutableFs, saved);
      ts.close(fd);
    }
    const bytes = fs.readFileSync(file);
    const joined = Buffer.concat(chunks);
    assert.ok(bytes.subarray(0, data.length).equals(data));
    assert.ok(bytes.subarray(100, 100 + data.length).equals(data));
    assert.ok(bytes.subarray(200, 200 + joined.length).equals(joined));
    assert.ok(bytes.subarray(300, 300 + joined.length).equals(joined));
  });

  it('turns a write that makes no progress into IoError EIO instead of spinning', async () => {
    const file = path.join(freshDir(), 'stuck');
    const fd = ts.open(file, 'create');
    try {
      Object.assign(mutableFs, {
        writeSync: () => 0,
        writevSync: () => 0,
        write: (...args: unknown[]) => (args[args.length - 1] as (e: null, n: number) => void)(null, 0),
        writev: (...args: unknown[]) => (args[args.length - 1] as (e: null, n: number) => void)(null, 0),
      });
      // Named as the native core names its no-progress EIO (platform_posix.cc).
      assert.throws(() => ts.pwrite(fd, Buffer.from('x'), 0, file), (err) => assertIoError(err, 'EIO', 'pwrite', file));
      assert.throws(() => ts.pwritev(fd, [Buffer.from('x')], 0, file), (err) => assertIoError(err, 'EIO', 'pwritev', file));
      await assert.rejects(ts.pwriteAsync(fd, Buffer.from('x'), 0, file), (err) => assertIoError(err, 'EIO', 'pwrite', file));
      await assert.rejects(ts.commitAsync(fd, { chunks: [Buffer.from('x')], offset: 0, dirs: [] }, file), (err) => assertIoError(err, 'EIO', 'pwritev', file));
    } finally {
      Object.assign(mutableFs, saved);
      ts.close(fd);
    }
  });
});

describe('ts backend: a deferred close', () => {
  it("that fails is published as a 'deferred-close-failed' diagnostic carrying an IoError", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dur-deferred-close-'));
    const events: DiagnosticEvent[] = [];
    const listen = (e: unknown): void => {
      events.push(e as DiagnosticEvent);
    };
    channels.diagnostic.subscribe(listen);
    try {
      const file = path.join(dir, 'a');
      const fd = ts.open(file, 'create');
      const commit = ts.commitAsync(fd, { chunks: [Buffer.from('abc')], offset: 0, dirs: [] }, file);
      ts.close(fd); // deferred: the commit is in flight
      fs.closeSync(fd); // behind the backend's back, so its own close(2) meets EBADF
      await commit.catch(() => undefined); // the commit may or may not have run first
      const failed = events.filter((e) => e.kind === 'deferred-close-failed');
      assert.equal(failed.length, 1);
      assertIoError(failed[0].error, 'EBADF', /./);
    } finally {
      channels.diagnostic.unsubscribe(listen);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ts backend: commitStats', () => {
  type Patchable = Record<'writev' | 'fdatasync', (...args: never[]) => unknown>;
  const mutableFs = fs as unknown as Patchable;
  const saved = { writev: mutableFs.writev, fdatasync: mutableFs.fdatasync };
  afterEach(() => Object.assign(mutableFs, saved));
  const DELAY_MS = 30;
  // setTimeout may fire up to a millisecond early by the loop's cached clock.
  const AT_LEAST_NS = (DELAY_MS - 2) * 1e6;

  /** `fs[name]` answering DELAY_MS later than it would. */
  function slowed(name: 'writev' | 'fdatasync'): (...args: unknown[]) => void {
    const real = saved[name] as unknown as (...args: unknown[]) => void;
    return (...args: unknown[]) => {
      const cb = args.pop() as (...r: unknown[]) => void;
      real(...args, (...r: unknown[]) => setTimeout(() => cb(...r), DELAY_MS));
    };
  }

  it('adds each successful commit, its write time to writeNs and its fdatasync time to syncNs; wakeNs stays 0', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'stats');
    const fd = ts.open(file, 'create');
    try {
      const before = ts.commitStats!();
      Object.assign(mutableFs, { writev: slowed('writev') });
      await ts.commitAsync(fd, { chunks: [Buffer.from('abc')], offset: 0, dirs: [] }, file);
      const afterWrite = ts.commitStats!();
      Object.assign(mutableFs, saved, { fdatasync: slowed('fdatasync') });
      await ts.commitAsync(fd, { chunks: [Buffer.from('def')], offset: 3, dirs: [dir] }, file);
      const afterSync = ts.commitStats!();
      assert.equal(afterWrite.commits, before.commits + 1);
      assert.ok(afterWrite.writeNs - before.writeNs >= AT_LEAST_NS, `writeNs grew by ${afterWrite.writeNs - before.writeNs}`);
      assert.equal(afterSync.commits, before.commits + 2);
      assert.ok(afterSync.syncNs - afterWrite.syncNs >= AT_LEAST_NS, `syncNs grew by ${afterSync.syncNs - afterWrite.syncNs}`);
      assert.equal(afterSync.wakeNs, 0);
    } finally {
      ts.close(fd);
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'abcdef');
  });

  it('leaves a failed commit out', async () => {
    const file = path.join(freshDir(), 'ro');
    fs.writeFileSync(file, 'x');
    const fd = ts.open(file, 'read');
    try {
      const before = ts.commitStats!();
      await assert.rejects(ts.commitAsync(fd, { chunks: [Buffer.from('y')], offset: 0, dirs: [] }, file), (err) => assertIoError(err, 'EBADF', /write/, file));
      assert.deepEqual(ts.commitStats!(), before);
    } finally {
      ts.close(fd);
    }
  });
});

// ---- the ts backend's pid-file lock ------------------------------------------------------

const nodeFsModule = path.join(__dirname, '..', 'lib', 'backend', 'node-fs.js');

/** A child process that takes the ts lock on `file`, says "locked", and waits to be killed. */
async function lockingChild(file: string): Promise<ChildProcess> {
  const script = `
    const { NodeFsBackend } = require(${JSON.stringify(nodeFsModule)});
    const b = new NodeFsBackend();
    const fd = b.open(process.argv[1], 'create');
    process.stdout.write(b.tryLock(fd, process.argv[1]).acquired ? 'locked' : 'refused');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  // If the child dies before answering, fail now rather than at the mocha timeout.
  const said = await Promise.race([
    once(child.stdout!, 'data').then(([chunk]) => String(chunk)),
    once(child, 'exit').then(([code]) => `exited with ${String(code)}`),
  ]);
  assert.equal(said, 'locked');
  return child;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid as number;
}

function selfToken(startTime: string): string {
  if (process.platform !== 'linux') return `origin:${startTime}`;
  const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  const ns = fs.readlinkSync('/proc/self/ns/pid').replace(/[^0-9]/g, '');
  return `linux:${boot}:${ns}:${startTime}`;
}

describe('the pid-file record', () => {
  type Patchable = Record<'fdatasyncSync' | 'linkSync' | 'renameSync', (...args: never[]) => unknown>;
  const mutableFs = fs as unknown as Patchable;
  const saved = { ...mutableFs };
  afterEach(() => Object.assign(mutableFs, { fdatasyncSync: saved.fdatasyncSync, linkSync: saved.linkSync, renameSync: saved.renameSync }));

  for (const backend of backends) {
    it(`is on disk before a name leads to it, so a power cut cannot leave an empty pid file or claim (${backend.name})`, async () => {
      const file = path.join(freshDir(), 'LOCK');
      // A dead owner's record, so that taking the lock also claims the breaker role.
      fs.writeFileSync(pidFilePath(file), `${await deadPid()} ${encodeURIComponent(os.hostname())}\n`);
      const steps: string[] = [];
      const { fdatasyncSync, linkSync, renameSync } = saved as unknown as typeof fs;
      Object.assign(mutableFs, {
        fdatasyncSync: (fd: number) => {
          steps.push('fdatasync');
          fdatasyncSync(fd);
        },
        linkSync: (from: string, to: string) => {
          steps.push(`link to ${path.basename(to)}`);
          linkSync(from, to);
        },
        renameSync: (from: string, to: string) => {
          steps.push(`rename to ${path.basename(to).replace(/[0-9a-f]{16}$/, '<nonce>')}`);
          renameSync(from, to);
        },
      });
      const fd = backend.open(file, 'create');
      try {
        assert.equal(backend.tryLock(fd, file).acquired, true);
        backend.unlock(fd, file);
      } finally {
        backend.close(fd);
      }
      assert.deepEqual(steps, [
        'fdatasync', 'link to LOCK.pid', // refused: the dead owner's file is there
        'fdatasync', 'rename to LOCK.pid.break.<nonce>', // the breaker's claim
        'fdatasync', 'link to LOCK.pid',
      ]);
    });
  }
});

describe("ts backend: pid-file lock (node:fs has no flock)", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = freshDir();
    file = path.join(dir, 'LOCK');
    fs.writeFileSync(file, '');
  });

  function tryOnce(): boolean {
    const fd = ts.open(file, 'create');
    try {
      const result = ts.tryLock(fd, file);
      assert.match(result.degraded ?? '', /pid file/);
      if (result.acquired) ts.unlock(fd, file);
      return result.acquired;
    } finally {
      ts.close(fd);
    }
  }

  it('writes the pid file while held and removes it on unlock', () => {
    const fd = ts.open(file, 'create');
    try {
      assert.equal(ts.tryLock(fd, file).acquired, true);
      const record = fs.readFileSync(pidFilePath(file), 'latin1');
      assert.equal(record.split(' ')[0], String(process.pid));
      assert.equal(record.split(' ')[1], encodeURIComponent(os.hostname()));
      ts.unlock(fd, file);
      assert.equal(fs.existsSync(pidFilePath(file)), false);
    } finally {
      ts.close(fd);
    }
    assert.deepEqual(fs.readdirSync(dir), ['LOCK'], 'no temporary files left behind');
  });

  it('a pid file naming a process that has exited does not block', async () => {
    const pid = await deadPid();
    fs.writeFileSync(pidFilePath(file), `${pid} ${encodeURIComponent(os.hostname())}\n`);
    assert.equal(tryOnce(), true);
    assert.deepEqual(fs.readdirSync(dir), ['LOCK']);
  });

  it('a live process in another process blocks; once it is killed, its lock is broken', async () => {
    const child = await lockingChild(file);
    try {
      assert.equal(tryOnce(), false);
      assert.equal(fs.existsSync(pidFilePath(file)), true, 'a refused attempt leaves the holder alone');
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    assert.equal(tryOnce(), true);
  });

  it('our own pid with another start token is a reused pid, not us', () => {
    fs.writeFileSync(pidFilePath(file), `${process.pid} ${encodeURIComponent(os.hostname())} ${selfToken('1')} 00\n`);
    assert.equal(tryOnce(), true);
  });

  it('a pid file from another host or an unreadable one is never broken', async () => {
    const pid = await deadPid();
    fs.writeFileSync(pidFilePath(file), `${pid} some-other-host\n`);
    assert.equal(tryOnce(), false);
    fs.writeFileSync(pidFilePath(file), '');
    assert.equal(tryOnce(), false);
    fs.writeFileSync(pidFilePath(file), 'garbage');
    assert.equal(tryOnce(), false);
  });

  it('a live breaker claim stops stale-lock breaking; a dead one is cleared', async () => {
    const pid = await deadPid();
    const host = encodeURIComponent(os.hostname());
    fs.writeFileSync(pidFilePath(file), `${pid} ${host}\n`);
    const claim = `${pidFilePath(file)}.break.0123456789abcdef`;
    fs.writeFileSync(claim, `${process.pid} ${host}\n`);
    assert.equal(tryOnce(), false, 'another breaker is at work');
    fs.writeFileSync(claim, `${pid} ${host}\n`);
    assert.equal(tryOnce(), true);
    assert.equal(fs.existsSync(claim), false);
  });

  it('a lock held by a worker thread excludes the main thread until the worker unlocks', async () => {
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { NodeFsBackend } = require(workerData.module);
       const b = new NodeFsBackend();
       const fd = b.open(workerData.file, 'create');
       parentPort.postMessage(b.tryLock(fd, workerData.file).acquired ? 'locked' : 'refused');
       parentPort.once('message', () => { b.unlock(fd, workerData.file); b.close(fd); parentPort.postMessage('unlocked'); });`,
      { eval: true, workerData: { module: nodeFsModule, file } },
    );
    try {
      assert.deepEqual(await once(worker, 'message'), ['locked']);
      assert.equal(tryOnce(), false);
      worker.postMessage('go');
      assert.deepEqual(await once(worker, 'message'), ['unlocked']);
      assert.equal(tryOnce(), true);
    } finally {
      await worker.terminate();
    }
  });
});
