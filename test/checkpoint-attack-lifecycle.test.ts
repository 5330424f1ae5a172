import assert from 'node:assert/strict';
import { MAX_CHECKPOINT_PAYLOAD } from '../lib/checkpoint/format';
import { checkpointPath, listCheckpoints } from '../lib/checkpoint/store';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { DurabilityError, EncodeError, PoisonedError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { recover, type RecoveredLog } from '../lib/recover';
import type { Codec } from '../lib/wal/codec';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// checkpoint() against the writer's lifecycle and against bad codecs: overlapping calls, a close
// racing it, a poisoned writer, a codec that throws or returns something else than bytes, a state
// above the format's limit. Each call must publish or reject with a DurabilityError, and the
// directory must recover to every entry the writer made durable.

const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 4}`, value: i });

function open(dir: SimulatedDirectory, withEntry = true): Promise<RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, writer: { maxSegmentSize: 160 }, retain: 2,
    checkpointEntry: withEntry ? checkpointEntry : undefined,
  });
}

function ingest(h: RecoveredLog<KvState, KvOp>, ops: KvOp[], n: number): void {
  for (let i = 0; i < n; i++) {
    const op = put(ops.length);
    h.writer.append(op);
    applyKv(h.state, { entryId: 0, payload: op });
    ops.push(op);
  }
}

async function recovered(dir: SimulatedDirectory): Promise<KvState> {
  return (await recover({ dir: dir.crash({ mode: 'dropAll' }), codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv })).state;
}

describe('checkpoint attack: overlapping calls and the writer\'s lifecycle', () => {
  it('overlapping checkpoint() calls with appends between publish in call order, each with the state it was given', async () => {
    const dir = new SimulatedDirectory({ seed: 2 });
    const h = await open(dir);
    const ops: KvOp[] = [];
    const calls: Promise<{ lastEntryId: number; recordedEntryId: number | undefined }>[] = [];
    const states: KvState[] = [];
    for (let round = 0; round < 5; round++) {
      ingest(h, ops, 7);
      states.push(stateOf(ops));
      calls.push(h.checkpoint(h.state));
    }
    const published = await Promise.all(calls);
    // Each call covers the entries before it, and its checkpoint entry comes after every append made
    // before the publish ran (all of them: nothing was awaited).
    for (let i = 1; i < published.length; i++) assert.ok(published[i].lastEntryId > published[i - 1].lastEntryId, `call ${i}`);
    assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), published.slice(-2).map((p) => p.lastEntryId));
    await h.close();
    const r = await recover({ dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: () => ({ replayed: 1 }) as KvState });
    // The newest checkpoint holds the state given to the last call (no later append leaked in).
    assert.equal(r.checkpointEntryId, published[4].lastEntryId);
    assert.deepEqual(await recovered(dir), stateOf(ops));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(dir.crash({ mode: 'dropAll' }).readFile(checkpointPath(published[4].lastEntryId)).subarray(28))), states[4]);
  });

  for (const when of ['before the publish starts', 'while the publish waits for the WAL sync'] as const) {
    for (const withEntry of [true, false]) {
      it(`close() racing checkpoint() (${when}${withEntry ? ', checkpoint entry' : ''}): a publish or a DurabilityError, never a lost entry`, async () => {
        const dir = new SimulatedDirectory({ seed: 4 });
        const h = await open(dir, withEntry);
        const ops: KvOp[] = [];
        ingest(h, ops, 20);
        await h.checkpoint(h.state);
        ingest(h, ops, 20);
        const p = h.checkpoint(h.state);
        if (when !== 'before the publish starts') await Promise.resolve().then(() => undefined);
        const [published, closed] = await Promise.allSettled([p, h.close()]);
        assert.equal(closed.status, 'fulfilled');
        if (published.status === 'rejected') assert.ok(published.reason instanceof DurabilityError, String(published.reason));
        assert.deepEqual(await recovered(dir), stateOf(ops));
      });
    }
  }

  it('a poisoned writer: checkpoint() rejects with PoisonedError and publishes nothing covering the lost entries', async () => {
    const dir = new SimulatedDirectory({ seed: 6 });
    const h = await open(dir);
    const ops: KvOp[] = [];
    ingest(h, ops, 10);
    await h.checkpoint(h.state);
    const before = listCheckpoints(dir);
    dir.injectFault({ op: 'sync', error: 'EIO', path: '.wal' });
    const lost = h.writer.appendDurable(put(99));
    await assert.rejects(lost, DurabilityError);
    assert.equal(h.writer.poisoned, true);
    await assert.rejects(h.checkpoint(applyKv(h.state, { entryId: 0, payload: put(99) })), PoisonedError);
    assert.deepEqual(listCheckpoints(dir), before);
    await h.close().catch(() => undefined);
    assert.deepEqual(await recovered(dir), stateOf(ops));
  });
});

describe('checkpoint attack: a checkpointEntry callback that throws', () => {
  it('rejects with its error (as apply() errors reach recover\'s caller) once the checkpoint is durable; retention holds, and the next publish records its entry', async () => {
    const dir = new SimulatedDirectory({ seed: 10 });
    let fail = false;
    const boom = new Error('checkpointEntry failed');
    const h = await recover({
      dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, writer: { maxSegmentSize: 160 }, retain: 2,
      checkpointEntry: (upto) => {
        if (fail) throw boom;
        return checkpointEntry(upto);
      },
    });
    const ops: KvOp[] = [];
    for (let round = 0; round < 3; round++) {
      ingest(h, ops, 10);
      fail = round === 1;
      const outcome = await h.checkpoint(h.state).then(() => undefined, (err: unknown) => err);
      assert.equal(outcome, round === 1 ? boom : undefined, `round ${round}`);
      assert.ok(listCheckpoints(dir).length <= 2, `round ${round}: retention`);
    }
    await h.close();
    const r = await recover({ dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv });
    assert.deepEqual(r.state, stateOf(ops));
    // Rounds 0 and 2 recorded their checkpoint entries; round 1 published its checkpoint without one.
    assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), [21, 31]);
    assert.equal(r.lastEntryId, 32);
  });
});

describe('checkpoint attack: state codecs that misbehave', () => {
  class Oversized extends Uint8Array {
    override get length(): number {
      return MAX_CHECKPOINT_PAYLOAD + 1;
    }
  }
  const codecs: Record<string, Codec<KvState>['encode']> = {
    'throws': () => { throw new RangeError('cannot'); },
    'throws a non-Error': () => { throw 'a string'; }, // eslint-disable-line @typescript-eslint/only-throw-error
    'returns a string': () => 'bytes' as unknown as Uint8Array,
    'returns undefined': () => undefined as unknown as Uint8Array,
    'returns an ArrayBuffer': () => new ArrayBuffer(4) as unknown as Uint8Array,
    'returns a Uint16Array': () => new Uint16Array(2) as unknown as Uint8Array,
    'returns more than the format holds': () => new Oversized(1),
  };
  for (const [what, encode] of Object.entries(codecs)) {
    it(`a codec that ${what}: EncodeError as a rejection, nothing written, and the next checkpoint publishes`, async () => {
      const dir = new SimulatedDirectory({ seed: 8 });
      const h = await open(dir);
      const ops: KvOp[] = [];
      ingest(h, ops, 10);
      const bad = new CheckpointPublisher<KvState, KvOp>(dir, { writer: h.writer, stateCodec: { name: 'bad', encode, decode: kvStateCodec.decode } });
      let p: Promise<unknown> | undefined;
      assert.doesNotThrow(() => { p = bad.checkpoint(h.state); });
      await assert.rejects(p!, EncodeError);
      assert.deepEqual(listCheckpoints(dir), []);
      const c = await h.checkpoint(h.state);
      assert.equal(c.lastEntryId, 10);
      await h.close();
      assert.deepEqual(await recovered(dir), stateOf(ops));
    });
  }
});
