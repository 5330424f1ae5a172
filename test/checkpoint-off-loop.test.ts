import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { writeCheckpoint } from '../lib/checkpoint/store';
import { InvalidStateError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { recover } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { listSegments } from '../lib/wal/segment-files';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding } from './support/overriding';

// A checkpoint's disk work (write + fdatasync of the file, its rename, truncating the log,
// pruning old checkpoints: every unlink and directory fsync) runs off the event loop on a
// directory that offers the async forms: unlinking a 64 MiB segment took 9–11 ms inside the call
// here, and an ingestion service must go on acknowledging appends meanwhile. Only the first
// checkpoint of a publisher may fsync on the calling thread (mkdirp of checkpoints/).

// Directory methods that block the calling thread on the disk (fdatasync, fsync, unlink).
const BLOCKING = ['atomicWrite', 'atomicRename', 'delete', 'deleteNoSync', 'syncDir', 'syncFile', 'mkdirp'] as const;

function watched(dir: Directory): { dir: Directory; calls: string[]; watching: { on: boolean } } {
  const calls: string[] = [];
  const watching = { on: false };
  const overrides: Partial<Record<(typeof BLOCKING)[number], unknown>> = {};
  for (const name of BLOCKING) {
    const method = (dir[name] as (...args: unknown[]) => unknown).bind(dir);
    overrides[name] = (...args: unknown[]) => {
      if (watching.on) calls.push(`${name}(${String(args[0])})`);
      return method(...args);
    };
  }
  return { dir: overriding(dir, overrides as Partial<Directory>), calls, watching };
}

type Op = { n: number };
type State = { sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ sum: s.sum + r.payload.n });

async function appendSome(log: { writer: { appendDurable(e: Op): Promise<number> } }, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await log.writer.appendDurable({ n: i });
}

describe('checkpoint off the event loop', () => {
  for (const kind of dirKinds().filter((k) => k.name.startsWith('FsDirectory'))) {
    it(`writes, truncates and prunes without a blocking call on the event loop (${kind.name})`, async () => {
      try {
        const { dir, calls, watching } = watched(kind.make());
        const log = await recover({
          dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply,
          writer: { maxSegmentSize: 512 }, retain: 2,
        });
        try {
          await appendSome(log, 40);
          await log.checkpoint({ sum: 1 });
          await appendSome(log, 40);
          watching.on = true;
          const second = await log.checkpoint({ sum: 2 });
          await appendSome(log, 40);
          const third = await log.checkpoint({ sum: 3 });
          watching.on = false;
          assert.ok(second.truncatedSegments > 0 && third.truncatedSegments > 0, 'the log was truncated');
          assert.equal(third.prunedCheckpoints.length, 1, 'the oldest checkpoint was pruned');
          assert.deepEqual(calls, []);
        } finally {
          await log.close();
        }
      } finally {
        kind.cleanup();
      }
    });
  }

  it('runs the synchronous steps on a directory without the async forms, with the same outcome', async () => {
    const dir = new MemoryDirectory();
    assert.equal((dir as Directory).deleteNoSyncAsync, undefined);
    const log = await recover({
      dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply,
      writer: { maxSegmentSize: 512 }, retain: 1,
    });
    try {
      await appendSome(log, 40);
      const published = await log.checkpoint({ sum: 780 });
      assert.ok(published.truncatedSegments > 0);
      assert.equal(listSegments(dir).length, 1);
    } finally {
      await log.close();
    }
    const again = await recover({ dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply });
    assert.deepEqual(again.state, { sum: 780 });
  });

  it('settles a checkpoint still running before close releases the log', async () => {
    const kind = dirKinds().find((k) => k.name.startsWith('FsDirectory'))!;
    try {
      const dir = kind.make();
      const log = await recover({
        dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply,
        writer: { maxSegmentSize: 512 }, retain: 1,
      });
      await appendSome(log, 40);
      const order: string[] = [];
      const checkpoint = log.checkpoint({ sum: 780 }).then((published) => {
        order.push('checkpoint');
        return published;
      });
      await log.close().then(() => order.push('close'));
      // The checkpoint ran to its end before close let go of the log: nothing of it is left to
      // happen once another writer may have opened it.
      assert.deepEqual(order, ['checkpoint', 'close']);
      assert.ok((await checkpoint).truncatedSegments > 0);
    } finally {
      kind.cleanup();
    }
  });

  it('publishes the checkpoints of two publishers of one directory in turn, never one over the other', async () => {
    const kind = dirKinds().find((k) => k.name.startsWith('FsDirectory'))!;
    try {
      const dir = kind.make();
      const log = await recover({
        dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply,
        writer: { maxSegmentSize: 512 }, retain: 3,
      });
      const other = new CheckpointPublisher(dir, { writer: log.writer, stateCodec: jsonCodec<State>(), retain: 3 });
      let sum = 0;
      const published: Promise<{ lastEntryId: number }>[] = [];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 10; i++) {
          await log.writer.appendDurable({ n: round * 10 + i });
          sum += round * 10 + i;
        }
        // Not awaited: each publish runs in steps, and the other publisher's would fall between.
        published.push((round % 2 === 0 ? log.checkpoint({ sum }) : other.checkpoint({ sum })));
      }
      assert.deepEqual((await Promise.all(published)).map((p) => p.lastEntryId), [10, 20, 30, 40, 50, 60]);
      await log.close();
      const again = await recover({ dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply });
      assert.deepEqual([again.checkpointEntryId, again.state], [60, { sum }]);
    } finally {
      kind.cleanup();
    }
  });

  it('refuses a synchronous writeCheckpoint while a publish of the same directory is under way', async () => {
    const kind = dirKinds().find((k) => k.name.startsWith('FsDirectory'))!;
    try {
      const dir = kind.make();
      const log = await recover({
        dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0 }, apply, writer: true,
      });
      await appendSome(log, 5);
      const publishing = log.checkpoint({ sum: 10 });
      assert.throws(() => writeCheckpoint(dir, 5, { sum: 10 }, { codec: jsonCodec<State>() }), InvalidStateError);
      await publishing;
      writeCheckpoint(dir, 5, { sum: 10 }, { codec: jsonCodec<State>() });
      await log.close();
    } finally {
      kind.cleanup();
    }
  });
});
