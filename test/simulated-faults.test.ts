import assert from 'node:assert/strict';
import type { WritableFile } from '../lib/directory/directory';
import type { FaultError, FaultOp } from '../lib/directory/faults';
import { type SimulatedOperation, SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { assertCode, bytes, text } from './directory-contract';

// Fault injection and the operation log of SimulatedDirectory.

function failsWith(fn: () => unknown, errno: string, syscall: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IoError, `expected IoError, got ${String(err)}`);
    assert.equal(err.code, 'DURABILITY_IO');
    assert.equal(err.errno, errno);
    assert.equal(err.syscall, syscall);
    assert.match(err.message, /injected/);
    return true;
  });
}

describe('SimulatedDirectory faults', () => {
  it('countdown: the (after+1)th matching operation fails, once', () => {
    const dir = new SimulatedDirectory();
    const f = dir.create('f');
    const fault = dir.injectFault({ op: 'write', error: 'EIO', after: 2 });
    f.write(bytes('1'));
    f.write(bytes('2'));
    assert.equal(fault.fired, 0);
    failsWith(() => f.write(bytes('3')), 'EIO', 'pwrite');
    assert.equal(fault.fired, 1);
    assert.equal(fault.active, false);
    // The failed handle stays failed (see below); another one writes.
    dir.openAppend('f').write(bytes('4'));
    assert.equal(text(dir.readFile('f')), '124');
  });

  it('persistent faults keep failing; cancel() and clearFaults() stop them', () => {
    const dir = new SimulatedDirectory();
    dir.create('f').close();
    const fault = dir.injectFault({ op: 'sync', error: 'EIO', persistent: true });
    for (let i = 0; i < 3; i++) failsWith(() => dir.syncFile('f'), 'EIO', 'fdatasync');
    assert.equal(fault.fired, 3);
    fault.cancel();
    dir.syncFile('f');
    const [f, g] = [dir.openAppend('f'), dir.openAppend('f')];
    dir.injectFault({ op: 'any', error: 'EIO', persistent: true });
    failsWith(() => f.write(bytes('x')), 'EIO', 'pwrite');
    dir.clearFaults();
    g.write(bytes('x'));
  });

  for (const [op, fail] of [
    ['sync', (f: WritableFile) => f.sync()],
    ['write', (f: WritableFile) => f.write(bytes('lost?'))],
  ] as const) {
    it(`after a failed ${op} every later write, sync and commit of the handle fails with its error, untried`, async () => {
      const dir = new SimulatedDirectory();
      const f = dir.create('f');
      f.write(bytes('head'));
      const fault = dir.injectFault({ op, error: 'EIO' });
      let first: unknown;
      assert.throws(() => fail(f), (err: unknown) => {
        first = err;
        return err instanceof IoError;
      });
      // After a failed fdatasync the kernel may have dropped the dirty pages and cleared the
      // error: a later fdatasync that succeeds proves nothing, so none is tried.
      const operations = dir.operations;
      const same = (err: unknown): boolean => err === first;
      assert.throws(() => f.sync(), same);
      await assert.rejects(f.syncAsync(), same);
      await assert.rejects(f.commitAsync({ chunks: [bytes('x')], position: 4 }), same);
      assert.throws(() => f.write(bytes('x')), same);
      assert.throws(() => f.writev([bytes('x')]), same);
      assert.throws(() => f.writeAt(bytes('x'), 0), same);
      await assert.rejects(f.writeAsync(bytes('x')), same);
      assert.throws(() => f.waitCommitsSync(), same);
      assert.equal(dir.operations, operations, 'nothing reached the disk');
      assert.equal(fault.fired, 1);
      f.close();
    });
  }

  it('the path filter matches a substring of the operation path (either side of a rename)', () => {
    const dir = new SimulatedDirectory();
    dir.mkdirp('wal');
    const a = dir.create('wal/a');
    const b = dir.create('b');
    dir.injectFault({ op: 'write', error: 'ENOSPC', path: 'wal/' });
    b.write(bytes('fine'));
    failsWith(() => a.write(bytes('x')), 'ENOSPC', 'pwrite');
    dir.injectFault({ op: 'rename', error: 'EIO', path: 'wal/' });
    failsWith(() => dir.atomicRename('b', 'wal/b'), 'EIO', 'rename');
    assert.equal(dir.exists('b'), true);
  });

  it('each operation kind fails with its syscall and leaves no effect', () => {
    const cases: Array<[FaultOp, string, (d: SimulatedDirectory) => unknown]> = [
      ['create', 'open', (d) => d.create('new')],
      ['open', 'open', (d) => d.openAppend('f')],
      ['open', 'open', (d) => d.openRead('f')],
      ['read', 'pread', (d) => d.readFile('f')],
      ['write', 'pwrite', (d) => d.openAppend('f').write(bytes('zz'))],
      ['truncate', 'ftruncate', (d) => d.openAppend('f').truncate(0)],
      ['allocate', 'fallocate', (d) => d.openAppend('f').allocate(4096)],
      ['sync', 'fdatasync', (d) => d.syncFile('f')],
      ['syncDir', 'fsync', (d) => d.syncDir('')],
      ['rename', 'rename', (d) => d.atomicRename('f', 'g')],
      ['delete', 'unlink', (d) => d.delete('f')],
      ['mkdir', 'mkdir', (d) => d.mkdirp('sub')],
    ];
    for (const [op, syscall, call] of cases) {
      for (const error of ['EIO', 'ENOSPC'] as const) {
        const dir = new SimulatedDirectory();
        dir.atomicWrite('f', bytes('content'));
        dir.injectFault({ op, error });
        failsWith(() => call(dir), error, syscall);
        assert.deepEqual(dir.list(''), ['f'], `${op}: the namespace is unchanged`);
        assert.equal(text(dir.readFile('f')), 'content', `${op}: the file is unchanged`);
      }
    }
  });

  it("'short' stores the first half of a write, then throws ENOSPC without moving the offset", () => {
    const dir = new SimulatedDirectory();
    const f = dir.create('f');
    f.write(bytes('head:'));
    dir.injectFault({ op: 'write', error: 'short' });
    failsWith(() => f.write(bytes('0123456789')), 'ENOSPC', 'pwrite');
    assert.equal(f.offset, 5);
    assert.equal(text(dir.readFile('f')), 'head:01234');
    // on other operations 'short' is a plain ENOSPC
    dir.injectFault({ op: 'syncDir', error: 'short' });
    failsWith(() => dir.syncDir(''), 'ENOSPC', 'fsync');
  });

  it('writev and writeAsync go through the same fault point', async () => {
    const dir = new SimulatedDirectory();
    const f = dir.create('f');
    dir.injectFault({ op: 'write', error: 'EIO', after: 1 });
    f.writev([bytes('a'), bytes('b')]);
    await assert.rejects(f.writeAsync(bytes('c')), { code: 'DURABILITY_IO', errno: 'EIO' });
    assert.equal(f.offset, 2, 'a failed writeAsync gives its offset back');
    const sync = dir.injectFault({ op: 'sync', error: 'EIO' });
    await assert.rejects(dir.openAppend('f').syncAsync(), { errno: 'EIO' });
    assert.equal(sync.fired, 1);
  });

  it('a failed syncDir leaves the entries pending', () => {
    const dir = new SimulatedDirectory();
    dir.create('f').close();
    assert.equal(dir.pendingEntryCount(), 1);
    dir.injectFault({ op: 'syncDir', error: 'EIO' });
    failsWith(() => dir.syncDir(''), 'EIO', 'fsync');
    assert.equal(dir.pendingEntryCount(), 1);
    assert.deepEqual(dir.durableList(''), []);
    dir.syncDir('');
    assert.equal(dir.pendingEntryCount(), 0);
    assert.deepEqual(dir.durableList(''), ['f']);
  });

  describe('random faults', () => {
    function failures(seed: number, probability: number): number[] {
      const dir = new SimulatedDirectory();
      let f = dir.create('f');
      dir.injectRandomFaults({ seed, probability, ops: ['write', 'sync'], errors: ['EIO', 'ENOSPC'] });
      const failed: number[] = [];
      for (let i = 0; i < 200; i++) {
        try {
          if (i % 4 === 3) f.sync();
          else f.write(bytes('x'));
        } catch (err) {
          assert.ok(err instanceof IoError && (err.errno === 'EIO' || err.errno === 'ENOSPC'));
          failed.push(i);
          // A failed handle fails everything after: go on with a fresh one.
          f.close();
          f = dir.openAppend('f');
        }
      }
      return failed;
    }

    it('are replayable from their seed', () => {
      assert.deepEqual(failures(5, 0.1), failures(5, 0.1));
      assert.notDeepEqual(failures(5, 0.1), failures(6, 0.1));
    });

    it('fail at about the requested rate; 0 never, 1 always', () => {
      const n = failures(9, 0.1).length;
      assert.ok(n > 5 && n < 40, `${n} failures of 200 at p=0.1`);
      assert.equal(failures(9, 0).length, 0);
      assert.equal(failures(9, 1).length, 200);
    });

    it('only hit the listed operations', () => {
      const dir = new SimulatedDirectory();
      dir.injectRandomFaults({ seed: 1, probability: 1, ops: ['rename'] });
      const f = dir.create('f');
      f.write(bytes('x'));
      f.sync();
      dir.syncDir('');
      failsWith(() => dir.atomicRename('f', 'g'), 'EIO', 'rename');
    });
  });

  it('bad fault specs are InvalidArgumentError', () => {
    const dir = new SimulatedDirectory();
    const bad = 'DURABILITY_INVALID_ARGUMENT';
    assertCode(() => dir.injectFault({ op: 'explode' as FaultOp, error: 'EIO' }), bad);
    assertCode(() => dir.injectFault({ op: 'write', error: 'EPERM' as FaultError }), bad);
    assertCode(() => dir.injectFault({ op: 'write', error: 'EIO', after: -1 }), bad);
    assertCode(() => dir.injectFault({ op: 'write', error: 'EIO', path: 3 as unknown as string }), bad);
    assertCode(() => dir.injectRandomFaults({ seed: 1, probability: 1.5 }), bad);
    assertCode(() => dir.injectRandomFaults({ seed: 1.5, probability: 0.5 }), bad);
    assertCode(() => dir.injectRandomFaults({ seed: 1, probability: 0.5, ops: [] }), bad);
  });
});

