import assert from 'node:assert/strict';
import { listCheckpoints } from '../lib/checkpoint/store';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { DurabilityError, RecoveryGapError } from '../lib/errors';
import { recover, type RecoveredLog, type Recovery } from '../lib/recover';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// Each filesystem operation of a publish fails in turn (EIO), then the power is cut. The failed
// publish must reject with a DurabilityError; a publisher whose writer is not poisoned must publish
// again; and recovery after the cut, with or without the newest checkpoint damaged, must give the
// state of every acknowledged entry (the crashed process may have acknowledged no more than the
// entries synced before the publish, and those of the publishes that resolved).

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];
const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 5}`, value: i });

function open(dir: SimulatedDirectory, writer: boolean): Promise<RecoveredLog<KvState, KvOp>>;
function open(dir: SimulatedDirectory, writer: false): Promise<Recovery<KvState>>;
function open(dir: SimulatedDirectory, writer: boolean): Promise<Recovery<KvState> | RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv,
    writer: writer ? { maxSegmentSize: 160 } : false, retain: 2, checkpointEntry,
  });
}

async function scenario(): Promise<{ dir: SimulatedDirectory; h: RecoveredLog<KvState, KvOp>; ops: KvOp[] }> {
  const dir = new SimulatedDirectory({ seed: 9 });
  const h = await open(dir, true);
  const ops: KvOp[] = [];
  for (let round = 0; round < 4; round++) {
    for (let n = 0; n < 9; n++) {
      const op = put(ops.length);
      h.writer.append(op);
      applyKv(h.state, { entryId: 0, payload: op });
      ops.push(op);
    }
    if (round < 3) await h.checkpoint(h.state);
  }
  await h.writer.sync();
  return { dir, h, ops };
}

describe('checkpoint attack: each operation of a publish fails, then the power is cut', () => {
  it('a typed rejection; the publisher goes on unless the writer is poisoned; every recovery gives every acknowledged entry', async () => {
    const probe = await scenario();
    const before = probe.dir.operations;
    await probe.h.checkpoint(probe.h.state);
    const total = probe.dir.operations - before;
    await probe.h.close();

    let failedPublishes = 0;
    let publishedAfterFailure = 0;
    for (let k = 0; k < total; k++) {
      const { dir, h, ops } = await scenario();
      const fault = dir.injectFault({ op: 'any', error: 'EIO', after: k });
      let acknowledged = [...ops];
      const outcome = await h.checkpoint(h.state).then(() => undefined, (err: unknown) => err);
      assert.equal(fault.fired, 1, `fault ${k} fired`);
      if (outcome !== undefined) {
        failedPublishes++;
        assert.ok(outcome instanceof DurabilityError, `fault ${k}: ${String(outcome)}`);
      }
      if (!h.writer.poisoned) {
        // The next publish, with one more entry, succeeds and is acknowledged.
        const op = put(500 + k);
        h.writer.append(op);
        applyKv(h.state, { entryId: 0, payload: op });
        await h.checkpoint(h.state);
        acknowledged = [...ops, op];
        if (outcome !== undefined) publishedAfterFailure++;
      }
      await h.close().catch(() => undefined);
      for (const [m, mode] of MODES.entries()) {
        const where = `fault at operation ${k + 1}/${total}, crash mode ${mode}`;
        const crashed = dir.crash({ mode, seed: 7 * k + m });
        const r = await open(crashed.crash({ mode: 'dropAll' }), false);
        assert.deepEqual(r.state, stateOf(acknowledged), where);
        const damaged = crashed.crash({ mode: 'dropAll' });
        const newest = listCheckpoints(damaged).at(-1);
        assert.ok(newest !== undefined, where);
        damaged.atomicWrite(newest.path, new Uint8Array(5));
        let fallback: Recovery<KvState>;
        try {
          fallback = await open(damaged, false);
        } catch (err) {
          assert.fail(`${where}: with ${newest.path} damaged: ${err instanceof RecoveryGapError ? err.message : String(err)}`);
        }
        assert.deepEqual(fallback.state, stateOf(acknowledged), `${where}, ${newest.path} damaged`);
      }
    }
    assert.ok(failedPublishes > 5, `${failedPublishes} publishes failed`);
    assert.ok(publishedAfterFailure > 0, 'some publisher went on after a failed publish');
  });
});
