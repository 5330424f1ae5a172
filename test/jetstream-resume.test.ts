import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { writeCursor } from '../lib/jetstream/cursor';
import { CURSOR_FILE, JetStreamForwarder, readCursor } from '../lib/jetstream/index';
import { jsonCodec, raw } from '../lib/wal/codec';
import { recover } from '../lib/recover';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, startServer, tempDir, usingNatsServer } from './support/nats-server';
import { assertStreamMatchesLog, createStream, readStream, shipAndStop, until, withConnection } from './support/jetstream-stream';

// Where the forwarder resumes when the stream is not what it acknowledged, and how it stops:
// checkpoints that must keep unshipped segments, a purged stream whose de-duplication window
// still remembers the ids, retention that removed the newest messages while the cursor lagged,
// a server that lost messages it had acknowledged, a server that stops answering, a stop()
// during start(), and a server limit lowered while running.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let counter = 0;
function names(): { stream: string; subject: string } {
  counter++;
  return { stream: `R${counter}`, subject: `wal.r${counter}` };
}

/** Collects the forwarder events of `kind` published on durability:jetstream while `run` runs. */
async function collecting<T>(kind: string, run: (events: Record<string, unknown>[]) => Promise<T>): Promise<T> {
  const events: Record<string, unknown>[] = [];
  const listen = (m: unknown): void => {
    if ((m as { kind: string }).kind === kind) events.push(m as Record<string, unknown>);
  };
  diagnosticsChannel.subscribe('durability:jetstream', listen);
  try {
    return await run(events);
  } finally {
    diagnosticsChannel.unsubscribe('durability:jetstream', listen);
  }
}

