import assert from 'node:assert/strict';
import type { WritableFile } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

// A Directory of the caller's own whose files opened for appending start writing at offset 0
// instead of at the file's end (WritableFile.offset's contract): the WAL never relies on a
// file's offset (it writes where it knows its log ends), and the record log must not either,
// or it writes its records over its own header and every acknowledged record is lost.
function startingAtZero(file: WritableFile): WritableFile {
  let offset = 0;
  return overriding(file, {
    get offset() {
      return offset;
    },
    write: (data: Uint8Array) => {
      file.writeAt(data, offset);
      offset += data.length;
    },
    writev: (chunks: readonly Uint8Array[]) => {
      for (const c of chunks) {
        file.writeAt(c, offset);
        offset += c.length;
      }
    },
    truncate: (length: number) => {
      file.truncate(length);
      offset = Math.min(offset, length);
    },
  });
}

describe('a Directory whose appending files start at offset 0', () => {
  const bytes = (i: number): Uint8Array => new Uint8Array(5 + i).fill(i);

  it('the record log, as the WAL, appends after its last record: every acknowledged record stays', () => {
    const mem = new MemoryDirectory();
    const dir = overriding(mem, { openAppend: (path: string) => startingAtZero(mem.openAppend(path)) });
    const first = RecordLogWriter.open(dir, 'events.rlog');
    for (let i = 1; i <= 3; i++) first.append(bytes(i));
    first.closeSync();
    const second = RecordLogWriter.open(dir, 'events.rlog');
    second.append(bytes(4));
    second.closeSync();
    assert.deepEqual(readRecordLog(dir, 'events.rlog').records, [1, 2, 3, 4].map(bytes));

    const wal = WalWriter.create(dir, { codec: raw });
    for (let i = 1; i <= 3; i++) wal.append(bytes(i));
    wal.closeSync();
    const resumed = WalWriter.open(dir, { codec: raw });
    resumed.append(bytes(4));
    resumed.closeSync();
    assert.deepEqual(new WalReader(dir, { codec: raw }).replaySync().map((r) => r.payload), [1, 2, 3, 4].map(bytes));
  });
});
