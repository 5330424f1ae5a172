// Closing a writer whose segment is a recycled file trims the earlier life off (rule A's trim)
// and then writes its closing sync mark: nothing of the earlier life lies ahead any more, so the
// mark needs no zeros in front of the old end, and the file ends at the mark. Before, the trim
// left the segment believing the earlier life was still there: the mark's write put up to 1 MiB
// of zeros ahead of it, extending the file it had just cut, on every close.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { raw } from '../lib/wal/codec';
import { MARK_SIZE, segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { appendDurablyIn, recycleDirectories } from './support/recycle-lives';

const SEGMENT = 4 * 1024 * 1024;
const entry = new Uint8Array(4000).fill(7);

describe('closing a writer on a recycled segment', () => {
  for (const { name, make } of recycleDirectories('recycle-close')) {
    for (const mode of ['group commit', 'synchronous'] as const) {
      it(`leaves the file ending at its closing mark, not 1 MiB of zeros past it (${mode}, ${name})`, async () => {
        const { dir, root } = make();
        try {
          const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
          const append = (): Promise<void> => appendDurablyIn(w, mode, entry);
          while (w.currentSegmentId < 2) await append();
          const m = new WalMaintenance(dir);
          w.recycle(m.truncateToRecycle(m.segmentRanges()[0].lastEntryId));
          while (w.currentSegmentId < 3 || w.currentSegmentBytes < 16 * 1024) await append();
          const end = w.currentSegmentBytes;
          const last = w.lastEntryId;
          if (mode === 'group commit') await w.close();
          else w.closeSync();
          const f = dir.openRead(segmentPath(3));
          let size: number;
          try {
            size = f.size();
          } finally {
            f.close();
          }
          assert.ok(size <= end + MARK_SIZE, `segment 3 is ${size} bytes, its log ${end} (and a closing mark of ${MARK_SIZE})`);
          const read = await new WalReader(dir, { codec: raw }).replay({ mode: 'strict' });
          assert.equal(read.at(-1)?.entryId, last);
        } finally {
          if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }
  }
});
