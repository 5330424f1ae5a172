// A writer killed while its final segment is a recycled file leaves the earlier life past the log
// (the 'stale' end). The writer that resumes the log cuts it, after looking there for frames of
// this life to quarantine. That look searched every byte offset for a frame with any id above the
// last good one: an earlier life's bytes read a few bytes off pass those cheap checks with lengths
// up to the end of the file, so the search ran out of its CRC budget, and every reopen after a
// crash (recycling is on by default) copied the whole earlier life, up to a segment, into a
// quarantine file, with a diagnostic saying frames might have been cut from the log.
// A frame of this life at p past the cut at o carries an id of at most the next one + (p - o)/16.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { withDiagnostics } from './support/diagnostics';
import { intoRecycledFourth } from './support/recycle-lives';

const SEGMENT = 1024 * 1024;
const entry = (id: number): Uint8Array => new TextEncoder().encode(JSON.stringify({ id, name: `user${id}`, v: [id, id * 2, id * 3] }));

describe('resuming a log killed on a recycled final segment', () => {
  it('cuts the earlier life without quarantining it', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-resume-'));
    const killed = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-resume-killed-'));
    try {
      const dir = new FsDirectory(root, { backend: tsBackend() });
      const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2 });
      await intoRecycledFourth(dir, w, entry);
      const last = w.lastEntryId;
      // What a SIGKILL leaves: the files as the page cache has them, the earlier life past the log.
      fs.cpSync(root, killed, { recursive: true });
      // Its lock record names this process, alive: the killed writer's would be stale.
      fs.rmSync(path.join(killed, 'wal', 'LOCK.pid'));
      await w.close();

      const copy = new FsDirectory(killed, { backend: tsBackend() });
      const events = await withDiagnostics(async (seen) => {
        const resumed = WalWriter.open<Uint8Array>(copy, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2 });
        assert.equal(resumed.lastEntryId, last);
        await resumed.close();
        return seen;
      });
      assert.deepEqual(events.filter((e) => e.kind === 'wal-quarantine').map((e) => e.message), []);
      assert.deepEqual(fs.readdirSync(path.join(killed, 'wal')).filter((n) => n.endsWith('.quarantine')), []);
      const read = await new WalReader(copy, { codec: raw }).replay({ mode: 'strict' });
      assert.equal(read.at(-1)?.entryId, last);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(killed, { recursive: true, force: true });
    }
  });
});
