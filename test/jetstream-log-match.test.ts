import assert from 'node:assert/strict';
import { writeCheckpoint } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { writeCursor } from '../lib/jetstream/cursor';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { recover } from '../lib/recover';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalWriter } from '../lib/wal/writer';
import { requireNatsServer, startServer, stopAll, tempDir, type NatsNode } from './support/nats-server';
import { overriding } from './support/overriding';
import { createStream, readStream, shipAndStop, until, withConnection } from './support/jetstream-stream';

// log-match.ts must not stop a healthy forwarder: a log whose entries were all truncated or
// restarted past the stream's last message cannot vouch for that message, whether or not it
// holds an entry yet.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

let counter = 0;
function names(): { stream: string; subject: string } {
  counter++;
  return { stream: `LM${counter}`, subject: `wal.lm${counter}` };
}

/** recover() of a directory holding only a checkpoint of entries 1..`base`: the log restarts empty at base + 1. */
async function restoredFromCheckpoint(base: number): Promise<{ dir: FsDirectory; writer: WalWriter<Uint8Array> }> {
  const dir = new FsDirectory(tempDir('durability-lm-'));
  writeCheckpoint(dir, base, enc(`state through ${base}`), { codec: raw });
  const log = await recover({ dir, codec: raw, stateCodec: raw, initial: new Uint8Array(0), apply: (s) => s, writer: true });
  assert.equal(log.writer.nextEntryId, base + 1);
  return { dir, writer: log.writer };
}

describe('JetStream forwarder: log-match on a log restarted or truncated past the stream (real nats-server)', function () {
  this.timeout(60000);
  let server: NatsNode;
  const stop: JetStreamForwarder[] = [];
  const close: WalWriter<Uint8Array>[] = [];

  before(async () => {
    requireNatsServer();
    server = await startServer();
  });
  afterEach(async () => {
    for (const f of stop.splice(0)) await f.stop();
    for (const w of close.splice(0)) await w.close();
  });
  after(stopAll);

  it('a log restored from a checkpoint of every shipped entry, nothing appended yet: start() ships what comes next, no log-mismatch', async () => {
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const old = new FsDirectory(tempDir('durability-lm-'));
    const oldWriter = WalWriter.open(old, { codec: raw });
    await shipAndStop(old, oldWriter, { servers: server.url, stream, subject }, 20);
    await oldWriter.close();

    const { dir, writer } = await restoredFromCheckpoint(20);
    close.push(writer);
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, durableEntryId: () => writer.durableEntryId });
    stop.push(f);
    await f.start();
    for (let i = 21; i <= 25; i++) writer.append(enc(`after restore ${i}`));
    await writer.sync();
    await until('25 shipped', () => f.stats().shippedEntryId === 25);
    assert.deepEqual((await readStream(server.url, stream)).map((m) => Number(m.msgId)), Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('a cursor of every shipped entry over a stream retention emptied, the log restarted after them: start() resumes, no log-mismatch', async () => {
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const old = new FsDirectory(tempDir('durability-lm-'));
    const oldWriter = WalWriter.open(old, { codec: raw });
    const cursor = await shipAndStop(old, oldWriter, { servers: server.url, stream, subject }, 30);
    await oldWriter.close();
    assert.equal(cursor?.entryId, 30);
    // Retention (max_age) removed every message: the stream keeps its last sequence only.
    await withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.purge(stream); });

    // The directory restored from its checkpoint and its cursor: the log restarts empty at 31.
    const { dir, writer } = await restoredFromCheckpoint(30);
    close.push(writer);
    writeCursor(dir, cursor!);
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, durableEntryId: () => writer.durableEntryId });
    stop.push(f);
    await f.start();
    for (let i = 31; i <= 33; i++) writer.append(enc(`after restore ${i}`));
    await writer.sync();
    await until('33 shipped', () => f.stats().shippedEntryId === 33);
    const stored = await readStream(server.url, stream);
    assert.deepEqual(stored.map((m) => [m.seq, Number(m.msgId)]), [[31, 31], [32, 32], [33, 33]]);
  });

  it('a checkpoint truncating shipped segments while start() reads the log (a step inside every other read): start() ships the rest, nothing stops', async () => {
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const plain = new FsDirectory(tempDir('durability-lm-'));
    const writer = WalWriter.open(plain, { codec: raw, maxSegmentSize: 4096 });
    await shipAndStop(plain, writer, { servers: server.url, stream, subject }, 1200);
    for (let i = 1201; i <= 1220; i++) writer.append(enc(`unshipped ${i}`));
    await writer.close();

    // Each step removes the oldest segment the forwarder let go (all of it shipped), as a
    // checkpoint's truncation does one unlink at a time, landing after every other listing of wal/.
    let listings = 0;
    let removed = 0;
    const racing: Directory = overriding<Directory>(plain, {
      list: (p: string) => {
        const names = plain.list(p);
        if (p === 'wal' && listings++ % 2 === 0) {
          const oldest = new WalMaintenance(plain).segmentRanges()[0];
          if (oldest.lastEntryId <= 1200 && new WalMaintenance(plain).truncatePrefix(oldest.lastEntryId).removed.length > 0) removed++;
        }
        return names;
      },
    });
    const f = new JetStreamForwarder({ dir: racing, servers: server.url, stream, subject });
    stop.push(f);
    await f.start();
    await until('1220 shipped', () => f.stats().shippedEntryId === 1220);
    assert.ok(removed >= 2, `${removed} segments removed during the start`);
    assert.deepEqual((await readStream(server.url, stream)).map((m) => Number(m.msgId)), Array.from({ length: 1220 }, (_, i) => i + 1));
  });
});
