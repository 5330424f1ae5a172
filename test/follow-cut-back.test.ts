import assert from 'node:assert/strict';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { CorruptionError } from '../lib/errors';
import { jsonCodec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { failSyncAndReopen } from './support/cut-back';

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
