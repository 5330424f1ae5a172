import assert from 'node:assert/strict';
import { listCheckpoints } from '../lib/checkpoint/store';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { recover, type RecoveredLog } from '../lib/recover';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// The publish sequence (sync WAL, write checkpoint, record it, truncate, prune) is cut by a power
// failure after each of its filesystem operations in turn, with every crash mode; recovery must
// give the same state each time, and the recovered log must keep working.

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];
const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 5}`, value: i });

interface Variant {
  name: string;
  retain: number;
  withEntry: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'retain 2, checkpoint entry', retain: 2, withEntry: true },
  { name: 'retain 1, no checkpoint entry', retain: 1, withEntry: false },
  { name: 'retain 3, checkpoint entry', retain: 3, withEntry: true },
];

function open(dir: SimulatedDirectory, v: Variant): Promise<RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, writer: { maxSegmentSize: 160 },
    retain: v.retain, checkpointEntry: v.withEntry ? checkpointEntry : undefined,
  });
}

/** A log with a few checkpoints behind it and synced entries after the last one. */
async function scenario(v: Variant): Promise<{ dir: SimulatedDirectory; h: RecoveredLog<KvState, KvOp>; ops: KvOp[] }> {
  const dir = new SimulatedDirectory({ seed: 11 });
  const h = await open(dir, v);
  const ops: KvOp[] = [];
  let i = 0;
  for (let round = 0; round < 3; round++) {
    for (let n = 0; n < 12; n++, i++) {
      h.writer.append(put(i));
      applyKv(h.state, { entryId: 0, payload: put(i) });
      ops.push(put(i));
    }
    if (round < 2) await h.checkpoint(h.state);
  }
  await h.writer.sync();
  return { dir, h, ops };
}

for (const v of VARIANTS) {
  describe(`publisher: power cut after every operation (${v.name})`, () => {
    it('recovers the same state at every cut, in every crash mode, and keeps working', async () => {
      // How many operations one publish takes.
      const probe = await scenario(v);
      const before = probe.dir.operations;
      await probe.h.checkpoint(probe.h.state);
      const total = probe.dir.operations - before;
      assert.ok(total >= 10, `publish takes ${total} operations`);

      let cases = 0;
      const startedFrom = new Set<number>();
      for (let k = 1; k <= total; k++) {
        const { dir, h, ops } = await scenario(v);
        const expected = stateOf(ops);
        const last = h.writer.lastEntryId;
        const cut = dir.scheduleCrash(k, { mode: 'dropAll' });
        await h.checkpoint(h.state).then(() => assert.equal(k, total, 'only the last operation may let publish finish'), () => undefined);
        assert.ok(cut.directory !== undefined, `crash ${k} happened`);
        for (const [m, mode] of MODES.entries()) {
          const crashed: SimulatedDirectory = m === 0 ? cut.directory : dir.crash({ mode, seed: k * 31 + m });
          const r = await open(crashed, v);
          const where = `cut after operation ${k}/${total}, mode ${mode}`;
          assert.deepEqual(r.state, expected, where);
          startedFrom.add(r.checkpointEntryId === last ? 1 : 0);
          assert.ok(r.lastEntryId === last || (v.withEntry && r.lastEntryId === last + 1), `${where}: last entry ${r.lastEntryId}`);
          // The log goes on: one more entry and a checkpoint, then a clean recovery sees both.
          r.writer.append(put(1000));
          await r.checkpoint(applyKv(r.state, { entryId: 0, payload: put(1000) }));
          await r.close();
          const again: { state: KvState } = await recover({ dir: crashed, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv });
          assert.deepEqual(again.state, stateOf([...ops, put(1000)]), `${where}, after continuing`);
          assert.ok(listCheckpoints(crashed).length <= v.retain, `${where}: retention`);
          cases++;
        }
      }
      assert.equal(cases, total * MODES.length);
      assert.deepEqual([...startedFrom].sort(), [0, 1], 'cuts fell both before and after the new checkpoint was durable');
    });
  });
}

describe('publisher: a checkpoint directory whose first fsync failed', () => {
  it('is made durable by the next publish, before the WAL it covers is truncated', async () => {
    const v = VARIANTS[0];
    const dir = new SimulatedDirectory({ seed: 5 });
    const h = await open(dir, v);
    const ops: KvOp[] = [];
    const appendSome = (): void => {
      for (let n = 0; n < 12; n++) {
        const op = put(ops.length);
        h.writer.append(op);
        applyKv(h.state, { entryId: 0, payload: op });
        ops.push(op);
      }
    };
    appendSome();
    // The first publish creates checkpoints/: the mkdir reaches the page cache, the root fsync fails.
    dir.onOperation = (e) => {
      if (e.op === 'mkdir' && e.path === 'checkpoints') dir.injectFault({ op: 'syncDir', error: 'EIO' });
    };
    await assert.rejects(h.checkpoint(h.state), { code: 'DURABILITY_IO', errno: 'EIO' });
    dir.onOperation = undefined;
    let truncated = 0;
    for (let round = 0; round < 3; round++) {
      appendSome();
      truncated += (await h.checkpoint(h.state)).truncatedSegments;
    }
    assert.ok(truncated > 0, 'the later publishes truncated the WAL they cover');
    await h.writer.sync();
    const r = await open(dir.crash({ mode: 'dropAll' }), v);
    assert.deepEqual(r.state, stateOf(ops));
    await r.close();
  });
});
