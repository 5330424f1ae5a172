import type { Directory } from '../../lib/directory/directory';
import { writeCheckpoint } from '../../lib/checkpoint/store';
import { RecordLogWriter } from '../../lib/recordlog/writer';
import { json, type Codec } from '../../lib/wal/codec';
import { WalWriter } from '../../lib/wal/writer';

// A store holding one of every file the package reads: a WAL of several segments, a checkpoint,
// a record log and a JetStream forwarder's cursor. For tests that make a directory's reads
// misbehave and check what each reader then says.

export const STORE_CODEC = json as Codec<unknown>;
/** Entries in the WAL and records in the record log. */
export const STORE_ENTRIES = 60;

export function fillEveryFileStore<D extends Directory>(dir: D): D {
  const w = WalWriter.open(dir, { codec: STORE_CODEC, maxSegmentSize: 4096 });
  for (let i = 1; i <= STORE_ENTRIES; i++) w.append({ i, pad: 'x'.repeat(100) });
  w.closeSync();
  writeCheckpoint(dir, 20, { upTo: 20 }, { codec: STORE_CODEC });
  const records = RecordLogWriter.open(dir, 'records/log', { codec: STORE_CODEC });
  for (let i = 1; i <= STORE_ENTRIES; i++) records.append({ i });
  records.closeSync();
  dir.atomicWrite('jetstream-cursor.json', new TextEncoder().encode(`${JSON.stringify({ version: 1, stream: 's', subject: 'x', entryId: 7, seq: 7, updatedAt: 0 })}\n`));
  return dir;
}