describe('JetStream forwarder: resuming against a stream that changed (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  it('log.checkpoint() keeps the segments the forwarder has not shipped; everything reaches the stream once NATS is back', async () => {
    const dir = new FsDirectory(tempDir('durability-jr-'));
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, publishTimeoutMs: 500, maxRetryDelayMs: 100 });
    stop.push(f);
    const log = await recover({
      dir, codec: raw, stateCodec: jsonCodec<{ n: number }>(), initial: { n: 0 }, apply: (s: { n: number }) => ({ n: s.n + 1 }),
      writer: { observer: f.observer, maxSegmentSize: 4096 },
    });
    await f.start();
    await server.stop('SIGKILL');
    for (let i = 1; i <= 200; i++) await log.writer!.appendDurable(enc(`entry ${i} ${'x'.repeat(60)}`));
    const c1 = await log.checkpoint!({ n: 200 });
    for (let i = 201; i <= 400; i++) await log.writer!.appendDurable(enc(`entry ${i} ${'x'.repeat(60)}`));
    const c2 = await log.checkpoint!({ n: 400 });
    assert.equal(c1.truncatedSegments + c2.truncatedSegments, 0, 'nothing was shipped, so nothing is truncated');
    await server.start();
    await until('400 shipped', () => f.stats().shippedEntryId === 400);
    await log.close!();
    await assertStreamMatchesLog(server.url, stream, dir);
  });

  it('a purged stream whose duplicate window remembers the ids: nothing counts as shipped until the stream really stores it', async () => {
    const root = tempDir('durability-jr-');
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject], duplicate_window: 3e9 });
    const writer = WalWriter.open(dir, { codec: raw });
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 20);
    // The documented way to ship a log again: purge (or recreate) the stream and remove the cursor.
    await withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.purge(stream); });
    fs.rmSync(`${root}/${CURSOR_FILE}`);
    await collecting('error', async (errors) => {
      const f2 = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 200 });
      stop.push(f2);
      await f2.start();
      await until('a refused publish', () => errors.length > 0);
      assert.equal(f2.stats().shippedEntryId, 0, 'a duplicate acknowledgement for a message the stream no longer holds is not a store');
      const refused = errors[0].error;
      assert.ok(refused instanceof JetStreamError && refused.reason === 'publish-refused', String(refused));
      // Once the window forgets the ids the publishes are stored.
      await until('20 shipped again', () => f2.stats().shippedEntryId === 20);
    });
    await writer.close();
    await assertStreamMatchesLog(server.url, stream, dir);
  });

  it('retention removed every message while the cursor lagged (a killed forwarder): the stream\'s last sequence says what was shipped, nothing is sent twice', async () => {
    const root = tempDir('durability-jr-');
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject], max_age: 1e9, duplicate_window: 5e8 });
    const writer = WalWriter.open(dir, { codec: raw });
    const shipped = await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 50);
    // What a SIGKILL right after the first cursor write leaves: a cursor at entry 1.
    writeCursor(dir, { version: 1, stream, subject, entryId: 1, seq: 1, updatedAt: shipped?.updatedAt ?? Date.now() });
    await sleep(1600); // max_age 1 s: every message expired
    const f2 = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f2);
    await f2.start();
    assert.equal(f2.stats().shippedEntryId, 50);
    await sleep(300);
    assert.equal(f2.stats().shippedEntries, 0, 'nothing sent again');
    assert.deepEqual(await readStream(server.url, stream), []);
    assert.deepEqual([readCursor(dir)?.entryId, readCursor(dir)?.seq], [1, 1], 'not rewritten before anything new is shipped');
    writer.append(enc('b'));
    await writer.sync();
    await until('51', () => f2.stats().shippedEntryId === 51);
    await f2.stop();
    assert.deepEqual([readCursor(dir)?.entryId, readCursor(dir)?.seq], [51, 51], 'the cursor names the entry and its sequence');
    assert.deepEqual((await readStream(server.url, stream)).map((m) => Number(m.msgId)), [51]);
    await writer.close();
  });

  it('a server that lost messages it had acknowledged: the forwarder ships them again from the log, and says so', async () => {
    const dir = new FsDirectory(tempDir('durability-jr-'));
    const snapshot = tempDir('durability-jr-snap-');
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, publishTimeoutMs: 1000, maxRetryDelayMs: 200 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    for (let i = 1; i <= 50; i++) await writer.appendDurable(enc(`entry ${i}`));
    await until('50', () => f.stats().shippedEntryId === 50);
    await server.stop('SIGTERM');
    fs.cpSync(server.storeDir, snapshot, { recursive: true }); // the store as it was after entry 50
    await server.start();
    for (let i = 51; i <= 100; i++) await writer.appendDurable(enc(`entry ${i}`));
    await until('100', () => f.stats().shippedEntryId === 100);
    await collecting('rewind', async (rewinds) => {
      // Its unsynced tail lost (JetStream syncs every 2 minutes by default): back to entry 50.
      await server.stop('SIGKILL');
      fs.rmSync(server.storeDir, { recursive: true });
      fs.cpSync(snapshot, server.storeDir, { recursive: true });
      await server.start();
      for (let i = 101; i <= 110; i++) await writer.appendDurable(enc(`entry ${i}`));
      await until('110 shipped', () => f.stats().shippedEntryId === 110 && rewinds.length > 0);
      assert.deepEqual([rewinds[0].fromEntryId, rewinds[0].toEntryId], [100, 50]);
    });
    await writer.close();
    await assertStreamMatchesLog(server.url, stream, dir);
  });

  it('stop() returns while the server has stopped answering (frozen), and closes the connection', async () => {
    const dir = new FsDirectory(tempDir('durability-jr-'));
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, publishTimeoutMs: 500 });
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    writer.append(enc('one'));
    await writer.sync();
    await until('1', () => f.stats().shippedEntryId === 1);
    await server.freeze(true);
    for (let i = 0; i < 5; i++) writer.append(enc(`more ${i}`));
    await writer.sync();
    await f.stop(); // the client's own ping timeouts would hold a drain for minutes
    assert.equal(f.stats().connected, false);
    await server.freeze(false);
    await writer.close();
  });

  it('stop() during start(): both settle, start() without an error, and no connection is left open', async () => {
    const dir = new FsDirectory(tempDir('durability-jr-'));
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    const started = f.start();
    await f.stop();
    await started;
    await f.done;
    assert.equal(f.stats().connected, false);
    await assert.rejects(f.start(), /already started/);
    // A connection left open would reconnect to the restarted server.
    const reconnects = f.stats().reconnects;
    await server.stop('SIGKILL');
    await server.start();
    await sleep(500);
    assert.equal(f.stats().reconnects, reconnects);
  });

  it('a server max_payload lowered under an entry while running: the forwarder stops with payload-too-large, every error event typed', async () => {
    const local = await startServer('max_payload: 8192');
    const dir = new FsDirectory(tempDir('durability-jr-'));
    const { stream, subject } = names();
    await createStream(local.url, { name: stream, subjects: [subject] });
    await collecting('error', async (errors) => {
      const f = new JetStreamForwarder({ dir, servers: local.url, stream, subject, publishTimeoutMs: 500, maxRetryDelayMs: 100 });
      stop.push(f);
      const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
      await f.start();
      await local.stop('SIGTERM');
      fs.writeFileSync(local.configPath, fs.readFileSync(local.configPath, 'utf8').replace('max_payload: 8192', 'max_payload: 2048'));
      writer.append(new Uint8Array(4000).fill(7));
      await writer.sync();
      await local.start();
      await assert.rejects(f.done, (e: unknown) => e instanceof JetStreamError && e.reason === 'payload-too-large');
      assert.equal(f.maxPayload, 2048);
      assert.ok(errors.length > 0);
      for (const e of errors) assert.ok(e.error instanceof JetStreamError, `an untyped error event: ${String(e.error)}`);
      await writer.close();
    });
    await local.stop();
  });
});
