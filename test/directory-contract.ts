import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { DurabilityError, IoError } from '../lib/errors';
import { FsDirectory } from '../lib/directory/fs';
import { MAX_WRITEV_CHUNKS } from '../lib/directory/file-arguments';

// One behavioural contract for every Directory implementation: FsDirectory on each backend,
// MemoryDirectory and SimulatedDirectory all run exactly these tests.

export interface DirectoryFixture {
  dir: Directory;
  cleanup?: () => void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

export function assertCode(fn: () => unknown, code: string, errno?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DurabilityError, `expected a DurabilityError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (errno !== undefined) {
      assert.ok(err instanceof IoError);
      assert.equal(err.errno, errno);
    }
    return true;
  });
}

function write(dir: Directory, path: string, content: string): void {
  const f = dir.create(path);
  f.write(bytes(content));
  f.sync();
  f.close();
}

/** `array`, iterated by `items` instead of by its indices. */
function iterating(array: Uint8Array[], items: () => Generator<Uint8Array>): Uint8Array[] {
  return Object.defineProperty(array, Symbol.iterator, { value: items });
}

export function directoryContract(name: string, make: () => DirectoryFixture): void {
  describe(`Directory contract: ${name}`, () => {
    let fixture: DirectoryFixture;
    let dir: Directory;
    beforeEach(() => {
      fixture = make();
      dir = fixture.dir;
    });
    afterEach(() => fixture.cleanup?.());

    describe('create and write', () => {
      it('writes at a tracked offset and reads back', () => {
        const f = dir.create('a');
        assert.equal(f.path, 'a');
        assert.equal(f.offset, 0);
        f.write(bytes('hello '));
        assert.equal(f.offset, 6);
        f.writev([bytes('wor'), bytes(''), bytes('ld')]);
        assert.equal(f.offset, 11);
        assert.equal(f.size(), 11);
        f.sync();
        f.close();
        assert.equal(text(dir.readFile('a')), 'hello world');
      });

      it('refuses to create an existing file with AlreadyExistsError', () => {
        write(dir, 'a', 'x');
        assertCode(() => dir.create('a'), 'DURABILITY_EXISTS');
        assert.equal(text(dir.readFile('a')), 'x');
      });

      it('creating in a missing directory is NotFoundError', () => {
        assertCode(() => dir.create('nope/a'), 'DURABILITY_NOT_FOUND');
      });

      it('writeAt rewrites in place without moving the offset', () => {
        const f = dir.create('a');
        f.write(bytes('abcdef'));
        f.writeAt(bytes('XY'), 1);
        assert.equal(f.offset, 6);
        f.write(bytes('!'));
        f.close();
        assert.equal(text(dir.readFile('a')), 'aXYdef!');
      });

      it('a write past the end leaves zeros in the gap', () => {
        const f = dir.create('a');
        f.writeAt(bytes('z'), 9000);
        assert.equal(f.size(), 9001);
        f.close();
        const all = dir.readFile('a');
        assert.equal(all.length, 9001);
        assert.ok(all.subarray(0, 9000).every((b) => b === 0));
        assert.equal(all[9000], 'z'.charCodeAt(0));
      });

      it('writeAsync calls issued back to back land in call order', async () => {
        const f = dir.create('a');
        const p1 = f.writeAsync(bytes('one,'));
        const p2 = f.writeAsync(bytes('two,'));
        const p3 = f.writeAsync(bytes('three'));
        assert.equal(f.offset, 13);
        await Promise.all([p1, p2, p3]);
        await f.syncAsync();
        f.close();
        assert.equal(text(dir.readFile('a')), 'one,two,three');
      });

      it('truncate shrinks, grows with zeros, and pulls the offset back', () => {
        const f = dir.create('a');
        f.write(bytes('abcdefgh'));
        f.truncate(3);
        assert.equal(f.offset, 3);
        assert.equal(f.size(), 3);
        f.truncate(5);
        assert.equal(f.offset, 3);
        f.write(bytes('Z'));
        f.close();
        assert.deepEqual([...dir.readFile('a')], [97, 98, 99, 90, 0]);
      });

      it('allocate reserves space from the offset without moving it, or says it cannot', () => {
        const f = dir.create('a');
        f.write(bytes('head'));
        const ok = f.allocate(1 << 20);
        assert.equal(typeof ok, 'boolean');
        assert.equal(f.offset, 4);
        if (ok) {
          assert.equal(f.size(), 4 + (1 << 20));
          f.write(bytes('body'));
          assert.equal(f.size(), 4 + (1 << 20));
          const tail = new Uint8Array(16);
          const r = dir.openRead('a');
          assert.equal(r.read(tail, 8), 16);
          assert.ok(tail.every((b) => b === 0), 'preallocated bytes read as zeros');
          r.close();
        } else {
          assert.equal(f.size(), 4);
        }
        f.close();
        assert.equal(text(dir.readFile('a').subarray(0, ok ? 8 : 4)), ok ? 'headbody' : 'head');
      });

      it('bad arguments are InvalidArgumentError, not crashes', () => {
        const f = dir.create('a');
        const bad = 'DURABILITY_INVALID_ARGUMENT';
        assertCode(() => f.write('text' as unknown as Uint8Array), bad);
        assertCode(() => f.writev([bytes('ok'), 5 as unknown as Uint8Array]), bad);
        assertCode(() => f.writeAt(bytes('x'), -1), bad);
        assertCode(() => f.writeAt(bytes('x'), 1.5), bad);
        assertCode(() => f.writeAt(bytes('x'), Number.MAX_SAFE_INTEGER), bad);
        assertCode(() => f.truncate(Number.NaN), bad);
        assertCode(() => f.allocate(-5), bad);
        assert.equal(f.offset, 0);
        f.close();
        assertCode(() => dir.atomicWrite('b', null as unknown as Uint8Array), bad);
      });

      it('writev writes the chunks it checked, at most MAX_WRITEV_CHUNKS of them, and advances by what it wrote', () => {
        const f = dir.create('a');
        // An iterator that yields one chunk, over a length that claims 2^32-1.
        const claimsMore = [bytes('ab')];
        claimsMore.length = 2 ** 32 - 1;
        f.writev(iterating(claimsMore, function* () {
          yield claimsMore[0];
        }));
        // An index getter that detaches the chunk before it: that chunk is empty by the time anything is written.
        const victim = new Uint8Array(4096).fill(0x61);
        const detaching = [victim];
        Object.defineProperty(detaching, 1, { enumerable: true, get: () => (structuredClone(victim.buffer, { transfer: [victim.buffer] }), bytes('cd')) });
        f.writev(detaching);
        assert.equal(f.offset, 4);
        const tooMany = iterating([], function* () {
          for (let i = 0; i <= MAX_WRITEV_CHUNKS; i++) yield bytes('');
        });
        assertCode(() => f.writev(tooMany), 'DURABILITY_INVALID_ARGUMENT');
        assert.equal(f.offset, 4);
        f.close();
        assert.equal(text(dir.readFile('a')), 'abcd');
      });

      it('a closed handle throws ClosedError; closing twice is harmless', async () => {
        const f = dir.create('a');
        f.close();
        f.close();
        assertCode(() => f.write(bytes('x')), 'DURABILITY_CLOSED');
        assertCode(() => f.sync(), 'DURABILITY_CLOSED');
        await assert.rejects(f.writeAsync(bytes('x')), { code: 'DURABILITY_CLOSED' });
        const r = dir.openRead('a');
        r.close();
        assertCode(() => r.read(new Uint8Array(1), 0), 'DURABILITY_CLOSED');
      });

      it('after a failed commit every write, sync and commit of the handle fails with its error, untried', async () => {
        // A commit whose directory fsync fails (the directory is missing) is a failure every
        // kind can show; a failed fdatasync or write is shown per kind (they need fault injection).
        const f = dir.create('a');
        f.write(bytes('head'));
        let first: unknown;
        await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: 4, syncDirs: ['missing'] }), (err: unknown) => {
          first = err;
          return err instanceof DurabilityError;
        });
        const same = (err: unknown): boolean => err === first;
        assert.throws(() => f.sync(), same);
        await assert.rejects(f.syncAsync(), same);
        await assert.rejects(f.commitAsync({ chunks: [bytes('y')], position: 5 }), same);
        assert.throws(() => f.write(bytes('z')), same);
        assert.throws(() => f.writev([bytes('z')]), same);
        assert.throws(() => f.writeAt(bytes('z'), 0), same);
        await assert.rejects(f.writeAsync(bytes('z')), same);
        assert.equal(f.offset, 4);
        f.close();
        assert.equal(text(dir.readFile('a')), 'headx', "the failed commit's write happened, nothing after it");
        // The failure belongs to the handle: another one of the same file works.
        const g = dir.openAppend('a');
        g.write(bytes('!'));
        g.sync();
        g.close();
        assert.equal(text(dir.readFile('a')), 'headx!');
      });

      it('argument errors do not fail the handle', async () => {
        const f = dir.create('a');
        assertCode(() => f.write('x' as unknown as Uint8Array), 'DURABILITY_INVALID_ARGUMENT');
        await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: -1 }), { code: 'DURABILITY_INVALID_ARGUMENT' });
        f.write(bytes('ok'));
        f.sync();
        await f.commitAsync({ chunks: [bytes('!')], position: 2 });
        f.close();
        assert.equal(text(dir.readFile('a')), 'ok!');
      });

      it('commitAsync writes the chunks it checked: an element that reads otherwise the second time neither fails the handle nor is written', async () => {
        const f = dir.create('a');
        const chunks: Uint8Array[] = [];
        let reads = 0;
        Object.defineProperty(chunks, 0, { enumerable: true, get: () => (reads++ === 0 ? bytes('ab') : ('not bytes' as unknown as Uint8Array)) });
        await f.commitAsync({ chunks, position: 0 });
        f.writeAt(bytes('!'), 2);
        f.sync();
        f.close();
        assert.equal(text(dir.readFile('a')), 'ab!');
      });

      it('a handle keeps its file across a rename of the name', () => {
        const f = dir.create('a');
        f.write(bytes('1'));
        dir.atomicRename('a', 'b');
        f.write(bytes('2'));
        f.close();
        assert.equal(text(dir.readFile('b')), '12');
        assert.equal(dir.exists('a'), false);
      });
    });

    describe('open', () => {
      it('openAppend continues at the end', () => {
        write(dir, 'a', 'abc');
        const f = dir.openAppend('a');
        assert.equal(f.offset, 3);
        f.write(bytes('def'));
        f.close();
        assert.equal(text(dir.readFile('a')), 'abcdef');
      });

      it('opening a missing file is NotFoundError with the store path', () => {
        assertCode(() => dir.openAppend('missing'), 'DURABILITY_NOT_FOUND');
        assertCode(() => dir.openRead('missing'), 'DURABILITY_NOT_FOUND');
        assertCode(() => dir.readFile('missing'), 'DURABILITY_NOT_FOUND');
        assert.throws(() => dir.readFile('missing'), { path: 'missing' });
      });

      it('openRead reads ranges, short only at the end', () => {
        write(dir, 'a', '0123456789');
        const r = dir.openRead('a');
        assert.equal(r.size(), 10);
        const buf = new Uint8Array(4);
        assert.equal(r.read(buf, 3), 4);
        assert.equal(text(buf), '3456');
        assert.equal(r.read(buf, 8), 2);
        assert.equal(text(buf.subarray(0, 2)), '89');
        assert.equal(r.read(buf, 10), 0);
        assert.equal(r.read(buf, 1000), 0);
        r.close();
      });

      it('readFile of an empty file is empty', () => {
        dir.create('e').close();
        assert.equal(dir.readFile('e').length, 0);
      });
    });

    describe('atomicWrite', () => {
      it('creates, then replaces the whole content', () => {
        dir.atomicWrite('cfg', bytes('first version, long'));
        assert.equal(text(dir.readFile('cfg')), 'first version, long');
        dir.atomicWrite('cfg', bytes('v2'));
        assert.equal(text(dir.readFile('cfg')), 'v2');
        dir.atomicWrite('cfg', new Uint8Array(0));
        assert.equal(dir.readFile('cfg').length, 0);
      });

      it('leaves no temp file in list()', () => {
        dir.mkdirp('d');
        dir.atomicWrite('d/x', bytes('1'));
        dir.atomicWrite('d/x', bytes('2'));
        assert.deepEqual(dir.list('d'), ['x']);
      });

      it('a reader opened before the replace keeps reading the old bytes', () => {
        dir.atomicWrite('cfg', bytes('old'));
        const r = dir.openRead('cfg');
        try {
          try {
            dir.atomicWrite('cfg', bytes('new!'));
          } catch (err) {
            // Windows replaces an open file only with POSIX rename semantics (native backend,
            // Windows 10 1607+ on NTFS); elsewhere (node:fs, Wine, FAT) the replace fails with
            // EPERM and changes nothing: the old bytes stay, no temp file is left.
            if (!(process.platform === 'win32' && dir instanceof FsDirectory)) throw err;
            assert.ok(err instanceof IoError && err.errno === 'EPERM', String(err));
            assert.equal(text(dir.readFile('cfg')), 'old');
            assert.deepEqual(dir.list(''), ['cfg']);
          }
          const buf = new Uint8Array(8);
          assert.equal(text(buf.subarray(0, r.read(buf, 0))), 'old');
        } finally {
          r.close();
        }
      });

      it('into a missing directory is NotFoundError and changes nothing', () => {
        assertCode(() => dir.atomicWrite('no/cfg', bytes('x')), 'DURABILITY_NOT_FOUND');
        assert.throws(() => dir.atomicWrite('no/cfg', bytes('x')), { path: 'no/cfg' });
        assert.deepEqual(dir.list(''), []);
      });
    });

    describe('rename, delete, exists, list', () => {
      it('atomicRename moves and replaces', () => {
        write(dir, 'a', 'A');
        write(dir, 'b', 'B');
        dir.atomicRename('a', 'b');
        assert.equal(dir.exists('a'), false);
        assert.equal(text(dir.readFile('b')), 'A');
        assert.deepEqual(dir.list(''), ['b']);
      });

      it('atomicRename across directories', () => {
        dir.mkdirp('x/y');
        dir.mkdirp('z');
        write(dir, 'x/y/f', 'F');
        dir.atomicRename('x/y/f', 'z/g');
        assert.deepEqual(dir.list('x/y'), []);
        assert.equal(text(dir.readFile('z/g')), 'F');
      });

      it('renameNoSync moves and replaces; its entry is durable after syncDir', () => {
        write(dir, 'a', 'A');
        write(dir, 'b', 'B');
        dir.renameNoSync('a', 'b');
        dir.syncDir('');
        assert.equal(dir.exists('a'), false);
        assert.equal(text(dir.readFile('b')), 'A');
        assert.deepEqual(dir.list(''), ['b']);
        assertCode(() => dir.renameNoSync('missing', 'c'), 'DURABILITY_NOT_FOUND');
      });

      it('atomicRename of a missing file is NotFoundError', () => {
        assertCode(() => dir.atomicRename('missing', 'b'), 'DURABILITY_NOT_FOUND');
      });

      it('delete and deleteNoSync remove; a missing file is NotFoundError', () => {
        write(dir, 'a', '1');
        write(dir, 'b', '2');
        dir.delete('a');
        dir.deleteNoSync('b');
        dir.syncDir('');
        assert.equal(dir.exists('a'), false);
        assert.equal(dir.exists('b'), false);
        assertCode(() => dir.delete('a'), 'DURABILITY_NOT_FOUND');
        assertCode(() => dir.deleteNoSync('a'), 'DURABILITY_NOT_FOUND');
      });

      it('exists sees files, directories and the root', () => {
        dir.mkdirp('d');
        write(dir, 'd/f', '');
        assert.equal(dir.exists(''), true);
        assert.equal(dir.exists('d'), true);
        assert.equal(dir.exists('d/f'), true);
        assert.equal(dir.exists('d/g'), false);
        assert.equal(dir.exists('e/f'), false);
      });

      it('list returns sorted names; a missing directory lists as []', () => {
        for (const n of ['b', 'a10', 'a2', 'C']) write(dir, n, n);
        dir.mkdirp('sub');
        assert.deepEqual(dir.list(''), ['C', 'a10', 'a2', 'b', 'sub']);
        assert.deepEqual(dir.list('sub'), []);
        assert.deepEqual(dir.list('missing'), []);
        assert.deepEqual(dir.list('missing/deeper'), []);
      });
    });

    describe('mkdirp and sync', () => {
      it('mkdirp creates nested directories and is idempotent', () => {
        dir.mkdirp('a/b/c');
        dir.mkdirp('a/b/c');
        dir.mkdirp('a/b');
        dir.mkdirp('');
        write(dir, 'a/b/c/f', 'x');
        assert.deepEqual(dir.list('a'), ['b']);
        assert.equal(text(dir.readFile('a/b/c/f')), 'x');
      });

      it('mkdirp through a file is IoError ENOTDIR', () => {
        write(dir, 'f', 'x');
        assertCode(() => dir.mkdirp('f'), 'DURABILITY_IO', 'ENOTDIR');
        assertCode(() => dir.mkdirp('f/g'), 'DURABILITY_IO', 'ENOTDIR');
      });

      it('syncFile, syncDir and syncDirAsync succeed on what exists', async () => {
        dir.mkdirp('d');
        write(dir, 'd/f', 'x');
        dir.syncFile('d/f');
        dir.syncDir('d');
        dir.syncDir('');
        await dir.syncDirAsync('d');
      });

      it('syncing what does not exist is NotFoundError', async () => {
        assertCode(() => dir.syncFile('missing'), 'DURABILITY_NOT_FOUND');
        assertCode(() => dir.syncDir('missing'), 'DURABILITY_NOT_FOUND');
        await assert.rejects(dir.syncDirAsync('missing'), { code: 'DURABILITY_NOT_FOUND' });
      });
    });

    describe('lock', () => {
      it('a second lock on the same file is LockedError until released', () => {
        const l = dir.lock('LOCK');
        assert.equal(l.path, 'LOCK');
        assert.equal(dir.exists('LOCK'), true);
        assertCode(() => dir.lock('LOCK'), 'DURABILITY_LOCKED');
        l.release();
        l.release();
        const again = dir.lock('LOCK');
        again.release();
      });

      it('locks on different files are independent', () => {
        const a = dir.lock('A');
        const b = dir.lock('B');
        a.release();
        b.release();
      });

      it('locking in a missing directory is NotFoundError', () => {
        assertCode(() => dir.lock('no/LOCK'), 'DURABILITY_NOT_FOUND');
      });
    });

    describe('paths', () => {
      const escapes = ['../x', '/abs', 'a/../../b', 'a\0b', 'a\\b', '..', 'C:/x'];
      it('every entry point rejects escaping paths with InvalidPathError', () => {
        const calls: Array<(p: string) => unknown> = [
          (p) => dir.create(p),
          (p) => dir.openAppend(p),
          (p) => dir.openRead(p),
          (p) => dir.readFile(p),
          (p) => dir.atomicWrite(p, bytes('x')),
          (p) => dir.atomicRename(p, 'ok'),
          (p) => dir.atomicRename('ok', p),
          (p) => dir.renameNoSync(p, 'ok'),
          (p) => dir.renameNoSync('ok', p),
          (p) => dir.delete(p),
          (p) => dir.deleteNoSync(p),
          (p) => dir.exists(p),
          (p) => dir.list(p),
          (p) => dir.mkdirp(p),
          (p) => dir.syncFile(p),
          (p) => dir.syncDir(p),
          (p) => dir.lock(p),
          (p) => dir.filePath(p),
        ];
        for (const p of escapes) {
          for (const call of calls) assertCode(() => call(p), 'DURABILITY_INVALID_PATH');
        }
        assert.deepEqual(dir.list(''), []);
      });

      it("normalizes '.', doubled and trailing slashes", () => {
        dir.mkdirp('./a//b/');
        write(dir, 'a/./b//f', 'x');
        assert.equal(text(dir.readFile('a/b/f')), 'x');
        assert.deepEqual(dir.list('a/b/'), ['f']);
      });

      it('a path naming the root is not a file', () => {
        assertCode(() => dir.create(''), 'DURABILITY_INVALID_PATH');
        assertCode(() => dir.create('./'), 'DURABILITY_INVALID_PATH');
      });
    });

    it('checksum is CRC32C', () => {
      assert.equal(dir.checksum.crc32c(bytes('123456789')), 0xe3069283);
      const data = bytes('abcdefgh');
      const out = new Uint32Array(2);
      dir.checksum.crc32cRanges(data, new Uint32Array([0, 4, 4, 4]), 2, out, 0);
      assert.deepEqual([...out], [dir.checksum.crc32c(bytes('abcd')), dir.checksum.crc32c(bytes('efgh'))]);
    });
  });
}
