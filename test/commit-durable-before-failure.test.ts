// A batch whose commit completed (written and fdatasynced) resolves its callers even when a
// failure comes right after it: a rejection tells a caller "not known durable", and a caller
// told that about entries that are durable may retry them and duplicate them in the log. Later
// batches reject with the cause and the writer is poisoned.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';
import { TEST_BUILD, usingFaultHooks } from './support/test-binding';

const FRAME = 16 + 20;

type Outcome = { id: number } | { id: -1; error: unknown };
const outcome = (p: Promise<number>): Promise<Outcome> => p.then((id) => ({ id }), (error: unknown) => ({ id: -1 as const, error }));

function replayIds(root: string): number[] {
  return new WalReader(new FsDirectory(root), { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
}

describe('a batch committed before a failure resolves its callers', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-done-before-fail-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('closing the segment a batch ended fails after its fdatasync: its entries resolve, later ones reject with the cause', async () => {
    const closeFailure = new IoError('EIO', 'close', undefined);
    let files = 0;
    // The first segment's descriptor reports an error when closed (close(2) may, on NFS), after
    // the commit that ended the segment trimmed and fdatasynced it.
    const dir = wrappingFiles(new FsDirectory(root), (file) => {
      const n = ++files;
      return overriding(file, {
        close: () => {
          file.close();
          if (n === 1) throw closeFailure;
        },
      });
    });
    const w = WalWriter.create(dir, { codec: raw, preallocate: false, maxSegmentSize: 32 + 4 * FRAME });
    const results = await Promise.all(Array.from({ length: 10 }, () => outcome(w.appendDurable(new Uint8Array(20)))));
    const good = results.filter((r) => !('error' in r)).map((r) => r.id);
    assert.deepEqual(good, [1, 2, 3, 4], 'the batch that ended segment 1 was synced before its close failed');
    for (const r of results.slice(4)) assert.equal((r as { error: unknown }).error, closeFailure);
    assert.equal(w.durableEntryId, 4);
    assert.equal(w.poisonCause, closeFailure);
    await assert.rejects(w.close(), PoisonedError);
    assert.deepEqual(replayIds(root).slice(0, 4), [1, 2, 3, 4]);
  });
});

if (nativeBackend() !== undefined) {
  describe(`a commit completed on the commit thread before a later one failed (native backend) ${TEST_BUILD}`, () => {
    const hooks = usingFaultHooks('durability-done-before-fail-');

    it('the batch whose fdatasync returned resolves; the one whose fdatasync failed, and later ones, reject with the cause', async () => {
      const w = WalWriter.create(new FsDirectory(hooks.root, { backend: hooks.native }), { codec: raw, preallocate: false, groupCommit: { maxBatchEntries: 4 } });
      await w.appendDurable(new Uint8Array(20)); // the segment's header and first commit are behind us
      // Entries 2..13 are cut into batches of 4, two in flight at once: the first batch's
      // fdatasync succeeds, the second's fails.
      hooks.binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO, after: 1 });
      const results = await Promise.all(Array.from({ length: 12 }, () => outcome(w.appendDurable(new Uint8Array(20)))));
      assert.deepEqual(results.slice(0, 4).map((r) => r.id), [2, 3, 4, 5]);
      const cause = (results[4] as { error: unknown }).error;
      assert.ok(cause instanceof IoError && cause.errno === 'EIO' && cause.syscall === 'fdatasync', String(cause));
      for (const r of results.slice(4)) assert.equal((r as { error: unknown }).error, cause);
      assert.equal(w.durableEntryId, 5);
      await assert.rejects(w.close(), PoisonedError);
      hooks.binding.__setFaultInjection(null);
      assert.deepEqual(replayIds(hooks.root), [1, 2, 3, 4, 5]);
    });
  });
}
