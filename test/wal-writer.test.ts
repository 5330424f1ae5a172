import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import diagnosticsChannel from 'node:diagnostics_channel';
import { channels, resetDiagnostics, type DiagnosticEvent } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { Prng } from '../lib/directory/prng';
import { SimulatedDirectory } from '../lib/directory/simulated';
import {
  AlreadyExistsError, ClosedError, CorruptionError, EncodeError, IoError, LockedError, NotFoundError, PoisonedError,
} from '../lib/errors';
import { json, jsonCodec, msgpackCodec, raw, type Codec } from '../lib/wal/codec';
import type { FlushPolicy } from '../lib/wal/flush-policy';
import { MARK_SIZE, SEGMENT_HEADER_SIZE, segmentPath } from '../lib/wal/format';
import type { WalObserver } from '../lib/wal/observer';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { segmentIndexCodec, type SegmentIndexEntry } from '../lib/wal/segment-index';
import { WalWriter } from '../lib/wal/writer';
import { chopTail, dirKinds } from './fixtures/wal-dirs';

type Op = { kind: 'set'; key: string; value: number } | { kind: 'del'; key: string };
const ops = (n: number, from = 0): Op[] =>
  Array.from({ length: n }, (_, i) => ((i + from) % 3 === 2 ? { kind: 'del', key: `k${i + from}` } : { kind: 'set', key: `k${i + from}`, value: i + from }));

function replay<E>(dir: Directory, codec: Codec<E>, mode: 'strict' | 'bestEffortTail' = 'strict') {
  return new WalReader<E>(dir, { codec }).replaySync({ mode });
}

function segmentFiles(dir: Directory): string[] {
  return dir.list('wal').filter((n) => n.endsWith('.wal'));
}

function allSegmentBytes(dir: Directory): Uint8Array[] {
  return segmentFiles(dir).map((n) => dir.readFile(`wal/${n}`));
}

