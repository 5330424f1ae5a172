import assert from 'node:assert/strict';
import { checkpointPath, listCheckpoints } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { recover, type RecoveredLog } from '../lib/recover';
import { dirKinds } from './fixtures/wal-dirs';
import { withDiagnostics } from './support/diagnostics';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

// Truncation against retention: with retain = N the WAL must reach back to the N-th newest
// checkpoint that is valid, so that recovery survives N − 1 damaged newer ones (docs/FORMAT.md:
// "files found damaged at recovery do not count toward N"). Two ways a damaged file could still
// be counted: the process that found it damaged crashed in the middle of pruning it, so the next
// process never read it (recovery reads only from the newest down to the first valid one); or it
// is older than the newest valid checkpoint and was never read at all.

const RETAIN = 3;

function open(dir: Directory, writer: boolean): Promise<RecoveredLog<KvState, KvOp>> {
  return recover({
    dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv,
    writer: writer ? { maxSegmentSize: 160 } : false, retain: RETAIN, checkpointEntry,
  }) as Promise<RecoveredLog<KvState, KvOp>>;
}

function ingest(h: RecoveredLog<KvState, KvOp>, ops: KvOp[]): void {
  for (let n = 0; n < 8; n++) {
    const op: KvOp = { op: 'put', key: `k${ops.length % 5}`, value: ops.length };
    h.writer.append(op);
    applyKv(h.state, { entryId: 0, payload: op });
    ops.push(op);
  }
}

function damage(dir: Directory, id: number): void {
  const path = checkpointPath(id);
  const b = dir.readFile(path).slice();
  b[b.length - 1] ^= 0x01;
  dir.atomicWrite(path, b);
}

/** RETAIN checkpoints published (ids returned, oldest first) and entries after the last. */
async function build(dir: Directory, ops: KvOp[]): Promise<number[]> {
  const h = await open(dir, true);
  const ids: number[] = [];
  for (let i = 0; i < RETAIN; i++) {
    ingest(h, ops);
    ids.push((await h.checkpoint(h.state)).lastEntryId);
  }
  ingest(h, ops);
  await h.close();
  return ids;
}

/** Publishes once more from a recovered log; returns the new checkpoint's id. */
async function publishOnce(dir: Directory, ops: KvOp[]): Promise<number> {
  const h = await open(dir, true);
  ingest(h, ops);
  const c = await h.checkpoint(h.state);
  ingest(h, ops);
  await h.close();
  return c.lastEntryId;
}

/** With the RETAIN − 1 newest checkpoints damaged, recovery must still succeed from an older valid one. */
async function survivesNewestDamaged(dir: SimulatedDirectory, ops: KvOp[]): Promise<void> {
  const copy = dir.crash({ mode: 'dropAll' });
  const files = listCheckpoints(copy);
  for (const f of files.slice(-(RETAIN - 1))) damage(copy, f.lastEntryId);
  const r = await open(copy, false);
  assert.deepEqual(r.state, stateOf(ops));
}

