// A reader that has a segment open keeps reading it after WalMaintenance.truncatePrefix deletes
// it (the descriptor holds the file). truncateToRecycle renames it instead, and the writer then
// writes a new header and new frames over the same file: the reader meets frames that no longer
// validate, in a segment the writer had synced whole. That is no damage of the log, which is
// intact, and must not be reported as damage (an operator would restore a healthy log or cut it
// with repair --force): the entries the reader was at are gone from the log, a RecoveryGapError
// as for a follower that the truncation overtook.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import type { Directory } from '../lib/directory/directory';
import { CorruptionError, RecoveryGapError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

// Segments of 2 MiB: larger than the reader's 1 MiB window, so it reads the file again after the
// recycling, at an offset the new life has written over.
const options = { codec: raw, maxSegmentSize: 2 << 20, recycleCapacity: 1, flushPolicy: 'manual' as const };
const entry = (n: number): Uint8Array => new Uint8Array(32 * 1024).fill(n & 0xff);

async function readAcrossRecycling(dir: Directory, mode: 'strict' | 'bestEffortTail'): Promise<{ read: number[]; error: unknown }> {
  const w = WalWriter.create<Uint8Array>(dir, options);
  for (let n = 1; n <= 130; n++) w.append(entry(n));
  w.syncSync();
  const reader = new WalReader(dir, { codec: raw }).records({ mode });
  const read: number[] = [];
  for (let i = 0; i < 5; i++) read.push((await reader.next()).value!.entryId);
  const ranges = new WalMaintenance(dir).segmentRanges();
  w.recycle(new WalMaintenance(dir).truncateToRecycle(ranges[0].lastEntryId));
  for (let n = 131; n <= 250; n++) w.append(entry(n));
  w.syncSync();
  assert.ok(!dir.list('wal').includes('recycle-1'), 'segment 1 was reused');
  let error: unknown;
  try {
    for (let r = await reader.next(); r.done !== true; r = await reader.next()) read.push(r.value.entryId);
  } catch (err) {
    error = err;
  }
  w.closeSync();
  // The log itself is whole: what the truncation left, strictly.
  const after = new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId);
  assert.deepEqual(after, Array.from({ length: 250 - ranges[0].lastEntryId }, (_, i) => ranges[0].lastEntryId + 1 + i));
  return { read, error };
}

function assertGap(error: unknown, read: number[]): void {
  assert.ok(!(error instanceof CorruptionError), `a healthy log reported as damaged: ${String(error)}`);
  assert.ok(error instanceof RecoveryGapError, String(error));
  assert.deepEqual(read, Array.from({ length: read.length }, (_, i) => i + 1), 'what was read before is a prefix');
  assert.match(error.message, new RegExp(`entries from ${read.length + 1} are missing`));
}

describe('a segment recycled while a reader is in it', () => {
  for (const backend of availableBackends()) {
    for (const mode of ['strict', 'bestEffortTail'] as const) {
      it(`is a RecoveryGapError, not damage (${backend.name}, ${mode})`, async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-reader-'));
        try {
          const { read, error } = await readAcrossRecycling(new FsDirectory(root, { backend }), mode);
          assertGap(error, read);
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }
  }

  it('is a RecoveryGapError, not damage (simulated directory)', async () => {
    const { read, error } = await readAcrossRecycling(new SimulatedDirectory({ seed: 1 }), 'strict');
    assertGap(error, read);
  });
});
