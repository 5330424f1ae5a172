import assert from 'node:assert/strict';
import { listCheckpoints } from '../lib/checkpoint/store';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { RecoveryGapError } from '../lib/errors';
import { recover, type RecoveredLog, type Recovery } from '../lib/recover';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, type KvOp, type KvState } from './fixtures/kv';

// A publish is cut by a power failure after each of its filesystem operations in turn, while
// entries are appended around it (appendDurable callers in flight, plain appends after the call).
// Each crashed directory is then recovered four ways: as it is; with its newest checkpoint
// damaged (recovery must fall back to an older retained one: the WAL still reaches it); and
// continued by a recovered writer and publisher, then cut again and damaged again. Every state
// recovered must be the model's state at the recovered last entry, never below an acknowledged
// entry, and with retain ≥ 2 a damaged newest checkpoint must never be a RecoveryGapError.

const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];

interface Variant {
  readonly retain: number;
  readonly withEntry: boolean;
  /** Checkpoints published before the one attacked (the first ever creates checkpoints/). */
  readonly before: number;
}

const VARIANTS: Variant[] = [
  { retain: 1, withEntry: false, before: 2 },
  { retain: 2, withEntry: true, before: 3 },
  { retain: 2, withEntry: false, before: 3 },
  { retain: 3, withEntry: true, before: 4 },
  // The first publish ever: with retain 1 it already truncates the WAL it covers.
  { retain: 1, withEntry: true, before: 0 },
  { retain: 2, withEntry: false, before: 0 },
];

/** Puts by entry id; ids absent from it are checkpoint entries (no change to the state). */
class Model {
  readonly puts = new Map<number, KvOp>();
  acknowledged = 0;

  clone(): Model {
    const m = new Model();
    for (const [id, op] of this.puts) m.puts.set(id, op);
    m.acknowledged = this.acknowledged;
    return m;
  }

  put(h: { writer: { append(e: KvOp): number } }, value: number): void {
    const op: KvOp = { op: 'put', key: `k${value % 5}`, value };
    this.puts.set(h.writer.append(op), op);
  }

  async putDurable(h: RecoveredLog<KvState, KvOp>, value: number): Promise<void> {
    const op: KvOp = { op: 'put', key: `k${value % 5}`, value };
    const before = h.writer.lastEntryId;
    const p = h.writer.appendDurable(op);
    if (h.writer.lastEntryId !== before) this.puts.set(h.writer.lastEntryId, op);
    const id = await p;
    this.acknowledged = Math.max(this.acknowledged, id);
  }

  stateAt(lastEntryId: number): KvState {
    const s: KvState = {};
    for (const [id, op] of [...this.puts].sort((a, b) => a[0] - b[0])) if (id <= lastEntryId) applyKv(s, { entryId: id, payload: op });
    return s;
  }
}

function open(dir: SimulatedDirectory, v: Variant, writer: boolean): Promise<RecoveredLog<KvState, KvOp>>;
function open(dir: SimulatedDirectory, v: Variant, writer: false): Promise<Recovery<KvState>>;
function open(dir: SimulatedDirectory, v: Variant, writer: boolean): Promise<Recovery<KvState> | RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv,
    writer: writer ? { maxSegmentSize: 160 } : false,
    retain: v.retain, checkpointEntry: v.withEntry ? checkpointEntry : undefined,
  });
}

/** A log with `before` checkpoints published and synced entries after the last one. */
async function scenario(v: Variant, seed: number): Promise<{ dir: SimulatedDirectory; h: RecoveredLog<KvState, KvOp>; model: Model }> {
  const dir = new SimulatedDirectory({ seed });
  const h = await open(dir, v, true);
  const model = new Model();
  let value = 0;
  for (let round = 0; round <= v.before; round++) {
    for (let n = 0; n < 9; n++) model.put(h, value++);
    if (round < v.before) await h.checkpoint(model.stateAt(h.writer.lastEntryId));
  }
  await h.writer.sync();
  model.acknowledged = h.writer.lastEntryId;
  return { dir, h, model };
}

/** The publish under attack, with entries appended around it; resolves when everything settled. */
async function attack(h: RecoveredLog<KvState, KvOp>, model: Model): Promise<void> {
  const published = h.checkpoint(model.stateAt(h.writer.lastEntryId)).then((c) => {
    model.acknowledged = Math.max(model.acknowledged, c.lastEntryId, c.recordedEntryId ?? 0);
  });
  const durable = [100, 101, 102].map((value) => model.putDurable(h, value));
  model.put(h, 103);
  model.put(h, 104);
  await Promise.allSettled([published, ...durable]);
}

/** Flips one byte of the newest checkpoint file (durably). Returns its path, or undefined if none. */
function damageNewest(dir: SimulatedDirectory): string | undefined {
  const newest = listCheckpoints(dir).at(-1);
  if (newest === undefined) return undefined;
  const b = dir.readFile(newest.path).slice();
  b[b.length - 1] ^= 0x20;
  dir.atomicWrite(newest.path, b);
  return newest.path;
}

/**
 * Recovers `dir` as it is, checks it against the model, then recovers a copy with its newest
 * checkpoint damaged. Returns the last entry id recovered.
 */
