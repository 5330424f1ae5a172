// WritableFile.commitAsync (the Directory layer's group-commit step) on every directory kind,
// and the native binding's commitAsync with its test-only syscall fault hook.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestNativeBinding } from '../binding';
import { loadNative } from '../lib/native';
import type { Directory } from '../lib/directory/directory';
import { SimulatedDirectory, type SimulatedOperation } from '../lib/directory/simulated';
import { InvalidArgumentError, InvalidPathError, IoError } from '../lib/errors';
import { dirKinds } from './fixtures/wal-dirs';
import { TEST_BUILD, testBuild } from './support/test-binding';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

for (const kind of dirKinds()) {
  describe(`WritableFile.commitAsync on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
      dir.mkdirp('d');
    });
    afterEach(() => kind.cleanup());

    it('writes the chunks contiguously at the position without moving the offset, then truncates', async () => {
      const f = dir.create('d/f');
      f.write(bytes('0123456789abcdef'));
      await f.commitAsync({ chunks: [bytes('AB'), bytes(''), bytes('CDE')], position: 4, syncDirs: ['d', ''] });
      assert.equal(f.offset, 16);
      assert.equal(text(dir.readFile('d/f')), '0123ABCDE9abcdef');
      await f.commitAsync({ chunks: [bytes('xy')], position: 16, truncateTo: 10 });
      assert.equal(text(dir.readFile('d/f')), '0123ABCDE9');
      await f.commitAsync({ chunks: [], position: 0 });
      assert.equal(f.size(), 10);
      f.close();
    });

    it('rejects bad plans with InvalidArgumentError before touching the file', async () => {
      const f = dir.create('d/f');
      f.write(bytes('keep'));
      const bad: unknown[] = [
        null,
        { chunks: 'no', position: 0 },
        { chunks: [new Uint8Array(1), 5], position: 0 },
        { chunks: [], position: -1 },
        { chunks: [], position: 1.5 },
        { chunks: [], position: 0, truncateTo: -3 },
        { chunks: [], position: 0, syncDirs: [7] },
        { chunks: [], position: 0, syncDirs: ['../out'] },
      ];
      for (const plan of bad) {
        await assert.rejects(f.commitAsync(plan as never), (e: unknown) => e instanceof InvalidArgumentError || e instanceof InvalidPathError, JSON.stringify(plan));
      }
      assert.equal(text(dir.readFile('d/f')), 'keep');
      f.close();
      await assert.rejects(f.commitAsync({ chunks: [], position: 0 }), (e: unknown) => (e as { code?: string }).code === 'DURABILITY_CLOSED');
    });

    if (kind.name.startsWith('FsDirectory')) {
      it('a directory step that fails rejects with an IoError naming the directory, after the data steps ran', async () => {
        const f = dir.create('d/f');
        await assert.rejects(
          f.commitAsync({ chunks: [bytes('data')], position: 0, syncDirs: ['missing'] }),
          (e: unknown) => e instanceof IoError && e.errno === 'ENOENT' && typeof e.path === 'string' && e.path.endsWith('missing'),
        );
        assert.equal(text(dir.readFile('d/f')), 'data');
        f.close();
      });
    }
  });
}

describe('SimulatedDirectory commitAsync steps', () => {
  it('counts write, truncate, sync and each syncDir as operations, in that order', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    dir.mkdirp('a/b');
    const f = dir.create('a/b/f');
    const seen: SimulatedOperation[] = [];
    dir.onOperation = (e) => seen.push(e);
    await f.commitAsync({ chunks: [bytes('hello'), bytes(' world')], position: 0, truncateTo: 5, syncDirs: ['a/b', 'a'] });
    assert.deepEqual(seen.map((e) => `${e.op} ${e.path}`), ['write a/b/f', 'truncate a/b/f', 'sync a/b/f', 'syncDir a/b', 'syncDir a']);
    const after = dir.crash({ mode: 'dropAll' });
    assert.equal(text(after.durableContent('a/b/f') as Uint8Array), 'hello');
  });

  it('a failing step rejects with the injected error and the later steps never run', async () => {
    const dir = new SimulatedDirectory({ seed: 2 });
    dir.mkdirp('w');
    const f = dir.create('w/f');
    const ops: string[] = [];
    dir.onOperation = (e) => ops.push(e.op + (e.failed ? '!' : ''));
    dir.injectFault({ op: 'sync', error: 'EIO' });
    await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: 0, syncDirs: ['w'] }), (e: unknown) => e instanceof IoError && e.errno === 'EIO' && e.syscall === 'fdatasync');
    assert.deepEqual(ops, ['write', 'sync!']);
    const after = dir.crash({ mode: 'dropAll' });
    assert.equal(after.durableContent('w/f'), undefined, 'neither the data nor the entry became durable');
  });

  it('a power cut scheduled inside the commit stops it there', async () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    dir.mkdirp('w');
    const f = dir.create('w/f');
    const cut = dir.scheduleCrash(2); // after write and sync: the directory fsync never happens
    await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: 0, syncDirs: ['w'] }), (e: unknown) => e instanceof IoError && e.errno === 'EIO');
    assert.ok(cut.directory !== undefined);
  });
});

if (loadNative().binding !== undefined) {
  describe(`native commitAsync and __setFaultInjection ${TEST_BUILD}`, () => {
    const { errno } = os.constants;
    let root: string;
    let fd: number;
    let binding: TestNativeBinding;
    before(function () {
      this.timeout(600_000); // the first run builds the test addon
      binding = testBuild().binding;
    });
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-commit-'));
      fd = binding.open(path.join(root, 'f'), binding.constants.O_RDWR | binding.constants.O_CREAT, 0o644);
    });
    afterEach(() => {
      binding.__setFaultInjection(null);
      binding.close(fd);
      fs.rmSync(root, { recursive: true, force: true });
    });

    it('writes, truncates and syncs the file and the directories in one call', async () => {
      await binding.commitAsync(fd, [bytes('abc'), bytes('defg')], 2, -1, [root]);
      assert.deepEqual([...fs.readFileSync(path.join(root, 'f'))], [0, 0, ...bytes('abcdefg')]);
      await binding.commitAsync(fd, [], 0, 4, []);
      assert.equal(fs.statSync(path.join(root, 'f')).size, 4);
    });

    it('checks its arguments synchronously', () => {
      assert.throws(() => binding.commitAsync(-1, [], 0, -1, []), RangeError);
      assert.throws(() => binding.commitAsync(fd, [1 as never], 0, -1, []), TypeError);
      assert.throws(() => binding.commitAsync(fd, [], -1, -1, []), RangeError);
      assert.throws(() => binding.commitAsync(fd, [], 0, -2, []), RangeError);
      assert.throws(() => binding.commitAsync(fd, [], 0, -1, 'x' as never), TypeError);
      assert.throws(() => binding.commitAsync(fd, [], 0, -1, ['']), TypeError);
      assert.throws(() => binding.commitAsync(fd, [], 0, -1, ['a\0b']), TypeError);
      assert.throws(() => binding.__setFaultInjection({ op: 'nope' as never, errno: 5 }), TypeError);
      assert.throws(() => binding.__setFaultInjection({ op: 'write', errno: 0 }), RangeError);
      assert.throws(() => binding.__setFaultInjection(3 as never), TypeError);
    });

    for (const [op, syscall] of [['write', 'pwritev'], ['ftruncate', 'ftruncate'], ['fdatasync', 'fdatasync'], ['fsyncDir', 'fsync']] as const) {
      it(`an injected ${op} failure fires after \`after\` successes, once, naming ${syscall}; later commits of the descriptor reject with it, unrun`, async () => {
        binding.__setFaultInjection({ op, errno: errno.EIO, after: 1 });
        const run = (data: string) => binding.commitAsync(fd, [bytes(data)], 0, 1, [root]);
        const named = (e: NodeJS.ErrnoException) => e.code === 'EIO' && e.syscall === syscall && (op === 'fsyncDir' ? e.path === root : e.path === undefined);
        await run('a');
        await assert.rejects(run('b'), named);
        // Nothing may be written behind a failed step: the next commit fails alike and writes nothing.
        await assert.rejects(run('c'), named);
        assert.notEqual(fs.readFileSync(path.join(root, 'f'))[0], 'c'.charCodeAt(0));
        // The fault fired once: another descriptor commits normally.
        const other = binding.open(path.join(root, 'g'), binding.constants.O_RDWR | binding.constants.O_CREAT, 0o644);
        try {
          await binding.commitAsync(other, [bytes('d')], 0, 1, [root]);
        } finally {
          binding.close(other);
        }
        assert.equal(fs.readFileSync(path.join(root, 'g')).toString(), 'd');
      });
    }

    it('commits issued without waiting run in call order, each written after the previous one synced', async () => {
      const order: number[] = [];
      const all = Array.from({ length: 50 }, (_, i) => binding.commitAsync(fd, [bytes(String(i % 10))], i, -1, []).then(() => order.push(i)));
      await Promise.all(all);
      assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
      assert.equal(fs.readFileSync(path.join(root, 'f')).toString(), Array.from({ length: 50 }, (_, i) => String(i % 10)).join(''));
    });

    it('a failure in a run of commits issued without waiting fails it and every later one, which write nothing', async () => {
      binding.__setFaultInjection({ op: 'fdatasync', errno: errno.EIO, after: 3 });
      const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => binding.commitAsync(fd, [bytes('x')], i, -1, [])));
      assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
      // The failed commit's own write ran (its fdatasync failed); none after it.
      assert.equal(fs.readFileSync(path.join(root, 'f')).toString(), 'xxxx');
    });

    it('a persistent fault keeps failing until cleared; other bindings never see it', async () => {
      binding.__setFaultInjection({ op: 'fdatasync', errno: errno.ENOSPC, persistent: true });
      for (let i = 0; i < 3; i++) await assert.rejects(binding.commitAsync(fd, [], 0, -1, []), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
      binding.fdatasync(fd);
      await binding.fdatasyncAsync(fd);
      binding.__setFaultInjection(null);
      const other = binding.open(path.join(root, 'g'), binding.constants.O_RDWR | binding.constants.O_CREAT, 0o644);
      try {
        await binding.commitAsync(other, [], 0, -1, []);
      } finally {
        binding.close(other);
      }
    });
  });
}
