// CommitPlan.zeroChunks names the last chunks of a commit as zeros ahead of the log, written only
// where there is room. A caller's chunks are copied at the call (owned-bytes.ts snapshotChunks):
// the copy must keep which bytes are data and which are zeros. Merged into one chunk, a plan of
// [data, zeros] with zeroChunks 1 had its data taken for zeros: with no room for them it was left
// out and the commit resolved 'zeros-skipped', its fdatasync vouching for bytes never written.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';

const DATA = new Uint8Array(16).fill(0xaa);
const ZEROS = new Uint8Array(48);

function fileOf(dir: SimulatedDirectory): void {
  const f = dir.create('f');
  f.writeAt(new Uint8Array(64).fill(7), 0);
  f.sync();
  f.close();
}

describe('a commit of caller bytes with zeros ahead (CommitPlan.zeroChunks)', () => {
  it('fails when its data finds no room, instead of resolving zeros-skipped without it', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    fileOf(dir);
    const f = dir.openAppend('f');
    dir.injectFault({ op: 'write', error: 'ENOSPC', after: 0 });
    await assert.rejects(f.commitAsync({ chunks: [DATA, ZEROS], position: 0, zeroChunks: 1 }), (e: unknown) => e instanceof IoError && e.errno === 'ENOSPC');
    f.close();
  });

  it('writes its data and leaves out only the zeros when they find no room', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    fileOf(dir);
    const f = dir.openAppend('f');
    dir.injectFault({ op: 'write', error: 'ENOSPC', after: 1 });
    assert.equal(await f.commitAsync({ chunks: [DATA, ZEROS], position: 0, zeroChunks: 1 }), 'zeros-skipped');
    f.close();
    assert.deepEqual(dir.readFile('f').subarray(0, 16), DATA);
  });

  it('keeps zeroChunks within its chunks: two chunks of zeros after the data', async () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    fileOf(dir);
    const f = dir.openAppend('f');
    assert.equal(await f.commitAsync({ chunks: [DATA, ZEROS, ZEROS], position: 0, zeroChunks: 2 }), undefined);
    f.close();
    const bytes = dir.readFile('f');
    assert.deepEqual(bytes.subarray(0, 16), DATA);
    assert.ok(bytes.subarray(16, 112).every((b) => b === 0));
  });

  for (const backend of availableBackends()) {
    it(`keeps zeroChunks within its chunks on FsDirectory (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zero-chunks-'));
      try {
        const dir = new FsDirectory(root, { backend });
        const f = dir.create('f');
        assert.equal(await f.commitAsync({ chunks: [DATA, ZEROS, ZEROS], position: 0, zeroChunks: 2 }), undefined);
        f.close();
        const bytes = dir.readFile('f');
        assert.equal(bytes.length, 112);
        assert.deepEqual(bytes.subarray(0, 16), DATA);
        assert.ok(bytes.subarray(16).every((b) => b === 0));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
