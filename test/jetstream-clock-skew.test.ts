import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import { FsDirectory } from '../lib/directory/fs';
import { writeCursor } from '../lib/jetstream/cursor';
import { JetStreamForwarder, readCursor } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, readStream, shipAndStop, until, withConnection } from './support/jetstream-stream';

// Whether the stream was recreated since the cursor was written is told by the stream's own
// `created` stamp, remembered in the cursor, not by comparing it with this machine's clock. The
// cursors below are what a forwarder on a machine whose clock is an hour behind (or ahead of) the
// server's writes: its `updatedAt` is off by an hour, everything else as written.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const HOUR = 3600_000;

/** Rewrites the cursor's `updatedAt` by `skewMs`, as a local clock that far off would have written it. */
function skewCursor(dir: FsDirectory, skewMs: number): void {
  const c = readCursor(dir)!;
  writeCursor(dir, { ...c, updatedAt: c.updatedAt + skewMs });
}

describe('JetStream forwarder: a server clock that disagrees with the local one (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('server clock an hour ahead, and the server lost acknowledged messages: the forwarder ships them again instead of taking the stream for a new one', async () => {
    const dir = new FsDirectory(tempDir('durability-jk-'));
    const snapshot = tempDir('durability-jk-snap-');
    const stream = 'K1';
    const subject = 'wal.k1';
    await createStream(server.url, { name: stream, subjects: [subject] });
    const writer = WalWriter.open(dir, { codec: raw });
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 20);
    await server.stop('SIGTERM');
    fs.cpSync(server.storeDir, snapshot, { recursive: true }); // the store as it was after entry 20
    await server.start();
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 20);
    assert.deepEqual([readCursor(dir)?.entryId, readCursor(dir)?.seq], [40, 40]);
    // Its unsynced tail lost: the stream holds entries 1..20 again.
    await server.stop('SIGKILL');
    fs.rmSync(server.storeDir, { recursive: true });
    fs.cpSync(snapshot, server.storeDir, { recursive: true });
    await server.start();
    skewCursor(dir, -HOUR);
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f);
    await f.start();
    writer.append(enc('41'));
    await writer.sync();
    await until('41 shipped', () => f.stats().shippedEntryId === 41);
    await f.stop();
    await writer.close();
    await assertStreamMatchesLog(server.url, stream, dir);
  });

  it('the cursor keeps the stamp of the stream that acknowledged its entry, even when the resync that stopped the forwarder read a recreated one', async () => {
    const dir = new FsDirectory(tempDir('durability-jk-'));
    const stream = 'K3';
    const subject = 'wal.k3';
    await createStream(server.url, { name: stream, subjects: [subject] });
    const stamp = (): Promise<string> => withConnection(server.url, async (nc) => (await (await nc.jetstreamManager()).streams.info(stream)).created);
    const first = await stamp();
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, cursorIntervalMs: 60_000, maxRetryDelayMs: 100 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    for (let i = 1; i <= 5; i++) writer.append(enc(`${i}`));
    await writer.sync();
    await until('5 shipped', () => f.stats().shippedEntryId === 5);
    // Recreated, and another log's entry 1 stored in it: the next resync stops the forwarder (log-mismatch).
    await withConnection(server.url, async (nc) => {
      await (await nc.jetstreamManager()).streams.delete(stream);
      await (await nc.jetstreamManager()).streams.add({ name: stream, subjects: [subject] });
      await nc.jetstream().publish(subject, enc('another log 1'), { msgID: '1' });
    });
    assert.notEqual(await stamp(), first);
    writer.append(enc('6'));
    await writer.sync();
    await assert.rejects(f.done, (e: unknown) => e instanceof Error && /other bytes/.test(e.message));
    await writer.close();
    assert.deepEqual([readCursor(dir)?.entryId, readCursor(dir)?.streamCreated], [5, first]);
  });

  it('server clock an hour behind, and the stream deleted and created again: the forwarder continues after the cursor, as for any recreated stream, and rewinds nothing', async () => {
    const dir = new FsDirectory(tempDir('durability-jk-'));
    const stream = 'K2';
    const subject = 'wal.k2';
    await createStream(server.url, { name: stream, subjects: [subject] });
    const writer = WalWriter.open(dir, { codec: raw });
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 20);
    await withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.delete(stream); });
    await createStream(server.url, { name: stream, subjects: [subject] });
    skewCursor(dir, HOUR);
    const rewinds: unknown[] = [];
    const listen = (m: unknown): void => {
      if ((m as { kind: string }).kind === 'rewind') rewinds.push(m);
    };
    diagnosticsChannel.subscribe('durability:jetstream', listen);
    try {
      const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
      stop.push(f);
      await f.start();
      writer.append(enc('21'));
      await writer.sync();
      await until('21 shipped', () => f.stats().shippedEntryId === 21);
      await f.stop();
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', listen);
    }
    await writer.close();
    assert.equal(rewinds.length, 0, 'a recreated stream taken for one that lost messages');
    assert.deepEqual((await readStream(server.url, stream)).map((m) => Number(m.msgId)), [21]);
  });
});
