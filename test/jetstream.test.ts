import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { main as cliMain } from '../lib/cli/main';
import { FsDirectory } from '../lib/directory/fs';
import type { Directory, ReadableFile } from '../lib/directory/directory';
import { BackpressureError, IoError, JetStreamError } from '../lib/errors';
import { CURSOR_FILE, JetStreamForwarder, readCursor, type ForwarderStats } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalWriter } from '../lib/wal/writer';
import { freePort, requireNatsServer, startServer, stopAll, tempDir, type NatsNode } from './support/nats-server';
import { overriding } from './support/overriding';
import { assertStreamMatchesLog, createStream, readStream, shipAndStop, until, withConnection } from './support/jetstream-stream';

// The forwarder against a real nats-server (started here on a loopback port): shipping, the
// resume point, bad input, back-pressure and the truncation veto. Crash rounds and the cluster
// are in jetstream-crash.test.ts.

const MAX_PAYLOAD = 4096;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tempRoot(): string {
  return tempDir('durability-js-');
}


function walBytes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(path.join(root, 'wal')).sort()) {
    out.set(name, fs.readFileSync(path.join(root, 'wal', name)).toString('hex'));
  }
  return out;
}

let counter = 0;
function names(): { stream: string; subject: string } {
  counter++;
  return { stream: `S${counter}`, subject: `wal.t${counter}` };
}

