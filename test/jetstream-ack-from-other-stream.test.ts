import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { fiveShipped, until, withConnection } from './support/jetstream-stream';

// A publish goes to a subject; whichever stream captures that subject stores it and names itself
// in the acknowledgement. Our stream deleted while running and another created on our subject
// (its last sequence where ours was, so the sequence guard lets the publish through) stores our
// entries where nobody reading our stream will find them: they are not shipped.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: an acknowledgement from another stream (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('is not counted: the forwarder stops with stream-subjects naming both streams', async () => {
    const dir = new FsDirectory(tempDir('durability-jao-'));
    const subject = 'wal.ao1';
    const { f, writer, stopped } = await fiveShipped(server.url, dir, 'AO1', subject, stop);
    await withConnection(server.url, async (nc) => {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete('AO1');
      await jsm.streams.add({ name: 'AO2', subjects: [subject] });
      for (let n = 1; n <= 5; n++) await nc.jetstream().publish(subject, enc(`stranger ${n}`));
    });
    writer.append(enc('ours 6'));
    await writer.sync();
    await until('a fatal stop or entry 6 shipped', () => stopped.error !== undefined || f.stats().shippedEntryId >= 6);
    assert.equal(f.stats().shippedEntryId, 5, 'entry 6 counted as shipped to AO1, which does not exist');
    assert.ok(stopped.error instanceof JetStreamError && stopped.error.reason === 'stream-subjects' && /AO2/.test(stopped.error.message), String(stopped.error));
    await writer.close();
  });
});
