import assert from 'node:assert/strict';
import type { DurableResult } from '../bench/durable';
import type { FdatasyncMode, FdatasyncResult } from '../bench/fdatasync';
import { checks } from '../bench/suite';

// The 1-producer row against better-sqlite3: both pay one fdatasync per commit, so beside a miss
// the table says whether the bare write + fdatasync loop itself reached the target that run.
describe('bench targets: 1 producer ÷ better-sqlite3', () => {
  const cell = (target: string, perSecond: number): DurableResult => ({
    target, mode: '', producers: 1, seconds: 1, appends: perSecond, perSecond, p50Us: 1e6 / perSecond, p99Us: 0, p999Us: 0,
    meanUs: 0, maxUs: 0, cpuPercent: 0, counters: {},
  });
  const loop = (perSecond: number): FdatasyncMode => ({ rounds: perSecond, perSecond, p50Us: 1e6 / perSecond, p99Us: 0, p999Us: 0, meanUs: 0, maxUs: 0 });
  const fdatasync = (perSecond: number): FdatasyncResult[] => [{ bytesPerWrite: 116, grow: loop(perSecond / 2), overwrite: loop(perSecond), growBatch: loop(perSecond / 2) }];
  const row = (native: number, sqlite: number, bare: number): string => {
    const all = checks({ durable: [cell('native', native), cell('better-sqlite3', sqlite)], fdatasync: fdatasync(bare), ceiling: [] });
    const r = all.find((c) => c.codec === 'raw' && c.what.startsWith('1 producer: native ÷ better-sqlite3'));
    assert.ok(r !== undefined);
    return r.measured;
  };

  it('a miss with the bare loop itself under 1.2× is out of reach in this run', () => {
    assert.equal(row(9_400, 9_000, 10_400), '1.04×; the bare fdatasync loop: 1.16×, out of reach in this run');
  });

  it('a miss with the bare loop over 1.2× is not', () => {
    assert.equal(row(9_400, 8_000, 10_400), '1.18×; the bare fdatasync loop: 1.30×');
  });

  it('a met target says only the bare loop beside it', () => {
    assert.equal(row(9_800, 8_000, 10_400), '1.23×; the bare fdatasync loop: 1.30×');
  });
});