describe('JetStream forwarder (real nats-server)', function () {
  this.timeout(60000);
  let server: NatsNode;
  const stop: JetStreamForwarder[] = [];

  before(async () => {
    requireNatsServer();
    server = await startServer(`max_payload: ${MAX_PAYLOAD}`);
  });
  afterEach(async () => {
    for (const f of stop.splice(0)) await f.stop();
  });
  after(stopAll);

  it('ships the backlog and live appends once each, in order, entry id as message id; stats, channel, cursor, inspect', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const events: Array<{ kind: string; stats: ForwarderStats }> = [];
    const listen = (m: unknown): void => { events.push(m as { kind: string; stats: ForwarderStats }); };
    diagnosticsChannel.subscribe('durability:jetstream', listen);
    try {
      const before = WalWriter.open(dir, { codec: raw, maxSegmentSize: 4096 });
      for (let i = 0; i < 300; i++) before.append(enc(`old ${i} ${'y'.repeat(i % 50)}`));
      await before.close();

      let writer: WalWriter<Uint8Array> | undefined;
      const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxInFlight: 16, durableEntryId: () => writer?.durableEntryId ?? 0 });
      stop.push(f);
      writer = WalWriter.open(dir, { codec: raw, observer: f.observer, maxSegmentSize: 4096 });
      await f.start();
      for (let i = 0; i < 300; i++) await writer.appendDurable(enc(`new ${i}`));
      await until('all shipped', () => f.stats().shippedEntryId === 600);
      const s = f.stats();
      assert.equal(s.pendingEntries, 0);
      assert.equal(s.pendingBytes, 0);
      assert.equal(s.shippedEntries, 600);
      assert.ok(s.shippedBytes > 600 * 16);
      assert.equal(s.lagSeconds, 0);
      assert.equal(await assertStreamMatchesLog(server.url, stream, dir), 600);
      await f.stop();
      await writer.close();
      assert.ok(events.some((e) => e.kind === 'progress' && e.stats.shippedEntryId === 600));
      assert.ok(events.some((e) => e.kind === 'resync'));
      assert.equal(readCursor(dir)?.entryId, 600);

      const out: string[] = [];
      const io = { stdout: { write: (t: string) => { out.push(t); return true; } }, stderr: { write: () => true } };
      assert.equal(await cliMain(['inspect', root], io as never), 0);
      assert.match(out.join(''), /forwarder: stream S\d+ subject wal\.t\d+, shipped through entry 600 \(seq 600\)/);
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', listen);
    }
  });

  it('durableOnly ships only what the log proves durable (sync marks), with no durableEntryId to ask', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    // The forwarder learns nothing from this writer but its files, as one in another process would.
    const writer = WalWriter.open(dir, { codec: raw, flushPolicy: 'perAppend' });
    for (let i = 1; i <= 10; i++) writer.append(enc(`synced ${i}`));
    writer.syncSync();
    for (let i = 11; i <= 15; i++) writer.append(enc(`unsynced ${i}`)); // the first write carries the mark for 1..10
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, durableOnly: true });
    stop.push(f);
    await f.start();
    await until('the synced entries shipped', () => f.stats().shippedEntryId === 10);
    await sleep(500); // five of the follower's longest polls: entries 11..15 are in the page cache all along
    assert.equal(f.stats().shippedEntryId, 10);
    assert.equal((await readStream(server.url, stream)).length, 10);
    writer.closeSync(); // the closing mark vouches for the rest
    await until('the rest shipped', () => f.stats().shippedEntryId === 15);
    assert.equal(await assertStreamMatchesLog(server.url, stream, dir), 15);
    await f.stop();
    assert.throws(() => new JetStreamForwarder({ dir, servers: server.url, stream, subject, durableOnly: 1 as unknown as boolean }), /durableOnly must be a boolean/);
  });

  it('resumes from the stream after a restart, even when the cursor is behind or gone', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const writer = WalWriter.open(dir, { codec: raw });
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 100);
    fs.rmSync(path.join(root, CURSOR_FILE));
    for (let i = 0; i < 50; i++) writer.append(enc(`b ${i}`));
    await writer.sync();
    const f2 = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f2);
    await f2.start();
    await until('150', () => f2.stats().shippedEntryId === 150);
    assert.equal(f2.stats().shippedEntries, 50, 'only the 50 new entries are sent again');
    await writer.close();
    await assertStreamMatchesLog(server.url, stream, dir);
  });

  it('resumes after the cursor when retention removed shipped messages (no re-send)', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const writer = WalWriter.open(dir, { codec: raw });
    await shipAndStop(dir, writer, { servers: server.url, stream, subject }, 50);
    await withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.purge(stream); });
    for (let i = 0; i < 10; i++) writer.append(enc(`b ${i}`));
    await writer.sync();
    const f2 = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f2);
    await f2.start();
    await until('60', () => f2.stats().shippedEntryId === 60);
    await writer.close();
    const stored = await readStream(server.url, stream);
    assert.deepEqual(stored.map((m) => Number(m.msgId)), Array.from({ length: 10 }, (_, i) => 51 + i));
  });

  it('the sequence guard: a message someone else put on the subject stops the forwarder instead of interleaving', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    for (let i = 0; i < 5; i++) writer.append(enc(`a ${i}`));
    await writer.sync();
    await until('5', () => f.stats().shippedEntryId === 5);
    await withConnection(server.url, async (nc) => { await nc.jetstream().publish(subject, enc('foreign'), { msgID: 'someone-else' }); });
    writer.append(enc('6'));
    await writer.sync();
    await assert.rejects(f.done, (err: unknown) => err instanceof JetStreamError && err.reason === 'stream-subjects');
    await writer.close();
    const stored = await readStream(server.url, stream);
    assert.deepEqual(stored.map((m) => m.msgId), ['1', '2', '3', '4', '5', 'someone-else']);
  });

  it('the core entry point never loads the nats client', () => {
    const root = path.resolve(__dirname, '..', '..');
    const script = "require('./dist/lib/index.js'); process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes('node_modules/nats/')).length))";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '0');
    const r2 = spawnSync(process.execPath, ['-e', `${script.replace('index.js', 'jetstream/index.js')}; require('./dist/lib/jetstream/nats-client.js').natsClient(); process.stdout.write(' ' + Object.keys(require.cache).filter((k) => k.includes('node_modules/nats/')).length)`], { cwd: root, encoding: 'utf8' });
    const [atLoad, atUse] = r2.stdout.split(' ').map(Number);
    assert.equal(atLoad, 0, 'durability/jetstream loads nats only when a forwarder connects');
    assert.ok(atUse > 0, 'then it does (so the checks above can fail)');
  });

  it('examples/jetstream-ingest: acknowledged POSTs reach the stream, once each, in order', async () => {
    const root = tempRoot();
    const proc = spawn(process.execPath, [path.resolve(__dirname, '..', '..', 'examples', 'jetstream-ingest', 'server.mjs')], {
      env: { ...process.env, DATA_DIR: root, PORT: '0', NATS_URL: server.url, CREATE_STREAM: '1', STREAM: 'EXAMPLE', SUBJECT: 'example.events' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    proc.stderr!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    const exited = once(proc, 'exit');
    try {
      await until('listening', () => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out));
      const base = `http://127.0.0.1:${/:(\d+),/.exec(out)![1]}`;
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${base}/events`, { method: 'POST', body: `event ${i}` });
        assert.equal(res.status, 200);
        ids.push(((await res.json()) as { id: number }).id);
      }
      assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal((await fetch(`${base}/events`, { method: 'POST', body: new Uint8Array(MAX_PAYLOAD) })).status, 413);
      let stats: { forwarder: ForwarderStats } | undefined;
      await until('shipped', () => {
        void fetch(`${base}/stats`).then(async (r) => { stats = (await r.json()) as { forwarder: ForwarderStats }; }, () => undefined);
        return stats?.forwarder.shippedEntryId === 20;
      });
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
    assert.equal(await assertStreamMatchesLog(server.url, 'EXAMPLE', new FsDirectory(root)), 20);
  });

  describe('bad input: a typed error, the log untouched', () => {
    async function expectStartError(opts: { servers: string; stream: string; subject: string }, reason: string): Promise<void> {
      const root = tempRoot();
      const dir = new FsDirectory(root);
      const writer = WalWriter.open(dir, { codec: raw });
      for (let i = 0; i < 10; i++) writer.append(enc(`e ${i}`));
      await writer.close();
      const before = walBytes(root);
      const f = new JetStreamForwarder({ dir, ...opts, connectTimeoutMs: 1000 });
      await assert.rejects(f.start(), (err: unknown) => err instanceof JetStreamError && err.code === 'DURABILITY_JETSTREAM' && err.reason === reason);
      assert.deepEqual(walBytes(root), before);
      assert.equal(fs.existsSync(path.join(root, CURSOR_FILE)), false);
    }

    it('an unreachable server', async () => {
      await expectStartError({ servers: `nats://127.0.0.1:${await freePort()}`, stream: 'X', subject: 'x' }, 'unreachable');
    });

    it('a server without JetStream', async () => {
      const plain = await startServer('', false);
      try {
        await expectStartError({ servers: plain.url, stream: 'X', subject: 'x' }, 'unreachable');
      } finally {
        await plain.stop();
      }
    });

    it('a stream that does not exist', async () => {
      await expectStartError({ servers: server.url, stream: 'MISSING', subject: 'missing' }, 'stream-not-found');
    });

    it('a stream with other subjects', async () => {
      const { stream, subject } = names();
      await createStream(server.url, { name: stream, subjects: [subject, `${subject}.other`] });
      await expectStartError({ servers: server.url, stream, subject }, 'stream-subjects');
      const { stream: s2, subject: sub2 } = names();
      await createStream(server.url, { name: s2, subjects: ['elsewhere.>'] });
      await expectStartError({ servers: server.url, stream: s2, subject: sub2 }, 'stream-subjects');
    });

    it('a payload over the server max_payload: append refused; one already in the log stops shipping before it', async () => {
      const root = tempRoot();
      const dir = new FsDirectory(root);
      const { stream, subject } = names();
      await createStream(server.url, { name: stream, subjects: [subject] });
      const early = WalWriter.open(dir, { codec: raw });
      early.append(enc('small 1'));
      early.append(new Uint8Array(MAX_PAYLOAD + 10));
      early.append(enc('small 3'));
      await early.close();

      const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
      const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
      await f.start();
      assert.ok(f.maxPayload > 0 && f.maxPayload <= MAX_PAYLOAD);
      await writer.sync();
      const before = walBytes(root);
      assert.throws(() => writer.append(new Uint8Array(MAX_PAYLOAD)), (err: unknown) => err instanceof JetStreamError && err.reason === 'payload-too-large');
      await assert.rejects(writer.appendDurable(new Uint8Array(MAX_PAYLOAD)), (err: unknown) => err instanceof JetStreamError && err.reason === 'payload-too-large');
      assert.equal(writer.lastEntryId, 3);
      await writer.sync();
      assert.deepEqual(walBytes(root), before);
      await assert.rejects(f.done, (err: unknown) => err instanceof JetStreamError && err.reason === 'payload-too-large');
      assert.equal(f.stats().shippedEntryId, 1);
      await f.stop();
      await writer.close();
      const stored = await readStream(server.url, stream);
      assert.deepEqual(stored.map((s) => s.msgId), ['1']);
    });
  });

  it('a read of the log failing with an I/O error (EIO, ESTALE) is retried, not the end of shipping: every entry once, in order', async () => {
    const root = tempRoot();
    const fsDir = new FsDirectory(root);
    let failing = false;
    let failedReads = 0;
    const failingRead = (file: ReadableFile, at: string): ReadableFile => overriding(file, {
      read: (target: Uint8Array, position: number): number => {
        if (failing) {
          failedReads++;
          throw new IoError('EIO', 'pread', at);
        }
        return file.read(target, position);
      },
    });
    const dir = overriding<Directory>(fsDir, { openRead: (p: string) => failingRead(fsDir.openRead(p), p) });
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const errors: Array<{ error: unknown; fatal: boolean }> = [];
    const onEvent = (m: unknown): void => {
      const e = m as { kind: string; stream: string; error: unknown; fatal: boolean };
      if (e.kind === 'error' && e.stream === stream) errors.push({ error: e.error, fatal: e.fatal });
    };
    diagnosticsChannel.subscribe('durability:jetstream', onEvent);
    const writer = WalWriter.open(fsDir, { codec: raw });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxRetryDelayMs: 50 });
    stop.push(f);
    try {
      await f.start();
      for (let i = 1; i <= 20; i++) writer.append(enc(`a ${i}`));
      await writer.sync();
      await until('20 shipped', () => f.stats().shippedEntryId === 20);
      failing = true;
      for (let i = 1; i <= 20; i++) writer.append(enc(`b ${i}`));
      await writer.sync();
      await until('a failed read seen', () => errors.length > 0);
      await sleep(150);
      failing = false;
      await until('40 shipped', () => f.stats().shippedEntryId === 40);
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', onEvent);
    }
    assert.ok(failedReads > 0);
    assert.ok(errors.every((e) => e.error instanceof IoError && !e.fatal), errors.map((e) => `${String(e.error)} fatal=${e.fatal}`).join('; '));
    await writer.close();
    await f.stop();
    await f.done;
    await assertStreamMatchesLog(server.url, stream, fsDir);
    const stored = await readStream(server.url, stream);
    assert.deepEqual(stored.map((m) => Number(m.msgId)), Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('back-pressure: the log buffers while NATS is down, up to maxUnshippedBytes; unshipped segments are not truncated', async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxUnshippedBytes: 20000, publishTimeoutMs: 500, maxRetryDelayMs: 100 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer, maxSegmentSize: 2048 });
    await f.start();
    writer.append(enc('first'));
    await writer.sync();
    await until('first shipped', () => f.stats().shippedEntryId === 1);
    await server.stop('SIGTERM');
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 1000 && refused === undefined; i++) {
      try {
        writer.append(new Uint8Array(200).fill(i % 251));
        accepted++;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof BackpressureError, `expected BackpressureError, got ${String(refused)}`);
    assert.equal(refused.code, 'DURABILITY_BACKPRESSURE');
    assert.equal(accepted, Math.floor(20000 / 216), 'frames of 216 bytes up to the 20000-byte bound');
    assert.ok(f.stats().pendingBytes <= 20000 && f.stats().pendingBytes > 20000 - 216, `pending ${f.stats().pendingBytes}`);
    assert.equal(writer.lastEntryId, 1 + accepted);
    await writer.sync();
    const maintenance = new WalMaintenance(dir);
    const t1 = maintenance.truncatePrefix(writer.lastEntryId, { observer: f.observer });
    assert.equal(t1.removed.length, 0, 'nothing past entry 1 is shipped');
    assert.ok(t1.vetoed !== undefined);
    await server.start();
    await until('caught up', () => f.stats().shippedEntryId === writer.lastEntryId);
    assert.ok(f.stats().reconnects >= 1);
    writer.append(enc('after'));
    const t2 = maintenance.truncatePrefix(writer.lastEntryId - 1, { observer: f.observer });
    assert.ok(t2.removed.length > 0 && t2.vetoed === undefined);
    await writer.sync();
    await until('after shipped', () => f.stats().shippedEntryId === writer.lastEntryId);
    await writer.close();
    const stored = await readStream(server.url, stream);
    assert.equal(stored.length, 2 + accepted);
    assert.deepEqual(stored.map((s) => Number(s.msgId)), Array.from({ length: 2 + accepted }, (_, i) => i + 1));
  });

  it("back-pressure 'continue': writes go on past the bound and it is reported", async () => {
    const root = tempRoot();
    const dir = new FsDirectory(root);
    const { stream, subject } = names();
    await createStream(server.url, { name: stream, subjects: [subject] });
    const f = new JetStreamForwarder({ dir, servers: server.url, stream, subject, maxUnshippedBytes: 1000, onOverflow: 'continue', publishTimeoutMs: 500 });
    stop.push(f);
    const writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    const events: string[] = [];
    const listen = (m: unknown): void => { events.push((m as { kind: string }).kind); };
    diagnosticsChannel.subscribe('durability:jetstream', listen);
    await server.stop('SIGTERM');
    try {
      for (let i = 0; i < 50; i++) writer.append(new Uint8Array(100));
      assert.equal(writer.lastEntryId, 50);
      assert.ok(f.stats().pendingBytes > 1000);
      assert.equal(events.filter((k) => k === 'overflow').length, 1);
    } finally {
      diagnosticsChannel.unsubscribe('durability:jetstream', listen);
      await server.start();
    }
    await writer.sync();
    await until('caught up', () => f.stats().shippedEntryId === 50);
    await writer.close();
  });
});
