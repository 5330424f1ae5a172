import assert from 'node:assert/strict';
import { FsDirectory } from '../lib/directory/fs';
import { IoError, JetStreamError } from '../lib/errors';
import { CURSOR_FILE, JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { fiveShipped, until, withConnection } from './support/jetstream-stream';

// The verdict a cursor keeps (removed-unchecked here) is all a later start has to go by. When
// writing it fails once (ENOSPC for a moment), the forwarder's next cursor write, when it stops,
// wrote an ordinary cursor at the same entry: the verdict was gone, and a restart counted entry 6
// from the anchor. The verdict is kept in memory and goes into every later write until one lands.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: writing the verdict fails once (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('a later cursor write still keeps it: the next start refuses and entry 6 stays unshipped', async () => {
    const root = tempDir('durability-jvw-');
    const dir = new FsDirectory(root);
    let refusals = 0;
    const atomicWrite = dir.atomicWrite.bind(dir);
    dir.atomicWrite = (path: string, data: Uint8Array): void => {
      if (path === CURSOR_FILE && refusals === 0 && new TextDecoder().decode(data).includes('unprovenEntryId')) {
        refusals++;
        throw new IoError('ENOSPC', 'write', path);
      }
      atomicWrite(path, data);
    };
    const stream = 'VW';
    const subject = 'wal.vw';
    const { f, writer, stopped } = await fiveShipped(server.url, dir, stream, subject, stop, new FsDirectory(root));
    await withConnection(server.url, async (nc) => {
      await nc.jetstream().publish(subject, enc('stranger 6'), { msgID: '6', expect: { lastSequence: 5 } });
      await (await nc.jetstreamManager()).streams.purge(stream);
    });
    writer.append(enc('ours 6'));
    writer.append(enc('ours 7'));
    await writer.sync();
    await until('a fatal stop or entry 6 shipped', () => stopped.error !== undefined || f.stats().shippedEntryId >= 6);
    assert.ok(stopped.error instanceof JetStreamError && stopped.error.reason === 'removed-unchecked', String(stopped.error));
    await f.stop();
    assert.equal(refusals, 1, 'the verdict was never written');

    const again = new JetStreamForwarder({ dir: new FsDirectory(root), servers: server.url, stream, subject });
    stop.push(again);
    const started = await again.start().then(() => undefined, (err: unknown) => err);
    assert.equal(again.stats().shippedEntryId, 5, 'entry 6 counted as shipped at the next start');
    assert.ok(started instanceof JetStreamError && started.reason === 'removed-unchecked', String(started));
    await writer.close();
  });
});
