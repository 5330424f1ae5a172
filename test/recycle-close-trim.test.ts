// Closing a writer whose segment is a recycled file trims the earlier life off (rule A's trim)
// and then writes its closing sync mark: nothing of the earlier life lies ahead any more, so the
// mark needs no zeros in front of the old end, and the file ends at the mark. Before, the trim
// left the segment believing the earlier life was still there: the mark's write put up to 1 MiB
// of zeros ahead of it, extending the file it had just cut, on every close.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { MARK_SIZE, segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const SEGMENT = 4 * 1024 * 1024;
const entry = new Uint8Array(4000).fill(7);

function directories(): Array<{ name: string; make: () => { dir: Directory; root?: string } }> {
  const fsDirs = availableBackends().map((backend) => ({
    name: `FsDirectory, ${backend.name}`,
    make: () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-close-'));
      return { dir: new FsDirectory(root, { backend }), root };
    },
  }));
  return [...fsDirs, { name: 'MemoryDirectory', make: () => ({ dir: new MemoryDirectory() }) }];
}

describe('closing a writer on a recycled segment', () => {
  for (const { name, make } of directories()) {
    for (const mode of ['group commit', 'synchronous'] as const) {
      it(`leaves the file ending at its closing mark, not 1 MiB of zeros past it (${mode}, ${name})`, async () => {
        const { dir, root } = make();
        try {
          const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
          const append = async (): Promise<void> => {
            if (mode === 'group commit') await w.appendDurable(entry);
            else {
              w.append(entry);
              w.syncSync();
            }
          };
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
