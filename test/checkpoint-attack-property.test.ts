import assert from 'node:assert/strict';
import { listCheckpoints, readCheckpointFile } from '../lib/checkpoint/store';
import { Prng } from '../lib/directory/prng';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { recover, type RecoveredLog, type Recovery } from '../lib/recover';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, type KvOp, type KvState } from './fixtures/kv';

// Random lives of a checkpointed log: generations of appends (plain and durable), overlapping
// checkpoint() calls and syncs, each ended by a power cut at a random operation in a random mode,
// with the newest checkpoint sometimes damaged on the disk between generations. After every cut:
// - recovery gives the model's state at the entry it ends at, never below an acknowledged entry;
// - with retain = N, damaging the newest valid checkpoints (as many as N − 1 minus those the
//   retained ones lack since earlier damage: a publish adds back one) still recovers the same state.
// DURABILITY_LONG=1 runs many more lives; DURABILITY_SEED=<n> replays one.

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];
const long = process.env.DURABILITY_LONG === '1';
const seeds = process.env.DURABILITY_SEED !== undefined ? [Number(process.env.DURABILITY_SEED)] : Array.from({ length: long ? 400 : 40 }, (_, i) => i + 1);
const GENERATIONS = 14;

interface Life {
  readonly retain: number;
  readonly withEntry: boolean;
  readonly puts: Map<number, KvOp>;
  acknowledged: number;
  /**
   * Valid checkpoints the retained ones lack: one more for each checkpoint damaged on the disk,
   * one less for each publish of a new id that completed since (it adds one; the older ones are
   * gone; a publish of the same id replaces a checkpoint and adds none).
   */
  damagedSincePublish: number;
  newestPublished: number;
}

function stateAt(life: Life, last: number): KvState {
  const s: KvState = {};
  for (const id of [...life.puts.keys()].sort((a, b) => a - b)) if (id <= last) applyKv(s, { entryId: id, payload: life.puts.get(id)! });
  return s;
}

function open(dir: SimulatedDirectory, life: Life, writer: boolean): Promise<Recovery<KvState> | RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv,
    writer: writer ? { maxSegmentSize: 200 } : false, retain: life.retain, checkpointEntry: life.withEntry ? checkpointEntry : undefined,
  });
}

function flipLastByte(dir: SimulatedDirectory, path: string): void {
  const b = dir.readFile(path).slice();
  b[b.length - 1] ^= 0x08;
  dir.atomicWrite(path, b);
}

/** The newest checkpoint files that verify, newest first. */
function validNewestFirst(dir: SimulatedDirectory): string[] {
  return listCheckpoints(dir).reverse().filter((f) => readCheckpointFile(dir, f.path, f.lastEntryId).ok).map((f) => f.path);
}

async function check(cut: SimulatedDirectory, life: Life, ceiling: number, where: string): Promise<void> {
  const r = await open(cut.crash({ mode: 'dropAll' }), life, false);
  assert.ok(r.lastEntryId >= life.acknowledged, `${where}: recovered through ${r.lastEntryId}, acknowledged ${life.acknowledged}`);
  assert.ok(r.lastEntryId <= ceiling, `${where}: recovered through ${r.lastEntryId}, appended ${ceiling}`);
  assert.deepEqual(r.state, stateAt(life, r.lastEntryId), `${where}: state at ${r.lastEntryId}`);
  const slack = life.retain - 1 - life.damagedSincePublish;
  if (slack < 1) return;
  const copy = cut.crash({ mode: 'dropAll' });
  const damaged = validNewestFirst(copy).slice(0, slack);
  for (const p of damaged) flipLastByte(copy, p);
  let fallback: Recovery<KvState>;
  try {
    fallback = await open(copy, life, false);
  } catch (err) {
    assert.fail(`${where}: with ${damaged.join(', ')} damaged (retain ${life.retain}, ${life.damagedSincePublish} damaged before): ${String(err)}`);
  }
  assert.deepEqual([fallback.lastEntryId, fallback.state], [r.lastEntryId, r.state], `${where}: with ${damaged.join(', ')} damaged`);
}

