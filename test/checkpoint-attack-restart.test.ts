import assert from 'node:assert/strict';
import { checkpointPath, writeCheckpoint } from '../lib/checkpoint/store';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { RecoveryGapError } from '../lib/errors';
import { recover, type RecoveredLog, type Recovery } from '../lib/recover';
import { WalWriter } from '../lib/wal/writer';
import { applyKv, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// A checkpoint ahead of the WAL (written with writeCheckpoint from a snapshot, or a WAL that lost
// its tail): recover() with a writer restarts the log after it, deleting every segment. A power
// cut after each operation of that restart must leave a directory that recovers to the
// checkpoint's state, whose writer never reuses an id the checkpoint covers, and which with the
// checkpoint damaged is a RecoveryGapError, never the older checkpoint plus what is left of the WAL.

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];
const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 4}`, value: i });
const AHEAD = 50;
const AHEAD_STATE: KvState = { snapshot: AHEAD };

function open(dir: SimulatedDirectory, writer: boolean): Promise<Recovery<KvState> | RecoveredLog<KvState, KvOp>> {
  return recover({ dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, writer: writer ? { maxSegmentSize: 160 } : false });
}

function scenario(): SimulatedDirectory {
  const dir = new SimulatedDirectory({ seed: 21 });
  const w = WalWriter.create<KvOp>(dir, { codec: kvCodec, maxSegmentSize: 160 });
  const ops: KvOp[] = [];
  for (let i = 0; i < 30; i++) {
    ops.push(put(i));
    w.append(put(i));
    if (i === 9) {
      w.syncSync();
      writeCheckpoint(dir, 10, stateOf(ops), { codec: kvStateCodec });
    }
  }
  w.closeSync();
  writeCheckpoint(dir, AHEAD, AHEAD_STATE, { codec: kvStateCodec });
  return dir;
}

describe('checkpoint attack: power cut at every operation of a log restarted after a checkpoint ahead of it', () => {
  it('recovers the checkpoint\'s state and continues after it; with the checkpoint damaged, a RecoveryGapError', async () => {
    const probe = scenario();
    const before = probe.operations;
    await ((await open(probe, true)) as RecoveredLog<KvState, KvOp>).close();
    const total = probe.operations - before;
    assert.ok(total >= 5, `the restart takes ${total} operations`);
    for (let k = 1; k <= total; k++) {
      const dir = scenario();
      dir.scheduleCrash(k, { mode: 'dropAll' });
      await open(dir, true).then((h) => (h as RecoveredLog<KvState, KvOp>).close()).catch(() => undefined);
      for (const [m, mode] of MODES.entries()) {
        const where = `cut after operation ${k}/${total}, mode ${mode}`;
        const cut = dir.crash({ mode, seed: 5 * k + m });
        const damaged = cut.crash({ mode: 'dropAll' });
        const crashed = cut.crash({ mode: 'dropAll' });
        damaged.atomicWrite(checkpointPath(AHEAD), new Uint8Array(7));
        await assert.rejects(open(damaged, false), RecoveryGapError, where);

        const h = (await open(crashed, true)) as RecoveredLog<KvState, KvOp>;
        assert.deepEqual([h.state, h.lastEntryId, h.writer.nextEntryId], [AHEAD_STATE, AHEAD, AHEAD + 1], where);
        h.writer.append(put(99));
        await h.close();
        const r = await open(crashed, false);
        assert.deepEqual([r.state, r.lastEntryId, r.checkpointEntryId], [{ ...AHEAD_STATE, k3: 99 }, AHEAD + 1, AHEAD], where);
      }
    }
  });
});
