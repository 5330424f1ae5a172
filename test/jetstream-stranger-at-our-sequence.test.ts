import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, readStream, until, withConnection } from './support/jetstream-stream';

// The server checks the message id before the sequence guard: a stranger stored under our subject
// with our next entry id, at the sequence our next entry expects, makes our publish come back as a
// duplicate at exactly that sequence. Ids alone cannot tell it from ours; its bytes can.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: a stranger with our next id at our next sequence (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  /**
   * A forwarder that shipped entries 1..5 of a new log; then `planted` is stored under our subject
   * with id 6 at sequence 6, and the log appends entries 6 and 7.
   */
  async function plantedAtSix(stream: string, planted: string) {
    const dir = new FsDirectory(tempDir('durability-jx-'));
    const subject = `wal.${stream.toLowerCase()}`;
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 100 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    const outcome: { fatal?: unknown } = {};
    f.done.catch((err: unknown) => { outcome.fatal = err; });
    for (let i = 1; i <= 5; i++) writer.append(enc(`ours ${i}`));
    await writer.sync();
    await until('5 shipped', () => f.stats().shippedEntryId === 5);
    await withConnection(server.url, async (nc) => {
      await nc.jetstream().publish(subject, enc(planted), { msgID: '6', expect: { lastSequence: 5 } });
    });
    writer.append(enc('ours 6'));
    writer.append(enc('ours 7'));
    await writer.sync();
    return { dir, f, writer, outcome };
  }

  it('is not counted as our entry: the forwarder stops with stream-subjects, nothing from it on counts as shipped', async () => {
    const { f, writer, outcome } = await plantedAtSix('X1', 'stranger 6');
    await until('a fatal stop or entry 6 shipped', () => outcome.fatal !== undefined || f.stats().shippedEntryId >= 6);
    const stored = (await readStream(server.url, 'X1')).map((m) => Buffer.from(m.payload).toString());
    assert.equal(f.stats().shippedEntryId, 5, `entry 6 counted as shipped; the stream holds ${stored.join(' | ')}`);
    assert.ok(outcome.fatal instanceof JetStreamError && outcome.fatal.reason === 'stream-subjects', String(outcome.fatal));
    assert.equal(stored[5], 'stranger 6');
    await writer.close();
  });

  it('a duplicate there that holds our bytes (stored by an earlier attempt) counts, after the resync that checks it', async () => {
    const { dir, f, writer, outcome } = await plantedAtSix('X2', 'ours 6');
    await until('7 shipped', () => outcome.fatal !== undefined || f.stats().shippedEntryId === 7);
    assert.equal(outcome.fatal, undefined);
    await f.stop();
    await writer.close();
    await assertStreamMatchesLog(server.url, 'X2', dir);
  });
});
