// A recycled file becomes the next segment off the event loop on the group-commit path
// (installPlannedRecycled): its header's fdatasync runs as the file's own commit, and the
// directory fsync for its new name runs asynchronously, before any frame is written. Before, both
// ran as blocking syscalls on the event loop at every rotation onto a recycled file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const options = { codec: raw, maxSegmentSize: 32 + 4 * 26, recycleCapacity: 4 };

/** `backend` with its blocking fdatasync and directory fsync counted while `on` says so. */
function countingBlockingSyncs(backend: FileBackend, on: () => boolean): { backend: FileBackend; calls: string[] } {
  const calls: string[] = [];
  const spy = overriding(backend, {
    fdatasync: (fd, path) => {
      if (on()) calls.push(`fdatasync ${String(path)}`);
      backend.fdatasync(fd, path);
    },
    fsyncDir: (path) => {
      if (on()) calls.push(`fsyncDir ${path}`);
      backend.fsyncDir(path);
    },
  });
  return { backend: spy, calls };
}

/** Writes 12 entries, recycles the segments below entry 8, then appends 12 more concurrently (rotating onto the recycled files). */
async function rotateOntoRecycled(dir: FsDirectory | SimulatedDirectory, during: (phase: 'before' | 'after') => void): Promise<number> {
  const w = WalWriter.create<Uint8Array>(dir, options);
  for (let i = 0; i < 12; i++) await w.appendDurable(new Uint8Array(10).fill(i + 1));
  const recycled = new WalMaintenance(dir).truncateToRecycle(8);
  w.recycle(recycled);
  during('before');
  await Promise.all(Array.from({ length: 12 }, (_, i) => w.appendDurable(new Uint8Array(10).fill(13 + i))));
  during('after');
  await w.close();
  return recycled.length;
}

describe('recycled segments on the group-commit path', () => {
  for (const backend of availableBackends()) {
    it(`are installed with no blocking fdatasync or directory fsync on the event loop (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-'));
      try {
        let counting = false;
        const spy = countingBlockingSyncs(backend, () => counting);
        const dir = new FsDirectory(root, { backend: spy.backend });
        const recycled = await rotateOntoRecycled(dir, (phase) => void (counting = phase === 'before'));
        const left = dir.list('wal').filter((n) => n.startsWith('recycle-')).length;
        assert.ok(recycled - left >= 2, `${recycled - left} of ${recycled} recycled files became segments`);
        assert.deepEqual(spy.calls, []);
        const ids = new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId);
        assert.deepEqual(ids, Array.from({ length: 16 }, (_, i) => 9 + i));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('a power cut during rotations onto recycled files, then a second life: the log holds exactly what was written, nothing stale', async () => {
    // Life 1 is cut at each operation of its rotations onto recycled files (several seeds per cut
    // point); life 2 reopens, appends one entry and is cut right after its acknowledgement. The
    // log must then be what life 1 left readable plus life 2's entry, payloads included. If a
    // recycled file's rename could be lost after frames went into it, life 2 would reuse the file
    // under the same header (same salt) and life 1's unacknowledged frames would come back.
    let cases = 0;
    const entries = (d: SimulatedDirectory): string[] =>
      new WalReader(d, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => `${r.entryId}:${r.payload[0]}`);
    for (let k = 1; k <= 22; k++) {
      for (let seed = 1; seed <= 6; seed++) {
        const dir = new SimulatedDirectory({ seed });
        const w = WalWriter.create<Uint8Array>(dir, options);
        const acknowledged: number[] = [];
        for (let i = 0; i < 12; i++) acknowledged.push(await w.appendDurable(new Uint8Array(10).fill(i + 1)));
        w.recycle(new WalMaintenance(dir).truncateToRecycle(8));
        const cut = dir.scheduleCrash(k, { seed: seed * 7 + k });
        await Promise.all(Array.from({ length: 12 }, (_, i) => w.appendDurable(new Uint8Array(10).fill(100 + i)).then((id) => void acknowledged.push(id), () => undefined)));
        await w.close().catch(() => undefined);
        if (cut.directory === undefined) continue; // past the last operation
        const first = entries(cut.directory);
        const newest = Math.max(...acknowledged);
        assert.ok(first.length > 0 && Number(first[first.length - 1].split(':')[0]) >= newest, `cut ${k} seed ${seed}: entry ${newest} was reported durable; the log is ${first.join(' ')}`);
        // One append: a stale frame right behind it would be the next id, and read back.
        const again = WalWriter.open<Uint8Array>(cut.directory, options);
        const id = await again.appendDurable(new Uint8Array(10).fill(200));
        const second = cut.directory.crash({ mode: 'dropAll' });
        assert.deepEqual(entries(second), [...first, `${id}:200`], `cut ${k} seed ${seed}`);
        cases++;
      }
    }
    assert.ok(cases >= 60, `${cases} cases`);
  });
});