describe('SimulatedDirectory operation log', () => {
  it('counts and reports every state-changing or barrier operation', () => {
    const dir = new SimulatedDirectory();
    const events: SimulatedOperation[] = [];
    dir.onOperation = (e) => events.push(e);
    dir.atomicWrite('cfg', bytes('v1'));
    const summary = events.map((e) => `${e.index}:${e.op}:${e.path}${e.to ? `>${e.to}` : ''}`);
    assert.equal(summary.length, 5);
    assert.match(summary[0], /^0:create:cfg\.tmp-[0-9a-f]{16}$/);
    assert.match(summary[1], /^1:write:cfg\.tmp-/);
    assert.match(summary[2], /^2:sync:cfg\.tmp-/);
    assert.match(summary[3], /^3:rename:cfg\.tmp-[0-9a-f]{16}>cfg$/);
    assert.equal(summary[4], '4:syncDir:');
    assert.equal(dir.operations, 5);
    dir.readFile('cfg');
    dir.exists('cfg');
    assert.equal(dir.operations, 5, 'reads are not counted');
  });

  it('reports injected failures as failed operations', () => {
    const dir = new SimulatedDirectory();
    const events: SimulatedOperation[] = [];
    dir.onOperation = (e) => events.push(e);
    dir.injectFault({ op: 'create', error: 'EIO' });
    assert.throws(() => dir.create('f'));
    assert.deepEqual(events, [{ index: 0, op: 'create', path: 'f', failed: true }]);
  });

  it('scheduleCrash cuts the power right after the k-th operation from now', () => {
    const dir = new SimulatedDirectory({ seed: 4 });
    const f = dir.create('f');
    const scheduled = dir.scheduleCrash(2, { mode: 'dropAll' });
    f.write(bytes('a'));
    assert.equal(scheduled.directory, undefined);
    f.sync();
    const crashed = scheduled.directory as SimulatedDirectory | undefined; // set by the sync above
    assert.ok(crashed, 'crashed after the sync');
    assertCode(() => f.write(bytes('b')), 'DURABILITY_IO', 'EIO');
    // the create was never fsynced into the directory, so dropAll loses the file
    assert.deepEqual(crashed.listAll(''), []);
    assert.equal(dir.scheduleCrash(0).directory?.crashed, false);
  });
});
