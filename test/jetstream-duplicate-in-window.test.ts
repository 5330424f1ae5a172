import assert from 'node:assert/strict';
import { channels } from '../lib/diagnostics';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { createStream, readStream, until, withConnection } from './support/jetstream-stream';

// A duplicate acknowledgement ends the session, and the resync compares the bytes at the
// sequences of the failed window. The acknowledgements of the publishes sent after the first
// duplicate come back later, as duplicates too when the stream already held those ids: each is
// as unproven as the first, a stranger's message with our id at our sequence included.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: duplicates later in the window than the first (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('a stranger with our id behind our own earlier attempt is not counted: stream-subjects, entry 7 not shipped', async () => {
    const dir = new FsDirectory(tempDir('durability-jd-'));
    const stream = 'D1';
    const subject = 'wal.d1';
    await createStream(server.url, { name: stream, subjects: [subject] });
    // A publish timeout well past the freeze below: the window stays in flight until the thaw.
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 100, publishTimeoutMs: 20000 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    // What the forwarder reported, for the message of a wait that times out.
    const events: string[] = [];
    const onEvent = (m: unknown): void => {
      const e = m as { kind: string; error?: Error };
      if (e.kind !== 'progress') events.push(`${e.kind} ${e.error?.message ?? ''}`);
    };
    channels.jetstream.subscribe(onEvent);
    await f.start();
    let fatal: unknown;
    f.done.catch((err: unknown) => { fatal = err; });
    for (let i = 1; i <= 5; i++) writer.append(enc(`ours ${i}`));
    await writer.sync();
    await until('5 shipped', () => f.stats().shippedEntryId === 5);
    await withConnection(server.url, async (nc) => {
      const js = nc.jetstream();
      // An earlier attempt of ours stored entry 6 unseen; then a stranger used our next id.
      await js.publish(subject, enc('ours 6'), { msgID: '6', expect: { lastSequence: 5 } });
      await js.publish(subject, enc('stranger 7'), { msgID: '7', expect: { lastSequence: 6 } });
    });
    // Every publish of the window goes out before the first acknowledgement comes back.
    try {
      await server.freeze(true);
      for (let i = 6; i <= 40; i++) writer.append(enc(`ours ${i}`));
      await writer.sync();
      await until('35 publishes in flight', () => f.stats().inFlight === 35).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify(f.stats())}; events: ${events.join('; ')}`);
      });
    } finally {
      await server.freeze(false);
    }
    await until('a fatal stop or entry 7 shipped', () => fatal !== undefined || f.stats().shippedEntryId >= 7)
      .finally(() => channels.jetstream.unsubscribe(onEvent));
    const stored = (await readStream(server.url, stream)).map((m) => Buffer.from(m.payload).toString());
    assert.ok(f.stats().shippedEntryId < 7, `entry 7 counted as shipped (shipped ${f.stats().shippedEntryId}); the stream holds ${stored.join(' | ')}`);
    assert.ok(fatal instanceof JetStreamError && fatal.reason === 'stream-subjects', String(fatal));
    assert.equal(stored[6], 'stranger 7');
    await writer.close();
  });
});
