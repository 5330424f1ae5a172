import assert from 'node:assert/strict';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { CorruptionError } from '../lib/errors';
import { jsonCodec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { segmentPath } from '../lib/wal/format';
import { WalWriter } from '../lib/wal/writer';
import { failSyncAndReopen } from './support/cut-back';
import { countingLists, settlesAfterPolls, take } from './support/follow-polls';

// A follower reads frames from the page cache. When the writer's fdatasync fails it is poisoned
// and cuts its file back to what was synced, and a new writer gives the same ids to new entries:
// the follower must say that what it read is gone, not splice the two histories or wait for ever.
describe('follow() when the log is cut back under it', () => {
  const codec = jsonCodec<{ v: string }>();

  for (const [name, renewed] of [['same-size frames', 'new'], ['frames of another size', 'renewed']] as const) {
    it(`${name}: the follower rejects with CorruptionError instead of yielding a history the log never held`, async () => {
      const dir = new SimulatedDirectory({ seed: 1 });
      let w = WalWriter.create(dir, { codec, flushPolicy: 'perAppend' });
      for (let i = 1; i <= 3; i++) w.append({ v: `old-${i}` });
      const ac = new AbortController();
      const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1 });
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await it.next();
        got.push(`${r.value!.entryId}:${r.value!.payload.v}`);
      }
      assert.deepEqual(got, ['1:old-1', '2:old-2', '3:old-3']);
      w = failSyncAndReopen(dir, w, { codec, flushPolicy: 'perAppend' });
      for (let i = 1; i <= 6; i++) w.append({ v: `${renewed}-${i}` });
      w.syncSync();
      await assert.rejects(it.next(), (e: unknown) => e instanceof CorruptionError && /cut back under the follower/.test(e.reason));
      ac.abort();
      w.closeSync();
    });
  }
});

// A cut that takes only bytes after the last entry the follower yielded (the idle writer's sync
// mark, written after its last sync and not synced) takes nothing it yielded: the follower reads
// on from that entry, as it would have had it not read the mark yet.
describe('follow() when a cut-back takes only a sync mark it read', () => {
  const codec = jsonCodec<{ n: number }>();

  it('goes on with the entries written after the cut, no CorruptionError', async () => {
    const counted = countingLists(new SimulatedDirectory({ seed: 2 }));
    const dir = counted.dir as SimulatedDirectory;
    const options = { codec, flushPolicy: 'perAppend' as const };
    let w = WalWriter.create(dir, options);
    const ac = new AbortController();
    try {
      for (let n = 1; n <= 3; n++) w.append({ n });
      w.syncSync();
      const synced = dir.readFile(segmentPath(1)).length;
      // The writer stays idle: its lone sync mark vouches for entry 3 (written, not synced).
      while (dir.readFile(segmentPath(1)).length === synced) await new Promise((resolve) => setTimeout(resolve, 1));
      const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1 });
      assert.deepEqual((await take(it, 3)).map((r) => r.payload.n), [1, 2, 3]);
      const next = it.next();
      assert.equal(await settlesAfterPolls(next, counted.lists), false, 'it read the mark and waits');
      w.append({ n: 4 }); // never read: the failed fdatasync below cuts it, with the mark
      w = failSyncAndReopen(dir, w, options);
      assert.equal(dir.readFile(segmentPath(1)).length, synced, 'the cut took the mark');
      assert.equal(await settlesAfterPolls(next, counted.lists), false, 'no error: nothing it yielded was cut');
      w.append({ n: 40 });
      w.append({ n: 50 });
      assert.deepEqual([await next, await it.next()].map((r) => r.value), [{ entryId: 4, payload: { n: 40 } }, { entryId: 5, payload: { n: 50 } }]);
      w.closeSync();
      assert.deepEqual(new WalReader(dir, { codec }).replaySync().map((r) => r.payload.n), [1, 2, 3, 40, 50]);
    } finally {
      ac.abort();
    }
  });
});
