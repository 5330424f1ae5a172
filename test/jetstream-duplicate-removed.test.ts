import assert from 'node:assert/strict';
import { main as cliMain } from '../lib/cli/main';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { fiveShipped, until, withConnection } from './support/jetstream-stream';

// A duplicate acknowledgement at the sequence our entry expected says a message with our id was
// stored there before this publish came: an earlier attempt of ours, or a stranger that used our
// id. Only its bytes tell which. Once retention or a purge removed that message the stream can no
// longer show them, while its de-duplication window still remembers the id: the entry is not
// proven held, and counting it (the stream's last sequence, counted from the anchor, reaches it)
// would let a checkpoint truncate an entry no stream holds.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: a duplicate of a message the stream no longer holds (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  /** What the stream holds, message by message: an ordered consumer waits out its expiry on a deleted sequence. */
  const heldPayloads = (stream: string): Promise<string[]> => withConnection(server.url, async (nc) => {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const held: string[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (m !== undefined) held.push(Buffer.from(m.data).toString());
    }
    return held;
  });

  const removals: Array<[string, (stream: string) => Promise<void>]> = [
    ['a purge of the stream', (stream) => withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.purge(stream); })],
    ['a delete of that one message', (stream) => withConnection(server.url, async (nc) => { await (await nc.jetstreamManager()).streams.deleteMessage(stream, 6); })],
  ];

  removals.forEach(([removal, remove], i) => {
    it(`a stranger's message with our next id at our next sequence, then ${removal}: not counted: the forwarder stops with removed-unchecked, and does not start again over it`, async () => {
      const root = tempDir('durability-jdr-');
      const dir = new FsDirectory(root);
      const stream = `DR${i}`;
      const subject = `wal.dr${i}`;
      const { f, writer, stopped } = await fiveShipped(server.url, dir, stream, subject, stop);
      await withConnection(server.url, async (nc) => {
        await nc.jetstream().publish(subject, enc('stranger 6'), { msgID: '6', expect: { lastSequence: 5 } });
      });
      await remove(stream);
      writer.append(enc('ours 6'));
      writer.append(enc('ours 7'));
      await writer.sync();
      await until('a fatal stop or entry 6 shipped', () => stopped.error !== undefined || f.stats().shippedEntryId >= 6);
      const held = await heldPayloads(stream);
      assert.equal(f.stats().shippedEntryId, 5, `entry 6 counted as shipped; the stream holds ${held.join(' | ')}`);
      assert.ok(!held.includes('ours 6'));
      assert.ok(stopped.error instanceof JetStreamError && stopped.error.reason === 'removed-unchecked', String(stopped.error));
      await f.stop();
      // Started again (a supervisor restarting the service) it has no duplicate to go by, and the
      // anchor or our entry 7 stored behind the removed message would count entry 6: the cursor
      // keeps the verdict, and start() refuses until someone moves the cursor away.
      const again = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
      stop.push(again);
      await assert.rejects(again.start(), (e: unknown) => e instanceof JetStreamError && e.reason === 'removed-unchecked' && /entry 6/.test(e.message));
      assert.equal(again.stats().shippedEntryId, 5);
      assert.equal(again.observer.beforeTruncate?.({ segmentId: 1, path: 'x', firstEntryId: 1, lastEntryId: 6 }), false, 'entry 6 may be truncated');
      const out: string[] = [];
      const io = { stdout: { write: (t: string) => { out.push(t); return true; } }, stderr: { write: () => true } };
      assert.equal(await cliMain(['inspect', root], io as never), 0);
      assert.match(out.join(''), /shipped through entry 5 .*; stopped over entry 6 \(removed-unchecked\)/);
      await writer.close();
    });
  });
});
