import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, until, withConnection } from './support/jetstream-stream';

// Our own publish stored once already (its acknowledgement lost, then sent again) comes back as a
// duplicate at the sequence it expected: normal on a real network, and the resync proves it by its
// bytes. It is reported as a `duplicate` event, not as an error a user's monitoring counts; a
// stranger's message there stays an error, and stops the forwarder.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

type Event = { kind: string; entryId?: number; seq?: number; count?: number; fatal?: boolean; error?: unknown };

describe('JetStream forwarder: a duplicate of our own publish is no error (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  /** Ships 1..5, stores `planted` with id 6 at sequence 6 as someone else, appends 6 and 7; the events meanwhile. */
  async function plantedAtSix(stream: string, planted: string) {
    const dir = new FsDirectory(tempDir('durability-jq-'));
    const subject = `wal.${stream.toLowerCase()}`;
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 100 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    const events: Event[] = [];
    const listen = (m: unknown): void => {
      const e = m as Event & { stream: string };
      if (e.stream === stream && e.kind !== 'progress') events.push(e);
    };
    diagnosticsChannel.subscribe('durability:jetstream', listen);
    const outcome: { fatal?: unknown } = {};
    try {
      await f.start();
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
      await until('7 shipped or a fatal stop', () => f.stats().shippedEntryId === 7 || outcome.fatal !== undefined);
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', listen);
    }
    return { dir, f, writer, events, outcome };
  }

  it('our own bytes at the duplicate\'s sequence: shipped with errors 0, no error event, one duplicate event', async () => {
    const { dir, f, writer, events, outcome } = await plantedAtSix('Q1', 'ours 6');
    assert.equal(outcome.fatal, undefined);
    const errors = events.filter((e) => e.kind === 'error');
    assert.deepEqual(errors.map((e) => String(e.error)), [], 'a proven duplicate reported as an error');
    assert.equal(f.stats().errors, 0);
    const duplicates = events.filter((e) => e.kind === 'duplicate');
    assert.deepEqual(duplicates.map((e) => [e.entryId, e.seq, e.count]), [[6, 6, 1]]);
    await f.stop();
    await writer.close();
    await assertStreamMatchesLog(server.url, 'Q1', dir);
  });

  it('a stranger\'s bytes there: still an error event, fatal, and no duplicate event', async () => {
    const { f, writer, events, outcome } = await plantedAtSix('Q2', 'stranger 6');
    assert.ok(outcome.fatal instanceof JetStreamError && outcome.fatal.reason === 'stream-subjects', String(outcome.fatal));
    assert.equal(f.stats().shippedEntryId, 5);
    assert.ok(events.some((e) => e.kind === 'error' && e.fatal === true && e.error === outcome.fatal));
    assert.ok(f.stats().errors >= 1);
    assert.equal(events.filter((e) => e.kind === 'duplicate').length, 0);
    await writer.close();
  });
});
