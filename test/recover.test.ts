import assert from 'node:assert/strict';
import { CHECKPOINT_DIR, checkpointPath, listCheckpoints, writeCheckpoint } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { BackpressureError, CorruptionError, DecodeError, InvalidArgumentError, InvalidStateError, LockedError, RecoveryGapError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { recover, type RecoverOptions } from '../lib/recover';
import { DEFAULT_SYNC_WINDOW, MARK_SIZE, WAL_DIR, encodeSegmentHeader, segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { chopTail, dirKinds } from './fixtures/wal-dirs';
import { collectEvents, withDiagnostics } from './support/diagnostics';
import { overriding } from './support/overriding';
import { applyKv, checkpointEntry, kvCodec, kvStateCodec, stateOf, type KvOp, type KvState } from './fixtures/kv';

const put = (i: number): KvOp => ({ op: 'put', key: `k${i % 7}`, value: i });

function options(dir: Directory, extra: Partial<RecoverOptions<KvState, KvOp>> = {}): RecoverOptions<KvState, KvOp> {
  return { dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv, ...extra };
}

/** Appends puts from..to-1 through the handle, keeping its state in step. */
function ingest(h: { writer: WalWriter<KvOp>; state: KvState }, from: number, to: number): KvOp[] {
  const ops: KvOp[] = [];
  for (let i = from; i < to; i++) {
    const op = put(i);
    h.writer.append(op);
    applyKv(h.state, { entryId: 0, payload: op });
    ops.push(op);
  }
  return ops;
}

function corrupt(dir: Directory, path: string, at: (b: Uint8Array) => number): void {
  const b = dir.readFile(path).slice();
  b[at(b)] ^= 0x40;
  dir.atomicWrite(path, b);
}

/**
 * `dir`, except that just before the `lockCall`-th lock is taken `interlude` runs: another
 * process taking the log between recover's decisions and its lock.
 */
function interruptedAtLock(dir: Directory, lockCall: number, interlude: () => void): Directory {
  let calls = 0;
  return overriding(dir, {
    lock: (path) => {
      if (++calls === lockCall) interlude();
      return dir.lock(path);
    },
  });
}

/** What a second recover that restarted the log first leaves: a fresh segment at firstEntryId holding one durable put. */
function restartedByAnother(dir: Directory, firstEntryId: number, op: KvOp): void {
  const segments = listSegments(dir);
  for (const s of segments) dir.delete(s.path);
  dir.mkdirp(WAL_DIR);
  const segmentId = (segments.at(-1)?.segmentId ?? 0) + 1;
  const f = dir.create(segmentPath(segmentId));
  f.write(encodeSegmentHeader({ segmentId, firstEntryId, syncWindow: DEFAULT_SYNC_WINDOW }, dir.checksum).bytes);
  f.sync();
  f.close();
  dir.syncDir(WAL_DIR);
  const w = WalWriter.resume(dir, { codec: kvCodec });
  w.append(op);
  w.closeSync();
}

for (const kind of dirKinds()) {
  describe(`recover on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('starts from the initial state, then from the newest checkpoint plus the WAL after it', async () => {
      const h = await recover({ ...options(dir), writer: { maxSegmentSize: 256 } });
      assert.deepEqual([h.lastEntryId, h.checkpointEntryId, h.replayed, h.checkpointPath], [0, 0, 0, undefined]);
      const all = ingest(h, 0, 30);
      const c = await h.checkpoint(h.state);
      assert.equal(c.lastEntryId, 30);
      all.push(...ingest(h, 30, 45));
      await h.close();

      const r = await recover(options(dir, { initial: {} }));
      assert.deepEqual(r.state, stateOf(all));
      assert.deepEqual([r.lastEntryId, r.checkpointEntryId, r.replayed, r.checkpointPath], [45, 30, 15, checkpointPath(30)]);
      assert.equal('writer' in r, false);
    });

    it('hands back a writer that continues the ids, and async apply works', async () => {
      const h1 = await recover({ ...options(dir), writer: true });
      ingest(h1, 0, 10);
      await h1.close();
      const seen: number[] = [];
      const h2 = await recover({
        ...options(dir, { initial: {} }),
        writer: true,
        apply: async (s, r) => {
          await new Promise((resolve) => setImmediate(resolve));
          seen.push(r.entryId);
          return applyKv(s, r);
        },
      });
      assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(h2.writer.nextEntryId, 11);
      assert.equal(h2.writer.append(put(10)), 11);
      await h2.close();
    });

    it('records the checkpoint in the WAL when checkpointEntry is given, and apply sees it', async () => {
      const h = await recover({ ...options(dir), writer: true, checkpointEntry });
      ingest(h, 0, 5);
      const c = await h.checkpoint(h.state);
      assert.equal(c.recordedEntryId, 6);
      await h.close();
      const log = new WalReader(dir, { codec: kvCodec }).replaySync();
      assert.deepEqual(log[5], { entryId: 6, payload: { op: 'ckpt', upto: 5 } });
      const r = await recover(options(dir, { initial: {} }));
      assert.deepEqual([r.lastEntryId, r.checkpointEntryId, r.replayed], [6, 5, 1]);
    });

    it('keeps the WAL back to the oldest retained checkpoint; nothing is truncated until `retain` checkpoints exist', async () => {
      const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 }, retain: 2 });
      ingest(h, 0, 20);
      const c1 = await h.checkpoint(h.state);
      assert.deepEqual([c1.truncatedSegments, c1.truncatedThrough], [0, 0]);
      ingest(h, 20, 40);
      const c2 = await h.checkpoint(h.state);
      assert.equal(c2.truncatedThrough, 20);
      assert.ok(c2.truncatedSegments > 0);
      ingest(h, 40, 60);
      const c3 = await h.checkpoint(h.state);
      assert.equal(c3.truncatedThrough, 40);
      assert.deepEqual(c3.prunedCheckpoints, [checkpointPath(20)]);
      await h.close();
      assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), [40, 60]);
      const first = new WalMaintenance(dir).segmentRanges()[0];
      assert.ok(first.firstEntryId <= 41 && first.firstEntryId > 20, `WAL starts at ${first.firstEntryId}`);
    });

    it('falls back past a damaged newest checkpoint when the WAL covers the gap, and reports it', async () => {
      const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 } });
      const all = ingest(h, 0, 20);
      await h.checkpoint(h.state);
      all.push(...ingest(h, 20, 40));
      await h.checkpoint(h.state);
      all.push(...ingest(h, 40, 45));
      await h.close();
      corrupt(dir, checkpointPath(40), (b) => b.length - 2);
      const r = await recover({ ...options(dir, { initial: {} }), writer: true });
      assert.deepEqual(r.state, stateOf(all));
      assert.equal(r.checkpointEntryId, 20);
      assert.deepEqual(r.skippedCheckpoints.map((s) => s.path), [checkpointPath(40)]);
      // The next checkpoint does not count the damaged file as retained, and prunes it.
      ingest(r, 45, 50);
      const c = await r.checkpoint(r.state);
      assert.ok(c.prunedCheckpoints.includes(checkpointPath(40)));
      assert.equal(c.truncatedThrough, 20);
      await r.close();
    });

    it('RecoveryGapError when the WAL was truncated past the checkpoint recovery must start from', async () => {
      const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 }, retain: 1 });
      ingest(h, 0, 30);
      const c = await h.checkpoint(h.state);
      assert.ok(c.truncatedSegments > 0);
      ingest(h, 30, 35);
      await h.close();
      // The only checkpoint is damaged: the initial state would need entries 1.. which are gone.
      corrupt(dir, checkpointPath(30), () => 30);
      await assert.rejects(recover(options(dir)), (e: unknown) => e instanceof RecoveryGapError && e.code === 'DURABILITY_RECOVERY_GAP' && e.expectedEntryId === 1);
      // Removed altogether: the same.
      dir.delete(checkpointPath(30));
      await assert.rejects(recover(options(dir)), RecoveryGapError);
    });

    it('RecoveryGapError when a skipped damaged checkpoint claims entries the WAL no longer has', async () => {
      writeCheckpoint(dir, 3, stateOf([put(0), put(1), put(2)]), { codec: kvStateCodec });
      const w = WalWriter.create(dir, { codec: kvCodec });
      for (let i = 0; i < 5; i++) w.append(put(i));
      w.closeSync();
      writeCheckpoint(dir, 9, { bogus: 1 }, { codec: kvStateCodec });
      corrupt(dir, checkpointPath(9), () => 0);
      await assert.rejects(recover(options(dir)), (e: unknown) => e instanceof RecoveryGapError && e.expectedEntryId === 6);
    });

    it('a checkpoint with no WAL after it: the writer continues after the checkpoint, never reusing its ids', async () => {
      const state = stateOf([put(0), put(1)]);
      writeCheckpoint(dir, 50, state, { codec: kvStateCodec });
      const h = await recover({ ...options(dir), writer: true });
      assert.deepEqual([h.lastEntryId, h.writer.nextEntryId], [50, 51]);
      h.writer.append(put(9));
      await h.close();
      const r = await recover(options(dir, { initial: {} }));
      assert.deepEqual([r.lastEntryId, r.replayed], [51, 1]);
      assert.deepEqual(r.state, stateOf([put(0), put(1), put(9)]));
    });

    it('a restarted log takes a segment id above every recycle file\'s, so no id names two files', async () => {
      dir.mkdirp('wal');
      dir.atomicWrite('wal/recycle-3', new Uint8Array(64));
      writeCheckpoint(dir, 50, stateOf([put(0)]), { codec: kvStateCodec });
      const h = await recover({ ...options(dir), writer: true });
      assert.deepEqual(listSegments(dir).map((s) => s.segmentId), [4]);
      h.writer.append(put(1));
      await h.close();
      assert.deepEqual((await recover(options(dir, { initial: {} }))).lastEntryId, 51);
    });

    it('a recycle file named with no segment id numbers nothing; a restart that cannot be made deletes nothing', async () => {
      const w = WalWriter.create(dir, { codec: kvCodec });
      for (let i = 0; i < 3; i++) w.append(put(i));
      w.closeSync();
      writeCheckpoint(dir, 50, stateOf([put(0)]), { codec: kvStateCodec });
      // Planted, or copied from elsewhere: no segment of a log has this id (above 2^53 - 1).
      dir.atomicWrite('wal/recycle-99999999999999999999', new Uint8Array(64));
      // No name the writer gives a recycle file: left alone, by a writer that pools recycle files too.
      const writer = { recycleCapacity: 4 };
      const h = await recover({ ...options(dir), writer });
      assert.deepEqual(listSegments(dir).map((s) => s.segmentId), [2]);
      h.writer.append(put(1));
      await h.close();
      assert.equal((await recover(options(dir, { initial: {} }))).lastEntryId, 51);

      // The last id a segment can have is taken: no restart, and the log is left as it was.
      writeCheckpoint(dir, 60, stateOf([put(0)]), { codec: kvStateCodec });
      dir.atomicWrite(`wal/recycle-${Number.MAX_SAFE_INTEGER}`, new Uint8Array(64));
      await assert.rejects(recover({ ...options(dir), writer }), InvalidStateError);
      assert.deepEqual(listSegments(dir).map((s) => s.segmentId), [2]);
    });

    it('a WAL that ends before its checkpoint is restarted after it (its entries are all covered)', async () => {
      const w = WalWriter.create(dir, { codec: kvCodec, maxSegmentSize: 120 });
      for (let i = 0; i < 6; i++) w.append(put(i));
      w.closeSync();
      writeCheckpoint(dir, 20, { fromCheckpoint: 1 }, { codec: kvStateCodec });
      const h = await recover({ ...options(dir), writer: true });
      assert.deepEqual([h.lastEntryId, h.writer.nextEntryId, h.replayed], [20, 21, 0]);
      h.writer.append(put(7));
      await h.close();
      const segs = listSegments(dir);
      assert.equal(segs.length, 1);
      const r = await recover(options(dir, { initial: {} }));
      assert.deepEqual(r.state, { fromCheckpoint: 1, k0: 7 });
    });

    it('a restart deletes no segment the writer\'s observer keeps (a forwarder that has not shipped it), and goes ahead once it lets them go', async () => {
      const w = WalWriter.create(dir, { codec: kvCodec, maxSegmentSize: 120 });
      for (let i = 0; i < 6; i++) w.append(put(i));
      w.closeSync();
      writeCheckpoint(dir, 20, { fromCheckpoint: 1 }, { codec: kvStateCodec });
      const before = listSegments(dir).map((s) => s.path);
      let shipped = 0;
      const asked: number[] = [];
      const observer = {
        beforeTruncate: (info: { segmentId: number; lastEntryId: number }) => {
          asked.push(info.segmentId);
          return info.lastEntryId <= shipped;
        },
      };
      await assert.rejects(recover({ ...options(dir), writer: { observer } }), InvalidStateError);
      assert.deepEqual(asked, [1]);
      assert.deepEqual(listSegments(dir).map((s) => s.path), before);
      assert.deepEqual(new WalReader(dir, { codec: kvCodec }).replaySync().map((r) => r.entryId), [1, 2, 3, 4, 5, 6]);

      shipped = 6;
      const h = await recover({ ...options(dir), writer: { observer } });
      assert.deepEqual([h.lastEntryId, h.writer.nextEntryId], [20, 21]);
      await h.close();
    });

    it('a restart decided before the lock deletes nothing another writer made durable meanwhile', async () => {
      // No WAL after the checkpoint: recover decides to restart the log, then takes the lock.
      writeCheckpoint(dir, 50, stateOf([put(0)]), { codec: kvStateCodec });
      const raced = interruptedAtLock(dir, 1, () => restartedByAnother(dir, 51, put(51)));
      await assert.rejects(recover({ ...options(raced), writer: true }), InvalidStateError);
      const r = await recover(options(dir, { initial: {} }));
      assert.deepEqual([r.lastEntryId, r.replayed], [51, 1]);

      // A WAL ending before the checkpoint: the writer sees it, closes, and the restart locks again.
      const again = kind.make();
      const w = WalWriter.create(again, { codec: kvCodec });
      for (let i = 0; i < 6; i++) w.append(put(i));
      w.closeSync();
      writeCheckpoint(again, 20, stateOf([put(0)]), { codec: kvStateCodec });
      const racedAgain = interruptedAtLock(again, 2, () => restartedByAnother(again, 21, put(21)));
      await assert.rejects(recover({ ...options(racedAgain), writer: true }), InvalidStateError);
      const r2 = await recover(options(again, { initial: {} }));
      assert.deepEqual([r2.lastEntryId, r2.replayed], [21, 1]);
    });

    it('bestEffortTail (default) ends at a torn tail; strict refuses it; damage is refused by both', async () => {
      // A small sync window, so damage far from the end is provably not a torn write.
      const w = WalWriter.create(dir, { codec: kvCodec, syncWindow: 64 });
      for (let i = 0; i < 8; i++) w.append(put(i));
      w.closeSync();
      chopTail(dir, segmentPath(1), MARK_SIZE + 5); // close's sync mark and 5 bytes of entry 8
      await assert.rejects(recover(options(dir, { mode: 'strict' })), CorruptionError);
      const r = await recover({ ...options(dir), writer: true });
      assert.equal(r.lastEntryId, 7);
      assert.equal(r.writer.append(put(99)), 8);
      await r.close();
      corrupt(dir, segmentPath(1), () => 40);
      await assert.rejects(recover(options(dir)), CorruptionError);
    });

    it('a checkpoint the state codec cannot decode is a DecodeError', async () => {
      writeCheckpoint(dir, 1, { a: 1 }, { codec: kvStateCodec });
      const stateCodec = { ...kvStateCodec, decode: (): KvState => { throw new Error('wrong codec'); } };
      await assert.rejects(recover(options(dir, { stateCodec })), DecodeError);
    });

    it('a directory planted under a checkpoint name is no retained checkpoint, and pruning leaves it and publishes on', async () => {
      await withDiagnostics(async (events) => {
        const h = await recover({ ...options(dir), writer: { maxSegmentSize: 200 }, retain: 2 });
        const all = ingest(h, 0, 10);
        dir.mkdirp(checkpointPath(3));
        all.push(...ingest(h, 10, 20));
        // Alone with the directory, checkpoint 20 is the only checkpoint: nothing may be truncated.
        assert.equal((await h.checkpoint(h.state)).truncatedThrough, 0);
        all.push(...ingest(h, 20, 30));
        assert.equal((await h.checkpoint(h.state)).truncatedThrough, 20);
        all.push(...ingest(h, 30, 40));
        const c = await h.checkpoint(h.state);
        assert.deepEqual([c.truncatedThrough, c.prunedCheckpoints], [30, [checkpointPath(20)]]);
        all.push(...ingest(h, 40, 45));
        await h.close();
        assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), [3, 30, 40]);
        assert.ok(events.some((e) => e.kind === 'checkpoint-not-a-file' && e.path === checkpointPath(3)), 'the directory is reported');
        // Two real checkpoints are retained: with the newest damaged, the WAL still reaches back to the other.
        corrupt(dir, checkpointPath(40), (b) => b.length - 2);
        const r = await recover(options(dir, { initial: {} }));
        assert.deepEqual([r.state, r.checkpointEntryId], [stateOf(all), 30]);
      });
    });

    it('a second recover with a writer while the first holds the log is LockedError', async () => {
      const h = await recover({ ...options(dir), writer: true });
      await assert.rejects(recover({ ...options(dir), writer: true }), LockedError);
      await h.close();
    });
  });
}

describe('checkpoint events', () => {
  it('reach the observer and the durability:checkpoint channel; a throwing hook does not fail the publish', async () => {
    const dir = new MemoryDirectory();
    const calls: string[] = [];
    const checkpointEvents = collectEvents<{ event: string }>('durability:checkpoint');
    const diagnostics = collectEvents();
    try {
      const observer = {
        onWritten: (i: { lastEntryId: number }) => { calls.push(`written ${i.lastEntryId}`); throw new Error('hook failure'); },
        onTruncated: (i: { uptoEntryId: number }) => calls.push(`truncated ${i.uptoEntryId}`),
        onPruned: (i: { paths: readonly string[] }) => calls.push(`pruned ${i.paths.length}`),
      };
      const h = await recover({ ...options(dir), writer: { maxSegmentSize: 150 }, retain: 1, observer });
      ingest(h, 0, 10);
      await h.checkpoint(h.state);
      ingest(h, 10, 20);
      await h.checkpoint(h.state);
      await h.close();
      assert.deepEqual(calls, ['written 10', 'truncated 10', 'written 20', 'truncated 20', 'pruned 1']);
      assert.deepEqual(checkpointEvents.events.map((e) => e.event), ['written', 'truncated', 'written', 'truncated', 'pruned']);
      assert.equal(diagnostics.events.filter((d) => d.kind === 'observer-error').length, 2);
    } finally {
      checkpointEvents.stop();
      diagnostics.stop();
    }
  });

  it('truncate: false keeps the whole WAL', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: kvCodec, maxSegmentSize: 150 });
    const p = new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec, retain: 1, truncate: false });
    for (let i = 0; i < 20; i++) w.append(put(i));
    const c = await p.checkpoint({});
    assert.equal(c.truncatedSegments, 0);
    assert.equal(new WalMaintenance(dir).segmentRanges()[0].firstEntryId, 1);
    w.closeSync();
  });
});

describe('checkpoint truncation and the writer\'s observer', () => {
  it('asks the writer\'s beforeTruncate (a forwarder\'s veto): kept segments stay, and truncatedThrough says what is gone', async () => {
    const dir = new MemoryDirectory();
    let shipped = 0; // entries a forwarder has shipped: segments holding later ones must stay
    const asked: number[] = [];
    const observer = { beforeTruncate: (info: { lastEntryId: number }): boolean => (asked.push(info.lastEntryId), info.lastEntryId <= shipped) };
    const w = WalWriter.create(dir, { codec: kvCodec, maxSegmentSize: 150, observer });
    const p = new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec, retain: 1 });
    for (let i = 0; i < 20; i++) w.append(put(i));
    const before = new WalMaintenance(dir).segmentRanges();
    const c1 = await p.checkpoint({});
    assert.ok(asked.length > 0, 'the veto was asked');
    assert.deepEqual([c1.truncatedSegments, c1.truncatedThrough], [0, 0]);
    assert.deepEqual(new WalMaintenance(dir).segmentRanges().map((r) => r.segmentId), before.map((r) => r.segmentId), 'every segment is still there');
    shipped = before[1].lastEntryId; // the first two segments shipped
    const c2 = await p.checkpoint({});
    assert.deepEqual([c2.truncatedSegments, c2.truncatedThrough], [2, shipped]);
    assert.equal(new WalMaintenance(dir).segmentRanges()[0].firstEntryId, shipped + 1);
    w.closeSync();
  });
});

describe('a checkpoint of the last id a log can have (2^53 - 1)', () => {
  it('recovers its state with nothing to replay; a writer, which would have no id to give, is an InvalidStateError', async () => {
    const dir = new MemoryDirectory();
    writeCheckpoint(dir, Number.MAX_SAFE_INTEGER, { k: 1 }, { codec: kvStateCodec });
    const r = await recover(options(dir));
    assert.deepEqual([r.state, r.lastEntryId, r.replayed], [{ k: 1 }, Number.MAX_SAFE_INTEGER, 0]);
    await assert.rejects(recover({ ...options(dir), writer: true }), InvalidStateError);
    assert.deepEqual(dir.list(WAL_DIR).filter((n) => n.endsWith('.wal')), [], 'no segment was made');
  });
});

describe('a publish that fails after its checkpoint is durable', () => {
  it('still prunes: a checkpoint entry the writer\'s admit refuses (a forwarder over its bound) leaves no checkpoint files piling up', async () => {
    const dir = new MemoryDirectory();
    let refuse = false;
    const observer = {
      admit: (frameBytes: number): void => {
        if (refuse) throw new BackpressureError(frameBytes, 0);
      },
    };
    const h = await recover({ ...options(dir), writer: { observer }, checkpointEntry, retain: 2 });
    const all: KvOp[] = [];
    for (let round = 0; round < 5; round++) {
      refuse = false;
      all.push(...ingest(h, round * 10, round * 10 + 10));
      refuse = true;
      await assert.rejects(h.checkpoint(h.state), BackpressureError);
      assert.ok(listCheckpoints(dir).length <= 2, `round ${round}: ${listCheckpoints(dir).length} checkpoint files`);
    }
    await h.close();
    const r = await recover(options(dir, { initial: {} }));
    assert.deepEqual([r.state, r.checkpointEntryId], [stateOf(all), 50]);
  });
});

describe('recover argument checks and publisher guards', () => {
  it('refuses missing pieces with InvalidArgumentError', async () => {
    const dir = new MemoryDirectory();
    const base = options(dir);
    for (const bad of [
      { ...base, codec: undefined }, { ...base, stateCodec: {} }, { ...base, apply: 3 }, { ...base, mode: 'lenient' }, { ...base, dir: undefined },
    ]) {
      await assert.rejects(recover(bad as unknown as RecoverOptions<KvState, KvOp>), InvalidArgumentError);
    }
    const w = WalWriter.create(dir, { codec: kvCodec });
    assert.throws(() => new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec, retain: 0 }), InvalidArgumentError);
    w.closeSync();
  });

  it('checks writer and publisher options before opening anything, so a refused call leaves no lock behind', async () => {
    const dir = new MemoryDirectory();
    for (const bad of [
      { writer: true, retain: 0 }, { writer: { maxSegmentSize: 1 } }, { writer: { zeroFill: 'yes' } }, { writer: 7 }, { writer: true, retain: 1.5 },
    ]) {
      await assert.rejects(recover({ ...options(dir), ...bad } as unknown as RecoverOptions<KvState, KvOp>), InvalidArgumentError);
      assert.deepEqual(dir.exists('wal') ? listSegments(dir) : [], [], `${JSON.stringify(bad)} created segments`);
    }
    // Nothing was left locked: a writer opens.
    const h = await recover({ ...options(dir), writer: true, retain: 1 });
    await h.close();
  });

  it('refuses to publish behind a checkpoint that covers more than the log (another history), leaving the WAL alone', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: kvCodec });
    w.append(put(1));
    writeCheckpoint(dir, 100, {}, { codec: kvStateCodec });
    const p = new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec });
    await assert.rejects(p.checkpoint({}), InvalidStateError);
    assert.deepEqual(dir.list(CHECKPOINT_DIR), ['00000000000000000100.ckpt']);
    // Publishing continues to work after a failed call.
    dir.delete(checkpointPath(100));
    assert.equal((await p.checkpoint({ k1: 1 })).lastEntryId, 1);
    w.closeSync();
  });

  it('a checkpoint another publisher of the same writer made meanwhile is not another history', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: kvCodec });
    const a = new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec });
    const b = new CheckpointPublisher(dir, { writer: w, stateCodec: kvStateCodec });
    const all: KvOp[] = [];
    const appendSome = (): void => {
      for (let i = 0; i < 5; i++) {
        all.push(put(all.length));
        w.append(all[all.length - 1]);
      }
    };
    appendSome();
    const a1 = a.checkpoint(stateOf(all));
    appendSome();
    const a2 = a.checkpoint(stateOf(all)); // queued behind a1
    appendSome();
    const b1 = b.checkpoint(stateOf(all)); // publishers of one directory take turns: after a2
    assert.deepEqual((await Promise.all([a1, a2, b1])).map((c) => c.lastEntryId), [5, 10, 15]);
    w.closeSync();
    const r = await recover(options(dir));
    assert.deepEqual([r.checkpointEntryId, r.state], [15, stateOf(all)]);
  });

  it('encodes the state when checkpoint() is called, so later changes do not leak in', async () => {
    const dir = new MemoryDirectory();
    const h = await recover({ ...options(dir), writer: true });
    h.writer.append(put(0));
    h.state.k0 = 0;
    const pending = h.checkpoint(h.state);
    h.state.k0 = 12345;
    await pending;
    await h.close();
    const r = await recover(options(dir, { initial: {} }));
    assert.deepEqual(r.state, { k0: 0 });
  });
});
