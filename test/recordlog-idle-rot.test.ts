import assert from 'node:assert/strict';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { CorruptionError, InvalidArgumentError } from '../lib/errors';
import { RECORD_LOG_HEADER_SIZE } from '../lib/recordlog/format';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';

// Bit rot in records a sync acknowledged must read as damage, never as a torn tail that the next
// writer's open cuts off. A sync mark is the proof that bytes had been synced; the mark that
// proves a sync waited for the next write after it, so records synced by a writer that then
// wrote nothing more (idle until it was killed, or the machine lost power) had none. An idle
// writer now writes it alone, as the WAL writer does (idleMarkMs).
const LOG = 'logs/events.rlog';
const record = (i: number): Uint8Array => new Uint8Array(40).fill(i);

describe('record log: bit rot in the last records a sync acknowledged', () => {
  for (const how of ['syncSync', 'sync'] as const) {
    it(`after ${how}() and an idle moment, then a power cut, a flipped bit in them is damage and the next writer cuts nothing`, async () => {
      const dir = new SimulatedDirectory({ seed: 11 });
      const w = RecordLogWriter.open(dir, LOG);
      for (let i = 1; i <= 3; i++) w.append(record(i));
      w.syncSync();
      for (let i = 4; i <= 6; i++) w.append(record(i));
      if (how === 'syncSync') w.syncSync();
      else await w.sync();
      // The writer stays idle (one timer turn well past its 5 ms); writeback carries what it wrote
      // after its sync, then the power goes.
      await new Promise((resolve) => setTimeout(resolve, 50));
      dir.syncFile(LOG);
      const after = dir.crash({ mode: 'dropAll', seed: 11 });
      assert.equal(readRecordLog(after, LOG).records.length, 6);
      const b = after.readFile(LOG).slice();
      const at = Buffer.from(b).indexOf(Buffer.from(record(5))); // record 5's payload
      assert.ok(at > RECORD_LOG_HEADER_SIZE);
      b[at + 10] ^= 0x04;
      after.atomicWrite(LOG, b);
      assert.throws(() => readRecordLog(after, LOG, { mode: 'bestEffortTail' }), (e: unknown) => e instanceof CorruptionError && /damage/.test(e.reason));
      const before = after.readFile(LOG);
      assert.throws(() => RecordLogWriter.open(after, LOG), CorruptionError);
      assert.deepEqual(after.readFile(LOG), before, 'nothing cut');
    });
  }
});

describe('record log: idleMarkMs', () => {
  it('refuses what is not an integer number of milliseconds in 0..2^31 - 1, before anything is created', () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    for (const idleMarkMs of [-1, 1.5, Number.NaN, 2 ** 31, '5' as unknown as number]) {
      assert.throws(() => RecordLogWriter.open(dir, LOG, { idleMarkMs }), InvalidArgumentError, String(idleMarkMs));
    }
    assert.equal(dir.list('logs').length, 0);
  });

  it('0 writes no mark alone: after a sync and an idle moment the file ends where the sync left it', async () => {
    const dir = new SimulatedDirectory({ seed: 5 });
    const w = RecordLogWriter.open(dir, LOG, { idleMarkMs: 0 });
    w.append(record(1));
    w.syncSync();
    const size = w.size;
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(dir.readFile(LOG).length, size);
    w.closeSync();
  });
});
