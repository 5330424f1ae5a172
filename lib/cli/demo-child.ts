import { FsDirectory } from '../directory/fs';
import { jsonCodec } from '../wal/codec';
import { WalWriter } from '../wal/writer';

// The ingesting process of `durability demo`: CLIENTS concurrent callers, each appending one
// entry and waiting until it is durable before the next, as a service acknowledging writes
// would. After each acknowledgement it tells the parent "ack <id>" on stdout; the parent
// SIGKILLs it at a moment of its choosing, mid-stream.
//
// Written against WalWriter.append + sync() (one shared fdatasync per batch). When
// writer.appendDurable lands, each client becomes `await writer.appendDurable(entry)`.

export interface DemoEntry {
  client: number;
  seq: number;
  amount: number;
}

const CLIENTS = 64;
// Small segments so a few seconds of ingest rotate several times.
const SEGMENT_BYTES = 256 * 1024;

async function main(dirPath: string): Promise<void> {
  const dir = new FsDirectory(dirPath, { create: true });
  const writer = WalWriter.open<DemoEntry>(dir, { codec: jsonCodec<DemoEntry>(), maxSegmentSize: SEGMENT_BYTES, flushPolicy: 'manual' });
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

  const client = async (c: number) => {
    for (let seq = 0; ; seq++) {
      const id = writer.append({ client: c, seq, amount: (c * 7919 + seq * 104729) % 1000 });
      await writer.sync();
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
