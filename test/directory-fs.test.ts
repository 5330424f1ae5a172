import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommitSteps, FileBackend, OpenMode } from '../lib/backend/backend';
import type { NativeBinding } from '../binding';
import { NativeFileBackend } from '../lib/backend/native';
import { availableBackends, defaultBackend, nativeBackend, tsBackend } from '../lib/backend/select';
import { resetDiagnostics } from '../lib/diagnostics';
import { FsDirectory } from '../lib/directory/fs';
import { loadNative } from '../lib/native';
import { IoError, NotFoundError } from '../lib/errors';
import { assertCode, bytes, directoryContract, text } from './directory-contract';
import { collectEvents } from './support/diagnostics';
import { overriding } from './support/overriding';
import { TEST_BUILD, testBuild } from './support/test-binding';

// FsDirectory: the shared contract on every backend, plus what only real files can show.

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'durability-dir-'));
}

for (const backend of availableBackends()) {
  directoryContract(`FsDirectory (${backend.name})`, () => {
    const root = tempRoot();
    return { dir: new FsDirectory(root, { backend }), cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
  });

  describe(`FsDirectory specifics (${backend.name})`, () => {
    let root: string;
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it('mkdirp under a root that does not exist names the root (a mistyped path), not only the directory asked for', () => {
      const missing = path.join(root, 'no-such-root');
      const dir = new FsDirectory(missing, { backend });
      assert.throws(() => dir.mkdirp('wal/sub'), (err: unknown) => {
        assert.ok(err instanceof NotFoundError, String(err));
        assert.match((err as Error).message, new RegExp(`root ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
        return true;
      });
      assert.equal(fs.existsSync(missing), false, 'nothing created');
    });

    it('uses the given backend for I/O and checksums; filePath is the OS path', () => {
      const dir = new FsDirectory(root, { backend });
      assert.equal(dir.kind, 'fs');
      assert.equal(dir.backend, backend);
      assert.equal(dir.checksum, backend);
      assert.equal(dir.filePath('a/b'), path.join(root, 'a', 'b'));
      assert.equal(dir.filePath(''), root);
      dir.atomicWrite('x', bytes('on disk'));
      assert.equal(fs.readFileSync(path.join(root, 'x'), 'utf8'), 'on disk');
    });

    it('atomicWrite leaves no temp file on disk, and removes leftovers of earlier attempts', () => {
      const dir = new FsDirectory(root, { backend });
      const leftover = 'cfg.tmp-0123456789abcdef';
      fs.writeFileSync(path.join(root, leftover), 'half');
      fs.writeFileSync(path.join(root, 'cfg.tmp-notmine'), 'user file');
      assert.deepEqual(dir.list(''), ['cfg.tmp-notmine']);
      dir.atomicWrite('cfg', bytes('v1'));
      assert.deepEqual(fs.readdirSync(root).sort(), ['cfg', 'cfg.tmp-notmine']);
    });

    it('atomicWrite whose fdatasync fails keeps the old file and removes its temp file', () => {
      let failing = false;
      const flaky = overriding(backend, {
        fdatasync: (fd: number, p?: string) => {
          if (failing) throw new IoError('EIO', 'fdatasync', p);
          backend.fdatasync(fd, p);
        },
      });
      const dir = new FsDirectory(root, { backend: flaky });
      dir.atomicWrite('cfg', bytes('old'));
      failing = true;
      assertCode(() => dir.atomicWrite('cfg', bytes('new')), 'DURABILITY_IO', 'EIO');
      assert.equal(text(dir.readFile('cfg')), 'old');
      assert.deepEqual(fs.readdirSync(root), ['cfg']);
    });

    it('atomicWrite whose close fails closes the descriptor once, removes its temp file and keeps the old file', () => {
      const closed: number[] = [];
      let failing = false;
      const flaky = overriding(backend, {
        close: (fd: number) => {
          closed.push(fd);
          backend.close(fd); // close(2) releases the number even when it reports an error
          if (failing) throw new IoError('EIO', 'close', undefined);
        },
      });
      const dir = new FsDirectory(root, { backend: flaky });
      dir.atomicWrite('cfg', bytes('old'));
      failing = true;
      closed.length = 0;
      assertCode(() => dir.atomicWrite('cfg', bytes('new')), 'DURABILITY_IO', 'EIO');
      failing = false;
      assert.equal(closed.length, 1, 'a second close could hit a descriptor the number was given to meanwhile');
      assert.deepEqual(fs.readdirSync(root), ['cfg']);
      assert.equal(text(dir.readFile('cfg')), 'old');
    });

    it('a failing fdatasync or fstat is the error reported when closing the descriptor fails too (syncFile, openAppend)', () => {
      // close(2) can fail (EIO on some network file systems); the failure before it is the one
      // that tells the caller what went wrong, as in fsyncDir.
      let failing = false;
      const bad = overriding(backend, {
        fdatasync: (fd: number, p?: string) => {
          if (failing) throw new IoError('EIO', 'fdatasync', p);
          backend.fdatasync(fd, p);
        },
        fileSize: (fd: number, p?: string) => {
          if (failing) throw new IoError('EIO', 'fstat', p);
          return backend.fileSize(fd, p);
        },
        close: (fd: number) => {
          backend.close(fd);
          if (failing) throw new IoError('EBADF', 'close', undefined);
        },
      });
      const dir = new FsDirectory(root, { backend: bad });
      dir.atomicWrite('f', bytes('x'));
      failing = true;
      assert.throws(() => dir.syncFile('f'), (err) => err instanceof IoError && err.errno === 'EIO' && err.syscall === 'fdatasync');
      assert.throws(() => dir.openAppend('f'), (err) => err instanceof IoError && err.errno === 'EIO' && err.syscall === 'fstat');
    });

    it('a failing fsync surfaces as IoError from sync, syncDir and delete', async () => {
      const bad = overriding(backend, {
        fdatasync: (_fd: number, p?: string) => {
          throw new IoError('EIO', 'fdatasync', p);
        },
        fsyncDir: (p: string) => {
          throw new IoError('EIO', 'fsync', p);
        },
        fsyncDirAsync: async (p: string) => {
          throw new IoError('EIO', 'fsync', p);
        },
      });
      const dir = new FsDirectory(root, { backend: bad });
      const f = dir.create('f');
      assertCode(() => f.sync(), 'DURABILITY_IO', 'EIO');
      f.close();
      assertCode(() => dir.syncFile('f'), 'DURABILITY_IO', 'EIO');
      assertCode(() => dir.syncDir(''), 'DURABILITY_IO', 'EIO');
      await assert.rejects(dir.syncDirAsync(''), { code: 'DURABILITY_IO', errno: 'EIO' });
      assertCode(() => dir.delete('f'), 'DURABILITY_IO', 'EIO');
      assert.equal(dir.exists('f'), false, 'the unlink happened; only its fsync failed');
    });

    for (const form of ['sync', 'syncAsync'] as const) {
      it(`after a failed ${form} no later sync or commit of the handle is tried: each fails with its error (fsyncgate)`, async () => {
        // A writeback error is reported once: the next fdatasync may return 0 with the pages gone.
        let failNext = false;
        let calls = 0;
        const failOnce = (p?: string): void => {
          calls++;
          if (!failNext) return;
          failNext = false;
          throw new IoError('EIO', 'fdatasync', p);
        };
        const flaky = overriding(backend, {
          fdatasync: (fd: number, p?: string) => {
            failOnce(p);
            backend.fdatasync(fd, p);
          },
          fdatasyncAsync: async (fd: number, p?: string) => {
            failOnce(p);
            await backend.fdatasyncAsync(fd, p);
          },
          commitAsync: (fd: number, steps: CommitSteps, p?: string) => {
            calls++;
            return backend.commitAsync(fd, steps, p);
          },
        });
        const f = new FsDirectory(root, { backend: flaky }).create('f');
        f.write(bytes('head'));
        failNext = true;
        let first: unknown;
        const firstFailure = (err: unknown): boolean => {
          first = err;
          return err instanceof IoError && err.errno === 'EIO';
        };
        if (form === 'sync') assert.throws(() => f.sync(), firstFailure);
        else await assert.rejects(f.syncAsync(), firstFailure);
        const same = (err: unknown): boolean => err === first;
        assert.throws(() => f.sync(), same);
        await assert.rejects(f.syncAsync(), same);
        await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: 4 }), same);
        assert.throws(() => f.write(bytes('x')), same);
        assert.equal(calls, 1, 'nothing reached the backend after the failure');
        f.close();
        assert.equal(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'head');
      });
    }

    it('OS errors other than ENOENT stay IoErrors with their errno; a directory in a file\'s place is refused first', () => {
      const dir = new FsDirectory(root, { backend });
      dir.mkdirp('d');
      assertCode(() => dir.readFile('d'), 'DURABILITY_NOT_REGULAR_FILE');
      assertCode(() => dir.delete('d'), 'DURABILITY_IO');
    });

    it('creates its root on request, with missing parents', () => {
      const deep = path.join(root, 'p', 'q', 'store');
      const dir = new FsDirectory(deep, { backend, create: true });
      dir.atomicWrite('x', bytes('1'));
      assert.equal(fs.readFileSync(path.join(deep, 'x'), 'utf8'), '1');
      assertCode(() => new FsDirectory(path.join(root, 'none'), { backend }).create('x'), 'DURABILITY_NOT_FOUND');
    });

    it('the lock excludes another process until released', () => {
      const dir = new FsDirectory(root, { backend });
      const lock = dir.lock('LOCK');
      const script = `
        const { FsDirectory } = require(${JSON.stringify(path.resolve(__dirname, '../lib/directory/fs.js'))});
        const { backendByName } = require(${JSON.stringify(path.resolve(__dirname, '../lib/backend/select.js'))});
        const dir = new FsDirectory(process.argv[1], { backend: backendByName(process.argv[2]) });
        try { dir.lock('LOCK').release(); process.stdout.write('acquired'); }
        catch (e) { process.stdout.write(e.code); }`;
      const attempt = () => execFileSync(process.execPath, ['-e', script, root, backend.name], { encoding: 'utf8' });
      assert.equal(attempt(), 'DURABILITY_LOCKED');
      lock.release();
      assert.equal(attempt(), 'acquired');
    });
  });
}

/** node:fs as the ts backend calls it; the tests below replace fdatasync for one call. */
const mutableFs = fs as unknown as { fdatasync: (fd: number, cb: (err: Error | null) => void) => void };
const realFdatasync = mutableFs.fdatasync;

/** A commit's fdatasync failing once with EIO, as the disk reports a writeback error once, on each backend. */
const commitFaults: Array<{ name: string; backend: () => FileBackend; failNextFdatasync: () => void; clear: () => void }> = [
  {
    name: 'ts (node:fs fdatasync failing once)',
    backend: tsBackend,
    failNextFdatasync: () => {
      mutableFs.fdatasync = (_fd, cb) => {
        mutableFs.fdatasync = realFdatasync;
        process.nextTick(cb, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -os.constants.errno.EIO, syscall: 'fdatasync' }));
      };
    },
    clear: () => {
      mutableFs.fdatasync = realFdatasync;
    },
  },
];
if (nativeBackend() !== undefined) {
  commitFaults.push({
    name: `native (the core's fault hook) ${TEST_BUILD}`,
    backend: () => new NativeFileBackend(testBuild().binding),
    failNextFdatasync: () => testBuild().binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO }),
    clear: () => testBuild().binding.__setFaultInjection(null),
  });
}

for (const fault of commitFaults) {
  describe(`FsDirectory on ${fault.name}`, () => {
    let root: string;
    before(function () {
      this.timeout(600_000); // the first run may build the test addon
      fault.backend();
    });
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => {
      fault.clear();
      fs.rmSync(root, { recursive: true, force: true });
    });

    it("after a commit's fdatasync failed, sync and syncAsync of the handle fail with its error, untried (fsyncgate)", async () => {
      const dir = new FsDirectory(root, { backend: fault.backend() });
      const f = dir.create('f');
      await f.commitAsync({ chunks: [bytes('head')], position: 0 });
      fault.failNextFdatasync();
      let first: unknown;
      await assert.rejects(f.commitAsync({ chunks: [bytes('lost?')], position: 4 }), (err: unknown) => {
        first = err;
        return err instanceof IoError && err.errno === 'EIO' && err.syscall === 'fdatasync';
      });
      // The fault fired once: a real fdatasync now would return 0 and prove nothing.
      const same = (err: unknown): boolean => err === first;
      assert.throws(() => f.sync(), same);
      await assert.rejects(f.syncAsync(), same);
      await assert.rejects(f.commitAsync({ chunks: [bytes('more')], position: 9 }), same);
      await assert.rejects(f.writeAsync(bytes('more')), same);
      f.close();
      assert.equal(text(dir.readFile('f')), 'headlost?', 'nothing was written after the failed commit');
      // Another handle of the file syncs: the disk itself is fine again.
      dir.syncFile('f');
    });
  });
}

describe('FsDirectory fallbacks', () => {
  let root: string;
  beforeEach(() => {
    root = tempRoot();
    resetDiagnostics();
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('defaults to defaultBackend()', () => {
    assert.equal(new FsDirectory(root).backend, defaultBackend());
  });

  for (const backend of availableBackends()) {
    it(`mkdirp fsyncs each parent also where the directory exists: an earlier fsync may have failed (${backend.name})`, () => {
      fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
      const synced: string[] = [];
      const counting = overriding(backend, {
        fsyncDir: (p: string) => {
          synced.push(path.relative(root, p).split(path.sep).join('/'));
          backend.fsyncDir(p);
        },
      });
      new FsDirectory(root, { backend: counting }).mkdirp('a/b/c');
      assert.deepEqual(synced, ['', 'a', 'a/b']);
    });
  }

  for (const backend of availableBackends()) {
    it(`every durable step is taken, in order: data fdatasynced before its rename, each new, renamed or deleted entry fsynced in its directory (${backend.name})`, () => {
      const calls: string[] = [];
      // Store paths as the Directory names them ('/'), whatever the platform's separator.
      const rel = (p: string | undefined): string => (path.relative(root, p ?? '?').split(path.sep).join('/') || '.').replace(/\.tmp-[0-9a-f]{16}$/, '.tmp');
      const recording = overriding(backend, {
        open: (p: string, mode: OpenMode) => {
          calls.push(`open ${rel(p)} ${mode}`);
          return backend.open(p, mode);
        },
        fdatasync: (fd: number, p?: string) => {
          calls.push(`fdatasync ${rel(p)}`);
          backend.fdatasync(fd, p);
        },
        rename: (from: string, to: string) => {
          calls.push(`rename ${rel(from)} ${rel(to)}`);
          backend.rename(from, to);
        },
        unlink: (p: string) => {
          calls.push(`unlink ${rel(p)}`);
          backend.unlink(p);
        },
        mkdir: (p: string) => {
          calls.push(`mkdir ${rel(p)}`);
          backend.mkdir(p);
        },
        fsyncDir: (p: string) => {
          calls.push(`fsyncDir ${rel(p)}`);
          backend.fsyncDir(p);
        },
      });
      const steps = (run: () => void): string[] => {
        calls.length = 0;
        run();
        return [...calls];
      };
      let dir: FsDirectory | undefined;
      assert.deepEqual(steps(() => (dir = new FsDirectory(path.join(root, 'r', 's'), { backend: recording, create: true }))), [
        'mkdir r', 'fsyncDir .', 'mkdir r/s', 'fsyncDir r',
      ]);
      dir = new FsDirectory(root, { backend: recording });
      const d = dir;
      assert.deepEqual(steps(() => d.mkdirp('a')), ['mkdir a', 'fsyncDir .']);
      d.mkdirp('b');
      assert.deepEqual(steps(() => d.atomicWrite('a/f', bytes('data'))), [
        'open a/f.tmp createNew', 'fdatasync a/f.tmp', 'rename a/f.tmp a/f', 'fsyncDir a',
      ]);
      assert.deepEqual(steps(() => d.atomicRename('a/f', 'b/g')), ['rename a/f b/g', 'fsyncDir b', 'fsyncDir a']);
      assert.deepEqual(steps(() => d.atomicRename('b/g', 'b/h')), ['rename b/g b/h', 'fsyncDir b']);
      assert.deepEqual(steps(() => d.delete('b/h')), ['unlink b/h', 'fsyncDir b']);
    });
  }

  for (const errno of ['EOPNOTSUPP', 'ENOTSUP', 'EINVAL']) {
    it(`allocate returns false on ${errno}, with one diagnostic, and files still work`, () => {
      const real = availableBackends()[0];
      let calls = 0;
      const noFallocate = overriding(real, {
        fallocate: (_fd: number, _o: number, _l: number, p?: string) => {
          calls++;
          throw new IoError(errno, 'fallocate', p);
        },
      });
      const diag = collectEvents();
      try {
        for (const sub of ['one', 'two']) {
          fs.mkdirSync(path.join(root, sub));
          const dir = new FsDirectory(path.join(root, sub), { backend: noFallocate });
          for (const name of ['a', 'b']) {
            const f = dir.create(name);
            assert.equal(f.allocate(4096), false);
            assert.equal(f.size(), 0);
            f.write(bytes('data'));
            f.sync();
            f.close();
            assert.equal(text(dir.readFile(name)), 'data');
          }
        }
      } finally {
        diag.stop();
      }
      const kinds = diag.events.map((e) => e.kind);
      assert.deepEqual(kinds, ['fallocate-unsupported']);
      assert.equal(calls, 2, 'each directory stops asking after the first refusal');
    });
  }

  it('allocate failures that are not "unsupported" propagate', () => {
    const real = availableBackends()[0];
    const full = overriding(real, {
      fallocate: (_fd: number, _o: number, _l: number, p?: string) => {
        throw new IoError('ENOSPC', 'fallocate', p);
      },
    });
    const f = new FsDirectory(root, { backend: full }).create('a');
    assertCode(() => f.allocate(4096), 'DURABILITY_IO', 'ENOSPC');
    f.close();
  });

  it('a degraded lock keeps going with one flock-unsupported diagnostic: on node:fs, one per process', () => {
    const diag = collectEvents();
    try {
      const dir = new FsDirectory(root, { backend: tsBackend() });
      dir.lock('A').release();
      dir.lock('B').release();
    } finally {
      diag.stop();
    }
    assert.deepEqual(diag.events.map((e) => e.kind), ['flock-unsupported']);
  });

  const native = nativeBackend();
  if (native !== undefined) {
    it('a degraded lock keeps going with one flock-unsupported diagnostic: on the native core, one per lock file', () => {
      const binding = loadNative().binding as NativeBinding;
      const noFlock = new NativeFileBackend({
        ...binding,
        tryLockExclusive: () => {
          throw Object.assign(new Error('EOPNOTSUPP: flock'), { code: 'EOPNOTSUPP', syscall: 'flock' });
        },
      });
      const diag = collectEvents();
      try {
        const dir = new FsDirectory(root, { backend: noFlock });
        const held = dir.lock('A');
        assertCode(() => dir.lock('A'), 'DURABILITY_LOCKED');
        held.release();
        dir.lock('B').release();
        dir.lock('A').release();
      } finally {
        diag.stop();
      }
      assert.deepEqual(
        diag.events.map((e) => [e.kind, e.path]),
        [['flock-unsupported', path.join(root, 'A')], ['flock-unsupported', path.join(root, 'B')]],
      );
    });
  }

  it('a refused lock closes its descriptor and throws LockedError', () => {
    const real = availableBackends()[0];
    const closed: number[] = [];
    const busy = overriding(real, {
      tryLock: () => ({ acquired: false }),
      close: (fd: number) => {
        closed.push(fd);
        real.close(fd);
      },
    });
    assertCode(() => new FsDirectory(root, { backend: busy }).lock('LOCK'), 'DURABILITY_LOCKED');
    assert.equal(closed.length, 1);
  });
});
