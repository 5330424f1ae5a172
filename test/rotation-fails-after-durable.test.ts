// In the synchronous mode a rotation first trims, fdatasyncs and (where needed) fsyncs the
// directory for the old segment, then closes it and creates the next one. When one of those last
// two steps fails, every entry appended so far is already durable: the writer is poisoned (the
// descriptor's state is unknown) and the append that rotated throws the cause, its entry never
// placed (no id taken), but durableEntryId says how far the log is durable, as the group-commit
// mode resolves the batch that ended the segment (commit-durable-before-failure.test.ts).

import assert from 'node:assert/strict';
import type { Directory, WritableFile } from '../lib/directory/directory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const FRAME = 16 + 20;
const SEGMENT = 32 + 4 * FRAME;
const entry = (): Uint8Array => new Uint8Array(20).fill(3);

const replayIds = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);

describe('a synchronous rotation that fails after the old segment is durable', () => {
  const cases: [string, (plain: SimulatedDirectory, failure: IoError) => Directory][] = [
    ['closing the old segment fails (close(2) reporting a writeback error)', (plain, failure) => {
      let files = 0;
      return wrappingFiles(plain, (file: WritableFile) => {
        const n = ++files;
        return overriding(file, {
          close: () => {
            file.close();
            if (n === 1) throw failure;
          },
        });
      });
    }],
    ['creating the next segment fails', (plain, failure) => overriding<Directory>(plain, {
      create: (path: string) => {
        if (path.endsWith('2.wal')) throw failure;
        return plain.create(path);
      },
    })],
  ];

  for (const [name, hostile] of cases) {
    it(`${name}: the append throws the cause and takes no id, the writer is poisoned, durableEntryId covers every entry before it`, () => {
      const plain = new SimulatedDirectory({ seed: 1 });
      const failure = new IoError('EIO', 'close', 'wal/00000000000000000001.wal');
      const w = WalWriter.create(hostile(plain, failure), { codec: raw, preallocate: false, maxSegmentSize: SEGMENT });
      for (let i = 0; i < 4; i++) w.append(entry());
      assert.equal(w.durableEntryId, 0, 'nothing synced yet');
      assert.throws(() => w.append(entry()), (err) => err === failure);
      assert.equal(w.poisoned, true);
      assert.equal(w.lastEntryId, 4, 'the entry that rotated was not placed');
      assert.equal(w.durableEntryId, 4, 'the rotation trimmed, fdatasynced and fsynced the directory for entries 1-4 before it failed');
      assert.throws(() => w.append(entry()), PoisonedError);
      assert.throws(() => w.closeSync(), PoisonedError);
      // A power cut now loses nothing durableEntryId covers.
      assert.deepEqual(replayIds(plain.crash({ mode: 'dropAll' })), [1, 2, 3, 4]);
    });
  }
});
