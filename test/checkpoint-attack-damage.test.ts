import assert from 'node:assert/strict';
import { CHECKPOINT_DIR, CHECKPOINT_PENDING, checkpointPath, listCheckpoints } from '../lib/checkpoint/store';
import { encodeCheckpoint } from '../lib/checkpoint/format';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { DurabilityError, RecoveryGapError } from '../lib/errors';
import { recover, type RecoverOptions, type Recovery } from '../lib/recover';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// Recovery handed damaged and planted checkpoint files: every single-bit flip and every
// truncation of the newest checkpoint, copies of valid checkpoints under wrong names, a valid
// checkpoint left in the staging name. Each must give the state of an intact checkpoint plus the
// WAL after it, report what it skipped, or fail with a typed error: never another state.

const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 3}`, value: i });

function options(dir: Directory, extra: Partial<RecoverOptions<KvState, KvOp>> = {}): RecoverOptions<KvState, KvOp> {
  return { dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, ...extra };
}

/**
 * A log of 3 × 10 puts with a checkpoint after each of the first two tens (ids 11 and 22 with the
 * checkpoint entries), then the directory with a copy of it per damage.
 */
async function build(retain: number): Promise<{ dir: MemoryDirectory; ops: KvOp[]; ids: number[] }> {
  const dir = new MemoryDirectory();
  const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 }, retain, checkpointEntry });
  const ops: KvOp[] = [];
  const ids: number[] = [];
  for (let round = 0; round < 3; round++) {
    for (let n = 0; n < 10; n++) {
      const op = put(ops.length);
      h.writer.append(op);
      applyKv(h.state, { entryId: 0, payload: op });
      ops.push(op);
    }
    if (round < 2) ids.push((await h.checkpoint(h.state)).lastEntryId);
  }
  await h.close();
  return { dir, ops, ids };
}

function copyOf(dir: MemoryDirectory): MemoryDirectory {
  const out = new MemoryDirectory();
  const walk = (path: string): void => {
    for (const name of dir.list(path)) {
      const p = path === '' ? name : `${path}/${name}`;
      let bytes: Uint8Array | undefined;
      try {
        bytes = dir.readFile(p);
      } catch {
        out.mkdirp(p);
        walk(p);
        continue;
      }
      const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
      if (parent !== '') out.mkdirp(parent);
      out.atomicWrite(p, bytes);
    }
  };
  walk('');
  return out;
}

async function expectFallback(dir: Directory, ops: KvOp[], olderId: number, newerPath: string, what: string): Promise<Recovery<KvState>> {
  const r = await recover(options(dir));
  assert.deepEqual(r.state, stateOf(ops), what);
  assert.equal(r.checkpointEntryId, olderId, what);
  assert.deepEqual(r.skippedCheckpoints.map((s) => s.path), [newerPath], what);
  return r;
}

describe('checkpoint attack: the newest checkpoint damaged in every way', () => {
  it('every single-bit flip is caught by the CRC: the older checkpoint and the WAL give the same state, the flip is reported', async () => {
    const { dir, ops, ids } = await build(2);
    const newest = checkpointPath(ids[1]);
    const bytes = dir.readFile(newest);
    assert.ok(bytes.length < 100, `a small checkpoint (${bytes.length} bytes)`);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const d = copyOf(dir);
      const b = bytes.slice();
      b[bit >> 3] ^= 1 << (bit & 7);
      d.atomicWrite(newest, b);
      await expectFallback(d, ops, ids[0], newest, `bit ${bit}`);
    }
  });

  it('truncated to every length (0, half, all but one byte) and grown by a byte: skipped, never read as a state', async () => {
    const { dir, ops, ids } = await build(2);
    const newest = checkpointPath(ids[1]);
    const bytes = dir.readFile(newest);
    const cuts = [...Array(bytes.length).keys()].map((n) => bytes.subarray(0, n));
    const grown = new Uint8Array(bytes.length + 1);
    grown.set(bytes);
    for (const b of [...cuts, grown]) {
      const d = copyOf(dir);
      d.atomicWrite(newest, b);
      await expectFallback(d, ops, ids[0], newest, `${b.length} of ${bytes.length} bytes`);
    }
  });

  it('with retain 1 a damaged only checkpoint is a RecoveryGapError (the WAL before it is gone), never the initial state plus a suffix', async () => {
    const { dir, ids } = await build(1);
    const only = checkpointPath(ids[1]);
    assert.deepEqual(listCheckpoints(dir).map((f) => f.path), [only]);
    const bytes = dir.readFile(only);
    for (const b of [new Uint8Array(0), bytes.subarray(0, bytes.length >> 1), Uint8Array.from(bytes, (x, i) => (i === 30 ? x ^ 1 : x))]) {
      const d = copyOf(dir);
      d.atomicWrite(only, b);
      await assert.rejects(recover(options(d)), (e: unknown) => e instanceof RecoveryGapError && e.expectedEntryId === 1, `${b.length} bytes`);
    }
  });

  it('a valid older checkpoint copied under a newer name is caught (the header names another id), not taken as newer', async () => {
    const { dir, ops, ids } = await build(2);
    const d = copyOf(dir);
    d.atomicWrite(checkpointPath(ids[1] + 3), dir.readFile(checkpointPath(ids[0])));
    const r = await recover(options(d));
    assert.deepEqual(r.state, stateOf(ops));
    assert.equal(r.checkpointEntryId, ids[1]);
    assert.deepEqual(r.skippedCheckpoints.map((s) => s.claimedLastEntryId), [ids[1] + 3]);
    assert.match(r.skippedCheckpoints[0].reason, /header says last entry/);
  });

  it('a valid newer checkpoint left under the staging name is not a checkpoint: it neither moves recovery forward nor is it renamed into place (the next publish stages over it)', async () => {
    const { dir, ops, ids } = await build(2);
    const d = copyOf(dir);
    const future = encodeCheckpoint(ids[1] + 100, kvStateCodec.encode({ planted: 1 }), d.checksum);
    d.atomicWrite(CHECKPOINT_PENDING, future);
    const r = await recover({ ...options(d), writer: true, retain: 2 });
    assert.deepEqual(r.state, stateOf(ops));
    assert.equal(r.checkpointEntryId, ids[1]);
    r.writer.append(put(99));
    const c = await r.checkpoint(applyKv(r.state, { entryId: 0, payload: put(99) }));
    await r.close();
    assert.equal(c.lastEntryId, r.lastEntryId + 1);
    assert.deepEqual(listCheckpoints(d).map((f) => f.lastEntryId), [ids[1], c.lastEntryId]);
    // The publish staged its own bytes there and renamed them away: the planted file is gone.
    assert.deepEqual(d.list(CHECKPOINT_DIR), [checkpointPath(ids[1]), checkpointPath(c.lastEntryId)].map((p) => p.slice(CHECKPOINT_DIR.length + 1)));
    assert.deepEqual((await recover(options(d))).state, stateOf([...ops, put(99)]));
  });

  it('both retained checkpoints damaged: a typed RecoveryGapError, not the initial state with entries missing', async () => {
    const { dir, ids } = await build(2);
    // Push a third checkpoint so the WAL no longer starts at entry 1.
    const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 }, retain: 2, checkpointEntry });
    for (let i = 0; i < 10; i++) {
      h.writer.append(put(100 + i));
      applyKv(h.state, { entryId: 0, payload: put(100 + i) });
    }
    const c = await h.checkpoint(h.state);
    await h.close();
    assert.ok(c.truncatedSegments > 0);
    for (const id of [ids[1], c.lastEntryId]) dir.atomicWrite(checkpointPath(id), new Uint8Array(3));
    await assert.rejects(recover(options(dir)), (e: unknown) => e instanceof RecoveryGapError && e instanceof DurabilityError);
  });
});
