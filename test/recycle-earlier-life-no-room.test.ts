// A disk with no room for the zeros kept ahead of the log (CommitPlan.zeroChunks left out,
// 'zeros-skipped') still gets a frame header of zeros behind each commit written into a recycled
// file: they overwrite blocks the file owns, so they need no room, and without them the earlier
// life's bytes follow the log directly and a live or killed log reads as a torn write at its end.
import assert from 'node:assert/strict';
import type { CommitPlan, CommitResult, Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const SEGMENT = 64 * 1024;
const entry = new Uint8Array(1000).fill(5);

/** `inner`, as a full disk shows it: every commit's zeros ahead of the log find no room and are left out. */
function noRoomForZeros(inner: Directory): { dir: Directory; skipped: () => number } {
  let skipped = 0;
  const dir = wrappingFiles(inner, (file) => overriding(file, {
    commitAsync: async (plan: CommitPlan): Promise<CommitResult> => {
      const n = plan.zeroChunks ?? 0;
      if (n === 0) return file.commitAsync(plan);
      await file.commitAsync({ ...plan, chunks: plan.chunks.slice(0, plan.chunks.length - n), zeroChunks: 0 });
      skipped++;
      return 'zeros-skipped';
    },
  }));
  return { dir, skipped: () => skipped };
}

/** Fills four segments, recycles two, and appends until segment 5 (a recycled file) holds half a segment of this life. */
async function onRecycledWithoutZeros(): Promise<{ inner: MemoryDirectory; w: WalWriter<Uint8Array>; entries: number; skipped: () => number }> {
  const inner = new MemoryDirectory();
  const { dir, skipped } = noRoomForZeros(inner);
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, flushPolicy: 'perAppend', idleMarkMs: 0 });
  while (w.currentSegmentId < 4) await w.appendDurable(entry);
  const m = new WalMaintenance(inner);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[1].lastEntryId));
  while (w.currentSegmentId < 5 || w.currentSegmentBytes < SEGMENT / 2) await w.appendDurable(entry);
  assert.ok(skipped() > 0, 'zeros were left out');
  return { inner, w, entries: w.lastEntryId - m.segmentRanges()[0].firstEntryId + 1, skipped };
}

describe('a recycled final segment on a disk with no room for the zeros ahead of the log', () => {
  it('reads strictly to the end of this life after an idle writer wrote its sync mark alone', async () => {
    const { inner, w, entries } = await onRecycledWithoutZeros();
    (w as unknown as { markWhileIdle(): void }).markWhileIdle();
    const final = scanSegment(inner, listSegments(inner).at(-1)!, { isFinal: true, mode: 'bestEffortTail' });
    assert.equal(final.validEnd, w.currentSegmentBytes, 'the idle mark was written and read');
    assert.notEqual(final.tail, 'torn', `the final segment reads as a torn write at ${final.validEnd}`);
    assert.equal((await new WalReader(inner, { codec: raw }).replay({ mode: 'strict' })).length, entries);
    await w.close();
  });

  it('reads strictly to the end of this life while the writer lives, and after it closed', async () => {
    // Past the page of zeros behind the recycled file's new header: what follows is the commits' own.
    const { inner, w, entries } = await onRecycledWithoutZeros();
    const f = inner.openRead(segmentPath(5));
    try {
      assert.ok(f.size() > w.currentSegmentBytes + 1024, 'the earlier life lies past the log');
    } finally {
      f.close();
    }
    const final = scanSegment(inner, listSegments(inner).at(-1)!, { isFinal: true, mode: 'bestEffortTail' });
    assert.notEqual(final.tail, 'torn', `the final segment reads as a torn write at ${final.validEnd}`);
    assert.equal(final.validEnd, w.currentSegmentBytes);
    assert.equal((await new WalReader(inner, { codec: raw }).replay({ mode: 'strict' })).length, entries);
    await w.close();
    assert.equal((await new WalReader(inner, { codec: raw }).replay({ mode: 'strict' })).length, entries);
  });
});
