import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { checkStreamConfig } from '../lib/jetstream/stream-config';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, until, withConnection } from './support/jetstream-stream';

// Stream configurations the forwarder cannot verify are refused with a typed error; ones that do
// not change what the stream stores (republish) are not.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function isReason(reason: string): (err: unknown) => boolean {
  return (err: unknown) => err instanceof JetStreamError && err.reason === reason;
}

describe('JetStream forwarder: stream configurations', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('a subject transform (nats-server 2.10+) that stores our messages under another subject: stream-subjects', () => {
    const config = { subjects: ['wal.t'], subject_transform: { src: 'wal.t', dest: 'stored.t' } };
    assert.throws(() => checkStreamConfig(config, 'T', 'wal.t'), isReason('stream-subjects'));
    // One onto our own subject stores nothing elsewhere.
    checkStreamConfig({ subjects: ['wal.t'], subject_transform: { src: 'wal.t', dest: 'wal.t' } }, 'T', 'wal.t');
  });

  it('a stream that does not acknowledge publishes (no_ack): start() rejects with stream-config, nothing is published', async () => {
    const dir = new FsDirectory(tempDir('durability-jc-'));
    await createStream(server.url, { name: 'C1', subjects: ['wal.c1'], no_ack: true });
    const writer = WalWriter.open(dir, { codec: raw });
    writer.append(enc('one'));
    await writer.close();
    const f = new JetStreamForwarder({ dir, servers: server.url, stream: 'C1', subject: 'wal.c1', publishTimeoutMs: 300 });
    stop.push(f);
    await assert.rejects(f.start(), isReason('stream-config'));
    await withConnection(server.url, async (nc) => {
      assert.equal((await (await nc.jetstreamManager()).streams.info('C1')).state.messages, 0);
    });
  });

  it('a stream that republishes what it stores to another subject is shipped to as any other (the server refuses a republish onto its own subject)', async () => {
    await assert.rejects(createStream(server.url, { name: 'C2', subjects: ['wal.c2'], republish: { src: 'wal.c2', dest: 'wal.c2' } }), /cycle/);
    const dir = new FsDirectory(tempDir('durability-jc-'));
    await createStream(server.url, { name: 'C3', subjects: ['wal.c3'], republish: { src: 'wal.c3', dest: 'copies.c3' } });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream: 'C3', subject: 'wal.c3' });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    for (let i = 1; i <= 10; i++) writer.append(enc(`entry ${i}`));
    await writer.sync();
    await until('10 shipped', () => f.stats().shippedEntryId === 10);
    await f.stop();
    await writer.close();
    await assertStreamMatchesLog(server.url, 'C3', dir);
  });
});
