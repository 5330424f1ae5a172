import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, until } from './support/jetstream-stream';

// The back-off between retries starts over once a publish is acknowledged: after one long outage
// took it to maxRetryDelayMs, a later short blip is retried after the first delay, not the longest.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: the retry delay (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('grows to maxRetryDelayMs during an outage and starts again from 50 ms after an acknowledged publish; each error event says the delay', async () => {
    const dir = new FsDirectory(tempDir('durability-jd-'));
    const stream = 'D1';
    const subject = 'wal.d1';
    await createStream(server.url, { name: stream, subjects: [subject] });
    const errors: Array<{ fatal: boolean; retryInMs?: number }> = [];
    const listen = (m: unknown): void => {
      if ((m as { kind: string }).kind === 'error') errors.push(m as { fatal: boolean; retryInMs?: number });
    };
    diagnosticsChannel.subscribe('durability:jetstream', listen);
    try {
      const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, publishTimeoutMs: 300, maxRetryDelayMs: 400 });
      stop.push(f);
      const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
      await f.start();
      // A long outage: the delay doubles up to its maximum.
      await server.stop('SIGKILL');
      writer.append(enc('1'));
      await writer.sync();
      await until('the delay at its maximum', () => errors.some((e) => e.retryInMs === 400));
      assert.deepEqual(errors.slice(0, 4).map((e) => [e.fatal, e.retryInMs]), [[false, 50], [false, 100], [false, 200], [false, 400]]);
      await server.start();
      await until('1 shipped', () => f.stats().shippedEntryId === 1);
      // A short blip after that success.
      const before = errors.length;
      await server.stop('SIGKILL');
      writer.append(enc('2'));
      await writer.sync();
      await until('a failure after the success', () => errors.length > before);
      assert.equal(errors[before].retryInMs, 50, 'the back-off did not start over after the acknowledged publish');
      await server.start();
      await until('2 shipped', () => f.stats().shippedEntryId === 2);
      await f.stop();
      await writer.close();
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', listen);
    }
    await assertStreamMatchesLog(server.url, stream, dir);
  });
});
