import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { fiveShipped, until, withConnection } from './support/jetstream-stream';

// A publish the sequence guard refused (the stream's last sequence was not the one it expected)
// stored nothing, and tells that someone else's message took the sequence our entry expected.
// Once retention or a purge removed that message, nothing the stream still holds says so: counting
// the stream's last sequence from the anchor would take it for our entry.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: a refused publish whose sequence holds a removed stranger (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  const removals: Array<[string, (stream: string) => Promise<void>]> = [
    ['a purge of the stream', (stream) => withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.purge(stream); })],
    ['a delete of that one message', (stream) => withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.deleteMessage(stream, 6); })],
  ];

  removals.forEach(([removal, remove], i) => {
    it(`a stranger's message at our next sequence, then ${removal}: entry 6 is not counted: removed-unchecked, here and at the next start`, async () => {
      const dir = new FsDirectory(tempDir('durability-jrr-'));
      const stream = `RR${i}`;
      const subject = `wal.rr${i}`;
      const { f, writer, stopped } = await fiveShipped(server.url, dir, stream, subject, stop);
      await withConnection(server.url, async (nc) => { await nc.jetstream().publish(subject, enc('stranger')); });
      await remove(stream);
      writer.append(enc('ours 6'));
      writer.append(enc('ours 7'));
      await writer.sync();
      await until('a fatal stop or entry 6 shipped', () => stopped.error !== undefined || f.stats().shippedEntryId >= 6);
      assert.equal(f.stats().shippedEntryId, 5, 'entry 6 counted as shipped: the stream never held it');
      assert.ok(stopped.error instanceof JetStreamError && stopped.error.reason === 'removed-unchecked' && /refused/.test(stopped.error.message), String(stopped.error));
      await f.stop();
      const again = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
      stop.push(again);
      await assert.rejects(again.start(), (e: unknown) => e instanceof JetStreamError && e.reason === 'removed-unchecked');
      await writer.close();
    });
  });
});