describe(`checkpoint attack: truncation counts only valid checkpoints (retain ${RETAIN})`, () => {
  it('a damaged checkpoint whose pruning a power cut undid is not counted by the next process', async () => {
    let dir = new SimulatedDirectory({ seed: 12 });
    const ops: KvOp[] = [];
    const ids = await build(dir, ops);
    // The newest checkpoint rots; recovery falls back past it and the publisher knows it is damaged.
    damage(dir, ids[2]);
    const h = await open(dir, true);
    assert.deepEqual(h.skippedCheckpoints.map((s) => s.path), [checkpointPath(ids[2])]);
    ingest(h, ops);
    // The publish prunes the damaged file; the power is cut right after its unlink, before the
    // directory fsync that would have made it durable.
    let cut: SimulatedDirectory | undefined;
    dir.onOperation = (e) => {
      if (cut === undefined && e.op === 'delete' && e.path === checkpointPath(ids[2])) cut = dir.crash({ mode: 'dropAll' });
    };
    await h.checkpoint(h.state).catch(() => undefined);
    await h.close().catch(() => undefined);
    assert.ok(cut !== undefined, 'the prune was cut');
    dir = cut;
    assert.ok(listCheckpoints(dir).some((f) => f.lastEntryId === ids[2]), 'the damaged file survived the cut');
    // The next process loads the newest checkpoint, which is valid: it never reads the damaged one.
    await publishOnce(dir, ops);
    await survivesNewestDamaged(dir, ops);
  });

  it('a damaged checkpoint older than the newest valid one is not counted either', async () => {
    const dir = new SimulatedDirectory({ seed: 13 });
    const ops: KvOp[] = [];
    const ids = await build(dir, ops);
    damage(dir, ids[1]);
    const events = await withDiagnostics(async (e) => {
      await publishOnce(dir, ops);
      return e;
    });
    assert.deepEqual(events.filter((e) => e.kind === 'checkpoint-damaged').map((e) => e.path), [checkpointPath(ids[1])]);
    assert.ok(!listCheckpoints(dir).some((f) => f.lastEntryId === ids[1]), 'the damaged file was pruned');
    await survivesNewestDamaged(dir, ops);
  });

  it('a retained checkpoint that cannot be read (EIO) does not fail the publish: it is not counted, and the WAL stays back at a valid one', async () => {
    const dir = new SimulatedDirectory({ seed: 15 });
    const ops: KvOp[] = [];
    const ids = await build(dir, ops);
    const h = await open(dir, true);
    ingest(h, ops);
    // Recovery loaded the newest; the publish reads back the older ones it counts, and one fails.
    const fault = dir.injectFault({ op: 'read', error: 'EIO', path: checkpointPath(ids[1]), persistent: true });
    const events = await withDiagnostics(async (e) => {
      await h.checkpoint(h.state);
      return e;
    });
    fault.cancel();
    ingest(h, ops);
    await h.close();
    assert.ok(fault.fired > 0, 'the read failed');
    assert.deepEqual(events.filter((e) => e.kind === 'checkpoint-damaged').map((e) => e.path), [checkpointPath(ids[1])]);
    await survivesNewestDamaged(dir, ops);
  });

  it('retained checkpoints that cannot be read for a while (EIO) are kept, not pruned: once readable they are fallbacks again', async () => {
    const dir = new SimulatedDirectory({ seed: 17 });
    const ops: KvOp[] = [];
    const ids = await build(dir, ops);
    const h = await open(dir, true);
    ingest(h, ops);
    // Every older retained checkpoint fails to read during this publish only (a flaky path, a
    // network file system reconnecting): nothing says their bytes are bad.
    const faults = ids.slice(0, -1).map((id) => dir.injectFault({ op: 'read', error: 'EIO', path: checkpointPath(id), persistent: true }));
    await h.checkpoint(h.state);
    for (const f of faults) f.cancel();
    ingest(h, ops);
    await h.close();
    assert.ok(faults.every((f) => f.fired > 0), 'the reads failed');
    const left = listCheckpoints(dir).map((f) => f.lastEntryId);
    for (const id of ids) assert.ok(left.includes(id), `checkpoint ${id} was deleted for a read that failed`);
    await survivesNewestDamaged(dir, ops);
  });

  for (const [when, atOpen] of [['when it is checked to be a file', 1], ['when it is read back', 2]] as const) {
    it(`a retained checkpoint deleted by someone else after the listing, ${when}, does not fail the publish`, async () => {
      const dir = new SimulatedDirectory({ seed: 18 });
      const ops: KvOp[] = [];
      const ids = await build(dir, ops);
      const h = await open(dir, true);
      ingest(h, ops);
      // An operator (or a tool) removes an old checkpoint while the service publishes: the
      // publisher listed it, and its read-back finds no file.
      const gone = checkpointPath(ids[1]);
      const openRead = dir.openRead.bind(dir);
      let opens = 0;
      dir.openRead = (p: string) => {
        if (p === gone && ++opens === atOpen) dir.delete(gone);
        return openRead(p);
      };
      const published = await h.checkpoint(h.state);
      dir.openRead = openRead;
      ingest(h, ops);
      await h.close();
      assert.ok(!dir.exists(gone), 'the file was deleted');
      assert.ok(listCheckpoints(dir).some((f) => f.lastEntryId === published.lastEntryId));
      await survivesNewestDamaged(dir, ops);
    });
  }

  it('each retained checkpoint is read back once per publisher, not at every publish', async () => {
    const dir = new SimulatedDirectory({ seed: 14 });
    const ops: KvOp[] = [];
    await build(dir, ops);
    const h = await open(dir, true);
    const opened: string[] = [];
    const openRead = dir.openRead.bind(dir);
    // Files whose bytes are read (opening alone is how a name is checked to hold a regular file).
    dir.openRead = (path: string) => {
      const f = openRead(path);
      const read = f.read.bind(f);
      let counted = false;
      f.read = (target: Uint8Array, position: number) => {
        if (!counted && path.startsWith('checkpoints/')) opened.push(path);
        counted = true;
        return read(target, position);
      };
      return f;
    };
    const perPublish: number[] = [];
    for (let i = 0; i < 3; i++) {
      ingest(h, ops);
      const before = opened.length;
      await h.checkpoint(h.state);
      perPublish.push(opened.length - before);
    }
    await h.close();
    // The first publish verifies the retained files recovery did not load; later ones read nothing.
    assert.deepEqual(perPublish, [RETAIN - 2, 0, 0]);
    assert.deepEqual((await open(dir, false)).state, stateOf(ops));
  });

  it('remembers what it verified only for files that still exist (a long-lived publisher does not grow)', async () => {
    const dir = new SimulatedDirectory({ seed: 16 });
    const ops: KvOp[] = [];
    await build(dir, ops);
    const h = await open(dir, true);
    for (let i = 0; i < 40; i++) {
      ingest(h, ops);
      await h.checkpoint(h.state);
    }
    await h.close();
    const remembered = (h.publisher as unknown as { verified: Set<string> }).verified;
    assert.deepEqual([...remembered].sort(), listCheckpoints(dir).map((f) => f.path));
  });
});

for (const kind of dirKinds()) {
  describe(`checkpoint attack: a damaged older checkpoint is not counted toward retention (${kind.name})`, () => {
    afterEach(() => kind.cleanup());

    it(`with the ${RETAIN - 1} newest damaged after the next publish, recovery falls back to an older valid checkpoint`, async () => {
      const dir = kind.make();
      const ops: KvOp[] = [];
      const ids = await build(dir, ops);
      damage(dir, ids[1]);
      await publishOnce(dir, ops);
      for (const f of listCheckpoints(dir).slice(-(RETAIN - 1))) damage(dir, f.lastEntryId);
      const r = await open(dir, false);
      assert.deepEqual(r.state, stateOf(ops));
      assert.equal(r.checkpointEntryId, ids[0]);
    });
  });
}
