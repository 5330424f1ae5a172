// WalWriter.appendDurable / appendBatchDurable / sync through the group-commit pipeline, on every
// directory kind: ids and resolution order, batching and caps, mixing with append, rotation
// inside bursts, and what close, closeSync and syncSync do while commits are pending.
import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { ClosedError, EncodeError, InvalidStateError } from '../lib/errors';
import { jsonCodec, raw } from '../lib/wal/codec';
import { MARK_SIZE, segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import type { WalWriterOptions } from '../lib/wal/options';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';

type Entry = { n: number };
const codec = jsonCodec<Entry>();

function ids(dir: Directory, mode: 'strict' | 'bestEffortTail' = 'strict'): number[] {
  return new WalReader(dir, { codec: raw }).replaySync({ mode }).map((r) => r.entryId);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A writer whose observer counts commits (one onSync per committed batch). */
function counting<E>(dir: Directory, options: WalWriterOptions<E>): { w: WalWriter<E>; commits: () => number } {
  let commits = 0;
  const w = WalWriter.create<E>(dir, { ...options, observer: { onSync: () => void commits++ } });
  return { w, commits: () => commits };
}

for (const kind of dirKinds()) {
  describe(`appendDurable on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('assigns ids at once in call order and resolves every caller, in id order, with its id', async () => {
      const { w, commits } = counting(dir, { codec });
      const resolved: number[] = [];
      const promises: Promise<unknown>[] = [];
      for (let n = 1; n <= 50; n++) {
        if (n % 10 === 0) {
          const batch = w.appendBatchDurable([{ n }, { n: n + 0.5 }]);
          promises.push(batch.then((got) => resolved.push(...got)));
        } else {
          const p = w.appendDurable({ n });
          promises.push(p.then((id) => resolved.push(id)));
        }
      }
      assert.equal(w.lastEntryId, 55, 'ids were assigned synchronously');
      assert.equal(w.durableEntryId, 0);
      await Promise.all(promises);
      assert.deepEqual(resolved, range(1, 55));
      assert.equal(commits(), 1, 'callers from one synchronous run share one commit');
      assert.equal(w.durableEntryId, 55);
      await w.close();
      assert.deepEqual(ids(dir), range(1, 55));
    });

    it('entries appended while a commit is in flight go into the next batch, not a commit each', async () => {
      const { w, commits } = counting(dir, { codec: raw });
      const producers = 64;
      const rounds = 5;
      const seen: number[] = [];
      await Promise.all(Array.from({ length: producers }, async () => {
        for (let r = 0; r < rounds; r++) seen.push(await w.appendDurable(new Uint8Array(10)));
      }));
      assert.equal(seen.length, producers * rounds);
      assert.deepEqual([...seen].sort((a, b) => a - b), range(1, producers * rounds));
      assert.ok(commits() <= rounds + 1, `${commits()} commits for ${rounds} rounds of ${producers} producers`);
      await w.close();
      assert.deepEqual(ids(dir), range(1, producers * rounds));
    });

    it('caps batches by entries and by bytes', async () => {
      const byEntries = counting(dir, { codec: raw, groupCommit: { maxBatchEntries: 10 } });
      await Promise.all(Array.from({ length: 35 }, () => byEntries.w.appendDurable(new Uint8Array(1))));
      assert.equal(byEntries.commits(), 4);
      await byEntries.w.close();

      const other = kind.make();
      // 100-byte frames (84 B payload + 16 B header) in 1000-byte batches: 10 per batch.
      const byBytes = counting(other, { codec: raw, groupCommit: { maxBatchBytes: 1000 } });
      await Promise.all(Array.from({ length: 25 }, () => byBytes.w.appendDurable(new Uint8Array(84))));
      assert.equal(byBytes.commits(), 3);
      // A frame larger than a batch is a batch of its own.
      assert.equal(await byBytes.w.appendDurable(new Uint8Array(5000)), 26);
      assert.equal(byBytes.commits(), 4);
      await byBytes.w.close();
      assert.deepEqual(ids(other), range(1, 26));
    });

    it('covers plain appends: append then appendDurable or sync makes all of them durable', async () => {
      const { w } = counting(dir, { codec: raw, flushPolicy: 'manual' });
      w.append(new Uint8Array(3));
      w.append(new Uint8Array(3));
      assert.equal(await w.appendDurable(new Uint8Array(3)), 3);
      assert.equal(w.durableEntryId, 3);
      w.append(new Uint8Array(3));
      w.flushSync();
      w.append(new Uint8Array(3));
      const syncing = w.sync();
      const joining = w.append(new Uint8Array(3)); // after sync(): not promised, but written in order
      await syncing;
      assert.ok(w.durableEntryId >= 5);
      assert.equal(joining, 6);
      await w.sync();
      assert.equal(w.durableEntryId, 6);
      // Nothing pending: sync resolves without a commit.
      await w.sync();
      w.closeSync();
      assert.deepEqual(ids(dir), range(1, 6));
    });

    it('bursts that span several segments rotate through the pipeline, leaving a strict log', async () => {
      // 10 frames a segment: a batch of 6, then a batch of 4 behind a sync mark.
      const { w } = counting(dir, { codec: raw, maxSegmentSize: 32 + 10 * 116 + MARK_SIZE, groupCommit: { maxBatchBytes: 700 }, preallocate: true });
      const all: Promise<number>[] = [];
      for (let i = 0; i < 95; i++) all.push(w.appendDurable(new Uint8Array(100)));
      const batch = w.appendBatchDurable(Array.from({ length: 30 }, () => new Uint8Array(100)));
      assert.equal(w.currentSegmentId, 13);
      assert.deepEqual(await Promise.all(all), range(1, 95));
      assert.deepEqual(await batch, range(96, 125));
      assert.equal(w.durableEntryId, 125);
      // Every rotated segment holds exactly 10 frames and was trimmed (preallocated space cut):
      // it ends at its last frame, or at the sync mark its second batch carries when the first
      // batch had completed before the second was cut.
      const ranges = new WalMaintenance(dir).segmentRanges();
      for (let s = 1; s <= 12; s++) {
        assert.deepEqual([ranges[s - 1].firstEntryId, ranges[s - 1].lastEntryId], [10 * s - 9, 10 * s], `segment ${s}`);
        const bytes = dir.readFile(segmentPath(s));
        const marked = new DataView(bytes.buffer, bytes.byteOffset).getUint32(32 + 6 * 116 + 4, true) === 0x80000008;
        assert.equal(bytes.length, 32 + 10 * 116 + (marked ? MARK_SIZE : 0), `segment ${s}`);
      }
      await w.close();
      assert.deepEqual(ids(dir), range(1, 125));
      assert.equal(new WalMaintenance(dir).segmentRanges().length, 13);
    });

    it('recycled files become segments on the pipelined path too', async () => {
      const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 32 + 4 * 26, recycleCapacity: 4 });
      for (let i = 0; i < 12; i++) await w.appendDurable(new Uint8Array(10));
      const recycled = new WalMaintenance(dir).truncateToRecycle(8);
      assert.ok(recycled.length >= 1);
      w.recycle(recycled);
      await Promise.all(Array.from({ length: 12 }, () => w.appendDurable(new Uint8Array(10))));
      await w.close();
      assert.deepEqual(ids(dir), range(9, 24));
    });

    it('an encode failure rejects that call alone and consumes no id', async () => {
      const w = WalWriter.create(dir, { codec });
      const good = w.appendDurable({ n: 1 });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await assert.rejects(w.appendDurable(cyclic as unknown as Entry), EncodeError);
      await assert.rejects(w.appendBatchDurable([{ n: 2 }, cyclic as unknown as Entry]), EncodeError);
      assert.equal(await good, 1);
      assert.equal(await w.appendDurable({ n: 2 }), 2);
      await w.close();
    });

    it('syncSync and closeSync refuse to run while commits are pending; afterwards they work', async () => {
      const w = WalWriter.create(dir, { codec: raw });
      const p = w.appendDurable(new Uint8Array(1));
      assert.throws(() => w.syncSync(), InvalidStateError);
      assert.throws(() => w.closeSync(), InvalidStateError);
      assert.equal(w.closed, false);
      w.flushSync(); // allowed: the pending commit writes the frame
      assert.equal(await p, 1);
      w.append(new Uint8Array(1));
      w.syncSync();
      assert.equal(w.durableEntryId, 2);
      w.closeSync();
      assert.deepEqual(ids(dir), [1, 2]);
    });

    it('close waits for pending entries and makes them durable; calls after close reject', async () => {
      const w = WalWriter.create(dir, { codec: raw, groupCommit: { maxBatchEntries: 7 } });
      const pending = Array.from({ length: 40 }, () => w.appendDurable(new Uint8Array(5)));
      const closing = w.close();
      await assert.rejects(w.appendDurable(new Uint8Array(1)), ClosedError);
      await assert.rejects(w.appendBatchDurable([new Uint8Array(1)]), ClosedError);
      await assert.rejects(w.sync(), ClosedError);
      await closing;
      assert.deepEqual(await Promise.all(pending), range(1, 40));
      assert.deepEqual(ids(dir), range(1, 40));
      const again = WalWriter.open(dir, { codec: raw });
      assert.equal(again.nextEntryId, 41);
      again.closeSync();
    });
  });
}
