// Near a recycled file's old end the writer hands the file a commit of zeros of its own
// (ActiveSegment.zeroAheadAsync), optional zeros, which a full disk leaves out ('zeros-skipped').
// A batch started while that commit ran took those zeros as written and carried no frame header of
// zeros behind its frames; when they were left out, its frames lay right against the earlier life:
// the live log, and the log of a writer killed then, read as a torn write in strict mode.
import assert from 'node:assert/strict';
import type { CommitPlan, CommitResult, Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const SEGMENT = 64 * 1024;
const entry = new Uint8Array(3000).fill(5);

/**
 * `inner`, as a full disk shows it to a commit of zeros alone: the zeros are left out and the
 * commit reports it a turn of the event loop later (the commit thread's report arrives after the
 * caller woken by the batch before it has started its next batch). Commits complete in order.
 */
function zerosCommitsSkippedLate(inner: Directory): { dir: Directory; skipped: () => number; handed: () => number } {
  let skipped = 0;
  let handed = 0;
  let previous: Promise<unknown> = Promise.resolve();
  const dir = wrappingFiles(inner, (file) => overriding(file, {
    commitAsync: (plan: CommitPlan): Promise<CommitResult> => {
      const n = plan.zeroChunks ?? 0;
      const zerosOnly = n > 0 && n === plan.chunks.length;
      if (zerosOnly) handed++;
      const ran = zerosOnly ? file.commitAsync({ ...plan, chunks: [], zeroChunks: 0 }) : file.commitAsync(plan);
      const reported = previous.then(() => ran).then(async (result) => {
        if (!zerosOnly) return result;
        await new Promise((resolve) => setImmediate(resolve));
        skipped++;
        return 'zeros-skipped' as const;
      });
      previous = reported.catch(() => undefined);
      return reported;
    },
  }));
  return { dir, skipped: () => skipped, handed: () => handed };
}

/** A writer on segment 5, a recycled file, whose commit of zeros ahead was just handed to the file and has not reported yet. */
async function whileZerosCommitRuns(): Promise<{ inner: MemoryDirectory; w: WalWriter<Uint8Array>; m: WalMaintenance; skipped: () => number }> {
  const inner = new MemoryDirectory();
  const { dir, skipped, handed } = zerosCommitsSkippedLate(inner);
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, flushPolicy: 'perAppend', idleMarkMs: 0 });
  while (w.currentSegmentId < 4) await w.appendDurable(entry);
  const m = new WalMaintenance(inner);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[1].lastEntryId));
  const before = handed();
  while (w.currentSegmentId < 5 || handed() === before) await w.appendDurable(entry);
  return { inner, w, m, skipped };
}

/** The live log reads, strictly, every entry the writer holds, its final segment ending where the writer is. */
async function readsToItsEnd(inner: MemoryDirectory, w: WalWriter<Uint8Array>, m: WalMaintenance): Promise<void> {
  assert.ok(w.currentSegmentBytes > 4096 + 32, 'the log is past the page of zeros behind the header');
  const final = scanSegment(inner, listSegments(inner).at(-1)!, { isFinal: true, mode: 'bestEffortTail' });
  assert.notEqual(final.tail, 'torn', `the final segment reads as a torn write at ${final.validEnd}`);
  assert.equal(final.validEnd, w.currentSegmentBytes);
  const entries = w.lastEntryId - m.segmentRanges()[0].firstEntryId + 1;
  assert.equal((await new WalReader(inner, { codec: raw }).replay({ mode: 'strict' })).length, entries);
}

describe('a recycled final segment whose commit of zeros ahead found no room', () => {
  it('reads strictly to the end of this life after the batch that started while that commit ran', async () => {
    const { inner, w, m, skipped } = await whileZerosCommitRuns();
    const before = skipped();
    // The append after the commit of zeros was handed over starts its batch while that commit runs.
    while (skipped() === before) await w.appendDurable(entry);
    await readsToItsEnd(inner, w, m);
    await w.close();
  });

  it('reads strictly to the end of this life after a synchronous sync wrote frames while that commit ran', async () => {
    const { inner, w, m, skipped } = await whileZerosCommitRuns();
    const before = skipped();
    w.append(entry);
    w.syncSync();
    assert.equal(skipped(), before, 'the commit of zeros has not reported yet');
    await readsToItsEnd(inner, w, m);
    await w.close();
  });
});
