// The raw native binding (binding.d.ts) and NativeFileBackend: CRC32C kernels against each
// other and the JS implementation, argument checking of every function, file operations and
// their errors, flock semantics. Runs only where the addon loads; with
// DURABILITY_REQUIRE_NATIVE=1 (CI) a missing addon is a failure.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeBinding } from '../binding';
import { pidFilePath } from '../lib/backend/lockfile';
import { NativeFileBackend, nativeCrc32cImpl, nativePortableCrc32c } from '../lib/backend/native';
import { OWNED_BYTES } from '../lib/backend/owned-bytes';
import { nativeBackend } from '../lib/backend/select';
import { crc32c as jsCrc32c } from '../lib/crc32c';
import { channels, resetDiagnostics, type DiagnosticEvent } from '../lib/diagnostics';
import { IoError } from '../lib/errors';
import { loadNative } from '../lib/native';
import { rfc3720Vectors, xorshift32 } from './crc32c-oracle';

/** arm64 HWCAP bits from /proc/self/auxv (64-bit little-endian type/value pairs; AT_HWCAP = 16). */
function arm64Hwcaps(): Set<string> {
  const auxv = fs.readFileSync('/proc/self/auxv');
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    if (auxv.readBigUInt64LE(at) === 16n) return (auxv.readBigUInt64LE(at + 8) & (1n << 7n)) !== 0n ? new Set(['crc32']) : new Set();
  }
  return new Set();
}

const load = loadNative();
const binding = load.binding;

describe('native core: loading', () => {
  it('loads, or reports why not; DURABILITY_REQUIRE_NATIVE=1 demands it', () => {
    if (process.env.DURABILITY_REQUIRE_NATIVE === '1') {
      assert.ok(binding, `native core required but not loaded:\n  ${load.attempts.join('\n  ')}`);
      assert.equal(nativeBackend()?.name, 'native');
    }
    if (binding) assert.equal(nativeBackend()?.name, 'native');
    else assert.ok(load.attempts.length > 0, 'a failed load lists what it tried');
  });
});

if (binding) describeNative(binding);

function ascending(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i);
}

