import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Directory, ReadableFile, WritableFile } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { ClosedError, CorruptionError, DecodeError, DurabilityError, EncodeError, InvalidStateError, IoError, LockedError, PoisonedError } from '../lib/errors';
import {
  encodeRecordLogHeader, MAX_RECORD_SIZE, RECORD_LOG_HEADER_SIZE, RECORD_MARK_SIZE, writeRecordFrame, writeRecordMark,
} from '../lib/recordlog/format';
import { forEachRecord, readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { jsonCodec } from '../lib/wal/codec';
import { maskCrc, readU32, writeU32 } from '../lib/wal/format';
import { chopTail, dirKinds } from './fixtures/wal-dirs';

const LOG = 'logs/events.rlog';
const bytesOf = (i: number, n = 3 + (i % 5)): Uint8Array => new Uint8Array(n).fill(i & 0xff);
const codec = jsonCodec<{ i: number }>();

function flip(dir: Directory, path: string, offset: number): void {
  const b = dir.readFile(path).slice();
  b[offset] ^= 0x20;
  dir.atomicWrite(path, b);
}

describe('record log format', () => {
  it('header: magic, version, flags, W, CRC; frames: CRC over length and payload, then length', () => {
    const dir = new MemoryDirectory();
    const h = encodeRecordLogHeader(1000, dir.checksum);
    assert.deepEqual([...h.subarray(0, 12)], [0x44, 0x52, 0x45, 0x43, 2, 0, 0, 0, 0xe8, 0x03, 0, 0]);
    assert.equal(encodeRecordLogHeader(1000, dir.checksum, 1)[4], 1, 'version 1 can still be written (tests, a v1 file\'s header rewritten)');
    // A sync mark: CRC over bytes 4..16, the length field with the high bit (8 body bytes), D.
    const m = new Uint8Array(16);
    assert.equal(writeRecordMark(m, 0, 0x1_0000_0010, dir.checksum), RECORD_MARK_SIZE);
    assert.deepEqual([...m.subarray(4)], [8, 0, 0, 0x80, 0x10, 0, 0, 0, 1, 0, 0, 0]);
    assert.equal(readU32(m, 0), maskCrc(dir.checksum.crc32c(m.subarray(4), 0)));
    const f = new Uint8Array(11);
    assert.equal(writeRecordFrame(f, 0, new Uint8Array([1, 2, 3]), dir.checksum), 11);
    assert.deepEqual([...f.subarray(4)], [3, 0, 0, 0, 1, 2, 3]);
    // Eight zero bytes are never a frame: the CRC of a zero length is not zero.
    const z = new Uint8Array(8);
    writeRecordFrame(z, 0, new Uint8Array(0), dir.checksum);
    assert.notEqual(z[0] | z[1] | z[2] | z[3], 0);
  });
});

for (const kind of dirKinds()) {
  describe(`record log on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('appends, syncs and reads back; reopening continues after the last record', async () => {
      const w = RecordLogWriter.open(dir, LOG, { bufferSize: 16 });
      for (let i = 0; i < 20; i++) w.append(bytesOf(i));
      await w.sync();
      assert.equal(w.durableSize, w.size);
      await w.close();
      const w2 = RecordLogWriter.open(dir, LOG);
      assert.equal(w2.repaired, 'none');
      w2.append(bytesOf(20));
      w2.closeSync();
      const { records, scan } = readRecordLog(dir, LOG);
      assert.deepEqual(records, Array.from({ length: 21 }, (_, i) => bytesOf(i)));
      assert.deepEqual([scan.count, scan.tail, scan.validEnd, scan.fileSize], [21, 'clean', scan.fileSize, scan.fileSize]);
    });

    it('takes a codec, records larger than the buffer and the sync window, and empty records', () => {
      const w = RecordLogWriter.open(dir, LOG, { codec, bufferSize: 8, syncWindow: 64 });
      const big = { i: 1, pad: 'x'.repeat(500) } as unknown as { i: number };
      for (const r of [{ i: 0 }, big, { i: 2 }]) w.append(r);
      w.closeSync();
      assert.deepEqual(readRecordLog(dir, LOG, { codec }).records, [{ i: 0 }, big, { i: 2 }]);
      const e = RecordLogWriter.open(dir, 'empty.rlog');
      e.append(new Uint8Array(0));
      e.closeSync();
      assert.deepEqual(readRecordLog(dir, 'empty.rlog').records, [new Uint8Array(0)]);
      const c = RecordLogWriter.open(dir, 'c.rlog', { codec });
      try {
        assert.throws(() => c.append({ i: 1n } as unknown as { i: number }), EncodeError);
      } finally {
        c.closeSync(); // an open file keeps its directory from being removed on Windows
      }
    });

    it('a torn tail: strict refuses, bestEffort stops before it, reopening cuts it off and goes on', () => {
      const w = RecordLogWriter.open(dir, LOG);
      for (let i = 0; i < 5; i++) w.append(bytesOf(i));
      w.closeSync();
      // The closing sync mark and 2 bytes of the last record: a write torn at the end of the log.
      chopTail(dir, LOG, RECORD_MARK_SIZE + 2);
      assert.throws(() => readRecordLog(dir, LOG), CorruptionError);
      const best = readRecordLog(dir, LOG, { mode: 'bestEffortTail' });
      assert.equal(best.records.length, 4);
      assert.equal(best.scan.tail, 'torn');
      const w2 = RecordLogWriter.open(dir, LOG);
      assert.equal(w2.repaired, 'tail');
      w2.append(bytesOf(9));
      w2.closeSync();
      assert.deepEqual(readRecordLog(dir, LOG).records, [0, 1, 2, 3, 9].map((i) => bytesOf(i)));
    });

    it('damage more than W before the end is an error in both modes, and the writer refuses to open', () => {
      const w = RecordLogWriter.open(dir, LOG, { syncWindow: 32 });
      for (let i = 0; i < 30; i++) w.append(bytesOf(i));
      w.closeSync();
      flip(dir, LOG, RECORD_LOG_HEADER_SIZE + 9);
      const before = dir.readFile(LOG);
      for (const mode of ['strict', 'bestEffortTail', 'bestEffort'] as const) {
        assert.throws(() => readRecordLog(dir, LOG, { mode }), (e: unknown) => e instanceof CorruptionError && e.offset === RECORD_LOG_HEADER_SIZE && /damage/.test(e.reason));
      }
      assert.throws(() => RecordLogWriter.open(dir, LOG), CorruptionError);
      assert.deepEqual(dir.readFile(LOG), before);
    });

    it('bit rot anywhere in a closed file is damage whatever W, and the writer refuses to open (the closing sync mark)', () => {
      const w = RecordLogWriter.open(dir, LOG); // W 64 MiB: far larger than the file
      for (let i = 0; i < 200; i++) w.append(bytesOf(i, 100));
      w.closeSync();
      const size = dir.readFile(LOG).length;
      for (const at of [RECORD_LOG_HEADER_SIZE + 5 * 108 + 50, size - RECORD_MARK_SIZE - 3]) {
        flip(dir, LOG, at);
        const before = dir.readFile(LOG);
        for (const mode of ['strict', 'bestEffortTail'] as const) {
          assert.throws(() => readRecordLog(dir, LOG, { mode }), (e: unknown) => e instanceof CorruptionError && /damage/.test(e.reason), `byte ${at}, ${mode}`);
        }
        assert.throws(() => RecordLogWriter.open(dir, LOG), CorruptionError);
        assert.deepEqual(dir.readFile(LOG), before, 'the file is left as it is');
        flip(dir, LOG, at);
      }
      assert.equal(readRecordLog(dir, LOG).records.length, 200);
    });

    it('reopening and closing without appending adds nothing; appending after a reopen vouches for what came before', () => {
      RecordLogWriter.open(dir, LOG).closeSync();
      assert.equal(dir.readFile(LOG).length, RECORD_LOG_HEADER_SIZE, 'an empty log is its header');
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(1));
      w.closeSync();
      const size = dir.readFile(LOG).length;
      assert.equal(size, RECORD_LOG_HEADER_SIZE + 8 + bytesOf(1).length + RECORD_MARK_SIZE, 'the record, then the closing mark');
      RecordLogWriter.open(dir, LOG).closeSync();
      assert.equal(dir.readFile(LOG).length, size);
      const w2 = RecordLogWriter.open(dir, LOG);
      w2.append(bytesOf(2));
      w2.flushSync();
      // Not closed (a crash, as far as the file knows): the mark leading this write vouches for the first record.
      flip(dir, LOG, RECORD_LOG_HEADER_SIZE + 9);
      assert.throws(() => readRecordLog(dir, LOG, { mode: 'bestEffortTail' }), (e: unknown) => e instanceof CorruptionError && /damage/.test(e.reason));
      flip(dir, LOG, RECORD_LOG_HEADER_SIZE + 9);
      w2.closeSync();
      assert.deepEqual(readRecordLog(dir, LOG).records, [bytesOf(1), bytesOf(2)]);
    });

    it('a version 1 file is read, and appended to without sync marks: it stays version 1', () => {
      dir.mkdirp('logs');
      const v1 = new Uint8Array(RECORD_LOG_HEADER_SIZE + 2 * 11);
      v1.set(encodeRecordLogHeader(64, dir.checksum, 1));
      writeRecordFrame(v1, writeRecordFrame(v1, RECORD_LOG_HEADER_SIZE, bytesOf(0, 3), dir.checksum), bytesOf(1, 3), dir.checksum);
      dir.atomicWrite(LOG, v1);
      assert.equal(readRecordLog(dir, LOG).scan.version, 1);
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(2, 3));
      w.syncSync();
      w.append(bytesOf(3, 3));
      w.closeSync();
      const bytes = dir.readFile(LOG);
      assert.equal(bytes[4], 1);
      assert.equal(bytes.length, RECORD_LOG_HEADER_SIZE + 4 * 11, 'no sync mark');
      assert.deepEqual(readRecordLog(dir, LOG).records, [0, 1, 2, 3].map((i) => bytesOf(i, 3)));
    });

    it('a maxRecordSize below a synced record: the reader names the record, the writer keeps it (never a torn tail)', () => {
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(0, 10));
      w.append(bytesOf(1, 1000));
      for (let i = 2; i < 7; i++) w.append(bytesOf(i, 10));
      w.closeSync();
      const before = dir.readFile(LOG);
      for (const mode of ['strict', 'bestEffortTail'] as const) {
        assert.throws(() => readRecordLog(dir, LOG, { mode, maxRecordSize: 100 }), (e: unknown) => e instanceof DecodeError && /record 1 has 1000 bytes, more than maxRecordSize 100/.test(e.message));
      }
      const w2 = RecordLogWriter.open(dir, LOG, { maxRecordSize: 100 });
      assert.equal(w2.repaired, 'none');
      assert.throws(() => w2.append(bytesOf(9, 101)), EncodeError, 'the limit still holds for appends');
      w2.closeSync();
      assert.deepEqual(dir.readFile(LOG), before);
      assert.equal(readRecordLog(dir, LOG).records.length, 7);
    });

    it('a sync mark whose watermark lies past itself is refused', () => {
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(1));
      w.closeSync();
      const b = dir.readFile(LOG).slice();
      const at = b.length - RECORD_MARK_SIZE;
      writeRecordMark(b, at, at + 1, dir.checksum);
      dir.atomicWrite(LOG, b);
      assert.throws(() => readRecordLog(dir, LOG), (e: unknown) => e instanceof CorruptionError && e.offset === at && /watermark/.test(e.reason));
      assert.equal(readRecordLog(dir, LOG, { mode: 'bestEffortTail' }).records.length, 1);
    });

    it('a torn header reads as empty (bestEffortTail) and is rewritten; a foreign file is never taken over', () => {
      dir.mkdirp('logs');
      dir.atomicWrite(LOG, new Uint8Array([0x44, 0x52, 0x45]));
      assert.throws(() => readRecordLog(dir, LOG), CorruptionError);
      assert.equal(readRecordLog(dir, LOG, { mode: 'bestEffortTail' }).scan.headerTorn, true);
      assert.equal(readRecordLog(dir, LOG, { mode: 'bestEffort' }).scan.headerTorn, true, 'the deprecated name reads the same');
      const w = RecordLogWriter.open(dir, LOG);
      assert.equal(w.repaired, 'header');
      w.append(bytesOf(1));
      w.closeSync();
      assert.deepEqual(readRecordLog(dir, LOG).records, [bytesOf(1)]);
      const foreign = new TextEncoder().encode('{"this is": "somebody else\'s file"}');
      dir.atomicWrite('logs/other', foreign);
      assert.throws(() => RecordLogWriter.open(dir, 'logs/other'), CorruptionError);
      assert.deepEqual(dir.readFile('logs/other'), foreign);
    });

    it('zeros after the last record (preallocated space) are a clean end', () => {
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(1));
      w.closeSync();
      const f = dir.openAppend(LOG);
      f.write(new Uint8Array(100));
      f.sync();
      f.close();
      const { records, scan } = readRecordLog(dir, LOG);
      assert.deepEqual([records.length, scan.tail], [1, 'clean']);
    });

    it('one writer at a time', () => {
      const w = RecordLogWriter.open(dir, LOG);
      assert.throws(() => RecordLogWriter.open(dir, LOG), LockedError);
      w.closeSync();
      RecordLogWriter.open(dir, LOG).closeSync();
    });
  });
}

describe('record log on the simulated page cache', () => {
  it('a failed fdatasync poisons the writer', () => {
    const dir = new SimulatedDirectory();
    const w = RecordLogWriter.open(dir, LOG);
    w.append(bytesOf(1));
    dir.injectFault({ op: 'sync', error: 'EIO' });
    assert.throws(() => w.syncSync(), IoError);
    assert.throws(() => w.append(bytesOf(2)), PoisonedError);
    assert.throws(() => w.closeSync(), PoisonedError);
  });

  for (const how of ['closeSync', 'close'] as const) {
    it(`a file close that fails (${how}) still releases the lock: the log can be opened again`, async () => {
      const dir = new SimulatedDirectory({ seed: 5 });
      let failClose = false;
      const openAppend = dir.openAppend.bind(dir);
      const create = dir.create.bind(dir);
      const wrap = (f: WritableFile): WritableFile => {
        const close = f.close.bind(f);
        f.close = () => {
          close();
          if (failClose) throw new IoError('EIO', 'close', f.path);
        };
        return f;
      };
      dir.openAppend = (p: string) => wrap(openAppend(p));
      dir.create = (p: string) => wrap(create(p));
      const w = RecordLogWriter.open(dir, LOG);
      w.append(bytesOf(1));
      failClose = true;
      if (how === 'closeSync') assert.throws(() => w.closeSync(), IoError);
      else await assert.rejects(w.close(), IoError);
      failClose = false;
      RecordLogWriter.open(dir, LOG).closeSync();
      assert.deepEqual(readRecordLog(dir, LOG).records, [bytesOf(1)]);
    });
  }

  // After a failed fdatasync the page cache still shows bytes the disk never got, marked clean
  // (the simulated directory models this): a writer opened in the same boot must not trust them.
  for (const version of [2, 1]) {
    it(`a failed fdatasync whose cut-back fails too: the next writer makes what it found durable (version ${version})`, () => {
      const dir = new SimulatedDirectory({ seed: 3 });
      if (version === 1) {
        dir.mkdirp('logs');
        dir.atomicWrite(LOG, encodeRecordLogHeader(64, dir.checksum, 1));
      }
      const a = RecordLogWriter.open(dir, LOG);
      a.append(bytesOf(0));
      a.syncSync();
      a.append(bytesOf(1, 100)); // longer than W in the version 1 file
      a.flushSync();
      dir.injectFault({ op: 'sync', error: 'EIO' });
      dir.injectFault({ op: 'truncate', error: 'EIO' });
      assert.throws(() => a.syncSync(), IoError);
      assert.throws(() => a.closeSync(), PoisonedError);
      const b = RecordLogWriter.open(dir, LOG);
      b.append(bytesOf(2));
      b.syncSync();
      const after = dir.crash({ mode: 'dropAll', seed: 3 });
      assert.deepEqual(readRecordLog(after, LOG).records, [bytesOf(0), bytesOf(1, 100), bytesOf(2)]);
    });
  }

  it('a failed fdatasync of a new log\'s header: the next writer makes the header durable', () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    dir.injectFault({ op: 'sync', error: 'EIO' });
    assert.throws(() => RecordLogWriter.open(dir, LOG), IoError);
    const w = RecordLogWriter.open(dir, LOG);
    w.append(bytesOf(0));
    w.syncSync();
    assert.deepEqual(readRecordLog(dir.crash({ mode: 'dropAll', seed: 3 }), LOG).records, [bytesOf(0)]);
  });

  it('a cut whose fdatasync failed is made again: stale frames behind it never come back as records', () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    dir.mkdirp('logs');
    // On disk: a record, a torn write, then a whole frame written after it (never synced, as
    // its predecessor is torn). The torn bytes are exactly as long as what the writer below adds:
    // a sync mark, a 10-byte record, the closing mark.
    const torn = RECORD_MARK_SIZE + 8 + 10 + RECORD_MARK_SIZE;
    const b = new Uint8Array(RECORD_LOG_HEADER_SIZE + 11 + torn + 11);
    b.set(encodeRecordLogHeader(1 << 20, dir.checksum));
    const at = writeRecordFrame(b, RECORD_LOG_HEADER_SIZE, bytesOf(0, 3), dir.checksum);
    b.fill(0xee, at, at + torn);
    writeRecordFrame(b, at + torn, bytesOf(77, 3), dir.checksum);
    dir.atomicWrite(LOG, b);
    dir.injectFault({ op: 'sync', error: 'EIO' });
    assert.throws(() => RecordLogWriter.open(dir, LOG), IoError); // the cut is in the page cache only
    const w = RecordLogWriter.open(dir, LOG);
    w.append(bytesOf(1, 10));
    w.closeSync();
    assert.deepEqual(readRecordLog(dir.crash({ mode: 'dropAll', seed: 3 }), LOG).records, [bytesOf(0, 3), bytesOf(1, 10)]);
  });

  it('after failed writes, syncs and cuts, writers reopened in the same boot, then a power cut: a prefix holding every acknowledged record', () => {
    type Step = { t: 'rec'; n: number } | { t: 'sync' } | { t: 'flush' } | { t: 'close' } | { t: 'fault'; op: 'sync' | 'write' | 'truncate'; error: 'EIO' | 'short'; after: number };
    const step = fc.oneof(
      { arbitrary: fc.nat(300).map((n): Step => ({ t: 'rec', n })), weight: 8 },
      { arbitrary: fc.constantFrom<Step>({ t: 'sync' }, { t: 'flush' }, { t: 'close' }), weight: 4 },
      { arbitrary: fc.record({ op: fc.constantFrom('sync' as const, 'write' as const, 'truncate' as const), error: fc.constantFrom('EIO' as const, 'short' as const), after: fc.nat(2) }).map((f): Step => ({ t: 'fault', ...f })), weight: 1 },
    );
    fc.assert(fc.property(
      fc.array(step, { maxLength: 50 }),
      fc.constantFrom(1, 2),
      fc.constantFrom(16, 100, 4096),
      fc.constantFrom<CrashMode>('dropAll', 'keepPrefix', 'tear', 'reorder'),
      fc.nat(),
      (steps, version, syncWindow, mode, seed) => {
        const dir = new SimulatedDirectory({ seed });
        if (version === 1) {
          dir.mkdirp('logs');
          dir.atomicWrite(LOG, encodeRecordLogHeader(syncWindow, dir.checksum, 1));
        }
        // Record i is bytesOf(i, n): after a failure the next writer continues from what the
        // page cache shows, so a record number can be appended again with another length.
        let appended = 0;
        let acknowledged = 0;
        let w: RecordLogWriter | undefined;
        for (const s of steps) {
          try {
            if (s.t === 'fault') {
              dir.injectFault({ op: s.op, error: s.error, after: s.after });
              continue;
            }
            w ??= RecordLogWriter.open(dir, LOG, { syncWindow, bufferSize: 50 });
            if (s.t === 'rec') {
              w.append(bytesOf(appended, s.n));
              appended++;
            } else if (s.t === 'flush') {
              w.flushSync();
            } else if (s.t === 'sync') {
              w.syncSync();
              acknowledged = appended;
            } else {
              const closing = w;
              w = undefined;
              closing.closeSync();
              acknowledged = appended;
            }
          } catch (err) {
            assert.ok(err instanceof DurabilityError, String(err));
            try {
              w?.closeSync();
            } catch {
              // poisoned: the failure above is the one that counts
            }
            w = undefined;
            appended = dir.exists(LOG) ? readRecordLog(dir, LOG, { mode: 'bestEffortTail' }).records.length : 0;
            assert.ok(appended >= acknowledged, 'a failure cut an acknowledged record');
          }
        }
        dir.clearFaults();
        const after = dir.crash({ mode, seed });
        const records = after.exists(LOG) ? readRecordLog(after, LOG, { mode: 'bestEffortTail' }).records : [];
        assert.ok(records.length >= acknowledged, `${records.length} records, ${acknowledged} acknowledged`);
        records.forEach((r, i) => assert.ok(r.every((b) => b === (i & 0xff)), `record ${i} is not the one appended as number ${i}`));
      },
    ), { numRuns: process.env.DURABILITY_LONG === '1' ? 20_000 : 500 });
  });

  it('after any power cut, reopening yields a prefix holding every synced record', () => {
    const runs = process.env.DURABILITY_LONG === '1' ? 20_000 : 500;
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.nat(300).map((n) => ({ t: 'rec' as const, n })), fc.constant({ t: 'sync' as const })), { maxLength: 40 }),
      fc.constantFrom<CrashMode>('dropAll', 'keepPrefix', 'tear', 'reorder'),
      fc.constantFrom(16, 100, 4096),
      fc.nat(),
      (cmds, mode, syncWindow, seed) => {
        const dir = new SimulatedDirectory({ seed });
        const w = RecordLogWriter.open(dir, LOG, { syncWindow, bufferSize: 50 });
        const appended: Uint8Array[] = [];
        let synced = 0;
        for (const c of cmds) {
          if (c.t === 'rec') {
            appended.push(bytesOf(appended.length, c.n));
            w.append(appended[appended.length - 1]);
          } else {
            w.syncSync();
            synced = appended.length;
          }
        }
        const after = dir.crash({ mode, seed });
        const w2 = RecordLogWriter.open(after, LOG);
        w2.closeSync();
        const { records } = readRecordLog(after, LOG);
        assert.ok(records.length >= synced && records.length <= appended.length, `${records.length} records, ${synced} synced`);
        assert.deepEqual(records, appended.slice(0, records.length));
      },
    ), { numRuns: runs });
  });
});

describe('record log close', () => {
  it('once close() has begun, append, flush and sync are refused (ClosedError), never taken and dropped', async () => {
    for (const history of ['new', 'reopened'] as const) {
      const dir = new MemoryDirectory();
      if (history === 'reopened') {
        const w0 = RecordLogWriter.open(dir, LOG);
        w0.append(bytesOf(0));
        w0.closeSync();
      }
      const w = RecordLogWriter.open(dir, LOG);
      const closing = w.close();
      assert.throws(() => w.append(bytesOf(1)), ClosedError, history);
      assert.equal(w.close(), closing, 'a second close() waits for the first');
      assert.throws(() => w.flushSync(), ClosedError);
      await assert.rejects(w.sync(), ClosedError);
      assert.throws(() => w.closeSync(), InvalidStateError);
      await closing;
      assert.equal(readRecordLog(dir, LOG).records.length, history === 'new' ? 0 : 1);
    }
  });

  it('closeSync while a sync is still running is refused and keeps the log; the late failure then poisons it, never the next writer', async () => {
    // An fdatasync on the thread pool that reports its failure late: the kernel hands a writeback
    // error to one of the fdatasyncs racing on a descriptor, so one closeSync made meanwhile
    // could return 0 for records that sync lost, and let go of the log.
    const dir = new MemoryDirectory();
    let failLate: (() => void) | undefined;
    const openAppend = dir.openAppend.bind(dir);
    dir.openAppend = (p: string): WritableFile => {
      const f = openAppend(p);
      f.syncAsync = () => new Promise((_, reject) => {
        failLate = () => reject(new IoError('EIO', 'fdatasync', p));
      });
      return f;
    };
    RecordLogWriter.open(dir, LOG).closeSync(); // the log exists: writers open it with openAppend
    const a = RecordLogWriter.open(dir, LOG);
    a.append(bytesOf(0));
    const syncing = a.sync();
    assert.throws(() => a.closeSync(), InvalidStateError);
    assert.throws(() => RecordLogWriter.open(dir, LOG), LockedError, 'the log was not let go');
    assert.ok(failLate !== undefined);
    failLate();
    await assert.rejects(syncing, IoError);
    assert.throws(() => a.closeSync(), PoisonedError);
    const b = RecordLogWriter.open(dir, LOG);
    for (let i = 1; i < 4; i++) b.append(bytesOf(i));
    b.syncSync();
    b.closeSync();
    assert.deepEqual(readRecordLog(dir, LOG).records, [1, 2, 3].map((i) => bytesOf(i)), 'the record the failed sync held was cut back');
  });
});

describe('record log sync marks after a power cut', () => {
  it('a flipped bit anywhere below the watermark a surviving mark carries is damage, never a torn tail', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.nat(300).map((n) => ({ t: 'rec' as const, n })), fc.constant({ t: 'sync' as const })), { minLength: 1, maxLength: 40 }),
      fc.constantFrom<CrashMode>('dropAll', 'keepPrefix', 'tear', 'reorder'),
      fc.nat(),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (cmds, mode, seed, where) => {
        const dir = new SimulatedDirectory({ seed });
        const w = RecordLogWriter.open(dir, LOG, { bufferSize: 50 });
        let i = 0;
        for (const c of cmds) {
          if (c.t === 'rec') w.append(bytesOf(i++, c.n));
          else w.syncSync();
        }
        const after = dir.crash({ mode, seed });
        const { scan } = readRecordLog(after, LOG, { mode: 'bestEffortTail' });
        if (scan.watermark <= RECORD_LOG_HEADER_SIZE) return;
        const at = RECORD_LOG_HEADER_SIZE + Math.floor(where * (scan.watermark - RECORD_LOG_HEADER_SIZE));
        const b = after.readFile(LOG).slice();
        b[at] ^= 1 << (seed % 8);
        after.atomicWrite(LOG, b);
        assert.throws(() => readRecordLog(after, LOG, { mode: 'bestEffortTail' }), (e: unknown) => e instanceof CorruptionError && /damage/.test(e.reason));
      },
    ), { numRuns: process.env.DURABILITY_LONG === '1' ? 5_000 : 300 });
  });
});

/** A directory whose reads record the largest buffer handed to them. */
function spied(dir: MemoryDirectory): { dir: MemoryDirectory; largest: () => number } {
  let largest = 0;
  const openRead = dir.openRead.bind(dir);
  dir.openRead = (path: string): ReadableFile => {
    const f = openRead(path);
    return {
      path: f.path, size: () => f.size(), close: () => f.close(),
      read: (t: Uint8Array, p: number) => {
        largest = Math.max(largest, t.length);
        return f.read(t, p);
      },
    };
  };
  return { dir, largest: () => largest };
}

describe('record log fuzz', () => {
  it('random and mutated files: typed errors only, reads never larger than the file', () => {
    const base = new MemoryDirectory();
    const w = RecordLogWriter.open(base, LOG, { syncWindow: 40 });
    for (let i = 0; i < 12; i++) w.append(bytesOf(i));
    w.closeSync();
    const valid = base.readFile(LOG);
    const runs = process.env.DURABILITY_LONG === '1' ? 50_000 : 2_000;
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const b = valid.slice(); b[i] ^= x; return b; }),
        fc.nat(valid.length).map((n) => valid.slice(0, n)),
        fc.tuple(fc.nat(valid.length - 4), fc.constantFrom(0xffffffff, MAX_RECORD_SIZE, MAX_RECORD_SIZE + 1, 0x7fffffff)).map(([i, v]) => { const b = valid.slice(); writeU32(b, i, v); return b; }),
      ),
      fc.constantFrom('strict' as const, 'bestEffortTail' as const),
      (bytes, mode) => {
        const { dir, largest } = spied(new MemoryDirectory());
        dir.atomicWrite('f', bytes);
        try {
          let n = 0;
          forEachRecord(dir, 'f', { mode }, (r, i) => {
            assert.equal(i, n++);
            assert.ok(r.length <= bytes.length);
          });
        } catch (e) {
          assert.ok(e instanceof DurabilityError, String(e));
        }
        assert.ok(largest() <= Math.max(bytes.length, RECORD_LOG_HEADER_SIZE), `read of ${largest()} for ${bytes.length} bytes`);
      },
    ), { numRuns: runs });
  });
});
