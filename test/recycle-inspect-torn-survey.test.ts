// `durability inspect` of a torn tail in a recycled final segment counts the frames passing their
// CRC after the torn offset. That count searched every byte offset for a frame with any id above
// the last good one, and a recycled file's earlier life, read a few bytes off, offers candidates
// at every offset with lengths up to the end of the file: it ran out of its budget and reported
// "(or more: the search stopped at its budget)" behind a tail that holds no frame of this life.
// A frame of this life at p past the torn offset o carries at most the next id + (p - o)/16.
import assert from 'node:assert/strict';
import { scanLog } from '../lib/cli/log-scan';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { intoRecycledFourth } from './support/recycle-lives';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';

const SEGMENT = 1024 * 1024;
const entry = (id: number): Uint8Array => new TextEncoder().encode(JSON.stringify({ id, name: `user${id}`, v: [id, id * 2, id * 3] }));

describe('inspect of a torn tail in a recycled final segment', () => {
  it('counts no frame after it, and says the count is complete', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2 });
    await intoRecycledFourth(dir, w, entry);
    const end = w.currentSegmentBytes;
    // A torn write at the end of the log: bytes that are no frame where its zeros were.
    const f = dir.openAppend(listSegments(dir).at(-1)!.path);
    try {
      f.writeAt(new Uint8Array(16).fill(0xee), end);
    } finally {
      f.close();
    }
    const final = scanLog(dir, { mode: 'bestEffortTail', stopAtDamage: false, survey: true }).segments.at(-1)!;
    assert.equal(final.scan?.tail, 'torn');
    assert.equal(final.scan?.validEnd, end);
    assert.deepEqual(final.following, { count: 0, firstEntryId: 0, lastEntryId: 0, undecided: false });
    await w.close();
  });
});
