import { FsDirectory } from '../directory/fs';
import { recover } from '../recover';
import { applyEntry, CLIENTS, entryCodec, initialState, SEGMENT_BYTES, stateCodec, type DemoEntry, type DemoState } from './demo-model';

// The ingesting process of `durability demo`: CLIENTS concurrent callers, each appending one
// entry and waiting until it is durable before the next, as a service acknowledging writes
// would, while the state is checkpointed every CHECKPOINT_MS. After each acknowledgement it
// tells the parent "ack <id>" on stdout; the parent SIGKILLs it mid-stream.
// Each client awaits appendDurable: concurrent callers share one write + fdatasync per batch.

const CHECKPOINT_MS = 500;

async function main(dirPath: string): Promise<void> {
  const dir = new FsDirectory(dirPath, { create: true });
  const log = await recover<DemoState, DemoEntry>({
    dir, codec: entryCodec, stateCodec, initial: initialState(), apply: applyEntry,
    writer: { maxSegmentSize: SEGMENT_BYTES, flushPolicy: 'manual' },
  });
  const { writer, state } = log;
  let acked = 0;
  let reported = 0;
  let reportQueued = false;
  const report = () => {
    reportQueued = false;
    if (acked > reported) {
      reported = acked;
      process.stdout.write(`ack ${acked}\n`);
    }
  };
  process.stdout.write(`ready ${dir.backend.name}\n`);

  // The state must reflect exactly the entries appended when a checkpoint is taken: append and
  // apply happen together, synchronously, so any moment between them is consistent.
  const timer = setInterval(() => {
    log.checkpoint(state).then(
      (c) => process.stdout.write(`checkpoint ${c.lastEntryId} ${c.truncatedSegments}\n`),
      (err: unknown) => process.stderr.write(`demo child: checkpoint failed: ${String(err)}\n`),
    );
  }, CHECKPOINT_MS);
  timer.unref();

  const client = async (c: number) => {
    for (let seq = 0; ; seq++) {
      const entry: DemoEntry = { client: c, seq, amount: (c * 7919 + seq * 104729) % 1000 };
      const durable = writer.appendDurable(entry);
      applyEntry(state, { payload: entry });
      const id = await durable;
      if (id > acked) acked = id;
      if (!reportQueued) {
        reportQueued = true;
        setImmediate(report);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
}

main(process.argv[2]).catch((err: unknown) => {
  process.stderr.write(`demo child: ${String(err)}\n`);
  process.exitCode = 1;
});
