// A recycled file is longer than what the new life has written into it: behind the log's end lie
// the frames of its previous life, sealed under the old salt. A fresh segment ends in zeros (kept
// ahead of the log) or at the end of the file, a clean end. Read strictly while the writer lives,
// or after its process was killed (SIGKILL keeps the page cache: what a reader sees now), a
// recycled final segment must end cleanly too: its stale bytes are no torn write, and
// `durability verify` must not call a killed service's healthy log damaged.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import type { Directory } from '../lib/directory/directory';
import { raw } from '../lib/wal/codec';
import { segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const SEGMENT = 64 * 1024;
const entry = new Uint8Array(1000).fill(1);

type Mode = 'group commit' | 'synchronous';

/**
 * Fills four segments, recycles the first two and appends on until the final segment is a
 * recycled file holding fewer bytes than its previous life. Returns the writer, still open.
 */
async function liveOnRecycled(dir: Directory, mode: Mode): Promise<WalWriter<Uint8Array>> {
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, flushPolicy: 'perAppend' });
  const append = async (): Promise<void> => {
    if (mode === 'group commit') {
      await w.appendDurable(entry);
    } else {
      w.append(entry);
      w.syncSync();
    }
  };
  for (let i = 0; i < 200; i++) await append();
  const m = new WalMaintenance(dir);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[1].lastEntryId));
  while (w.currentSegmentId < 6 || w.currentSegmentBytes < SEGMENT / 2) await append();
  assert.ok(!dir.list('wal').some((n) => n.startsWith('recycle-')), 'both recycle files became segments');
  const final = dir.openRead(segmentPath(6));
  try {
    assert.ok(final.size() > w.currentSegmentBytes, 'the final segment has a stale tail');
  } finally {
    final.close();
  }
  return w;
}

async function strictlyRead(dir: Directory): Promise<number> {
  return (await new WalReader(dir, { codec: raw }).replay({ mode: 'strict' })).length;
}

describe('a live log whose final segment is a recycled file', () => {
  for (const mode of ['group commit', 'synchronous'] as const) {
    for (const backend of availableBackends()) {
      it(`reads strictly to a clean end (${mode}, ${backend.name})`, async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-tail-'));
        try {
          const dir = new FsDirectory(root, { backend });
          const w = await liveOnRecycled(dir, mode);
          const written = w.lastEntryId - new WalMaintenance(dir).segmentRanges()[0].firstEntryId + 1;
          assert.equal(await strictlyRead(dir), written);
          await w.close();
          assert.equal(await strictlyRead(dir), written);
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }

    it(`reads strictly to a clean end (${mode}, memory directory)`, async () => {
      const dir = new MemoryDirectory();
      const w = await liveOnRecycled(dir, mode);
      const written = w.lastEntryId - new WalMaintenance(dir).segmentRanges()[0].firstEntryId + 1;
      assert.equal(await strictlyRead(dir), written);
      await w.close();
    });
  }
});
