import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamForwarder, readCursor } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { createStream, readStream, shipAndStop, until, withConnection } from './support/jetstream-stream';

// The anchor (the cursor's entry and the sequence the stream acknowledged for it) counts every
// later sequence as our next entry only in the stream that acknowledged it. A stream deleted and
// created again under the same name while the forwarder was stopped numbers a stranger's
// messages from 1 too: once its last sequence passes the anchor's and retention removed them,
// counting would take them for our entries.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: a stream recreated while stopped, filled by a stranger past the anchor (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('counts none of the stranger\'s sequences as shipped: every entry after the cursor reaches the new stream', async () => {
    const dir = new FsDirectory(tempDir('durability-jrc-'));
    const stream = 'RC1';
    const subject = 'wal.rc1';
    await createStream(server.url, { name: stream, subjects: [subject] });
    const writer = WalWriter.open(dir, { codec: raw });
    const cursor = await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 5);
    assert.deepEqual([cursor?.entryId, cursor?.seq], [5, 5]);
    await withConnection(server.url, async (nc) => {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete(stream);
      await jsm.streams.add({ name: stream, subjects: [subject] });
      // A stranger's eight messages, then a purge: the last sequence (8) passes the anchor's (5), no message is left.
      for (let i = 1; i <= 8; i++) await nc.jetstream().publish(subject, enc(`stranger ${i}`));
      await jsm.streams.purge(stream);
    });
    for (let i = 6; i <= 10; i++) writer.append(enc(`ours ${i}`));
    await writer.sync();
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f);
    await f.start();
    await until('10 shipped', () => f.stats().shippedEntryId === 10);
    await f.stop();
    await writer.close();
    const held = (await readStream(server.url, stream)).map((m) => `${m.msgId}:${Buffer.from(m.payload).toString()}`);
    assert.deepEqual(held, [6, 7, 8, 9, 10].map((i) => `${i}:ours ${i}`));
  });
});
