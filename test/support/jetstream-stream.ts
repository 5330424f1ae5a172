// Stream set-up and read-back for the JetStream tests (the real client against real servers).
import assert from 'node:assert/strict';
import { connect, type NatsConnection, type StreamConfig } from 'nats';
import type { Directory } from '../../lib/directory/directory';
import { readCursor, type ForwarderCursor } from '../../lib/jetstream/cursor';
import { JetStreamForwarder } from '../../lib/jetstream/forwarder';
import { raw } from '../../lib/wal/codec';
import { WalReader } from '../../lib/wal/reader';
import { WalWriter } from '../../lib/wal/writer';

export async function withConnection<T>(servers: string | string[], fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers, timeout: 5000 });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/**
 * Runs a JetStream API exchange again (a fresh connection each time, 250 ms apart, for up to
 * `withinMs`) when the cluster cannot answer it yet: it times out or finds no responder (right
 * after a node of a cluster was killed and restarted, the meta or stream leader can still be
 * changing, and the API has nobody to answer until the election settles), or a replicated stream
 * finds no peers to be placed on (a cluster just started, or just restarted a node, whose meta
 * leader has not yet heard from every server: seen on a loaded machine). Any other failure is the
 * test's.
 */
export async function retryingApi<T>(servers: string | string[], fn: (nc: NatsConnection) => Promise<T>, withinMs = 20000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await withConnection(servers, fn);
    } catch (err) {
      if (Date.now() > deadline || !clusterNotReady(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function clusterNotReady(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === 'TIMEOUT' || code === '503' || /no suitable peers for placement/.test(String(message));
}

export async function createStream(servers: string | string[], config: Partial<StreamConfig> & { name: string }): Promise<void> {
  await retryingApi(servers, async (nc) => {
    const jsm = await nc.jetstreamManager({ timeout: 10000 });
    await jsm.streams.add(config);
  });
}

export interface StoredEntry {
  readonly seq: number;
  readonly msgId: string | undefined;
  readonly payload: Uint8Array;
}

/**
 * Every message of the stream, in sequence order, read through an ordered consumer in batches
 * (one request per message took seconds on the crash tests' logs). Bounded: it reads up to the
 * last sequence the stream reported, and a batch that brings nothing fails the read.
 */
export async function readStream(servers: string | string[], stream: string): Promise<StoredEntry[]> {
  return retryingApi(servers, async (nc) => {
    const jsm = await nc.jetstreamManager({ timeout: 10000 });
    const info = await jsm.streams.info(stream);
    const out: StoredEntry[] = [];
    if (info.state.messages === 0) return out;
    const consumer = await nc.jetstream({ timeout: 10000 }).consumers.get(stream);
    let last = info.state.first_seq - 1;
    while (last < info.state.last_seq) {
      const batch = await consumer.fetch({ max_messages: Math.min(1000, info.state.last_seq - last), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        out.push({ seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id'), payload: m.data });
        last = m.seq;
        got++;
      }
      if (got === 0) throw new Error(`reading ${stream} stalled at sequence ${last} of ${info.state.last_seq}`);
    }
    return out;
  });
}

/** Asserts the stream holds exactly the log: entry i at position i, same bytes, nothing more. */
export async function assertStreamMatchesLog(servers: string | string[], stream: string, dir: Directory): Promise<number> {
  const log = new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' });
  const stored = await readStream(servers, stream);
  const ids = stored.map((s) => Number(s.msgId));
  const dups = ids.length - new Set(ids).size;
  assert.equal(dups, 0, `${dups} duplicated entries in the stream`);
  assert.equal(stored.length, log.length, `stream holds ${stored.length} messages, the log ${log.length} entries`);
  for (let i = 0; i < log.length; i++) {
    assert.equal(stored[i].msgId, String(log[i].entryId), `message ${i} (seq ${stored[i].seq}) carries entry ${stored[i].msgId}, expected ${log[i].entryId}`);
    assert.deepEqual(Buffer.from(stored[i].payload), Buffer.from(log[i].payload), `entry ${log[i].entryId} differs`);
  }
  return log.length;
}

/** Polls (bounded, 30 s) until cond holds. */
export async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Appends `count` entries (`a 0`, `a 1`, …), syncs, and ships them with a forwarder of its own,
 * stopped once all are acknowledged: a log whose stream and cursor are both at its last entry.
 * Returns the cursor that forwarder left.
 */
export async function shipAndStop(
  dir: Directory, writer: WalWriter<Uint8Array>, target: { servers: string; stream: string; subject: string }, count: number,
): Promise<ForwarderCursor | undefined> {
  for (let i = 0; i < count; i++) writer.append(new TextEncoder().encode(`a ${i}`));
  await writer.sync();
  const f = new JetStreamForwarder({ dir, ...target });
  await f.start();
  await until(`${writer.lastEntryId} shipped`, () => f.stats().shippedEntryId === writer.lastEntryId);
  await f.stop();
  return readCursor(dir);
}

/** A forwarder on a fresh stream of its own and a writer on `dir`, five entries ('ours 1'..'ours 5') shipped; `stopped.error` is what its done rejected with. */
export async function fiveShipped(
  servers: string,
  dir: Directory,
  stream: string,
  subject: string,
  stop: JetStreamForwarder[],
  writerDir: Directory = dir,
): Promise<{ f: JetStreamForwarder; writer: WalWriter<Uint8Array>; stopped: { error: unknown } }> {
  await createStream(servers, { name: stream, subjects: [subject] });
  const f = new JetStreamForwarder({ dir, servers, stream, subject, maxRetryDelayMs: 100 });
  stop.push(f);
  const writer = WalWriter.open(writerDir, { codec: raw, observer: f.observer });
  await f.start();
  const stopped: { error: unknown } = { error: undefined };
  f.done.catch((err: unknown) => { stopped.error = err; });
  for (let n = 1; n <= 5; n++) writer.append(new TextEncoder().encode(`ours ${n}`));
  await writer.sync();
  await until('5 shipped', () => f.stats().shippedEntryId === 5);
  return { f, writer, stopped };
}
