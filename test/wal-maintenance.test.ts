import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { channels } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidArgumentError } from '../lib/errors';
import { jsonCodec } from '../lib/wal/codec';
import { segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';

const codec = jsonCodec<{ n: number }>();

/** A log of `entries` entries over several small segments; returns the writer, still open. */
function multiSegment(dir: Directory, entries: number, options: { recycleCapacity?: number } = {}): WalWriter<{ n: number }> {
  const w = WalWriter.create(dir, { codec, maxSegmentSize: 32 + 3 * 24, flushPolicy: 'perAppend', ...options });
  for (let n = 1; n <= entries; n++) w.append({ n });
  return w;
}

const ids = (dir: Directory) => new WalReader(dir, { codec }).replaySync().map((r) => r.entryId);
const walFiles = (dir: Directory) => dir.list('wal').filter((n) => n !== 'LOCK' && !n.startsWith('LOCK.'));

for (const kind of dirKinds()) {
  describe(`WalMaintenance on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('segmentRanges lists each segment with its first and last entry id', () => {
      const w = multiSegment(dir, 8);
      w.closeSync();
      const ranges = new WalMaintenance(dir).segmentRanges();
      assert.deepEqual(ranges.map((r) => [r.segmentId, r.firstEntryId, r.lastEntryId]), [[1, 1, 3], [2, 4, 6], [3, 7, 8]]);
      assert.equal(ranges[0].path, segmentPath(1));
      assert.deepEqual(new WalMaintenance(kind.make()).segmentRanges(), []);
    });

    it('truncatePrefix deletes fully covered segments, never the final one', () => {
      const w = multiSegment(dir, 8);
      const m = new WalMaintenance(dir);
      assert.deepEqual(m.truncatePrefix(2).removed, [], 'segment 1 still holds entry 3');
      assert.deepEqual(m.truncatePrefix(5).removed.map((r) => r.segmentId), [1]);
      // Entry 8 is covered, but segment 3 is the one the writer appends to.
      assert.deepEqual(m.truncatePrefix(100).removed.map((r) => r.segmentId), [2]);
      assert.deepEqual(walFiles(dir), ['00000000000000000003.wal']);
      w.append({ n: 9 });
      w.closeSync();
      assert.deepEqual(ids(dir), [7, 8, 9]);
      assert.throws(() => m.truncatePrefix(-1), InvalidArgumentError);
    });

    it('an observer veto keeps that segment and every later one', () => {
      const w = multiSegment(dir, 12);
      w.closeSync();
      const asked: number[] = [];
      const result = new WalMaintenance(dir).truncatePrefix(12, {
        observer: {
          beforeTruncate: (info) => {
            asked.push(info.segmentId);
            return info.segmentId !== 2;
          },
        },
      });
      assert.deepEqual(asked, [1, 2]);
      assert.deepEqual(result.removed.map((r) => r.segmentId), [1]);
      assert.equal(result.vetoed?.segmentId, 2);
      assert.deepEqual(ids(dir), [4, 5, 6, 7, 8, 9, 10, 11, 12]);
    });

    it('truncation events reach the diagnostics channel', () => {
      const w = multiSegment(dir, 7);
      w.closeSync();
      const events: { segmentId: number; action: string }[] = [];
      const fn = (m: unknown): void => {
        events.push(m as { segmentId: number; action: string });
      };
      diagnosticsChannel.subscribe(channels.truncate.name, fn);
      try {
        new WalMaintenance(dir).truncatePrefix(6, { observer: { beforeTruncate: (i) => i.segmentId < 2 } });
      } finally {
        diagnosticsChannel.unsubscribe(channels.truncate.name, fn);
      }
      assert.deepEqual(events.map((e) => `${e.segmentId} ${e.action}`), ['1 removed', '2 vetoed']);
    });

    it('recycles truncated segments as new segments; stale frames never come back', () => {
      const padded = jsonCodec<{ n: number; pad?: string }>();
      const w = WalWriter.create(dir, { codec: padded, maxSegmentSize: 32 + 3 * 62, flushPolicy: 'perAppend', recycleCapacity: 2 });
      for (let n = 1; n <= 9; n++) w.append({ n, pad: 'stale'.repeat(6) });
      assert.equal(w.currentSegmentId, 3);
      const sizeOfOne = dir.readFile(segmentPath(1)).length;
      const recycled = new WalMaintenance(dir).truncateToRecycle(6);
      assert.deepEqual(recycled, ['wal/recycle-1', 'wal/recycle-2']);
      assert.deepEqual(ids(dir), [7, 8, 9], 'the reader skips recycle files');
      w.recycle(recycled);
      w.append({ n: 10 });
      assert.equal(w.currentSegmentId, 4);
      assert.ok(!walFiles(dir).includes('recycle-1'), 'segment 4 is the old segment 1');
      // Short entries: segment 4 still holds old frames of segment 1 past what is written.
      assert.equal(dir.readFile(segmentPath(4)).length, sizeOfOne);
      assert.ok(w.currentSegmentBytes < sizeOfOne);
      for (let n = 11; n <= 20; n++) w.append({ n });
      assert.ok(!walFiles(dir).some((n) => n.startsWith('recycle-')), 'both recycle files were reused');
      w.closeSync();
      const records = new WalReader(dir, { codec: padded }).replaySync();
      assert.deepEqual(records.map((r) => r.entryId), Array.from({ length: 14 }, (_, i) => i + 7));
      assert.ok(records.slice(4).every((r) => r.payload.pad === undefined));
    });

    it('never renames a segment over a recycle file already there (a writer may be installing it): the segment is deleted instead', () => {
      const w = multiSegment(dir, 12, {});
      w.closeSync();
      // A segment id used twice: a recycle file from an earlier life of segment 1.
      const pooled = new Uint8Array(64).fill(0x5a);
      dir.atomicWrite('wal/recycle-1', pooled);
      const recycled = new WalMaintenance(dir).truncateToRecycle(9);
      assert.ok(!recycled.includes('wal/recycle-1'));
      assert.deepEqual(dir.readFile('wal/recycle-1'), pooled);
      assert.ok(!dir.exists(segmentPath(1)));
      assert.deepEqual(ids(dir), [10, 11, 12]);
    });

    it('recycle beyond capacity deletes the surplus files', () => {
      const w = multiSegment(dir, 12, { recycleCapacity: 1 });
      const recycled = new WalMaintenance(dir).truncateToRecycle(9);
      assert.equal(recycled.length, 3);
      w.recycle(recycled);
      assert.deepEqual(walFiles(dir).filter((n) => n.startsWith('recycle-')), ['recycle-3']);
      w.closeSync();
      // A later writer picks up the leftover recycle file and reuses it.
      const again = WalWriter.open(dir, { codec, maxSegmentSize: 32 + 3 * 24, recycleCapacity: 4 });
      for (let n = 13; n <= 16; n++) again.append({ n });
      again.closeSync();
      assert.ok(!walFiles(dir).some((n) => n.startsWith('recycle-')));
      assert.deepEqual(ids(dir), [10, 11, 12, 13, 14, 15, 16]);
    });
  });
}

describe('WalMaintenance durability (SimulatedDirectory)', () => {
  it('truncation makes each delete durable before the next (a crash never leaves a gap)', () => {
    const dir = new SimulatedDirectory({ seed: 21 });
    const w = multiSegment(dir, 12);
    w.syncSync();
    const removed = new WalMaintenance(dir).truncatePrefix(9).removed.map((r) => r.segmentId);
    assert.deepEqual(removed, [1, 2, 3]);
    assert.deepEqual(dir.durableList('wal').filter((n) => n.endsWith('.wal')), ['00000000000000000004.wal']);
    for (let seed = 0; seed < 20; seed++) {
      const after = dir.crash({ seed, mode: 'keepPrefix' });
      assert.deepEqual(ids(after), [10, 11, 12]);
    }
  });

  it('a crash in the middle of a truncation leaves a log that replays', () => {
    for (let cut = 0; cut < 5; cut++) {
      for (let seed = 0; seed < 8; seed++) {
        const dir = new SimulatedDirectory({ seed });
        const w = multiSegment(dir, 12);
        w.syncSync();
        let crashed: SimulatedDirectory | undefined;
        const start = dir.operations;
        dir.onOperation = (e) => {
          if (crashed === undefined && e.index >= start + cut) crashed = dir.crash({ seed, mode: 'keepPrefix' });
        };
        try {
          new WalMaintenance(dir).truncatePrefix(9);
        } catch {
          // power lost mid-way
        }
        const after = crashed ?? dir.crash({ seed });
        const got = ids(after);
        assert.ok(got.length >= 3 && got.at(-1) === 12, `cut ${cut} seed ${seed}: ${got.join(',')}`);
        assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => 13 - got.length + i), `cut ${cut} seed ${seed}`);
      }
    }
  });
});
