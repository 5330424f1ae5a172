import assert from 'node:assert/strict';
import { type CrashMode, SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { assertCode, bytes, text } from './directory-contract';

// Power-loss semantics of SimulatedDirectory: what survives crash() in each mode.

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder', 'random'];

/** Every file of a directory (temp files included) as path → content. */
export function tree(dir: SimulatedDirectory, path = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of dir.listAll(path)) {
    const p = path === '' ? name : `${path}/${name}`;
    try {
      out.set(p, Buffer.from(dir.readFile(p)).toString('latin1'));
    } catch (err) {
      if (!(err instanceof IoError && err.errno === 'EISDIR')) throw err;
      out.set(`${p}/`, '<dir>');
      for (const [k, v] of tree(dir, p)) out.set(k, v);
    }
  }
  return out;
}

function durableFile(dir: SimulatedDirectory, path: string, content: string): void {
  const f = dir.create(path);
  f.write(bytes(content));
  f.sync();
  f.close();
  dir.syncDir(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
}

/** Outcomes of crashing the state `setup` builds, over seeds (and one mode). */
function outcomes(setup: (dir: SimulatedDirectory) => void, mode: CrashMode, observe: (d: SimulatedDirectory) => string): Set<string> {
  const seen = new Set<string>();
  for (const seed of SEEDS) {
    const dir = new SimulatedDirectory({ seed });
    setup(dir);
    seen.add(observe(dir.crash({ mode })));
  }
  return seen;
}

const contentOf = (path: string) => (d: SimulatedDirectory) => (d.exists(path) ? text(d.readFile(path)) : '<none>');

describe('SimulatedDirectory crash', () => {
  describe('file data', () => {
    it('an unsynced write is lost under dropAll; a synced one is kept in every mode', () => {
      for (const mode of MODES) {
        const seen = outcomes(
          (dir) => {
            durableFile(dir, 'f', 'synced;');
            const f = dir.openAppend('f');
            f.write(bytes('unsynced'));
          },
          mode,
          contentOf('f'),
        );
        for (const s of seen) assert.ok(s.startsWith('synced;'), `${mode}: synced bytes lost: ${s}`);
        if (mode === 'dropAll') assert.deepEqual([...seen], ['synced;']);
      }
    });

    it('keepPrefix keeps a prefix of the unsynced writes, and every prefix happens', () => {
      const seen = outcomes(
        (dir) => {
          durableFile(dir, 'f', '');
          const f = dir.openAppend('f');
          for (const part of ['a', 'b', 'c', 'd']) f.write(bytes(part));
        },
        'keepPrefix',
        contentOf('f'),
      );
      assert.deepEqual([...seen].sort(), ['', 'a', 'ab', 'abc', 'abcd']);
    });

    it('tear keeps only whole sectors of the torn write, in any combination', () => {
      const sector = 512;
      const combos = new Set<string>();
      for (const seed of SEEDS) {
        const dir = new SimulatedDirectory({ seed });
        durableFile(dir, 'f', 'A'.repeat(4 * sector));
        const f = dir.openAppend('f');
        f.writeAt(bytes('B'.repeat(4 * sector)), 0); // the only pending write: it is the torn one
        const after = dir.crash({ mode: 'tear' });
        const content = text(after.readFile('f'));
        assert.equal(content.length, 4 * sector);
        let combo = '';
        for (let s = 0; s < 4; s++) {
          const chunk = content.slice(s * sector, (s + 1) * sector);
          assert.ok(chunk === 'A'.repeat(sector) || chunk === 'B'.repeat(sector), `sector ${s} is a mix`);
          combo += chunk[0];
        }
        combos.add(combo);
      }
      assert.ok(combos.size >= 8, `sectors land independently (saw ${[...combos].join(',')})`);
      assert.ok([...combos].some((c) => /BA+B|AB+A/.test(c)), 'non-prefix combinations occur');
    });

    it('tear respects sector boundaries of an unaligned write and may leave a zero tail', () => {
      let sawZeroTail = false;
      for (const seed of SEEDS) {
        const dir = new SimulatedDirectory({ seed, sectorSize: 16 });
        durableFile(dir, 'f', 'x'.repeat(10));
        const f = dir.openAppend('f');
        f.write(bytes('y'.repeat(40))); // covers bytes 10..50: sectors [10,16) [16,32) [32,48) [48,50)
        const content = Buffer.from(dir.crash({ mode: 'tear' }).readFile('f')).toString('latin1');
        assert.ok(content.startsWith('x'.repeat(10)));
        const ranges = [[10, 16], [16, 32], [32, 48], [48, 50]];
        for (const [a, b] of ranges) {
          const chunk = content.slice(a, b);
          if (chunk.length === 0) continue;
          assert.ok(/^y+$/.test(chunk) || /^\0+$/.test(chunk), `range ${a}-${b} mixed: ${JSON.stringify(chunk)}`);
          assert.ok(chunk.length === b - a || b >= content.length, 'a sector is whole unless the file ends inside it');
        }
        if (content.length === 50 && content.endsWith('\0\0')) sawZeroTail = true;
      }
      assert.ok(sawZeroTail, 'the size can land without the data');
    });

    it('reorder: every sector holds the content of some point in the unsynced history', () => {
      const sector = 512;
      let mixed = false;
      for (const seed of SEEDS) {
        const dir = new SimulatedDirectory({ seed });
        durableFile(dir, 'f', '0'.repeat(2 * sector));
        const f = dir.openAppend('f');
        for (const v of ['1', '2', '3']) f.writeAt(bytes(v.repeat(2 * sector)), 0);
        const content = text(dir.crash({ mode: 'reorder' }).readFile('f'));
        const s0 = content.slice(0, sector);
        const s1 = content.slice(sector);
        for (const s of [s0, s1]) assert.match(s, /^(0+|1+|2+|3+)$/);
        if (s0[0] > s1[0]) mixed = true; // a later version of sector 0 next to an earlier sector 1
      }
      assert.ok(mixed, 'sectors are written back out of order');
    });

    it('a failed fsync forgets the writes: visible now, never durable (fsyncgate)', () => {
      const dir = new SimulatedDirectory({ seed: 1 });
      durableFile(dir, 'f', 'base;');
      const f = dir.openAppend('f');
      f.write(bytes('lost;'));
      dir.injectFault({ op: 'sync', error: 'EIO' });
      assertCode(() => f.sync(), 'DURABILITY_IO', 'EIO');
      assert.equal(text(dir.readFile('f')), 'base;lost;');
      // The handle never syncs again (its success would prove nothing); another handle shows why.
      assertCode(() => f.sync(), 'DURABILITY_IO', 'EIO');
      f.close();
      const g = dir.openAppend('f');
      g.write(bytes('later;'));
      g.sync(); // succeeds, but cannot bring back what the kernel dropped
      assert.equal(text(dir.durableContent('f') as Uint8Array), 'base;\0\0\0\0\0later;');
      assert.equal(text(dir.crash({ mode: 'dropAll' }).readFile('f')), 'base;\0\0\0\0\0later;');
    });

    it('unsynced preallocation and truncation are undone by dropAll', () => {
      const dir = new SimulatedDirectory({ seed: 1 });
      durableFile(dir, 'f', 'abcdef');
      const f = dir.openAppend('f');
      assert.equal(f.allocate(64 << 20), true);
      assert.equal(dir.pendingWriteCount('f'), 1);
      f.truncate(2);
      assert.equal(text(dir.crash({ mode: 'dropAll' }).readFile('f')), 'abcdef');
    });
  });

  describe('directory entries', () => {
    it('a create without syncDir may vanish with its (synced) data; with syncDir it stays', () => {
      const unsynced = outcomes(
        (dir) => {
          const f = dir.create('f');
          f.write(bytes('data'));
          f.sync();
        },
        'keepPrefix',
        contentOf('f'),
      );
      assert.deepEqual([...unsynced].sort(), ['<none>', 'data']);
      for (const mode of MODES) {
        assert.deepEqual([...outcomes((dir) => durableFile(dir, 'f', 'data'), mode, contentOf('f'))], ['data']);
      }
      assert.deepEqual([...outcomes((dir) => dir.create('f').close(), 'dropAll', contentOf('f'))], ['<none>']);
    });

    it('a rename without syncDir may revert; atomicRename never does', () => {
      const names = (d: SimulatedDirectory) => d.list('').join(',') + '=' + text(d.readFile(d.list('')[0]));
      const plain = outcomes(
        (dir) => {
          durableFile(dir, 'old', 'X');
          dir.injectFault({ op: 'syncDir', error: 'EIO' });
          assertCode(() => dir.atomicRename('old', 'new'), 'DURABILITY_IO', 'EIO');
        },
        'keepPrefix',
        names,
      );
      assert.deepEqual([...plain].sort(), ['new=X', 'old=X']);
      for (const mode of MODES) {
        const synced = outcomes(
          (dir) => {
            durableFile(dir, 'old', 'X');
            dir.atomicRename('old', 'new');
          },
          mode,
          names,
        );
        assert.deepEqual([...synced], ['new=X']);
      }
    });

    it('renameNoSync may revert until a syncDir; after one it holds', () => {
      const names = (d: SimulatedDirectory) => d.list('').join(',') + '=' + text(d.readFile(d.list('')[0]));
      const unsynced = outcomes(
        (dir) => {
          durableFile(dir, 'old', 'X');
          dir.renameNoSync('old', 'new');
        },
        'keepPrefix',
        names,
      );
      assert.deepEqual([...unsynced].sort(), ['new=X', 'old=X']);
      for (const mode of MODES) {
        const synced = outcomes(
          (dir) => {
            durableFile(dir, 'old', 'X');
            dir.renameNoSync('old', 'new');
            dir.syncDir('');
          },
          mode,
          names,
        );
        assert.deepEqual([...synced], ['new=X']);
      }
    });

    it('a delete without syncDir may resurrect the file; delete() never', () => {
      const noSync = outcomes(
        (dir) => {
          durableFile(dir, 'f', 'alive');
          dir.deleteNoSync('f');
        },
        'keepPrefix',
        contentOf('f'),
      );
      assert.deepEqual([...noSync].sort(), ['<none>', 'alive']);
      for (const mode of MODES) {
        const synced = outcomes(
          (dir) => {
            durableFile(dir, 'f', 'alive');
            dir.delete('f');
          },
          mode,
          contentOf('f'),
        );
        assert.deepEqual([...synced], ['<none>']);
      }
    });

    it('keeps history per name in order: a later operation never survives without the earlier ones', () => {
      // rename a→b (replacing b), then a new a. Losing the rename must lose the new a too.
      const seen = outcomes(
        (dir) => {
          durableFile(dir, 'a', 'A');
          durableFile(dir, 'b', 'B');
          dir.injectFault({ op: 'syncDir', error: 'EIO', persistent: true });
          assertCode(() => dir.atomicRename('a', 'b'), 'DURABILITY_IO', 'EIO');
          const f = dir.create('a');
          f.write(bytes('C'));
          f.sync();
        },
        'keepPrefix',
        (d) => [...tree(d)].map(([k, v]) => `${k}=${v}`).join(' '),
      );
      assert.ok(!seen.has('a=C b=B'), 'the new a survived without the rename before it');
      assert.deepEqual([...seen].sort(), ['a=A b=B', 'a=C b=A', 'b=A']);
    });

    it('syncDir of the destination commits an earlier create in the source directory', () => {
      for (const mode of MODES) {
        const seen = outcomes(
          (dir) => {
            dir.mkdirp('src');
            dir.mkdirp('dst');
            const f = dir.create('src/f');
            f.write(bytes('F'));
            f.sync();
            dir.injectFault({ op: 'syncDir', error: 'EIO', path: 'src' });
            // rename, syncDir(dst) succeeds, syncDir(src) fails
            assertCode(() => dir.atomicRename('src/f', 'dst/g'), 'DURABILITY_IO', 'EIO');
          },
          mode,
          (d) => [...tree(d)].map(([k, v]) => `${k}=${v}`).join(' '),
        );
        assert.deepEqual([...seen], ['dst/=<dir> dst/g=F src/=<dir>']);
      }
    });

    it('files under a directory whose own entry was lost vanish with it', () => {
      const seen = new Set<string>();
      for (const seed of SEEDS) {
        const dir = new SimulatedDirectory({ seed });
        dir.injectFault({ op: 'syncDir', error: 'EIO', path: '' }); // mkdirp's fsync of the root fails
        assertCode(() => dir.mkdirp('d'), 'DURABILITY_IO', 'EIO');
        durableFile(dir, 'd/f', 'x'); // syncs d, not the root
        const after = dir.crash({ mode: 'keepPrefix' });
        seen.add(after.exists('d') ? after.list('d').join(',') : '<no d>');
      }
      assert.deepEqual([...seen].sort(), ['<no d>', 'f']);
    });

    it('mkdirp retried after a failed fsync makes the existing directory durable', () => {
      for (const mode of MODES) {
        const seen = outcomes(
          (dir) => {
            dir.injectFault({ op: 'syncDir', error: 'EIO', path: '' }); // the first mkdirp's fsync of the root fails
            assertCode(() => dir.mkdirp('d'), 'DURABILITY_IO', 'EIO');
            dir.mkdirp('d'); // d exists now (its entry still pending): this call must fsync the root
            durableFile(dir, 'd/f', 'kept');
          },
          mode,
          contentOf('d/f'),
        );
        assert.deepEqual([...seen], ['kept']);
      }
    });

    it('mkdirp makes the whole chain durable', () => {
      for (const mode of MODES) {
        const seen = outcomes(
          (dir) => {
            dir.mkdirp('a/b/c');
            durableFile(dir, 'a/b/c/f', 'deep');
          },
          mode,
          contentOf('a/b/c/f'),
        );
        assert.deepEqual([...seen], ['deep']);
      }
    });
  });

  describe('the crashed instance', () => {
    it('is dead: operations and handles throw IoError EIO, close and release do not', () => {
      const dir = new SimulatedDirectory({ seed: 3 });
      const f = dir.create('f');
      const r = dir.openRead('f');
      const lock = dir.lock('LOCK');
      const after = dir.crash();
      assert.equal(dir.crashed, true);
      assert.equal(after.crashed, false);
      assertCode(() => f.write(bytes('x')), 'DURABILITY_IO', 'EIO');
      assertCode(() => f.sync(), 'DURABILITY_IO', 'EIO');
      assertCode(() => r.read(new Uint8Array(1), 0), 'DURABILITY_IO', 'EIO');
      assertCode(() => dir.create('g'), 'DURABILITY_IO', 'EIO');
      assertCode(() => dir.readFile('f'), 'DURABILITY_IO', 'EIO');
      assertCode(() => dir.list(''), 'DURABILITY_IO', 'EIO');
      assertCode(() => dir.atomicWrite('g', bytes('x')), 'DURABILITY_IO', 'EIO');
      f.close();
      r.close();
      lock.release();
      // the new directory starts with no locks held
      after.lock('LOCK').release();
    });

    it('can be crashed again to draw other outcomes of the same state', () => {
      const dir = new SimulatedDirectory({ seed: 3 });
      const f = dir.create('f');
      f.write(bytes('abc'));
      f.sync();
      const results = new Set<string>();
      for (let i = 0; i < 30; i++) results.add(contentOf('f')(dir.crash({ mode: 'keepPrefix' })));
      assert.deepEqual([...results].sort(), ['<none>', 'abc']);
    });

    it('reports the mode that produced it', () => {
      const dir = new SimulatedDirectory({ seed: 3 });
      assert.equal(dir.crashMode, undefined);
      assert.equal(dir.crash({ mode: 'tear' }).crashMode, 'tear');
      const modes = new Set<string>();
      for (let seed = 0; seed < 40; seed++) modes.add(String(dir.crash({ seed }).crashMode));
      assert.deepEqual([...modes].sort(), ['dropAll', 'keepPrefix', 'reorder', 'tear']);
    });
  });

  describe('determinism', () => {
    function workload(dir: SimulatedDirectory): void {
      dir.mkdirp('wal');
      for (let i = 0; i < 6; i++) {
        const f = dir.create(`wal/${i}`);
        for (let j = 0; j < 5; j++) f.write(bytes(`${i}:${j}:`.repeat(100 + j * 37)));
        if (i % 2 === 0) f.sync();
        if (i % 3 === 0) dir.syncDir('wal');
        f.close();
      }
      dir.atomicRename('wal/1', 'wal/renamed');
      dir.deleteNoSync('wal/2');
    }

    it('the same seed and operations give the same crash, in every mode', () => {
      for (const mode of MODES) {
        for (const seed of [1, 2, 99]) {
          const runs = [0, 1].map(() => {
            const dir = new SimulatedDirectory({ seed });
            workload(dir);
            return tree(dir.crash({ mode }));
          });
          assert.deepEqual(runs[0], runs[1]);
        }
      }
    });

    it('an explicit crash seed overrides the directory seed', () => {
      const results = [11, 22].map((seed) => {
        const dir = new SimulatedDirectory({ seed });
        workload(dir);
        return tree(dir.crash({ seed: 5 }));
      });
      assert.deepEqual(results[0], results[1]);
    });

    it('different seeds explore different outcomes', () => {
      const distinct = new Set<string>();
      for (const seed of SEEDS.slice(0, 10)) {
        const dir = new SimulatedDirectory({ seed });
        workload(dir);
        distinct.add(JSON.stringify([...tree(dir.crash())]));
      }
      assert.ok(distinct.size >= 5, `only ${distinct.size} outcomes`);
    });
  });

  it('bad crash options are InvalidArgumentError', () => {
    const dir = new SimulatedDirectory();
    assertCode(() => dir.crash({ mode: 'melt' as CrashMode }), 'DURABILITY_INVALID_ARGUMENT');
    assertCode(() => dir.crash({ seed: 1.5 }), 'DURABILITY_INVALID_ARGUMENT');
    assertCode(() => dir.crash({ entryKeepProbability: 2 }), 'DURABILITY_INVALID_ARGUMENT');
    assertCode(() => new SimulatedDirectory({ sectorSize: 0 }), 'DURABILITY_INVALID_ARGUMENT');
    assertCode(() => new SimulatedDirectory({ seed: Number.NaN }), 'DURABILITY_INVALID_ARGUMENT');
  });
});