function cpuFlags(): Set<string> {
  // arm64 Linux: the kernel's hardware capabilities, which is what the core reads (getauxval).
  // /proc/cpuinfo would name the host's CPU under qemu-user, /proc/self/auxv the emulated one.
  if (process.platform === 'linux' && process.arch === 'arm64') return arm64Hwcaps();
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

function describeNative(b: NativeBinding): void {
  let root: string;
  let seq = 0;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-native-'));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });
  const fresh = (name = 'f'): string => path.join(root, `${seq++}-${name}`);
  const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC } = b.constants;

  /** An open read-write descriptor on a fresh file, closed after `body`. */
  async function withFile<T>(body: (fd: number, file: string) => T | Promise<T>): Promise<T> {
    const file = fresh();
    const fd = b.open(file, O_RDWR | O_CREAT);
    try {
      return await body(fd, file);
    } finally {
      b.close(fd);
    }
  }

  /**
   * The permission bits a new file or directory gets for `mode`. Windows keeps one bit, the
   * read-only attribute (set when the owner has no write permission), which node:fs reports as
   * 0o444 or 0o666.
   */
  function modeAsStored(mode: number): number {
    if (process.platform === 'win32') return mode & 0o200 ? 0o666 : 0o444;
    return mode & ~process.umask();
  }

  /** Whether this file system reserves space (fallocate). Linux and macOS file systems here do. */
  let reserves: boolean | undefined;
  function canReserve(): boolean {
    if (reserves === undefined) {
      const fd = b.open(fresh('reserve'), O_RDWR | O_CREAT);
      try {
        b.fallocate(fd, 0, 1);
        reserves = true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOTSUP') throw err;
        reserves = false;
      } finally {
        b.close(fd);
      }
    }
    return reserves;
  }

  /** A descriptor number that is certainly not open. */
  function closedFd(): number {
    const fd = b.open(fresh('closed'), O_RDWR | O_CREAT);
    b.close(fd);
    return fd;
  }

  function isSysError(err: unknown, code: string, syscall?: string, file?: string): true {
    const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown; message?: unknown };
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    assert.equal(e.code, code);
    assert.equal(e.errno, (os.constants.errno as Record<string, number>)[code]);
    if (syscall !== undefined) assert.equal(e.syscall, syscall);
    if (file !== undefined) {
      assert.equal(e.path, file);
      assert.match(String(e.message), new RegExp(`^${code}: .*'${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
    }
    return true;
  }

  describe('native core: build info and CRC32C', () => {
    it('reports the package version, Node-API 8 and whether it is sanitized, frozen', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
      assert.equal(b.buildInfo.version, pkg.version);
      assert.equal(b.buildInfo.napiVersion, 8);
      assert.equal(typeof b.buildInfo.sanitized, 'boolean');
      assert.ok(Object.isFrozen(b.buildInfo) && Object.isFrozen(b.constants));
      assert.equal(b.constants.O_RDONLY, fs.constants.O_RDONLY);
      assert.equal(b.constants.O_CREAT, fs.constants.O_CREAT);
      assert.equal(b.constants.O_EXCL, fs.constants.O_EXCL);
      assert.equal(b.constants.O_TRUNC, fs.constants.O_TRUNC);
      assert.equal(b.constants.O_APPEND, fs.constants.O_APPEND);
    });

    it('picks the hardware kernel this CPU offers', () => {
      const flags = cpuFlags();
      const impl = b.crc32cImpl();
      const kernels = b.crc32cKernels();
      assert.equal(nativeCrc32cImpl(), impl);
      assert.equal(kernels[kernels.length - 1], 'table', 'the portable kernel is always there, last');
      if (process.arch === 'x64' && flags.has('sse4_2')) {
        assert.equal(impl, 'sse42');
        const expected = ['sse42', 'table'];
        if (flags.has('pclmulqdq')) expected.unshift('sse42+pclmul');
        if (flags.has('pclmulqdq') && flags.has('avx2') && flags.has('vpclmulqdq')) expected.unshift('sse42+vpclmulqdq');
        assert.deepEqual(kernels, expected);
      } else if (process.arch === 'arm64' && flags.has('crc32')) {
        assert.equal(impl, 'armv8');
        assert.deepEqual(kernels, ['armv8', 'table']);
      } else {
        assert.ok(['sse42', 'armv8', 'table'].includes(impl), impl);
      }
      assert.throws(() => b.crc32cWithKernel('no-such-kernel', new Uint8Array(1)), RangeError);
      assert.throws(() => b.crc32cWithKernel(7 as unknown as string, new Uint8Array(1)), TypeError);
      if (!kernels.includes('armv8')) assert.throws(() => b.crc32cWithKernel('armv8', new Uint8Array(1)), RangeError);
    });

    const vectors = rfc3720Vectors();
    const portable = nativePortableCrc32c();
    for (const [name, data, expected] of vectors) {
      it(`RFC 3720 vector: ${name}, on every kernel`, () => {
        assert.equal(b.crc32c(data), expected);
        assert.equal(b.crc32cPortable(data), expected);
        assert.equal(portable?.(data), expected);
        assert.equal(jsCrc32c(data), expected);
        for (const kernel of b.crc32cKernels()) assert.equal(b.crc32cWithKernel(kernel, data), expected, kernel);
      });
    }

    it('continues from a previous result: crc32c(b, crc32c(a)) === crc32c(a ++ b)', () => {
      const data = Buffer.from('The quick brown fox jumps over the lazy dog, many times over. '.repeat(300));
      const whole = b.crc32c(data);
      for (const cut of [0, 1, 7, 8, 100, 1000, 4097, data.length]) {
        assert.equal(b.crc32c(data.subarray(cut), b.crc32c(data.subarray(0, cut))), whole, `cut ${cut}`);
        assert.equal(b.crc32cPortable(data.subarray(cut), b.crc32cPortable(data.subarray(0, cut))), whole, `cut ${cut}`);
      }
    });

    it('every kernel, portable and JS agree on 10,000 random buffers (lengths 0..70 KiB, any alignment, any seed)', () => {
      const seed = 0x5eed1234;
      const rand = xorshift32(seed);
      const kernels = b.crc32cKernels();
      const pool = new Uint8Array(72 * 1024 + 64);
      for (let i = 0; i < pool.length; i++) pool[i] = rand() & 0xff;
      for (let n = 0; n < 10_000; n++) {
        // Half short (the head/tail paths), half up to 70 KiB (the multi-stream blocks).
        const length = n % 2 === 0 ? rand() % 600 : rand() % (70 * 1024 + 1);
        const offset = rand() % 64;
        const data = pool.subarray(offset, offset + length);
        const crc = n % 3 === 0 ? 0 : rand();
        const js = jsCrc32c(data, crc);
        const got = [b.crc32c(data, crc), b.crc32cPortable(data, crc), ...kernels.map((k) => b.crc32cWithKernel(k, data, crc))];
        if (got.some((x) => x !== js)) {
          assert.fail(`seed ${seed} case ${n}: length ${length} offset ${offset} crc ${crc}: js ${js}, crc32c/portable/${kernels.join('/')} ${got.join('/')}`);
        }
      }
    });

    it('every kernel agrees with JS on buffers spanning several multi-stream blocks (up to 1 MiB)', () => {
      const rand = xorshift32(4242);
      const pool = new Uint8Array((1 << 20) + 64).map(() => rand() & 0xff);
      for (let n = 0; n < 40; n++) {
        const length = n === 0 ? 1 << 20 : rand() % ((1 << 20) + 1);
        const offset = rand() % 64;
        const data = pool.subarray(offset, offset + length);
        const crc = rand();
        const js = jsCrc32c(data, crc);
        for (const kernel of b.crc32cKernels()) assert.equal(b.crc32cWithKernel(kernel, data, crc), js, `${kernel}, length ${length}`);
      }
    });

    it('checksums any TypedArray by its bytes, and a detached one as empty', () => {
      // The words' bytes are 0..7 in memory whatever the host's byte order (s390x is big-endian).
      const words = new Uint32Array(ascending(8).buffer);
      assert.equal(b.crc32c(words as unknown as Uint8Array), jsCrc32c(ascending(8)));
      assert.equal(b.crc32c(new Float64Array(4) as unknown as Uint8Array), jsCrc32c(new Uint8Array(32)));
      const detached = new Uint8Array(16);
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      assert.equal(b.crc32c(detached), 0);
      assert.equal(b.crc32c(detached, 1234), 1234);
    });

    it('crc32cRanges equals crc32c per range, in one call, leaving out[count..] alone', () => {
      const rand = xorshift32(99);
      const data = new Uint8Array(20_000).map(() => rand() & 0xff);
      const count = 500;
      const ranges = new Uint32Array(2 * count + 6).fill(0xffffffff); // extra entries are not read
      for (let k = 0; k < count; k++) {
        const start = rand() % (data.length + 1);
        ranges[2 * k] = start;
        // Mostly short frames of unequal length (the lockstep path), some empty, some long.
        const cap = k % 7 === 0 ? 5000 : 300;
        ranges[2 * k + 1] = k % 10 === 0 ? 0 : rand() % Math.min(cap, data.length - start + 1);
      }
      const seed = 0xdeadbeef;
      const out = new Uint32Array(count + 2).fill(7);
      b.crc32cRanges(data, ranges, count, out, seed);
      for (let k = 0; k < count; k++) {
        assert.equal(out[k], b.crc32c(data.subarray(ranges[2 * k], ranges[2 * k] + ranges[2 * k + 1]), seed), `range ${k}`);
        assert.equal(out[k], jsCrc32c(data.subarray(ranges[2 * k], ranges[2 * k] + ranges[2 * k + 1]), seed));
      }
      assert.deepEqual([...out.subarray(count)], [7, 7]);
      b.crc32cRanges(data, ranges, 0, out, 0); // nothing to do is fine
    });

    it('crc32cRanges rejects ranges outside data, short ranges/out, bad types; out stays untouched', () => {
      const data = new Uint8Array(100);
      const out = new Uint32Array(4).fill(7);
      const untouched = (): void => assert.deepEqual([...out], [7, 7, 7, 7]);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array([0, 10, 95, 6]), 2, out, 0), RangeError);
      untouched();
      assert.throws(() => b.crc32cRanges(data, new Uint32Array([101, 0]), 1, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array([0xffffffff, 2]), 1, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array([1, 0xffffffff]), 1, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array([0, 1, 0]), 2, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(20), 5, out, 0), RangeError);
      untouched();
      assert.throws(() => b.crc32cRanges(data, new Int32Array(2) as unknown as Uint32Array, 1, out, 0), TypeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(2), 1, [0] as unknown as Uint32Array, 0), TypeError);
      assert.throws(() => b.crc32cRanges('x' as unknown as Uint8Array, new Uint32Array(2), 1, out, 0), TypeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(2), -1, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(2), 1.5, out, 0), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(2), 1, out, -1), RangeError);
      assert.throws(() => b.crc32cRanges(data, new Uint32Array(2), 1, out, undefined as unknown as number), TypeError);
      untouched();
    });

    it('crc32cRanges whose out aliases ranges never reads outside data', () => {
      const data = new Uint8Array(64).fill(1);
      const ranges = new Uint32Array([0, 8, 8, 8, 16, 8, 24, 8, 32, 8, 40, 8]);
      // Results land on ranges[6..11]: ranges 3..5 become checksums, far outside data.
      assert.throws(() => b.crc32cRanges(data, ranges, 6, ranges.subarray(6), 0), RangeError);
      const same = new Uint32Array([0, 8, 8, 8]);
      b.crc32cRanges(data, same, 2, same, 0); // out[i] only overwrites entries already consumed
      assert.deepEqual([...same.subarray(0, 2)], [b.crc32c(data.subarray(0, 8)), b.crc32c(data.subarray(8, 16))]);
    });
  });

  describe('native core: argument checking (TypeError/RangeError, thrown synchronously)', () => {
    const NUMBER_TYPES: unknown[] = ['1', null, undefined, {}, 1n, true];
    const BAD_INTEGERS: unknown[] = [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53];
    const BAD_BUFFERS: unknown[] = ['abc', [1, 2], new ArrayBuffer(4), new DataView(new ArrayBuffer(4)), null, undefined, 7];
    const BAD_PATHS: unknown[] = [1, null, undefined, Buffer.from('x'), '', 'a\0b'];
    const BAD_FDS: unknown[] = [-1, 2 ** 31, 1.5, NaN, Infinity, '3', null, undefined, {}];

    type Call = (args: unknown[]) => unknown;
    interface Case {
      readonly name: keyof NativeBinding;
      /** Valid arguments, given an open descriptor and a scratch path. */
      readonly valid: (fd: number, file: string) => unknown[];
      /** Per argument position: the values that must be refused there. */
      readonly bad: ReadonlyArray<readonly unknown[]>;
    }

    const data = (): Uint8Array => Buffer.from('xyz');
    const cases: Case[] = [
      { name: 'crc32c', valid: () => [data(), 0], bad: [BAD_BUFFERS, [-1, 2 ** 32, 1.5, NaN, '1', null, 1n]] },
      { name: 'crc32cPortable', valid: () => [data(), 0], bad: [BAD_BUFFERS, [-1, 2 ** 32, 1.5, NaN, '1', null, 1n]] },
      { name: 'crc32cWithKernel', valid: () => ['table', data(), 0], bad: [[1, null, 'none', ''], BAD_BUFFERS, [-1, 2 ** 32, 1.5, NaN, '1', null, 1n]] },
      { name: 'open', valid: (_fd, file) => [file, O_RDWR | O_CREAT, 0o600], bad: [BAD_PATHS, [2 ** 31, 1.5, NaN, 'r', undefined], [-1, 0o10000, 1.5, '644']] },
      { name: 'close', valid: () => [], bad: [BAD_FDS] },
      { name: 'pwrite', valid: (fd) => [fd, data(), 0], bad: [BAD_FDS, BAD_BUFFERS, [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'pwriteAsync', valid: (fd) => [fd, data(), 0], bad: [BAD_FDS, BAD_BUFFERS, [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'pwritev', valid: (fd) => [fd, [data()], 0], bad: [BAD_FDS, ['x', data(), [data(), 'x'], [null], null], [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'pread', valid: (fd) => [fd, Buffer.alloc(3), 0], bad: [BAD_FDS, BAD_BUFFERS, [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'fallocate', valid: (fd) => [fd, 0, 16], bad: [BAD_FDS, [...BAD_INTEGERS, ...NUMBER_TYPES], [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'ftruncate', valid: (fd) => [fd, 3], bad: [BAD_FDS, [...BAD_INTEGERS, ...NUMBER_TYPES]] },
      { name: 'fdatasync', valid: (fd) => [fd], bad: [BAD_FDS] },
      { name: 'fdatasyncAsync', valid: (fd) => [fd], bad: [BAD_FDS] },
      { name: 'fsyncDir', valid: () => [root], bad: [BAD_PATHS] },
      { name: 'fsyncDirAsync', valid: () => [root], bad: [BAD_PATHS] },
      { name: 'fileSize', valid: (fd) => [fd], bad: [BAD_FDS] },
      { name: 'rename', valid: (_fd, file) => (fs.writeFileSync(`${file}.r`, ''), [`${file}.r`, `${file}.renamed`]), bad: [BAD_PATHS, BAD_PATHS] },
      { name: 'unlink', valid: (_fd, file) => (fs.writeFileSync(`${file}.gone`, ''), [`${file}.gone`]), bad: [BAD_PATHS] },
      { name: 'mkdir', valid: (_fd, file) => [`${file}.dir`, 0o700], bad: [BAD_PATHS, [-1, 0o10000, 1.5, '755', null]] },
      { name: 'tryLockExclusive', valid: (fd) => [fd], bad: [BAD_FDS] },
      { name: 'unlock', valid: (fd) => [fd], bad: [BAD_FDS] },
    ];

    for (const c of cases) {
      it(`${c.name} refuses every malformed argument before doing anything`, async () => {
        const reserving = !c.name.startsWith('fallocate') || canReserve();
        const fn = (b[c.name] as (...a: unknown[]) => unknown).bind(b) as (...a: unknown[]) => unknown;
        const call: Call = (args) => fn(...args);
        await withFile(async (fd, file) => {
          const valid = c.valid(fd, file);
          // The valid call works (async ones resolve), so each failure below is the bad argument's.
          if (c.name !== 'close' && reserving) {
            const result = await call(valid);
            // A descriptor left open keeps its file, and so the test directory, from being removed on Windows.
            if (c.name === 'open') b.close(result as number);
          }
          const before = fs.readFileSync(file);
          c.bad.forEach((values, position) => {
            for (const value of values) {
              const args = [...valid];
              args[position] = value;
              let thrown: unknown;
              try {
                call(args);
              } catch (err) {
                thrown = err;
              }
              const label = `${c.name} arg ${position} = ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value)}`;
              assert.ok(thrown instanceof TypeError || thrown instanceof RangeError, `${label}: threw ${String(thrown)}`);
            }
          });
          assert.ok(fs.readFileSync(file).equals(before), 'a refused call changed the file');
        });
      });
    }

    it('every descriptor-taking function reports a closed or never-opened fd as EBADF, sync or async', async () => {
      for (const fd of [closedFd(), 2 ** 31 - 1]) {
        const ebadf = (err: unknown): true => isSysError(err, 'EBADF');
        assert.throws(() => b.close(fd), ebadf);
        assert.throws(() => b.pwrite(fd, data(), 0), ebadf);
        assert.throws(() => b.pwritev(fd, [data()], 0), ebadf);
        assert.throws(() => b.pread(fd, Buffer.alloc(1), 0), ebadf);
        assert.throws(() => b.fallocate(fd, 0, 10), ebadf);
        assert.throws(() => b.ftruncate(fd, 0), ebadf);
        assert.throws(() => b.fdatasync(fd), ebadf);
        assert.throws(() => b.fileSize(fd), ebadf);
        assert.throws(() => b.tryLockExclusive(fd), ebadf);
        assert.throws(() => b.unlock(fd), ebadf);
        await assert.rejects(b.pwriteAsync(fd, data(), 0), ebadf);
        await assert.rejects(b.fdatasyncAsync(fd), ebadf);
        await assert.rejects(b.commitAsync(fd, [data()], 0, -1, []), (err) => isSysError(err, 'EBADF', 'pwritev'));
        await assert.rejects(b.commitAsync(fd, [], 0, -1, []), (err) => isSysError(err, 'EBADF', 'fdatasync'));
      }
    });

    it('a chunks array claiming 2^32-1 elements is refused (RangeError) before anything is sized by that length', () => {
      // In a child: sizing anything by the claimed length ends in std::bad_alloc, which the core,
      // built without exceptions, turns into an abort. A Proxy prototype answers every hole with
      // a real chunk, so reading elements until a bad one turns up does not bound it either.
      const script = `
        const b = require(${JSON.stringify(load.path)});
        const fd = b.open(${JSON.stringify(fresh('huge'))}, b.constants.O_RDWR | b.constants.O_CREAT);
        const holes = [Buffer.from('abc')];
        holes.length = 2 ** 32 - 1;
        const filled = [];
        filled.length = 2 ** 32 - 1;
        Object.setPrototypeOf(filled, new Proxy([], { get: (target, key) => (/^\\d+$/.test(String(key)) ? Buffer.from('x') : Reflect.get(target, key)) }));
        const out = [];
        for (const chunks of [holes, filled]) {
          for (const call of [() => b.pwritev(fd, chunks, 0), () => b.commitAsync(fd, chunks, 0, -1, [])]) {
            try { call(); out.push('returned'); } catch (e) { out.push(e.constructor.name); }
          }
        }
        b.close(fd);
        console.log(JSON.stringify(out));`;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      assert.equal(child.status, 0, `child exited ${child.status} (${child.signal}):\n${child.stderr}`);
      assert.deepEqual(JSON.parse(child.stdout), ['RangeError', 'RangeError', 'RangeError', 'RangeError']);
    });

    it('a dirs array claiming 2^32-1 paths is refused (RangeError) before a getter or a commit runs', () => {
      // In a child, as above: without the cap a Proxy prototype answering every index with a path
      // drives billions of getters and string copies before anything is refused.
      const script = `
        const b = require(${JSON.stringify(load.path)});
        const fd = b.open(${JSON.stringify(fresh('dirs'))}, b.constants.O_RDWR | b.constants.O_CREAT);
        const dirs = [];
        dirs.length = 2 ** 32 - 1;
        let gets = 0;
        Object.setPrototypeOf(dirs, new Proxy([], { get: (target, key) => (/^\\d+$/.test(String(key)) ? (gets++, '.') : Reflect.get(target, key)) }));
        let out;
        try { b.commitAsync(fd, [], 0, -1, dirs); out = 'returned'; } catch (e) { out = e.constructor.name; }
        b.close(fd);
        console.log(JSON.stringify([out, gets]));`;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.status, 0, `child exited ${child.status} (${child.signal}):\n${child.stderr}`);
      assert.deepEqual(JSON.parse(child.stdout), ['RangeError', 0]);
    });

    it('a chunks array within the limit is refused at its first element that is no TypedArray', async () => {
      await withFile(async (fd, file) => {
        const chunks = [data()];
        chunks.length = 1 << 20;
        const hole = (err: unknown): boolean => err instanceof TypeError && /"chunks\[1\]"/.test(err.message);
        assert.throws(() => b.pwritev(fd, chunks, 0), hole);
        assert.throws(() => b.commitAsync(fd, chunks, 0, -1, []), hole);
        assert.equal(fs.readFileSync(file).length, 0);
      });
    });
  });

  describe('native core: file operations', () => {
    it('open/pwrite/pwritev/pread round trip, sync and async', async () => {
      await withFile(async (fd, file) => {
        assert.equal(b.pwrite(fd, Buffer.from('hello'), 0), 5);
        assert.equal(b.pwritev(fd, [Buffer.from(' '), new Uint8Array(0), Buffer.from('world')], 5), 6);
        assert.equal(await b.pwriteAsync(fd, Buffer.from('!'), 11), 1);
        await b.commitAsync(fd, [Buffer.from('?'), Buffer.from('!')], 12, -1, []);
        const target = Buffer.alloc(20, 0xee);
        assert.equal(b.pread(fd, target, 0), 14);
        assert.equal(target.subarray(0, 14).toString(), 'hello world!?!');
        assert.equal(target[14], 0xee, 'pread leaves bytes past end of file alone');
        const back = Buffer.alloc(5);
        assert.equal(b.pread(fd, back, 100), 0);
        assert.equal(fs.readFileSync(file, 'utf8'), 'hello world!?!');
      });
    });

    describe('chunks detached by user code while the arguments are read', () => {
      // An index getter on chunks (or dirs) runs inside the call. This one transfers chunk 0's
      // buffer away, so its bytes now belong to `moved`, which overwrites them (and, were it
      // dropped, would free them): a write from a pointer taken before the getter ran would put
      // 0x5a in the file, bytes the caller no longer passes. What must be written is the chunks
      // as they are once every argument has been read: chunk 0 detached (empty), then 'tail'.
      const SIZE = 4096;
      let moved: Uint8Array | undefined;
      function detaching(): { victim: Uint8Array; detach: () => void } {
        const victim = new Uint8Array(SIZE).fill(0xab);
        const detach = (): void => {
          moved = new Uint8Array(structuredClone(victim.buffer, { transfer: [victim.buffer] }));
          moved.fill(0x5a);
        };
        return { victim, detach };
      }
      function withGetter<T>(values: T[], index: number, get: () => T): T[] {
        Object.defineProperty(values, index, { enumerable: true, get });
        return values;
      }
      afterEach(() => {
        moved = undefined;
      });

      it('pwritev: a getter on a later chunk', async () => {
        await withFile((fd, file) => {
          const { victim, detach } = detaching();
          const chunks = withGetter([victim], 1, () => (detach(), Buffer.from('tail')));
          assert.equal(b.pwritev(fd, chunks, 0), 4);
          assert.equal(victim.byteLength, 0, 'the getter detached chunk 0');
          assert.equal(fs.readFileSync(file, 'latin1'), 'tail');
        });
      });

      it('commitAsync: a getter on a later chunk', async () => {
        await withFile(async (fd, file) => {
          const { victim, detach } = detaching();
          await b.commitAsync(fd, withGetter([victim], 1, () => (detach(), Buffer.from('tail'))), 0, -1, []);
          assert.equal(fs.readFileSync(file, 'latin1'), 'tail');
        });
      });

      it('commitAsync: a getter on dirs, read after the chunks', async () => {
        await withFile(async (fd, file) => {
          const { victim, detach } = detaching();
          await b.commitAsync(fd, [victim, Buffer.from('tail')], 0, -1, withGetter<string>([], 0, () => (detach(), root)));
          assert.equal(victim.byteLength, 0, 'the getter detached chunk 0');
          assert.equal(fs.readFileSync(file, 'latin1'), 'tail');
        });
      });
    });

    it('moves a large buffer and many concurrent async writes intact', async () => {
      await withFile(async (fd, file) => {
        const rand = xorshift32(7);
        const big = new Uint8Array(3 * 1024 * 1024 + 17).map(() => rand() & 0xff);
        assert.equal(b.pwrite(fd, big, 0), big.length);
        const back = new Uint8Array(big.length);
        assert.equal(b.pread(fd, back, 0), big.length);
        assert.equal(b.crc32c(back), b.crc32c(big));
        // 200 writes in flight at once; each buffer is only referenced by the pending operation.
        const pending = Array.from({ length: 200 }, (_, i) => b.pwriteAsync(fd, Buffer.alloc(100, i), i * 100));
        assert.deepEqual(await Promise.all(pending), Array(200).fill(100));
        b.ftruncate(fd, 200 * 100);
        const disk = fs.readFileSync(file);
        for (let i = 0; i < 200; i++) assert.ok(disk.subarray(i * 100, i * 100 + 100).every((x) => x === (i & 0xff)), `block ${i}`);
      });
    });

    // Windows has no per-process file-size limit (ulimit -f) to cut a write short.
    if (process.platform !== 'win32') it('pwrite and pwritev continue after a short write (here: up to a file-size limit, then EFBIG)', () => {
      // Under `ulimit -f 1` the kernel writes what fits below the limit and returns a short
      // count; only a retry reports EFBIG (Node ignores SIGXFSZ). Stopping at the short count
      // would return 512 (or 1024) without an error.
      const file = fresh('limited');
      const script = `
        const b = require(${JSON.stringify(load.path)});
        const fd = b.open(${JSON.stringify(file)}, b.constants.O_RDWR | b.constants.O_CREAT);
        const out = [];
        for (const write of [() => b.pwrite(fd, Buffer.alloc(3000, 1), 0), () => b.pwritev(fd, [Buffer.alloc(1500, 1), Buffer.alloc(1500, 2)], 0)]) {
          try { out.push(['returned', write()]); } catch (e) { out.push([e.code, e.syscall]); }
        }
        out.push(['size', b.fileSize(fd)]);
        console.log(JSON.stringify(out));`;
      const child = spawnSync('sh', ['-c', 'ulimit -f 1 && exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      const [first, second, [, size]] = JSON.parse(child.stdout) as Array<[string, string | number]>;
      assert.deepEqual(first, ['EFBIG', 'pwrite']);
      assert.deepEqual(second, ['EFBIG', 'pwritev']);
      assert.ok(typeof size === 'number' && size > 0 && size < 3000, `partial write left ${size} bytes`);
    });

    it('ftruncate shrinks and extends with zeros; fallocate extends the size; fileSize follows', async () => {
      await withFile(async (fd, file) => {
        b.pwrite(fd, Buffer.from('0123456789'), 0);
        b.ftruncate(fd, 4);
        assert.equal(b.fileSize(fd), 4);
        b.ftruncate(fd, 8);
        assert.deepEqual([...fs.readFileSync(file)], [...Buffer.from('0123'), 0, 0, 0, 0]);
        assert.throws(() => b.fallocate(fd, 0, 0), (err) => isSysError(err, 'EINVAL', 'fallocate'));
        if (!canReserve()) {
          // Only where the file system cannot reserve space (on Windows: Wine, FAT): ENOTSUP, size unchanged.
          assert.equal(process.platform, 'win32');
          assert.throws(() => b.fallocate(fd, 0, 4096), (err) => isSysError(err, 'ENOTSUP', 'fallocate'));
          assert.equal(b.fileSize(fd), 8);
          return;
        }
        b.fallocate(fd, 0, 4096);
        assert.equal(b.fileSize(fd), 4096);
        b.fallocate(fd, 4096, 8192);
        assert.equal(b.fileSize(fd), 12288);
        assert.equal(fs.statSync(file).size, 12288);
        assert.deepEqual([...fs.readFileSync(file).subarray(0, 5)], [...Buffer.from('0123'), 0]);
        b.fallocate(fd, 0, 100); // inside the file: size unchanged
        assert.equal(b.fileSize(fd), 12288);
      });
    });

    it('fdatasync and fsyncDir succeed in sync and async forms', async () => {
      await withFile(async (fd) => {
        b.pwrite(fd, Buffer.from('durable'), 0);
        b.fdatasync(fd);
        await b.fdatasyncAsync(fd);
        b.fsyncDir(root);
        await b.fsyncDirAsync(root);
      });
    });

    it('errors carry code, positive errno, syscall and path, like node:fs errors', async () => {
      const missing = fresh('missing');
      assert.throws(() => b.open(missing, O_RDONLY), (err) => isSysError(err, 'ENOENT', 'open', missing));
      await withFile((_fd, file) => {
        assert.throws(() => b.open(file, O_RDWR | O_CREAT | O_EXCL), (err) => isSysError(err, 'EEXIST', 'open', file));
        assert.throws(() => b.fsyncDir(file), (err) => isSysError(err, 'ENOTDIR', 'open', file));
      });
      assert.throws(() => b.fsyncDir(missing), (err) => isSysError(err, 'ENOENT', 'open', missing));
      await assert.rejects(b.fsyncDirAsync(missing), (err) => isSysError(err, 'ENOENT', 'open', missing));
      assert.throws(() => b.unlink(missing), (err) => isSysError(err, 'ENOENT', 'unlink', missing));
      assert.throws(() => b.mkdir(root), (err) => isSysError(err, 'EEXIST', 'mkdir', root));
      assert.throws(
        () => b.rename(missing, `${missing}.to`),
        (err) => isSysError(err, 'ENOENT', 'rename', missing) && (err as { dest?: string }).dest === `${missing}.to`,
      );
      const ro = fresh('ro');
      fs.writeFileSync(ro, 'x');
      const fd = b.open(ro, O_RDONLY);
      try {
        assert.throws(() => b.pwrite(fd, Buffer.from('y'), 0), (err) => isSysError(err, 'EBADF', 'pwrite'));
        await assert.rejects(b.commitAsync(fd, [Buffer.from('y')], 0, -1, []), (err) => isSysError(err, 'EBADF', 'pwritev'));
      } finally {
        b.close(fd);
      }
    });

    it('rename, unlink and mkdir (with mode) do what they say', () => {
      const a = fresh('a');
      fs.writeFileSync(a, 'A');
      b.rename(a, `${a}.b`);
      assert.equal(fs.existsSync(a), false);
      assert.equal(fs.readFileSync(`${a}.b`, 'utf8'), 'A');
      b.unlink(`${a}.b`);
      assert.equal(fs.existsSync(`${a}.b`), false);
      const dir = fresh('dir');
      b.mkdir(dir, 0o700);
      assert.equal(fs.statSync(dir).mode & 0o777, modeAsStored(0o700));
      b.mkdir(`${dir}/default`);
      assert.ok(fs.statSync(`${dir}/default`).isDirectory());
    });

    it('open adds O_CLOEXEC, honours O_TRUNC and the mode', () => {
      const file = fresh('mode');
      fs.writeFileSync(file, 'old contents');
      const fd = b.open(file, O_RDWR | O_TRUNC, 0o600);
      try {
        assert.equal(b.fileSize(fd), 0);
        if (process.platform === 'linux') {
          const flags = /flags:\s*([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
          assert.ok(flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0, `O_CLOEXEC missing from flags ${flags}`);
        }
      } finally {
        b.close(fd);
      }
      const created = fresh('created');
      b.close(b.open(created, O_RDWR | O_CREAT | O_EXCL, 0o640));
      assert.equal(fs.statSync(created).mode & 0o777, modeAsStored(0o640));
      const readOnly = fresh('read-only');
      b.close(b.open(readOnly, O_RDWR | O_CREAT | O_EXCL, 0o440));
      assert.equal(fs.statSync(readOnly).mode & 0o777, modeAsStored(0o440));
    });

    it('flock: a second descriptor of the same file cannot lock until unlock or close', () => {
      const file = fresh('LOCK');
      const fd1 = b.open(file, O_RDWR | O_CREAT);
      const fd2 = b.open(file, O_RDWR | O_CREAT);
      const fd3 = b.open(file, O_RDWR | O_CREAT);
      try {
        assert.equal(b.tryLockExclusive(fd1), true);
        assert.equal(b.tryLockExclusive(fd1), true, 'the holder may relock');
        assert.equal(b.tryLockExclusive(fd2), false);
        b.unlock(fd1);
        assert.equal(b.tryLockExclusive(fd2), true);
        assert.equal(b.tryLockExclusive(fd3), false);
        b.close(fd2);
        assert.equal(b.tryLockExclusive(fd3), true, 'closing the holder released the lock');
      } finally {
        b.close(fd1);
        b.close(fd3);
      }
    });
  });

  describe('NativeFileBackend', () => {
    it('maps OS errors to IoError naming the caller path', async () => {
      const backend = new NativeFileBackend(b);
      const missing = fresh('missing');
      assert.throws(
        () => backend.open(missing, 'read'),
        (err) => err instanceof IoError && err.errno === 'ENOENT' && err.syscall === 'open' && err.path === missing,
      );
      const fd = closedFd();
      assert.throws(() => backend.pwrite(fd, Buffer.from('x'), 0, 'some/file'), (err) => err instanceof IoError && err.errno === 'EBADF' && err.path === 'some/file');
      await assert.rejects(backend.pwriteAsync(fd, Buffer.from('x'), 0, 'p'), (err) => err instanceof IoError && err.errno === 'EBADF' && err.path === 'p');
      await assert.rejects(backend.fdatasyncAsync(fd, 'p'), (err) => err instanceof IoError && err.syscall === 'fdatasync');
      assert.throws(() => backend.pwriteAsync(fd, Buffer.from('x'), -1, 'p'), RangeError);
      assert.throws(() => backend.fallocate(fd, 0, 0, 'p'), RangeError);
    });

    it('hands the async writes a copy of the caller\'s bytes (a transfer or shrink could free them mid-write), the WAL\'s owned chunks as they are', async () => {
      const passed: Uint8Array[][] = [];
      const spy: NativeBinding = {
        ...b,
        pwriteAsync: (_fd, data) => (passed.push([data]), Promise.resolve(data.length)),
        commitAsync: (_fd, chunks) => (passed.push([...chunks]), Promise.resolve()),
      };
      const backend = new NativeFileBackend(spy);
      const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
      const resizable = new Uint8Array(new Resizable(8, { maxByteLength: 1 << 20 })).fill(0x61);
      const plain = Buffer.from('plain');
      await backend.pwriteAsync(3, resizable, 0);
      await backend.pwriteAsync(3, plain, 0);
      await backend.commitAsync(3, { chunks: [plain, resizable], offset: 0, dirs: [] });
      await backend.commitAsync(3, { chunks: [plain, resizable], offset: 0, dirs: [], [OWNED_BYTES]: true });
      const [[first], [second], copied, owned] = passed;
      for (const [copy, original] of [[first, resizable], [second, plain]] as const) {
        assert.ok(copy.buffer !== original.buffer, 'a copy');
        assert.deepEqual([...copy], [...original]);
        assert.equal((copy.buffer as { resizable?: boolean }).resizable, false);
      }
      assert.equal(copied.length, 1, 'the caller\'s chunks, copied into one buffer');
      assert.ok(copied[0].buffer !== plain.buffer && copied[0].buffer !== resizable.buffer);
      assert.deepEqual([...copied[0]], [...plain, ...resizable]);
      assert.equal(owned[0], plain);
      assert.equal(owned[1], resizable);
    });

    it('where flock is unsupported, tryLock degrades to the pid-file lock with one diagnostic', () => {
      const failing = (code: string): NativeBinding => ({
        ...b,
        tryLockExclusive: () => {
          throw Object.assign(new Error(`${code}: flock`), { code, syscall: 'flock' });
        },
      });
      const seen: DiagnosticEvent[] = [];
      const listen = (message: unknown): void => void seen.push(message as DiagnosticEvent);
      channels.diagnostic.subscribe(listen);
      const codes = ['EOPNOTSUPP', 'ENOTSUP', 'ENOLCK', 'EINVAL'];
      const files = codes.map((code) => fresh(code));
      try {
        resetDiagnostics();
        for (const [i, code] of codes.entries()) {
          const backend = new NativeFileBackend(failing(code));
          const [holder, other] = [backend.open(files[i], 'create'), backend.open(files[i], 'create')];
          try {
            const result = backend.tryLock(holder, files[i]);
            assert.equal(result.acquired, true);
            assert.match(result.degraded ?? '', new RegExp(`${code}.*pid file`));
            assert.equal(fs.existsSync(pidFilePath(files[i])), true);
            assert.equal(backend.tryLock(other, files[i]).acquired, false, 'the pid file still excludes');
            backend.unlock(holder, files[i]);
            assert.equal(fs.existsSync(pidFilePath(files[i])), false);
          } finally {
            backend.close(holder);
            backend.close(other);
          }
        }
        const again = new NativeFileBackend(failing('ENOLCK'));
        const fd = again.open(files[2], 'create');
        again.tryLock(fd, files[2]);
        again.close(fd);
        assert.deepEqual(
          seen.map((e) => [e.kind, e.path]),
          files.map((f) => ['flock-unsupported', f]),
        );
        assert.throws(
          () => new NativeFileBackend(failing('EIO')).tryLock(3, '/x/io'),
          (err) => err instanceof IoError && err.errno === 'EIO' && err.path === '/x/io',
        );
      } finally {
        channels.diagnostic.unsubscribe(listen);
        resetDiagnostics();
      }
    });
  });
}
