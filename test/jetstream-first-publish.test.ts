import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { createStream, readStream, until, withConnection } from './support/jetstream-stream';

// The first publish into a stream that never stored anything carries a sequence guard too
// (Nats-Expected-Last-Sequence: 0, which nats-server 2.9 honours as "the stream is empty"): two
// logs starting together on one subject cannot both store an "entry 1" once the duplicate window
// is shorter than the race.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('JetStream forwarder: the first publish into an empty stream (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('the server honours Nats-Expected-Last-Sequence 0 as "never stored anything"', async () => {
    await createStream(server.url, { name: 'F0', subjects: ['wal.f0'] });
    await withConnection(server.url, async (nc) => {
      const js = nc.jetstream();
      assert.equal((await js.publish('wal.f0', enc('x'), { expect: { lastSequence: 0 } })).seq, 1);
      await assert.rejects(js.publish('wal.f0', enc('y'), { expect: { lastSequence: 0 } }), /wrong last sequence/);
    });
  });

  it('another log stores its entry 1 after the forwarder found the stream empty, and the duplicate window has passed: the forwarder stores nothing and stops with log-mismatch', async () => {
    const dir = new FsDirectory(tempDir('durability-jf-'));
    const stream = 'F1';
    const subject = 'wal.f1';
    await createStream(server.url, { name: stream, subjects: [subject], duplicate_window: 1e8 });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 100 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start(); // the stream is empty
    let fatal: unknown;
    f.done.catch((err: unknown) => { fatal = err; });
    // The other log's forwarder wins the race, and its id leaves the 100 ms window.
    await withConnection(server.url, async (nc) => { await nc.jetstream().publish(subject, enc('the other log 1'), { msgID: '1' }); });
    await sleep(300);
    writer.append(enc('this log 1'));
    await writer.sync();
    await until('a fatal stop or entry 1 shipped', () => fatal !== undefined || f.stats().shippedEntryId > 0);
    assert.equal(f.stats().shippedEntryId, 0, 'entry 1 counted as shipped behind the other log\'s entry 1');
    assert.ok(fatal instanceof JetStreamError && fatal.reason === 'log-mismatch', String(fatal));
    assert.deepEqual((await readStream(server.url, stream)).map((m) => Buffer.from(m.payload).toString()), ['the other log 1']);
    await writer.close();
  });
});