for (const kind of dirKinds()) {
  describe(`WalWriter on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('writes the same bytes under every flush policy and buffer size', () => {
      const policies: FlushPolicy[] = ['perAppend', 'manual', { everyN: 3 }, { intervalMs: 60_000 }];
      const outputs: Uint8Array[][] = [];
      for (const flushPolicy of policies) {
        for (const bufferSize of [0, 100, 1 << 20]) {
          const d = kind.make();
          const w = WalWriter.create(d, { codec: jsonCodec<Op>(), flushPolicy, bufferSize, maxSegmentSize: 400 });
          for (const op of ops(20)) w.append(op);
          w.appendBatch(ops(7, 20));
          w.closeSync();
          outputs.push(allSegmentBytes(d));
        }
      }
      assert.ok(outputs[0].length > 1, 'the workload rotates');
      for (const out of outputs.slice(1)) assert.deepEqual(out, outputs[0]);
    });

    it('open creates a log, then resumes it with ids continuing', () => {
      const w1 = WalWriter.open(dir, { codec: jsonCodec<Op>() });
      assert.equal(w1.append(ops(1)[0]), 1);
      assert.equal(w1.append(ops(2)[1]), 2);
      w1.closeSync();
      const w2 = WalWriter.open(dir, { codec: jsonCodec<Op>() });
      assert.equal(w2.lastEntryId, 2);
      assert.equal(w2.durableEntryId, 2);
      assert.equal(w2.append(ops(3)[2]), 3);
      w2.closeSync();
      const records = replay(dir, jsonCodec<Op>());
      assert.deepEqual(records.map((r) => r.entryId), [1, 2, 3]);
      assert.deepEqual(records.map((r) => r.payload), ops(3));
    });

    it('create refuses a directory with segments; resume refuses one without', () => {
      assert.throws(() => WalWriter.resume(dir, { codec: json }), NotFoundError);
      WalWriter.create(dir, { codec: json }).closeSync();
      assert.throws(() => WalWriter.create(dir, { codec: json }), AlreadyExistsError);
      // The failed attempts released the lock.
      WalWriter.resume(dir, { codec: json }).closeSync();
    });

    it('resume cuts a torn tail in place and continues without a gap; strict replay then passes', () => {
      const w = WalWriter.create(dir, { codec: jsonCodec<Op>() });
      for (const op of ops(5)) w.append(op);
      w.closeSync();
      const file = segmentPath(1);
      const full = dir.readFile(file).length;
      // The file ends with the sync mark close wrote; the cut also takes 3 bytes of entry 5.
      chopTail(dir, file, MARK_SIZE + 3);
      assert.throws(() => replay(dir, jsonCodec<Op>()), CorruptionError);
      assert.equal(replay(dir, jsonCodec<Op>(), 'bestEffortTail').length, 4);

      const r = WalWriter.resume(dir, { codec: jsonCodec<Op>() });
      assert.equal(r.nextEntryId, 5);
      const fifth = ops(5)[4];
      assert.equal(r.append(fifth), 5);
      r.closeSync();
      // Same file: the tail was rewritten in place, behind a sync mark for the bytes the resume synced.
      assert.deepEqual(segmentFiles(dir), ['00000000000000000001.wal']);
      assert.equal(dir.readFile(file).length, full + MARK_SIZE);
      assert.deepEqual(replay(dir, jsonCodec<Op>()).map((x) => x.payload), ops(5));
    });

    it('open rewrites a final segment shorter than a header only when its bytes are zeros or the start of the magic; else refuses, changing nothing', () => {
      const magic = new TextEncoder().encode('DWAL');
      const torn = [new Uint8Array(0), new Uint8Array(7), magic.subarray(0, 2), magic, Uint8Array.of(...magic, 2, 0)];
      const foreign = [new TextEncoder().encode('NOPE'), Uint8Array.of(0x44, 0x57, 0x41, 0x4d), Uint8Array.of(0, 0, 0, 1)];
      for (const bytes of [...torn, ...foreign]) {
        const d = kind.make();
        d.mkdirp('wal');
        d.atomicWrite(segmentPath(1), bytes);
        if (torn.includes(bytes)) {
          assert.deepEqual(replay(d, json, 'bestEffortTail'), []);
          const w = WalWriter.open(d, { codec: json });
          assert.equal(w.nextEntryId, 1);
          w.append({ after: bytes.length });
          w.closeSync();
          assert.deepEqual(replay(d, json).map((r) => r.entryId), [1]);
          continue;
        }
        const refused = (e: unknown): boolean => e instanceof CorruptionError && e.file === segmentPath(1) && e.offset === 0 && /not a WAL segment/.test(e.reason);
        for (const mode of ['strict', 'bestEffortTail'] as const) assert.throws(() => replay(d, json, mode), refused);
        assert.throws(() => WalWriter.open(d, { codec: json }), refused);
        assert.throws(() => WalWriter.resume(d, { codec: json }), refused);
        assert.deepEqual(segmentFiles(d), ['00000000000000000001.wal']);
        assert.deepEqual(d.readFile(segmentPath(1)), bytes);
      }
    });

    it('resume recreates a final segment whose header is torn, continuing after the previous segment', () => {
      const w = WalWriter.create(dir, { codec: json, maxSegmentSize: 120 });
      for (let i = 0; i < 6; i++) w.append({ i });
      assert.ok(w.currentSegmentId >= 2);
      const finalId = w.currentSegmentId;
      w.closeSync();
      const finalFirst = new WalMaintenance(dir).segmentRanges().at(-1)!.firstEntryId;
      assert.ok(finalFirst > 1);
      chopTail(dir, segmentPath(finalId), dir.readFile(segmentPath(finalId)).length - 10);
      const r = WalWriter.resume(dir, { codec: json });
      assert.equal(r.currentSegmentId, finalId);
      // The final segment's header is gone, and with it its entries: ids continue after the previous segment.
      const lastKept = finalFirst - 1;
      assert.equal(r.nextEntryId, lastKept + 1);
      r.append({ after: true });
      r.closeSync();
      const ids = replay(dir, json).map((x) => x.entryId);
      assert.deepEqual(ids, Array.from({ length: lastKept + 1 }, (_, i) => i + 1));
    });

    it('sync makes entries durable and reports them', async () => {
      const w = WalWriter.create(dir, { codec: json });
      w.append({ a: 1 });
      w.append({ a: 2 });
      assert.equal(w.durableEntryId, 0);
      await w.sync();
      assert.equal(w.durableEntryId, 2);
      w.append({ a: 3 });
      w.syncSync();
      assert.equal(w.durableEntryId, 3);
      await w.close();
      assert.equal(replay(dir, json).length, 3);
    });

    it('handles custom entry types through json, msgpack and the segment-index codec', () => {
      const entries: SegmentIndexEntry[] = [
        { type: 'AddSegment', segmentId: 7, docCount: 3 },
        { type: 'StartMerge', transactionId: 1, segmentIds: [7, 8] },
        { type: 'EndMerge', transactionId: 1, newSegmentId: 9, oldSegmentIds: [7, 8], remappedDeletes: [[9, 4]] },
        { type: 'DeleteDocuments', deletes: [[9, 1], [9, 2]] },
        { type: 'Checkpoint', checkpointPath: 'checkpoints/1', lastEntryId: 4 },
      ];
      for (const codec of [jsonCodec<SegmentIndexEntry>(), msgpackCodec<SegmentIndexEntry>(), segmentIndexCodec()]) {
        const d = kind.make();
        const w = WalWriter.create(d, { codec });
        assert.deepEqual(w.appendBatch(entries), [1, 2, 3, 4, 5]);
        w.closeSync();
        const records = replay(d, codec);
        assert.deepEqual(records.map((r) => r.payload), entries, codec.name);
      }
    });

    it('appendBatch gives consecutive ids; an empty batch changes nothing', () => {
      const w = WalWriter.create(dir, { codec: json });
      assert.deepEqual(w.appendBatch([]), []);
      assert.equal(w.lastEntryId, 0);
      assert.equal(w.nextEntryId, 1);
      assert.deepEqual(w.appendBatch([{ x: 1 }, { x: 2 }, { x: 3 }]), [1, 2, 3]);
      assert.equal(w.append({ x: 4 }), 4);
      assert.deepEqual(w.appendBatch([{ x: 5 }, { x: 6 }]), [5, 6]);
      assert.equal(w.lastEntryId, 6);
      assert.equal(w.nextEntryId, 7);
      w.closeSync();
      assert.deepEqual(replay(dir, json).map((r) => r.entryId), [1, 2, 3, 4, 5, 6]);
    });

    it('accessors follow appends, flushes and rotation', () => {
      const w = WalWriter.create(dir, { codec: raw, flushPolicy: 'manual', maxSegmentSize: 32 + 3 * 26 });
      assert.equal(w.currentSegmentId, 1);
      assert.equal(w.currentSegmentBytes, SEGMENT_HEADER_SIZE);
      w.append(new Uint8Array(10));
      assert.equal(w.currentSegmentBytes, SEGMENT_HEADER_SIZE + 26);
      assert.equal(dir.readFile(segmentPath(1)).length, SEGMENT_HEADER_SIZE, 'nothing written under the manual policy');
      w.flushSync();
      assert.equal(dir.readFile(segmentPath(1)).length, SEGMENT_HEADER_SIZE + 26);
      w.append(new Uint8Array(10));
      w.append(new Uint8Array(10));
      w.append(new Uint8Array(10));
      assert.equal(w.currentSegmentId, 2);
      assert.equal(w.currentSegmentBytes, SEGMENT_HEADER_SIZE + 26);
      w.closeSync();
    });

    it('reports appends, flushes, rotations and syncs to the observer and diagnostics channels', async () => {
      const seen: string[] = [];
      let appendedBytes = 0;
      let flushedBytes = 0;
      const observer: WalObserver = {
        onAppend: (id, bytes) => {
          seen.push(`append ${id}`);
          appendedBytes += bytes;
        },
        onFlush: (info) => {
          seen.push(`flush ${info.lastEntryId}`);
          flushedBytes += info.bytes;
        },
        onRotate: (info) => seen.push(`rotate ${info.fromSegmentId}->${info.toSegmentId} @${info.firstEntryId}`),
        onSync: (info) => seen.push(`sync ${info.durableEntryId}`),
      };
      const published: string[] = [];
      const listeners = (['append', 'flush', 'rotate', 'sync'] as const).map((name) => {
        const fn = (): void => {
          published.push(name);
        };
        diagnosticsChannel.subscribe(channels[name].name, fn);
        return [channels[name].name, fn] as const;
      });
      try {
        const w = WalWriter.create(dir, { codec: raw, observer, flushPolicy: 'manual', maxSegmentSize: 32 + 2 * 20 });
        w.append(new Uint8Array(4));
        w.append(new Uint8Array(4));
        w.appendBatch([new Uint8Array(4)]);
        await w.sync();
        await w.close();
        assert.deepEqual(seen, ['append 1', 'append 2', 'flush 2', 'rotate 1->2 @3', 'append 3', 'flush 3', 'sync 3', 'sync 3']);
        assert.equal(appendedBytes, 3 * 20);
        assert.equal(flushedBytes, 3 * 20);
        assert.deepEqual(published, ['append', 'append', 'flush', 'rotate', 'append', 'flush', 'sync', 'sync']);
      } finally {
        for (const [name, fn] of listeners) diagnosticsChannel.unsubscribe(name, fn);
      }
    });

    it('an observer that throws does not fail the append', () => {
      const w = WalWriter.create(dir, { codec: json, observer: { onAppend: () => { throw new Error('observer bug'); } } });
      assert.equal(w.append({ a: 1 }), 1);
      w.closeSync();
      assert.equal(replay(dir, json).length, 1);
    });

    it('the interval policy writes buffered frames on a timer', async () => {
      let flushed!: () => void;
      const didFlush = new Promise<void>((resolve) => {
        flushed = resolve;
      });
      const w = WalWriter.create(dir, { codec: json, flushPolicy: { intervalMs: 5 }, observer: { onFlush: () => flushed() } });
      w.append({ a: 1 });
      assert.equal(dir.readFile(segmentPath(1)).length, SEGMENT_HEADER_SIZE);
      await didFlush;
      assert.deepEqual(replay(dir, json).map((r) => r.payload), [{ a: 1 }]);
      await w.close();
    });

    it('rotates a segment by age (measured by the injected clock)', () => {
      let now = 1000;
      const w = WalWriter.create(dir, { codec: json, maxSegmentAgeMs: 50, clock: () => now });
      w.append({ a: 1 });
      now += 49;
      w.append({ a: 2 });
      assert.equal(w.currentSegmentId, 1);
      now += 1;
      w.append({ a: 3 });
      assert.equal(w.currentSegmentId, 2);
      now += 500;
      w.append({ a: 4 });
      assert.equal(w.currentSegmentId, 3);
      w.closeSync();
      assert.deepEqual(replay(dir, json).map((r) => r.entryId), [1, 2, 3, 4]);
    });

    it('a second writer on the same directory fails with LockedError until the first closes', async () => {
      const w = WalWriter.open(dir, { codec: json });
      assert.throws(() => WalWriter.open(dir, { codec: json }), LockedError);
      assert.throws(() => WalWriter.resume(dir, { codec: json }), (e: unknown) => e instanceof LockedError && e.code === 'DURABILITY_LOCKED');
      w.append({ a: 1 });
      await w[Symbol.asyncDispose]();
      const again = WalWriter.open(dir, { codec: json });
      assert.equal(again.append({ a: 2 }), 2);
      again.closeSync();
    });

    it('an entry that fails to encode leaves the log untouched', () => {
      const picky: Codec<number> = {
        name: 'picky',
        encode: (n) => {
          if (n < 0) throw new RangeError('negative');
          return new Uint8Array([n]);
        },
        decode: (b) => b[0],
      };
      const w = WalWriter.create(dir, { codec: picky, flushPolicy: 'perAppend' });
      w.append(1);
      const before = dir.readFile(segmentPath(1));
      assert.throws(() => w.append(-1), (e: unknown) => e instanceof EncodeError && e.code === 'DURABILITY_ENCODE' && e.cause instanceof RangeError);
      assert.equal(w.nextEntryId, 2);
      assert.deepEqual(dir.readFile(segmentPath(1)), before);
      assert.equal(w.append(2), 2);
      const jw = WalWriter.create(kind.make(), { codec: json });
      assert.throws(() => jw.append(10n), EncodeError);
      assert.throws(() => jw.append(undefined), EncodeError);
      assert.equal(jw.nextEntryId, 1);
      jw.closeSync();
      w.closeSync();
      assert.deepEqual(replay(dir, picky).map((r) => r.payload), [1, 2]);
    });

    it('a payload over maxPayloadSize is an EncodeError that consumes no id', () => {
      const w = WalWriter.create(dir, { codec: raw, maxPayloadSize: 8 });
      assert.throws(() => w.append(new Uint8Array(9)), EncodeError);
      assert.equal(w.append(new Uint8Array(8)), 1);
      w.closeSync();
    });

    it('appendBatch is all-or-nothing: an encode failure in entry k appends none', () => {
      const w = WalWriter.create(dir, { codec: json, flushPolicy: 'perAppend' });
      w.append({ first: true });
      const before = dir.readFile(segmentPath(1));
      assert.throws(() => w.appendBatch([{ ok: 1 }, { ok: 2 }, { bad: 3n }, { ok: 4 }]), EncodeError);
      assert.equal(w.nextEntryId, 2);
      assert.equal(w.currentSegmentBytes, before.length);
      assert.deepEqual(dir.readFile(segmentPath(1)), before);
      assert.deepEqual(w.appendBatch([{ ok: 1 }]), [2]);
      w.closeSync();
      assert.deepEqual(replay(dir, json).map((r) => r.payload), [{ first: true }, { ok: 1 }]);
    });

    it('writes frames larger than the buffer', () => {
      const w = WalWriter.create(dir, { codec: raw, bufferSize: 64, flushPolicy: 'manual' });
      const big = new Uint8Array(1000).map((_, i) => i);
      w.append(new Uint8Array([1]));
      w.append(big);
      w.append(new Uint8Array([2]));
      w.closeSync();
      assert.deepEqual(replay(dir, raw).map((r) => r.payload), [new Uint8Array([1]), big, new Uint8Array([2])]);
    });

    it('await using / using close the writer (flush, sync, unlock)', async () => {
      {
        await using w = WalWriter.create(dir, { codec: json, flushPolicy: 'manual' });
        w.append({ a: 1 });
      }
      {
        using w = WalWriter.open(dir, { codec: json, flushPolicy: 'manual' });
        w.append({ a: 2 });
      }
      assert.deepEqual(replay(dir, json).map((r) => r.payload), [{ a: 1 }, { a: 2 }]);
    });

    it('calls after close throw ClosedError; close is idempotent', async () => {
      const w = WalWriter.create(dir, { codec: json });
      await w.close();
      await w.close();
      w.closeSync();
      assert.throws(() => w.append({}), ClosedError);
      await assert.rejects(w.sync(), ClosedError);
    });
  });
}

describe('WalWriter durability rules (SimulatedDirectory)', () => {
  const codec = jsonCodec<{ n: number }>();
  const entry = (n: number) => ({ n });

  it('a rotated segment is fdatasynced before a later sync returns', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    const w = WalWriter.create(dir, { codec, maxSegmentSize: 100 });
    for (let n = 1; n <= 8; n++) w.append(entry(n));
    assert.ok(w.currentSegmentId >= 3);
    await w.sync();
    const after = dir.crash({ mode: 'dropAll' });
    assert.deepEqual(replay(after, codec).map((r) => r.payload.n), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("a new segment's directory entry is fsynced before a sync covering it returns", async () => {
    const dir = new SimulatedDirectory({ seed: 2 });
    const w = WalWriter.create(dir, { codec, maxSegmentSize: 100 });
    for (let n = 1; n <= 4; n++) w.append(entry(n));
    assert.equal(w.currentSegmentId, 2);
    w.syncSync();
    assert.ok(dir.durableList('wal').includes('00000000000000000002.wal'));
    const after = dir.crash({ mode: 'dropAll' });
    assert.deepEqual(replay(after, codec).map((r) => r.payload.n), [1, 2, 3, 4]);
  });

  it('never has more than W bytes of a segment written but unsynced', () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    const W = 300;
    const syncedLength = new Map<string, number>();
    let worst = 0;
    let writes = 0;
    dir.onOperation = (e) => {
      if (!e.path.endsWith('.wal')) return;
      const length = dir.readFile(e.path).length;
      if (e.op === 'sync') syncedLength.set(e.path, length);
      if (e.op === 'write') {
        writes++;
        worst = Math.max(worst, length - (syncedLength.get(e.path) ?? 0));
      }
    };
    const w = WalWriter.create(dir, { codec: raw, syncWindow: W, flushPolicy: 'manual', maxSegmentSize: 2000 });
    const sizes = [10, 50, 120, 7, 200, 33, 90, 64, 250, 1];
    for (let i = 0; i < 80; i++) {
      w.append(new Uint8Array(sizes[i % sizes.length]));
      if (i % 7 === 6) w.flushSync();
    }
    w.closeSync();
    assert.ok(writes > 10);
    assert.ok(worst <= W, `unsynced span reached ${worst} bytes, W is ${W}`);
    assert.ok(worst > W / 2, 'the workload comes close to W');
    assert.equal(replay(dir, raw).length, 80);
  });

  it('a failed fdatasync poisons the writer and is never retried as if the data were safe', async () => {
    const dir = new SimulatedDirectory({ seed: 4 });
    const w = WalWriter.create(dir, { codec });
    for (let n = 1; n <= 3; n++) w.append(entry(n));
    await w.sync();
    assert.equal(w.durableEntryId, 3);
    for (let n = 4; n <= 6; n++) w.append(entry(n));
    dir.injectFault({ op: 'sync', error: 'EIO' });
    await assert.rejects(w.sync(), (e: unknown) => e instanceof IoError && e.errno === 'EIO');
    assert.ok(w.poisoned);
    // The fault was one-shot: a retried fdatasync would now succeed and claim entries 4..6.
    await assert.rejects(w.sync(), (e: unknown) => e instanceof PoisonedError && e.code === 'DURABILITY_POISONED' && e.cause instanceof IoError);
    assert.throws(() => w.syncSync(), PoisonedError);
    assert.throws(() => w.append(entry(7)), PoisonedError);
    assert.throws(() => w.flushSync(), PoisonedError);
    assert.equal(w.durableEntryId, 3);
    await assert.rejects(w.close(), PoisonedError);
    for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as const) {
      const after = dir.crash({ mode, seed: 11 });
      const ids = replay(after, codec, 'bestEffortTail').map((r) => r.payload.n);
      assert.deepEqual(ids.slice(0, 3), [1, 2, 3], mode);
      assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1), mode);
    }
  });

  it('a failed write poisons the writer; close still releases the lock', async () => {
    const dir = new SimulatedDirectory({ seed: 5 });
    const w = WalWriter.create(dir, { codec, flushPolicy: 'manual' });
    w.append(entry(1));
    dir.injectFault({ op: 'write', error: 'short', path: '.wal' });
    assert.throws(() => w.flushSync(), (e: unknown) => e instanceof IoError && e.errno === 'ENOSPC');
    assert.throws(() => w.append(entry(2)), PoisonedError);
    assert.throws(() => w.closeSync(), PoisonedError);
    const again = WalWriter.open(dir, { codec });
    assert.equal(again.nextEntryId, 1, 'the half-written frame was cut off');
    again.closeSync();
  });

  it('a failed rotation poisons the writer', () => {
    const dir = new SimulatedDirectory({ seed: 6 });
    const published: unknown[] = [];
    const onPoison = (m: unknown): void => {
      published.push(m);
    };
    diagnosticsChannel.subscribe(channels.poison.name, onPoison);
    try {
      const w = WalWriter.create(dir, { codec, maxSegmentSize: 100, flushPolicy: 'perAppend' });
      w.append(entry(1));
      w.append(entry(2));
      dir.injectFault({ op: 'create', error: 'EIO', path: '.wal' });
      assert.throws(() => w.append(entry(3)), IoError);
      assert.throws(() => w.append(entry(3)), PoisonedError);
      assert.equal(published.length, 1);
      assert.throws(() => w.closeSync(), PoisonedError);
    } finally {
      diagnosticsChannel.unsubscribe(channels.poison.name, onPoison);
    }
    assert.deepEqual(replay(dir, codec).map((r) => r.payload.n), [1, 2]);
  });

  it('a group-commit rotation whose next segment cannot be planned (the clock threw) leaves the writer on its segment, still usable', async () => {
    const dir = new SimulatedDirectory({ seed: 8 });
    let clockBroken = false;
    const clock = (): number => {
      if (clockBroken) throw new Error('clock broke');
      return 1;
    };
    const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 200, clock });
    assert.equal(await w.appendDurable(new Uint8Array(100)), 1);
    clockBroken = true;
    await assert.rejects(w.appendDurable(new Uint8Array(100)), /clock broke/);
    clockBroken = false;
    // Cut before planning, the ending batch committed and closed segment 1 while the writer kept
    // appending to it: this append failed with ClosedError and poisoned the writer.
    assert.equal(await w.appendDurable(new Uint8Array(10)), 2);
    await w.close();
    assert.deepEqual(new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId), [1, 2]);
  });

  it('a group commit that fails after a rotation publishes the segment that failed, not the next one', async () => {
    const dir = new SimulatedDirectory({ seed: 7 });
    const published: Array<{ segmentId: number }> = [];
    const onPoison = (m: unknown): void => void published.push(m as { segmentId: number });
    diagnosticsChannel.subscribe(channels.poison.name, onPoison);
    try {
      const w = WalWriter.create(dir, { codec, maxSegmentSize: 100 });
      dir.injectFault({ op: 'sync', error: 'EIO', path: segmentPath(1) });
      const calls = [1, 2, 3, 4, 5, 6].map((n) => w.appendDurable(entry(n)));
      assert.ok(w.currentSegmentId >= 2, 'the appends rotated before the first commit completed');
      const settled = await Promise.allSettled(calls);
      assert.ok(settled.every((r) => r.status === 'rejected'));
      assert.deepEqual(published.map((m) => m.segmentId), [1]);
      await assert.rejects(w.close(), PoisonedError);
    } finally {
      diagnosticsChannel.unsubscribe(channels.poison.name, onPoison);
    }
  });

  it('preallocates new segments and trims the space at rotation and close', () => {
    const dir = new SimulatedDirectory({ seed: 8 });
    const w = WalWriter.create(dir, { codec, preallocate: 4096, maxSegmentSize: 120 });
    assert.equal(dir.readFile(segmentPath(1)).length, 4096);
    for (let n = 1; n <= 6; n++) w.append(entry(n));
    assert.ok(w.currentSegmentId >= 2);
    assert.ok(dir.readFile(segmentPath(1)).length < 120, 'the rotated segment was trimmed');
    assert.equal(dir.readFile(segmentPath(w.currentSegmentId)).length, 4096);
    w.closeSync();
    assert.equal(dir.readFile(segmentPath(w.currentSegmentId)).length, w.currentSegmentBytes);
    assert.equal(replay(dir, codec).length, 6);
  });

  it('without fallocate support, preallocation degrades with one diagnostic', () => {
    resetDiagnostics();
    const events: DiagnosticEvent[] = [];
    const onDiagnostic = (m: unknown): void => {
      events.push(m as DiagnosticEvent);
    };
    diagnosticsChannel.subscribe(channels.diagnostic.name, onDiagnostic);
    try {
      const dir = new SimulatedDirectory({ seed: 9, supportsAllocate: false });
      const w = WalWriter.create(dir, { codec, preallocate: true, maxSegmentSize: 100 });
      for (let n = 1; n <= 6; n++) w.append(entry(n));
      w.closeSync();
      assert.ok(w.currentSegmentId >= 3);
      assert.equal(events.filter((e) => e.kind === 'fallocate-unsupported').length, 1);
      assert.equal(replay(dir, codec).length, 6);
    } finally {
      diagnosticsChannel.unsubscribe(channels.diagnostic.name, onDiagnostic);
    }
  });

  it('after a power cut at any point, recovery yields a prefix holding every entry reported durable', function () {
    const cases = process.env.DURABILITY_LONG ? 3000 : 300;
    for (let seed = 1; seed <= cases; seed++) crashCase(seed);
  });
});

const POLICIES: FlushPolicy[] = ['perAppend', 'manual', { everyN: 3 }];

/** One seeded workload cut at a random operation; checks the recovered log and that a writer can resume it. */
function crashCase(seed: number): void {
  const prng = new Prng(seed);
  const dir = new SimulatedDirectory({ seed, sectorSize: prng.pick([16, 64, 512]) });
  const codec = jsonCodec<{ n: number; pad: string }>();
  const crashAt = prng.int(120);
  let crashed: SimulatedDirectory | undefined;
  dir.onOperation = (e) => {
    if (crashed === undefined && e.index >= crashAt) crashed = dir.crash({ seed });
  };
  let durable = 0;
  let appended = 0;
  const make = (n: number) => ({ n, pad: 'x'.repeat(prng.int(90)) });
  const expected: { n: number; pad: string }[] = [];
  try {
    const w = WalWriter.create(dir, {
      codec,
      maxSegmentSize: 150 + prng.int(500),
      syncWindow: 120 + prng.int(400),
      bufferSize: prng.pick([0, 64, 4096]),
      flushPolicy: prng.pick(POLICIES),
      preallocate: prng.chance(0.3) ? 512 : false,
    });
    for (let step = 0; step < 60; step++) {
      const r = prng.int(10);
      if (r < 5) {
        const e = make(appended + 1);
        expected.push(e);
        w.append(e);
        appended++;
      } else if (r < 7) {
        const batch = [make(appended + 1), make(appended + 2)];
        expected.push(...batch);
        w.appendBatch(batch);
        appended += 2;
      } else if (r < 8) {
        w.flushSync();
      } else {
        w.syncSync();
        durable = w.durableEntryId;
      }
    }
    w.closeSync();
    durable = w.durableEntryId;
  } catch (err) {
    if (crashed === undefined) throw err;
  }
  const after = crashed ?? dir.crash({ seed });
  let records;
  try {
    records = replay(after, codec, 'bestEffortTail');
  } catch (err) {
    throw new Error(`seed ${seed}: replay failed: ${String(err)}`);
  }
  const ns = records.map((r) => r.payload.n);
  assert.deepEqual(ns, Array.from({ length: ns.length }, (_, i) => i + 1), `seed ${seed}: not a prefix`);
  assert.ok(ns.length >= durable, `seed ${seed}: ${durable} entries were reported durable, ${ns.length} recovered`);
  assert.deepEqual(records.map((r) => r.payload), expected.slice(0, ns.length), `seed ${seed}: payloads differ`);
  // A writer resumes whatever the crash left, and the log then replays strictly.
  const resumed = WalWriter.open(after, { codec });
  assert.equal(resumed.nextEntryId, ns.length + 1, `seed ${seed}`);
  resumed.append({ n: ns.length + 1, pad: '' });
  resumed.closeSync();
  assert.equal(replay(after, codec).length, ns.length + 1, `seed ${seed}`);
}

describe('WalWriter lock across processes', () => {
  for (const backend of availableBackends()) {
    it(`a live writer in another process holds the lock; a killed one does not (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-wal-lock-'));
      const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'wal-lock-holder.js'), root, backend.name], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        let out = '';
        child.stdout.setEncoding('utf8');
        for await (const chunk of child.stdout) {
          out += chunk;
          if (out.includes('locked\n')) break;
        }
        assert.equal(out, 'locked\n');
        const dir = new FsDirectory(root, { backend });
        assert.throws(() => WalWriter.open(dir, { codec: json }), (e: unknown) => e instanceof LockedError);
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
        const w = WalWriter.open(dir, { codec: json });
        assert.equal(w.append({ from: 'parent' }), 2);
        w.closeSync();
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
