import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { listCheckpoints, pruneCheckpoints } from '../lib/checkpoint/store';
import { recover } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { listSegments } from '../lib/wal/segment-files';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding } from './support/overriding';

// A checkpoint's truncation and pruning run in steps off the event loop (lib/directory/off-loop.ts),
// so the application's own WalMaintenance.truncatePrefix / truncateToRecycle or pruneCheckpoints
// can run between two of them and remove a file the publisher planned to remove, and the thread
// pool's unlink can land between another caller's listing and its own unlink. A file already
// gone is what the removal wanted: the checkpoint (durable by then) must not be reported failed.

type Op = { n: number };
type State = { sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ sum: s.sum + r.payload.n });
const codecs = { codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply };

async function appendSome(log: { writer: { appendDurable(e: Op): Promise<number> } }, from: number, count: number): Promise<number> {
  let sum = 0;
  for (let i = from; i < from + count; i++) {
    await log.writer.appendDurable({ n: i });
    sum += i;
  }
  return sum;
}

/** `real`, with `between` run once after the publisher's first removal under `prefix` (as another caller's code would). */
function withCallBetweenRemovals(real: Directory, prefix: string, between: () => void): Directory {
  let ran = false;
  const runOnce = (path: string): void => {
    if (ran || !path.startsWith(prefix)) return;
    ran = true;
    between();
  };
  return overriding(real, {
    deleteNoSyncAsync: real.deleteNoSyncAsync === undefined ? undefined : async (path: string) => {
      await real.deleteNoSyncAsync!(path);
      runOnce(path);
    },
    deleteNoSync: (path: string) => {
      real.deleteNoSync(path);
      runOnce(path);
    },
  });
}

describe('checkpoint: files removed by someone else between its steps', () => {
  for (const kind of dirKinds().filter((k) => k.name !== 'SimulatedDirectory')) {
    it(`a truncatePrefix of the application's between two unlinks of the publisher (${kind.name})`, async () => {
      try {
        const real = kind.make();
        let userRemoved = 0;
        const dir = withCallBetweenRemovals(real, 'wal/', () => {
          userRemoved = new WalMaintenance(real).truncatePrefix(Number.MAX_SAFE_INTEGER).removed.length;
        });
        const log = await recover({ dir, ...codecs, writer: { maxSegmentSize: 512 }, retain: 1 });
        const sum = await appendSome(log, 0, 60);
        const segmentsBefore = listSegments(real).length;
        const published = await log.checkpoint({ sum });
        assert.ok(userRemoved > 0, 'the application removed segments the publisher planned to remove');
        assert.equal(published.truncatedThrough, 60);
        assert.equal(listSegments(real).length, 1, `${segmentsBefore} segments, all but the final one gone`);
        await log.close();
        const again = await recover({ dir: real, ...codecs });
        assert.deepEqual([again.state, again.lastEntryId], [{ sum }, 60]);
      } finally {
        kind.cleanup();
      }
    });

    it(`a pruneCheckpoints of the application between the publisher's plan and its unlinks (${kind.name})`, async () => {
      try {
        const real = kind.make();
        let userPruned: string[] = [];
        let armed = false;
        const dir = overriding(real, {
          // The publisher lists the checkpoints, then unlinks: the application prunes in between.
          deleteNoSyncAsync: real.deleteNoSyncAsync === undefined ? undefined : async (path: string) => {
            if (armed && path.startsWith('checkpoints/')) {
              armed = false;
              userPruned = pruneCheckpoints(real, 1);
            }
            await real.deleteNoSyncAsync!(path);
          },
          deleteNoSync: (path: string) => {
            if (armed && path.startsWith('checkpoints/')) {
              armed = false;
              userPruned = pruneCheckpoints(real, 1);
            }
            real.deleteNoSync(path);
          },
        });
        const log = await recover({ dir, ...codecs, writer: { maxSegmentSize: 512 }, retain: 2 });
        let sum = 0;
        for (let round = 0; round < 3; round++) {
          sum += await appendSome(log, round * 10, 10);
          armed = round === 2;
          await log.checkpoint({ sum });
        }
        assert.ok(userPruned.length > 0, 'the application pruned what the publisher planned to');
        assert.deepEqual(listCheckpoints(real).map((c) => c.lastEntryId), [30]);
        await log.close();
        const again = await recover({ dir: real, ...codecs });
        assert.deepEqual([again.state, again.lastEntryId], [{ sum }, 30]);
      } finally {
        kind.cleanup();
      }
    });
  }

  it('the synchronous truncatePrefix and truncateToRecycle take a segment already gone for removed', async () => {
    for (const method of ['truncatePrefix', 'truncateToRecycle'] as const) {
      const real = new MemoryDirectory();
      // Another caller's unlink lands between this truncation's listing and its own removal.
      const goneFirst = (path: string): void => {
        if (path.startsWith('wal/') && real.exists(path)) real.deleteNoSync(path);
      };
      const dir = overriding<Directory>(real, {
        delete: (path: string) => {
          goneFirst(path);
          real.delete(path);
        },
        deleteNoSync: (path: string) => {
          goneFirst(path);
          real.deleteNoSync(path);
        },
        atomicRename: (from: string, to: string) => {
          goneFirst(from);
          real.atomicRename(from, to);
        },
      });
      await fillThenTruncate(real, dir, method);
    }
  });

  it('the synchronous truncations list again when a segment goes between their listing and the read of its header', async () => {
    for (const method of ['truncatePrefix', 'truncateToRecycle'] as const) {
      const real = new MemoryDirectory();
      let removedByOther: string | undefined;
      // The thread pool's unlink of a checkpoint's truncation lands after this call listed the
      // segments and before it reads the oldest one's header.
      const dir = overriding<Directory>(real, {
        openRead: (path: string) => {
          if (removedByOther === undefined && path.startsWith('wal/')) {
            removedByOther = path;
            real.delete(path);
          }
          return real.openRead(path);
        },
      });
      const log = await recover({ dir: real, ...codecs, writer: { maxSegmentSize: 512 } });
      await appendSome(log, 0, 60);
      await log.close();
      const before = listSegments(real).length;
      const maintenance = new WalMaintenance(dir);
      if (method === 'truncatePrefix') assert.equal(maintenance.truncatePrefix(60).removed.length, before - 2, method);
      else assert.equal(maintenance.truncateToRecycle(60).length, before - 2, method);
      assert.equal(removedByOther, 'wal/00000000000000000001.wal');
      assert.equal(listSegments(real).length, 1, method);
    }
  });
});

async function fillThenTruncate(real: Directory, dir: Directory, method: 'truncatePrefix' | 'truncateToRecycle'): Promise<void> {
  const log = await recover({ dir: real, ...codecs, writer: { maxSegmentSize: 512 } });
  await appendSome(log, 0, 60);
  await log.close();
  const before = listSegments(real).length;
  const maintenance = new WalMaintenance(dir);
  if (method === 'truncatePrefix') assert.equal(maintenance.truncatePrefix(60).removed.length, before - 1);
  else assert.deepEqual(maintenance.truncateToRecycle(60), []);
  assert.equal(listSegments(real).length, 1);
}
