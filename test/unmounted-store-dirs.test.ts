// wal/ or checkpoints/ may be a symbolic link to a directory on another disk (the operator's
// choice). When that disk is not mounted the link dangles: the log is elsewhere, not empty.
// Every operation must say so (NotFoundError naming the link), never read the directory as
// empty: a replay would return no entries, recover() would rebuild the initial state, and a
// follower would wait forever for entries that exist.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { loadLatestCheckpoint, writeCheckpoint } from '../lib/checkpoint/store';
import { FsDirectory } from '../lib/directory/fs';
import { NotFoundError } from '../lib/errors';
import { recover } from '../lib/recover';
import { json, type Codec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const codec = json as Codec<number>;

function isNotFoundLink(name: string): (err: unknown) => boolean {
  return (err) => err instanceof NotFoundError && err.path === name && /symbolic link/.test(err.message);
}

for (const backend of availableBackends()) {
  describe(`wal/ or checkpoints/ linked to a disk that is not mounted (${backend.name})`, () => {
    let work: string;
    let root: string;
    /** Moves `name` to another "disk", links it back, then takes that disk away. */
    const unmount = (name: string): void => {
      const disk = path.join(work, 'disk');
      fs.mkdirSync(disk);
      fs.renameSync(path.join(root, name), path.join(disk, name));
      fs.symlinkSync(path.join(disk, name), path.join(root, name));
      fs.renameSync(disk, path.join(work, 'disk-unmounted'));
    };
    beforeEach(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-unmounted-'));
      root = path.join(work, 'store');
      const dir = new FsDirectory(root, { backend, create: true });
      const w = WalWriter.create(dir, { codec, maxSegmentSize: 512 });
      for (let n = 1; n <= 30; n++) w.append(n);
      w.syncSync();
      w.closeSync();
      writeCheckpoint(dir, 10, 10, { codec });
    });
    afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

    it('wal/: replay, recover, follow and the writer refuse, naming the link', async () => {
      unmount('wal');
      const dir = new FsDirectory(root, { backend });
      assert.throws(() => new WalReader(dir, { codec }).replaySync(), isNotFoundLink('wal'));
      await assert.rejects(recover({ dir, codec, stateCodec: codec, initial: 0, apply: (s: number) => s + 1 }), isNotFoundLink('wal'));
      await assert.rejects(new WalReader(dir, { codec }).follow({ maxPollIntervalMs: 1 }).next(), isNotFoundLink('wal'));
      assert.throws(() => WalWriter.open(dir, { codec }), isNotFoundLink('wal'));
    });

    it('checkpoints/: loading and recover refuse, naming the link', async () => {
      unmount('checkpoints');
      const dir = new FsDirectory(root, { backend });
      assert.throws(() => loadLatestCheckpoint(dir, { codec }), isNotFoundLink('checkpoints'));
      await assert.rejects(recover({ dir, codec, stateCodec: codec, initial: 0, apply: (s: number) => s + 1 }), isNotFoundLink('checkpoints'));
      assert.throws(() => writeCheckpoint(dir, 30, 30, { codec }), isNotFoundLink('checkpoints'));
    });

    it('a store not written yet (no wal/, no checkpoints/) still reads as empty', async () => {
      const fresh = new FsDirectory(path.join(work, 'fresh'), { backend, create: true });
      assert.deepEqual(new WalReader(fresh, { codec }).replaySync(), []);
      assert.equal((await recover({ dir: fresh, codec, stateCodec: codec, initial: 0, apply: (s: number) => s + 1 })).lastEntryId, 0);
    });
  });
}
