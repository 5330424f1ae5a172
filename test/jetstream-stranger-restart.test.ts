import assert from 'node:assert/strict';
import { main as cliMain } from '../lib/cli/main';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { type NatsNode, tempDir, usingNatsServer } from './support/nats-server';
import { fiveShipped, readStream, until, withConnection } from './support/jetstream-stream';

// A stranger's message at the sequence our entry 6 expected stops the forwarder (stream-subjects),
// but our entry 7, sent in the same window, was stored behind it. Started again (a supervisor
// restarting the service), the forwarder has no window to check: the anchor (entry 5 at 5) counted
// sequence 6 as entry 6 and the tail, our 7 at 7, agreed, so entry 6 counted shipped while the
// stream holds only the stranger there. The verdict must outlive the process, as removed-unchecked's does.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('JetStream forwarder: started again after a stranger took our sequence (real nats-server)', function () {
  this.timeout(60000);
  let server!: NatsNode;
  const stop: JetStreamForwarder[] = [];
  usingNatsServer((s) => (server = s), stop);

  const strangers: Array<[string, (subject: string) => Promise<unknown>]> = [
    ['with our next id and other bytes', (subject) => withConnection(server.url, (nc) => nc.jetstream().publish(subject, enc('stranger 6'), { msgID: '6', expect: { lastSequence: 5 } }))],
    ['without an id', (subject) => withConnection(server.url, (nc) => nc.jetstream().publish(subject, enc('stranger')))],
  ];

  strangers.forEach(([kind, plant], i) => {
    it(`a stranger ${kind} at our next sequence, our entry 7 stored behind it: the next start does not count entry 6`, async () => {
      // Entry 7 is stored behind the stranger only when its publish left before entry 6's refusal
      // came back (the same window): a race on a loaded machine, so the scenario is set up again,
      // on a stream of its own, until it holds (it does at the first try nearly always).
      let attempt = 0;
      let root: string;
      let stream: string;
      let subject: string;
      let writer: WalWriter<Uint8Array>;
      let held: string[];
      for (;;) {
        root = tempDir('durability-jsr-');
        const dir = new FsDirectory(root);
        stream = `SR${i}A${attempt}`;
        subject = `wal.sr${i}a${attempt}`;
        const shipped = await fiveShipped(server.url, dir, stream, subject, stop);
        writer = shipped.writer;
        const { f, stopped } = shipped;
        await plant(subject);
        writer.appendBatch([enc('ours 6'), enc('ours 7')]);
        await writer.sync();
        await until('a fatal stop or entry 6 shipped', () => stopped.error !== undefined || f.stats().shippedEntryId >= 6);
        assert.ok(stopped.error instanceof JetStreamError && stopped.error.reason === 'stream-subjects' && stopped.error.name === 'JetStreamError', String(stopped.error));
        await f.stop();
        held = (await readStream(server.url, stream)).map((m) => Buffer.from(m.payload).toString());
        assert.ok(!held.includes('ours 6'), held.join(' | '));
        if (held.includes('ours 7')) break;
        await writer.close();
        assert.ok(++attempt < 5, `entry 7 never left in entry 6's window in 5 tries: ${held.join(' | ')}`);
      }
      const dir = new FsDirectory(root);

      const again = new JetStreamForwarder({ dir, servers: server.url, stream, subject });
      stop.push(again);
      const started = await again.start().then(() => undefined, (err: unknown) => err);
      assert.equal(again.stats().shippedEntryId, 5, `entry 6 counted as shipped at the next start; the stream holds ${held.join(' | ')}`);
      assert.ok(started instanceof JetStreamError && started.reason === 'stream-subjects' && /entry 6/.test(started.message), String(started));
      assert.equal(again.observer.beforeTruncate?.({ segmentId: 1, path: 'x', firstEntryId: 1, lastEntryId: 6 }), false, 'entry 6 may be truncated');
      const out: string[] = [];
      const io = { stdout: { write: (t: string) => { out.push(t); return true; } }, stderr: { write: () => true } };
      assert.equal(await cliMain(['inspect', root], io as never), 0);
      assert.match(out.join(''), /shipped through entry 5 .*; stopped over entry 6 \(stream-subjects\)/);
      await writer.close();
    });
  });
});
