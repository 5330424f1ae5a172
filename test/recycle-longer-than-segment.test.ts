// A recycled file can be longer than the segments the writer now makes: a log written with a
// larger maxSegmentSize leaves recycle files its next writer adopts, and a segment whose first
// entry is larger than maxSegmentSize is as long as that entry. Over such a file the earlier life
// reaches past maxSegmentSize, so the frame header of zeros a reader needs in front of it (rule C)
// must follow every write there too, whatever maxSegmentSize says.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Directory } from '../lib/directory/directory';
import { raw } from '../lib/wal/codec';
import { segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { appendDurablyIn, fileSizeIn, recycleDirectories } from './support/recycle-lives';

const OLD_SEGMENT = 256 * 1024;
const SEGMENT = 64 * 1024;

/** A log of OLD_SEGMENT-byte segments whose first two were truncated to recycle files, left for the next writer. */
async function withLongRecycleFiles(dir: Directory): Promise<void> {
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: OLD_SEGMENT, recycleCapacity: 2 });
  const entry = new Uint8Array(4000).fill(7);
  while (w.currentSegmentId < 4) await w.appendDurable(entry);
  const m = new WalMaintenance(dir);
  m.truncateToRecycle(m.segmentRanges()[1].lastEntryId);
  await w.close();
}

async function strictEntries(dir: Directory): Promise<number> {
  return (await new WalReader(dir, { codec: raw }).replay({ mode: 'strict' })).length;
}

describe('a recycled file longer than maxSegmentSize', () => {
  for (const { name, make } of recycleDirectories('long-recycle')) {
    for (const mode of ['group commit', 'synchronous'] as const) {
      it(`reads strictly to the end of a live segment whose frames pass maxSegmentSize (${mode}, ${name})`, async () => {
        const { dir, root } = make();
        try {
          await withLongRecycleFiles(dir);
          const w = WalWriter.open<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
          try {
            const append = (bytes: Uint8Array): Promise<void> => appendDurablyIn(w, mode, bytes);
            const before = w.currentSegmentId;
            // Larger than maxSegmentSize: it rotates, and is the first (and only) frame of the new segment.
            await append(new Uint8Array(SEGMENT + 8 * 1024).fill(9));
            assert.equal(w.currentSegmentId, before + 1);
            const p = segmentPath(w.currentSegmentId);
            assert.ok(fileSizeIn(dir, p) > w.currentSegmentBytes + 16, 'the segment is a recycled file whose earlier life lies past the log');
            const final = scanSegment(dir, listSegments(dir).at(-1)!, { isFinal: true, mode: 'strict' });
            assert.equal(final.validEnd, w.currentSegmentBytes);
            // 'stale' when only the 16 bytes of zeros lie between, 'clean' when zeros reach the file's end.
            assert.ok(final.tail === 'stale' || final.tail === 'clean', final.tail);
            const expected = (await new WalReader(dir, { codec: raw }).replay({ mode: 'bestEffortTail' })).length;
            assert.equal(await strictEntries(dir), expected);
          } finally {
            await w.close();
          }
        } finally {
          if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }
  }
});
