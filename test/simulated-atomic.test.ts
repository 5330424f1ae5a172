import assert from 'node:assert/strict';
import { type CrashMode, SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { assertCode } from './directory-contract';

// The Directory's atomic operations, proved against every crash point: for each k, cut the power
// right after the k-th operation of the procedure, in every crash mode and several seeds, and
// check what the disk holds.

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder', 'random'];
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

function pattern(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt) & 0xff;
  return out;
}

const OLD = pattern(1700, 1); // not sector aligned, shorter than NEW
const NEW = pattern(3000, 2);

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface CrashCase {
  k: number;
  mode: CrashMode;
  seed: number;
  crashed: SimulatedDirectory;
  /** The procedure returned before the power cut. */
  completed: boolean;
}

/** Runs `procedure` once to count its operations, then once per (k, mode, seed) with a cut after op k. */
function everyCrashPoint(
  setup: (dir: SimulatedDirectory) => void,
  procedure: (dir: SimulatedDirectory) => void,
  check: (c: CrashCase) => void,
): number {
  const probe = new SimulatedDirectory();
  setup(probe);
  const before = probe.operations;
  try {
    procedure(probe);
  } catch {
    // procedures that are expected to fail still count their operations
  }
  const total = probe.operations - before;
  let cases = 0;
  for (let k = 0; k <= total; k++) {
    for (const mode of MODES) {
      for (const seed of SEEDS) {
        const dir = new SimulatedDirectory({ seed });
        setup(dir);
        const scheduled = dir.scheduleCrash(k, { mode });
        let completed = false;
        try {
          procedure(dir);
          completed = true;
        } catch (err) {
          // Failing on its own (an injected fault) is the procedure's business; after the cut,
          // the only failure it may see is the dead machine's EIO.
          if (scheduled.directory !== undefined) {
            assert.ok(err instanceof IoError && err.errno === 'EIO', `after the cut only EIO, got ${String(err)}`);
          }
        }
        const crashed = scheduled.directory ?? dir.crash({ mode });
        check({ k, mode, seed, crashed, completed });
        cases++;
      }
    }
  }
  return cases;
}

function withOld(dir: SimulatedDirectory): void {
  dir.mkdirp('d');
  dir.atomicWrite('d/cfg', OLD);
}

describe('SimulatedDirectory: atomic operations at every crash point', () => {
  it('atomicWrite over an old file: exactly old or exactly new, and new once it returned', () => {
    const seen = { old: 0, new: 0 };
    const cases = everyCrashPoint(withOld, (dir) => dir.atomicWrite('d/cfg', NEW), (c) => {
      const where = `k=${c.k} mode=${c.mode} seed=${c.seed}`;
      assert.deepEqual(c.crashed.list('d'), ['cfg'], where);
      const content = c.crashed.readFile('d/cfg');
      const isNew = same(content, NEW);
      assert.ok(isNew || same(content, OLD), `${where}: a mix of old and new (${content.length} bytes)`);
      if (c.completed) assert.ok(isNew, `${where}: returned, yet the crash brought back the old content`);
      seen[isNew ? 'new' : 'old']++;
    });
    assert.ok(cases >= 6 * MODES.length * SEEDS.length);
    assert.ok(seen.old > 0 && seen.new > 0);
  });

  it('atomicWrite of a new file: nothing or exactly new', () => {
    everyCrashPoint((dir) => dir.mkdirp('d'), (dir) => dir.atomicWrite('d/cfg', NEW), (c) => {
      const names = c.crashed.list('d');
      if (names.length === 0) {
        assert.equal(c.completed, false);
        return;
      }
      assert.deepEqual(names, ['cfg']);
      assert.ok(same(c.crashed.readFile('d/cfg'), NEW), `k=${c.k} ${c.mode}: partial new file`);
    });
  });

  it('atomicWrite with a failing fsync keeps the old content; list() never shows the temp file', () => {
    let leftovers = 0;
    everyCrashPoint(
      (dir) => {
        withOld(dir);
        dir.injectFault({ op: 'sync', error: 'EIO', path: 'cfg.tmp-' });
      },
      (dir) => assertCode(() => dir.atomicWrite('d/cfg', NEW), 'DURABILITY_IO', 'EIO'),
      (c) => {
        assert.ok(same(c.crashed.readFile('d/cfg'), OLD), `k=${c.k} ${c.mode}`);
        assert.deepEqual(c.crashed.list('d'), ['cfg']);
        const debris = c.crashed.listAll('d').filter((n) => n !== 'cfg');
        leftovers += debris.length;
        // The next atomicWrite clears the debris, and its own syncDir makes that durable.
        c.crashed.atomicWrite('d/cfg', NEW);
        assert.deepEqual(c.crashed.listAll('d'), ['cfg']);
        for (const mode of MODES) {
          const again = c.crashed.crash({ mode });
          assert.deepEqual(again.listAll('d'), ['cfg'], `debris came back after ${mode}`);
          assert.ok(same(again.readFile('d/cfg'), NEW));
        }
      },
    );
    assert.ok(leftovers > 0, 'some crash leaves a temp file behind (which is why list() hides them)');
  });

  it('atomicRename across directories: the file is at exactly one name, whole', () => {
    everyCrashPoint(
      (dir) => {
        dir.mkdirp('x');
        dir.mkdirp('y');
        dir.atomicWrite('x/a', OLD);
      },
      (dir) => dir.atomicRename('x/a', 'y/b'),
      (c) => {
        const at = [c.crashed.exists('x/a') ? 'x/a' : '', c.crashed.exists('y/b') ? 'y/b' : ''].filter(Boolean);
        assert.equal(at.length, 1, `k=${c.k} ${c.mode}: file at ${JSON.stringify(at)}`);
        assert.ok(same(c.crashed.readFile(at[0]), OLD));
        if (c.completed) assert.deepEqual(at, ['y/b']);
      },
    );
  });

  it('delete: the file is whole or gone, and gone once delete returned', () => {
    everyCrashPoint(withOld, (dir) => dir.delete('d/cfg'), (c) => {
      if (c.crashed.exists('d/cfg')) {
        assert.equal(c.completed, false);
        assert.ok(same(c.crashed.readFile('d/cfg'), OLD));
      }
    });
  });

  it('mkdirp then create, write, sync, syncDir: once done, the file survives every crash', () => {
    everyCrashPoint(
      () => {},
      (dir) => {
        dir.mkdirp('a/b');
        const f = dir.create('a/b/f');
        f.write(NEW);
        f.sync();
        f.close();
        dir.syncDir('a/b');
      },
      (c) => {
        if (c.completed) assert.ok(same(c.crashed.readFile('a/b/f'), NEW), `k=${c.k} ${c.mode}`);
        else if (c.crashed.exists('a/b/f')) assert.ok(c.crashed.readFile('a/b/f').length <= NEW.length);
      },
    );
  });
});
