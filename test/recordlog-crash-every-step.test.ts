import assert from 'node:assert/strict';
import { Prng } from '../lib/directory/prng';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';

// The record log's power-cut properties (recordlog.test.ts) cut the power once the appends are
// done. Here it goes after every single operation of a run of writer lives (open, appends,
// flushes, syncSync, sync, close, closeSync, reopen with its repair), in every crash mode, and
// then once more somewhere in the repairing open of the next writer and its first append: the
// writer opened after that finds a prefix of what was appended holding every acknowledged
// record, and never calls a crash damage.
const LOG = 'logs/events.rlog';
const recordOf = (i: number, n: number): Uint8Array => new Uint8Array(n).fill(i & 0xff);
/** The record the writer after the first cut appends (never one of the workload's: length 5, byte 0xfe). */
const AFTER_CUT = recordOf(0xfe, 5);

interface Progress {
  appended: number;
  acknowledged: number;
}

/** Three writer lives; throws once the power is cut. */
async function workload(dir: SimulatedDirectory, rng: Prng, progress: Progress, syncWindow: number): Promise<void> {
  for (let life = 0; life < 3; life++) {
    const w = RecordLogWriter.open(dir, LOG, { syncWindow, bufferSize: rng.int(2) === 0 ? 0 : 40 });
    for (let s = 0; s < 8; s++) {
      const k = rng.int(6);
      const n = progress.appended;
      if (k <= 2) {
        w.append(recordOf(n, 1 + rng.int(40)));
        progress.appended++;
      } else if (k === 3) {
        w.syncSync();
        progress.acknowledged = n;
      } else if (k === 4) {
        await w.sync();
        progress.acknowledged = n;
      } else {
        w.flushSync();
      }
    }
    const n = progress.appended;
    if (rng.int(2) === 0) w.closeSync();
    else await w.close();
    progress.acknowledged = n;
  }
}

describe('record log: a power cut after any operation, then another in the repair', () => {
  const seeds = process.env.DURABILITY_LONG === '1' ? 200 : 12;
  it(`the next writer finds a prefix holding every acknowledged record, never damage (${seeds} seeded workloads)`, async function () {
    this.timeout(seeds * 10_000);
    const problems: string[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const syncWindow = [16, 60, 4096][seed % 3];
      const counting = new SimulatedDirectory({ seed });
      await workload(counting, new Prng(seed), { appended: 0, acknowledged: 0 }, syncWindow);
      const total = counting.operations;
      for (let at = 1; at <= total; at++) {
        for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as CrashMode[]) {
          const where = `seed ${seed}, W ${syncWindow}, cut after operation ${at} of ${total} (${mode})`;
          const dir = new SimulatedDirectory({ seed });
          const progress: Progress = { appended: 0, acknowledged: 0 };
          const cut = dir.scheduleCrash(at, { mode, seed: seed * 1000 + at });
          await workload(dir, new Prng(seed), progress, syncWindow).catch(() => undefined);
          const after = cut.directory;
          assert.ok(after !== undefined, `${where}: the workload makes that many operations`);
          try {
            if (!after.exists(LOG)) {
              if (progress.acknowledged > 0) problems.push(`${where}: the log is gone, ${progress.acknowledged} records acknowledged`);
              continue;
            }
            const second = after.scheduleCrash(1 + ((seed * 7 + at) % 12), { mode, seed: seed * 7 + at });
            try {
              const w = RecordLogWriter.open(after, LOG);
              w.append(AFTER_CUT);
              w.syncSync();
              w.closeSync();
            } catch {
              // the power went again
            }
            const final = second.directory ?? after;
            if (second.directory === undefined) after.scheduleCrash(Number.MAX_SAFE_INTEGER); // disarmed: that run made fewer operations
            RecordLogWriter.open(final, LOG).closeSync();
            const { records } = readRecordLog(final, LOG);
            if (records.length < progress.acknowledged) problems.push(`${where}: ${records.length} records, ${progress.acknowledged} acknowledged`);
            records.forEach((r, i) => {
              const appended = r.every((b) => b === (i & 0xff));
              if (!appended && !Buffer.from(r).equals(AFTER_CUT)) problems.push(`${where}: record ${i} is not the one appended as number ${i}`);
            });
          } catch (err) {
            problems.push(`${where}: ${String(err)}`);
          }
        }
      }
    }
    assert.deepEqual(problems.slice(0, 10), []);
  });
});
