// A recycle file that is not a regular file (a link planted out of the store, a FIFO) is never
// reused: the rotation that would take it creates a fresh segment instead, removes the name (the
// link, not its target), reports it, and the writer goes on unpoisoned.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { withDiagnostics } from './support/diagnostics';

const plants = {
  'a symlink out of the store': (file: string, victim: string) => fs.symlinkSync(victim, file),
  'a FIFO': (file: string) => {
    const r = spawnSync('mkfifo', [file]);
    assert.equal(r.status, 0, String(r.stderr));
  },
};

for (const backend of availableBackends()) {
  describe(`recycle files that are not regular files (${backend.name})`, () => {
    let base: string;
    beforeEach(() => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-hostile-'));
    });
    afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

    for (const [what, plant] of Object.entries(plants)) {
      it(`${what} under a recycle name is removed and a fresh segment made`, async () => {
        const root = path.join(base, 'store');
        const victim = path.join(base, 'victim');
        fs.mkdirSync(root);
        fs.writeFileSync(victim, Buffer.alloc(4096, 1));
        await withDiagnostics(async (events) => {
          const dir = new FsDirectory(root, { backend });
          WalWriter.open(dir, { codec: raw }).closeSync();
          plant(path.join(root, 'wal', 'recycle-7'), victim);
          const w = WalWriter.open(dir, { codec: raw, recycleCapacity: 2, maxSegmentSize: 200 });
          for (let i = 0; i < 20; i++) await w.appendDurable(new Uint8Array(40).fill(i));
          assert.ok(w.currentSegmentId >= 3, 'the writer rotated past the planted file');
          assert.equal(w.poisoned, false);
          await w.close();
          assert.deepEqual(fs.readFileSync(victim), Buffer.alloc(4096, 1), 'the target is untouched');
          assert.equal(fs.existsSync(path.join(root, 'wal', 'recycle-7')), false, 'the planted name is gone');
          assert.ok(events.some((e) => e.kind === 'recycle-not-regular' && e.path === 'wal/recycle-7'), JSON.stringify(events.map((e) => e.kind)));
          assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, 20);
        });
      });
    }

    // unlink(2) cannot remove a directory: it is left where it is, reported, and never reused.
    for (const recycleCapacity of [0, 2]) {
      it(`a directory under a recycle name is left in place and passed over (recycleCapacity ${recycleCapacity})`, async () => {
        const root = path.join(base, 'store');
        fs.mkdirSync(root);
        await withDiagnostics(async (events) => {
          const dir = new FsDirectory(root, { backend });
          WalWriter.open(dir, { codec: raw }).closeSync();
          fs.mkdirSync(path.join(root, 'wal', 'recycle-7'));
          // With no pool the open lets every leftover go; with one, the first rotation takes it.
          const w = WalWriter.open(dir, { codec: raw, recycleCapacity, maxSegmentSize: 200 });
          for (let i = 0; i < 20; i++) await w.appendDurable(new Uint8Array(40).fill(i));
          assert.ok(w.currentSegmentId >= 3, 'the writer rotated past the planted directory');
          assert.equal(w.poisoned, false);
          await w.close();
          assert.equal(fs.statSync(path.join(root, 'wal', 'recycle-7')).isDirectory(), true, 'left in place');
          assert.ok(events.some((e) => e.kind === 'recycle-not-regular' && e.path === 'wal/recycle-7'), JSON.stringify(events.map((e) => e.kind)));
          assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, 20);
        });
      });
    }
  });
}
