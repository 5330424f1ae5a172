import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError } from '../lib/errors';
import { jsonCodec } from '../lib/wal/codec';
import { WAL_DIR } from '../lib/wal/format';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { countingLists, settlesAfterPolls, take } from './support/follow-polls';

// A log removed and started again from entry 1 (wal/ emptied by hand, or `durability repair
// --force` cutting every segment) under a running follower: the new log's entries after the
// last one it yielded are not the continuation of what it yielded.
describe('follow() when the log is replaced by a new one under it', () => {
  const codec = jsonCodec<{ v: string }>();

  it('does not go on with the new log\'s entries as if they continued the old one', async () => {
    const counted = countingLists(new MemoryDirectory());
    const dir = counted.dir;
    const options = { codec, maxSegmentSize: 120, flushPolicy: 'perAppend' as const };
    let w = WalWriter.create(dir, options);
    for (let n = 1; n <= 10; n++) w.append({ v: `old-${n}` });
    w.closeSync();
    const ac = new AbortController();
    try {
      const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1 });
      assert.equal((await take(it, 10)).length, 10);
      for (const name of dir.list(WAL_DIR)) dir.delete(`${WAL_DIR}/${name}`);
      w = WalWriter.create(dir, options);
      w.append({ v: 'new-1' });
      const next = it.next();
      next.catch(() => undefined);
      await settlesAfterPolls(next, counted.lists);
      for (let n = 2; n <= 12; n++) w.append({ v: `new-${n}` });
      w.closeSync();
      await assert.rejects(next, CorruptionError);
    } finally {
      ac.abort();
    }
  });
});