async function generation(dir: SimulatedDirectory, life: Life, prng: Prng, g: number): Promise<SimulatedDirectory> {
  const h = (await open(dir, life, true)) as RecoveredLog<KvState, KvOp>;
  assert.ok(h.lastEntryId >= life.acknowledged, `generation ${g}: opened at ${h.lastEntryId}, acknowledged ${life.acknowledged}`);
  assert.deepEqual(h.state, stateAt(life, h.lastEntryId), `generation ${g}: opened`);
  for (const id of [...life.puts.keys()]) if (id > h.lastEntryId) life.puts.delete(id);
  const cutAt = 1 + prng.int(60);
  const cut = dir.scheduleCrash(cutAt, { mode: 'dropAll' });
  const pending: Promise<unknown>[] = [];
  const acknowledge = (id: number): void => {
    life.acknowledged = Math.max(life.acknowledged, id);
  };
  let value = g * 1000;
  for (let step = 0; step < 30 && cut.directory === undefined; step++) {
    const roll = prng.int(10);
    try {
      if (roll < 5) {
        const op: KvOp = { op: 'put', key: `k${prng.int(6)}`, value: value++ };
        life.puts.set(h.writer.append(op), op);
      } else if (roll < 7) {
        const op: KvOp = { op: 'put', key: `k${prng.int(6)}`, value: value++ };
        const p = h.writer.appendDurable(op);
        life.puts.set(h.writer.lastEntryId, op);
        pending.push(p.then(acknowledge));
      } else if (roll < 9) {
        pending.push(h.checkpoint(stateAt(life, h.writer.lastEntryId)).then((c) => {
          acknowledge(Math.max(c.lastEntryId, c.recordedEntryId ?? 0));
          if (c.lastEntryId > life.newestPublished) life.damagedSincePublish = Math.max(0, life.damagedSincePublish - 1);
          life.newestPublished = Math.max(life.newestPublished, c.lastEntryId);
        }));
      } else {
        const upto = h.writer.lastEntryId;
        pending.push(h.writer.sync().then(() => acknowledge(upto)));
      }
    } catch {
      break; // the power went in the middle of a synchronous call
    }
    if (prng.chance(0.4)) await Promise.allSettled(pending);
  }
  await Promise.allSettled(pending);
  const ceiling = h.writer.lastEntryId;
  await h.close().then(() => acknowledge(ceiling), () => undefined);
  const mode = prng.pick(MODES);
  const after = cut.directory !== undefined && mode === 'dropAll' ? cut.directory : dir.crash({ mode, seed: prng.nextUint32() });
  await check(after, life, ceiling, `generation ${g}, cut after ${cutAt} operations${cut.directory === undefined ? ' (not reached)' : ''}, mode ${mode}`);
  // check() powered `after` off making copies of it; the next generation runs on one more.
  const next = after.crash({ mode: 'dropAll' });
  if (life.retain - 1 - life.damagedSincePublish >= 1 && prng.chance(0.3)) {
    const newest = validNewestFirst(next)[0];
    if (newest !== undefined) {
      flipLastByte(next, newest);
      life.damagedSincePublish++;
    }
  }
  return next;
}

describe(`checkpoint attack: random lives of a checkpointed log (${seeds.length} seeds × ${GENERATIONS} power cuts)`, () => {
  it('every recovery gives the model state, never below an acknowledged entry, and survives retain − 1 damaged newest checkpoints', async () => {
    for (const seed of seeds) {
      const prng = new Prng(seed);
      const life: Life = { retain: 1 + prng.int(4), withEntry: prng.chance(0.5), puts: new Map(), acknowledged: 0, damagedSincePublish: 0, newestPublished: -1 };
      let dir = new SimulatedDirectory({ seed });
      try {
        for (let g = 0; g < GENERATIONS; g++) dir = await generation(dir, life, prng, g);
      } catch (err) {
        throw new Error(`seed ${seed} (retain ${life.retain}${life.withEntry ? ', checkpoint entry' : ''}; replay with DURABILITY_SEED=${seed}): ${String(err)}`, { cause: err });
      }
    }
  });
});
