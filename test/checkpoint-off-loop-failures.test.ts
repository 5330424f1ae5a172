import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { listCheckpoints, writeCheckpoint } from '../lib/checkpoint/store';
import { IoError } from '../lib/errors';
import { recover } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { listSegments } from '../lib/wal/segment-files';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding } from './support/overriding';

// A publish that fails in one of its steps off the event loop (an unlink or a directory fsync of
// its truncation or pruning) rejects with that IoError, ends its turn (lib/checkpoint/turns.ts:
// a synchronous writeCheckpoint of the directory is accepted again), and the next checkpoint
// removes what the failed one left.

type Op = { n: number };
type State = { sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ sum: s.sum + r.payload.n });
const codecs = { codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply };

type Failing = { step: 'unlink' | 'fsync'; under: 'wal' | 'checkpoints'; errno: string };
const CASES: Failing[] = [];
for (const step of ['unlink', 'fsync'] as const) for (const under of ['wal', 'checkpoints'] as const) for (const errno of ['EIO', 'EACCES']) CASES.push({ step, under, errno });

/** `real`, whose next unlink or fsync under `under` fails once `arm` is called. */
function failingOnce(real: Directory, f: Failing): { dir: Directory; arm(): void; failed(): boolean } {
  let armed = false;
  let failed = false;
  const fail = (path: string, step: Failing['step']): void => {
    if (!armed || step !== f.step || !(path === f.under || path.startsWith(`${f.under}/`))) return;
    armed = false;
    failed = true;
    throw new IoError(f.errno, step, path);
  };
  const dir = overriding<Directory>(real, {
    syncDirAsync: async (path: string) => {
      fail(path, 'fsync');
      return real.syncDirAsync(path);
    },
    syncDir: (path: string) => {
      fail(path, 'fsync');
      real.syncDir(path);
    },
    deleteNoSyncAsync: real.deleteNoSyncAsync === undefined ? undefined : async (path: string) => {
      fail(path, 'unlink');
      return real.deleteNoSyncAsync!(path);
    },
    deleteNoSync: (path: string) => {
      fail(path, 'unlink');
      real.deleteNoSync(path);
    },
    delete: (path: string) => {
      fail(path, 'unlink');
      real.delete(path);
    },
  });
  return { dir, arm: () => { armed = true; }, failed: () => failed };
}

describe('checkpoint off the event loop: a step failing', () => {
  for (const kind of dirKinds().filter((k) => k.name !== 'SimulatedDirectory')) {
    for (const f of CASES) {
      it(`${f.step} under ${f.under}/ failing with ${f.errno}: rejected, turn ended, the next checkpoint cleans up (${kind.name})`, async () => {
        try {
          const real = kind.make();
          const { dir, arm, failed } = failingOnce(real, f);
          const log = await recover({ dir, ...codecs, writer: { maxSegmentSize: 512 }, retain: 1 });
          let sum = 0;
          for (let i = 0; i < 30; i++) sum += (await log.writer.appendDurable({ n: i }), i);
          await log.checkpoint({ sum });
          for (let i = 30; i < 60; i++) sum += (await log.writer.appendDurable({ n: i }), i);
          arm();
          await assert.rejects(log.checkpoint({ sum }), { code: 'DURABILITY_IO', errno: f.errno });
          assert.ok(failed(), 'the step failed');
          // The turn ended with the publish: a synchronous checkpoint of the directory is accepted.
          writeCheckpoint(real, 60, { sum }, { codec: jsonCodec<State>() });
          for (let i = 60; i < 63; i++) sum += (await log.writer.appendDurable({ n: i }), i);
          const next = await log.checkpoint({ sum });
          assert.equal(next.truncatedThrough, 63);
          assert.deepEqual(listCheckpoints(real).map((c) => c.lastEntryId), [63]);
          assert.equal(listSegments(real).length, 1);
          await log.close();
          const again = await recover({ dir: real, ...codecs });
          assert.deepEqual([again.state, again.lastEntryId], [{ sum }, 63]);
        } finally {
          kind.cleanup();
        }
      });
    }
  }
});
