import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { createStream, readStream, until } from './support/jetstream-stream';

// After a failure the forwarder asks the stream what each unacknowledged publish became (absent,
// or at the sequence it expected). Retention may have removed it since: that is neither, and must
// not stop a healthy forwarder.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: the window check after a failure, on a stream with limits (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('a window that timed out, then was stored and mostly removed by max_msgs: shipping goes on, nothing stops', async () => {
    const dir = new FsDirectory(tempDir('durability-jw-'));
    const stream = 'W1';
    const subject = 'wal.w1';
    await createStream(server.url, { name: stream, subjects: [subject], max_msgs: 3 });
    let durable = 0;
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, publishTimeoutMs: 500, maxRetryDelayMs: 50, durableEntryId: () => durable });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    for (let i = 1; i <= 30; i++) writer.append(enc(`w ${i}`));
    await writer.sync();
    durable = 10;
    await until('10 shipped', () => f.stats().shippedEntryId === 10);
    let fatal: unknown;
    f.done.catch((err: unknown) => { fatal = err; });

    // 11..30 go out while the server is frozen, and time out; thawed, it stores what it read.
    await server.freeze(true);
    durable = 30;
    await until('11..30 sent', () => f.stats().inFlight === 20);
    await until('the window failed', () => f.stats().errors > 0);
    await server.freeze(false);
    await until('30 shipped', () => f.stats().shippedEntryId === 30 || fatal !== undefined);
    await writer.close();
    assert.equal(fatal, undefined);
    const stored = await readStream(server.url, stream);
    assert.deepEqual(stored.map((m) => [m.seq, Number(m.msgId)]), [[28, 28], [29, 29], [30, 30]]);
  });
});
