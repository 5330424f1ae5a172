import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DurableResult } from '../bench/durable';
import type { FdatasyncMode, FdatasyncResult } from '../bench/fdatasync';
import { recordsTable } from '../bench/records';

// bench/records.ts puts every recorded run side by side: one row per target, whatever the run's
// reference figures (they are in the target's name), and how many runs met it.
describe('bench records: the targets of every recorded run side by side', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'durability-records-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cell = (target: string, producers: number, perSecond: number): DurableResult => ({
    target, mode: '', producers, seconds: 1, appends: perSecond, perSecond, p50Us: 1e6 / perSecond, p99Us: 500, p999Us: 0,
    meanUs: 0, maxUs: 0, cpuPercent: 0, counters: { commits: perSecond / producers },
  });
  const loop = (perSecond: number): FdatasyncMode => ({ rounds: perSecond, perSecond, p50Us: 1e6 / perSecond, p99Us: 0, p999Us: 0, meanUs: 0, maxUs: 0 });
  const fdatasync = (perSecond: number): FdatasyncResult[] => [{ bytesPerWrite: 116, grow: loop(perSecond / 2), overwrite: loop(perSecond), growBatch: loop(perSecond / 2) }];
  const run = (file: string, commit: string, native256: number, bare: number, ceiling: unknown[] = [{ disk: [], js: [] }]): void =>
    writeFileSync(path.join(dir, file), JSON.stringify({
      date: `2026-12-0${file[0]}T10:00:00.000Z`, machine: { commit }, load: { start: [0.3], end: [1] },
      durable: [cell('native', 256, native256), cell('lmdb', 256, 100_000), cell('native', 1, bare * 0.9)], fdatasync: fdatasync(bare), ceiling,
    }));

  it('one column per run with a ceiling, one row per target, and how many runs met it', () => {
    run('1.json', 'aaaaaaa111', 300_000, 10_000); // ÷ lmdb 3.0× ✓
    run('2.json', 'bbbbbbb222', 200_000, 12_000); // ÷ lmdb 2.0× ✗, another reference p50
    run('3.json', 'ccccccc333', 900_000, 10_000, []); // before the ceiling was measured: left out
    const lines = recordsTable(dir);
    assert.match(lines[0], /^\| target \| 12-01 10:00 aaaaaaa \(0\.3\) \| 12-02 10:00 bbbbbbb \(0\.3\) \| met \|$/);
    const lmdb = lines.find((l) => l.startsWith('| raw · 256 producers: native ÷ lmdb durable put |'));
    assert.equal(lmdb, '| raw · 256 producers: native ÷ lmdb durable put | 3.00× ✓ | 2.00× ✗ | 1 of 2 |');
    // The one-producer row names each run's reference p50 in the suite; here it is one row.
    const single = lines.filter((l) => l.startsWith('| raw · 1 producer: native p50 ÷ bare fdatasync p50 |'));
    assert.equal(single.length, 1);
    assert.match(single[0], /\| 2 of 2 \|$/);
    const perRound = lines.find((l) => l.startsWith('| raw · 256 producers: entries per fdatasync round |'));
    assert.equal(perRound, '| raw · 256 producers: entries per fdatasync round | 256.0 ✓ | 256.0 ✓ | 2 of 2 |');
  });
});