async function checkRecovery(dir: SimulatedDirectory, v: Variant, model: Model, ceiling: number, where: string): Promise<number> {
  const r = await open(dir, v, false);
  assert.ok(r.lastEntryId >= model.acknowledged, `${where}: recovered through ${r.lastEntryId}, below the acknowledged ${model.acknowledged}`);
  assert.ok(r.lastEntryId <= ceiling, `${where}: recovered through ${r.lastEntryId}, above the last entry appended ${ceiling}`);
  assert.deepEqual(r.state, model.stateAt(r.lastEntryId), `${where}: state at ${r.lastEntryId}`);
  assert.deepEqual(r.skippedCheckpoints, [], `${where}: nothing damaged yet`);

  const damaged = dir.crash({ mode: 'dropAll' });
  const path = damageNewest(damaged);
  if (path === undefined) return r.lastEntryId;
  let fallback: Recovery<KvState>;
  try {
    fallback = await open(damaged, v, false);
  } catch (err) {
    if (v.retain === 1 && err instanceof RecoveryGapError) return r.lastEntryId;
    throw new Error(`${where}: with ${path} damaged, recovery failed although ${v.retain} checkpoints are retained: ${String(err)}`, { cause: err });
  }
  assert.equal(fallback.lastEntryId, r.lastEntryId, `${where}, ${path} damaged`);
  assert.deepEqual(fallback.state, r.state, `${where}, ${path} damaged`);
  assert.deepEqual(fallback.skippedCheckpoints.map((s) => s.path), [path], `${where}, ${path} damaged`);
  return r.lastEntryId;
}

for (const v of VARIANTS) {
  describe(`checkpoint attack: power cut at every operation of a publish with appends in flight (retain ${v.retain}${v.withEntry ? ', checkpoint entry' : ''}, ${v.before} checkpoints before)`, () => {
    it('recovers the model state, never below what was acknowledged, falls back past a damaged newest checkpoint, and goes on', async () => {
      const probe = await scenario(v, 3);
      const before = probe.dir.operations;
      await attack(probe.h, probe.model);
      const total = probe.dir.operations - before;
      assert.ok(total >= 10, `the attack takes ${total} operations`);
      await probe.h.close();

      const cutPaths = new Set<string>();
      for (let k = 1; k <= total; k++) {
        const { dir, h, model: cutModel } = await scenario(v, 3);
        const cut = dir.scheduleCrash(k, { mode: 'dropAll' });
        let op = '';
        dir.onOperation = (e) => {
          if (e.index + 1 === before + k) op = `${e.op} ${e.path}${e.to === undefined ? '' : ` → ${e.to}`}`;
        };
        await attack(h, cutModel);
        const ceiling = h.writer.lastEntryId;
        await h.close().catch(() => undefined);
        assert.ok(cut.directory !== undefined || k === total, `crash ${k} happened`);
        cutPaths.add(op);
        for (const [m, mode] of MODES.entries()) {
          const model = cutModel.clone();
          const where = `cut after operation ${k}/${total} (${op}), mode ${mode}`;
          const crashed = m === 0 && cut.directory !== undefined ? cut.directory : dir.crash({ mode, seed: k * 31 + m });
          const last = await checkRecovery(crashed.crash({ mode: 'dropAll' }), v, model, ceiling, where);

          // The log goes on from there: one more entry and a checkpoint, cut by a power failure
          // at its end, then damaged again (after two of the modes: the time of the suite).
          if (mode !== 'dropAll' && mode !== 'reorder') continue;
          const goOn = crashed.crash({ mode: 'dropAll' });
          const r = await open(goOn, v, true);
          assert.equal(r.lastEntryId, last, where);
          // Entries the crash took are gone: their ids are given again.
          for (const id of [...model.puts.keys()]) if (id > last) model.puts.delete(id);
          model.puts.set(r.writer.append({ op: 'put', key: 'k9', value: 1000 + k }), { op: 'put', key: 'k9', value: 1000 + k });
          await r.checkpoint(model.stateAt(r.writer.lastEntryId));
          const next = r.writer.lastEntryId;
          await r.close();
          model.acknowledged = next;
          assert.ok(listCheckpoints(goOn).length <= v.retain, `${where}: retention`);
          await checkRecovery(goOn.crash({ mode: 'dropAll' }), v, model, next, `${where}, after going on`);
        }
      }
      // Every kind of step was cut: the staged write, its fsync, the renames, the directory fsyncs, the deletes.
      const kinds = new Set([...cutPaths].map((p) => p.split(' ')[0]));
      for (const kind of ['create', 'write', 'sync', 'rename', 'syncDir']) assert.ok(kinds.has(kind), `no cut after a ${kind}: ${[...kinds].join(', ')}`);
      if (v.before === 0) assert.ok(cutPaths.has('mkdir checkpoints'), 'a cut fell right after checkpoints/ was created');
      if (v.before >= v.retain) assert.ok([...cutPaths].some((p) => p.startsWith('delete checkpoints/')), 'a cut fell between the deletes of pruning');
      if (v.before + 1 >= v.retain) assert.ok([...cutPaths].some((p) => p.startsWith('delete wal/')), 'a cut fell between the deletes of truncation');
    });
  });
}
