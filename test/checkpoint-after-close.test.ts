import assert from 'node:assert/strict';
import { listCheckpoints } from '../lib/checkpoint/store';
import { ClosedError } from '../lib/errors';
import { recover } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { listSegments } from '../lib/wal/segment-files';
import type { Directory } from '../lib/directory/directory';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding } from './support/overriding';

// A checkpoint's disk work runs in steps off the event loop; between two of them the log's writer
// may be closed, and once it is the lock may be another writer's (a second recover() of the
// directory, here or in another process). The publisher then touches the directory no more: the
// checkpoint rejects with ClosedError. log.close() itself waits for the checkpoints asked before
// it; one asked while it closes must not run after it.

type Op = { n: number };
type State = { sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ sum: s.sum + r.payload.n });
const options = { codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply };

describe('checkpoint: the writer closed before or between its steps', () => {
  for (const kind of dirKinds().filter((k) => k.name !== 'SimulatedDirectory')) {
    it(`a checkpoint asked while log.close() runs is refused, not published under the next writer (${kind.name})`, async () => {
      try {
        const dir = kind.make();
        const log = await recover({ ...options, dir, writer: { maxSegmentSize: 256 }, retain: 1 });
        let sum = 0;
        for (let i = 0; i < 40; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        const segments = listSegments(dir).length;
        const order: string[] = [];
        const closing = log.close().then(() => order.push('closed'));
        const late = log.checkpoint({ sum }).then(() => order.push('checkpoint published'), (err: unknown) => {
          order.push('checkpoint refused');
          return err;
        });
        await closing;
        // The lock is free: the next writer may open the log at once.
        const next = await recover({ ...options, dir, writer: true });
        assert.ok((await late) instanceof ClosedError);
        assert.deepEqual(order.sort(), ['checkpoint refused', 'closed']);
        assert.deepEqual(listCheckpoints(dir), [], 'nothing published');
        assert.equal(listSegments(dir).length, segments, 'nothing truncated');
        assert.deepEqual([next.state, next.lastEntryId], [{ sum }, 40]);
        await next.close();
      } finally {
        kind.cleanup();
      }
    });

    it(`a writer closed once the checkpoint is durable: no truncation or pruning after it (${kind.name})`, async () => {
      try {
        const dir = kind.make();
        let closeOnWritten = false;
        let closing: Promise<void> | undefined;
        const log = await recover({
          ...options, dir, writer: { maxSegmentSize: 256 }, retain: 1,
          observer: { onWritten: () => { if (closeOnWritten) closing = log.writer.close(); } },
        });
        let sum = 0;
        for (let i = 0; i < 20; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        await log.checkpoint({ sum });
        for (let i = 20; i < 40; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        const segments = listSegments(dir).length;
        closeOnWritten = true;
        await assert.rejects(log.checkpoint({ sum }), ClosedError);
        await closing;
        assert.deepEqual(listCheckpoints(dir).map((c) => c.lastEntryId), [20, 40], 'the durable checkpoint stays, the older one is not pruned');
        assert.equal(listSegments(dir).length, segments, 'nothing truncated');
        const next = await recover({ ...options, dir });
        assert.deepEqual([next.state, next.checkpointEntryId], [{ sum }, 40]);
      } finally {
        kind.cleanup();
      }
    });

    it(`a writer closed between two of the truncation's unlinks: no segment is removed after it (${kind.name})`, async () => {
      try {
        const real = kind.make();
        let writer: { close(): Promise<void>; readonly closed: boolean } | undefined;
        let closing: Promise<void> | undefined;
        let closeOnFirstUnlink = false;
        let closed = false;
        const unlinked: string[] = [];
        const unlinkedAfterClose: string[] = [];
        const unlink = (path: string): void => {
          if (!closeOnFirstUnlink || !path.startsWith('wal/')) return;
          if (writer?.closed === true) unlinkedAfterClose.push(path);
          unlinked.push(path);
          if (writer !== undefined && closing === undefined) {
            // The application closes the log's writer while the truncation's first unlink runs.
            closing = writer.close().then(() => {
              closed = true;
            });
          }
        };
        const dir = overriding<Directory>(real, {
          deleteNoSyncAsync: real.deleteNoSyncAsync === undefined ? undefined : async (path: string) => {
            unlink(path);
            // A slow unlink (a busy thread pool): close() must still not resolve before it lands.
            await new Promise((resolve) => setTimeout(resolve, 50));
            await real.deleteNoSyncAsync!(path);
            if (closed) unlinkedAfterClose.push(`${path} (landed after close() resolved)`);
          },
          deleteNoSync: (path: string) => {
            unlink(path);
            real.deleteNoSync(path);
          },
        });
        // recycleCapacity 0: every covered segment is unlinked (recycling renames the first ones instead).
        const log = await recover({ ...options, dir, writer: { maxSegmentSize: 256, recycleCapacity: 0 }, retain: 1 });
        writer = log.writer;
        let sum = 0;
        for (let i = 0; i < 20; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        await log.checkpoint({ sum });
        for (let i = 20; i < 60; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        const before = listSegments(real).length;
        closeOnFirstUnlink = true;
        await assert.rejects(log.checkpoint({ sum }), ClosedError);
        await closing;
        assert.ok(before - 1 > 2, `the checkpoint covers several segments (${before})`);
        assert.equal(unlinked.length, 1, `only the unlink under way when the writer closed ran: ${unlinked.join(', ')}`);
        assert.deepEqual(unlinkedAfterClose, []);
        assert.equal(listSegments(real).length, before - 1);
        const next = await recover({ ...options, dir: real });
        assert.deepEqual([next.state, next.lastEntryId], [{ sum }, 60]);
      } finally {
        kind.cleanup();
      }
    });

    it(`a writer closed while the checkpoint is staged: not renamed to its name (${kind.name})`, async () => {
      try {
        const real = kind.make();
        let closing: Promise<void> | undefined;
        let closeWhileStaging = false;
        let writer: { close(): Promise<void> } | undefined;
        const stage = (): void => {
          if (closeWhileStaging && writer !== undefined) closing = writer.close();
        };
        const dir = overriding<Directory>(real, {
          // The writer closes while the staged file is written and fdatasynced (off the event loop on FsDirectory).
          atomicWriteAsync: real.atomicWriteAsync === undefined ? undefined : async (path: string, data: Uint8Array) => {
            stage();
            await real.atomicWriteAsync!(path, data);
          },
          atomicWrite: (path: string, data: Uint8Array) => {
            stage();
            real.atomicWrite(path, data);
          },
        });
        const log = await recover({ ...options, dir, writer: { maxSegmentSize: 256 }, retain: 1 });
        writer = log.writer;
        let sum = 0;
        for (let i = 0; i < 20; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        await log.checkpoint({ sum });
        for (let i = 20; i < 40; i++) sum += (await log.writer.appendDurable({ n: i }), i);
        closeWhileStaging = true;
        await assert.rejects(log.checkpoint({ sum }), ClosedError);
        await closing;
        assert.deepEqual(listCheckpoints(real).map((c) => c.lastEntryId), [20], 'the staged checkpoint took no name');
        const next = await recover({ ...options, dir: real });
        assert.deepEqual([next.state, next.lastEntryId], [{ sum }, 40]);
      } finally {
        kind.cleanup();
      }
    });
  }
});
