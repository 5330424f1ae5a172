// A recycled file becomes the next segment off the event loop on the group-commit path
// (installPlannedRecycled): its header's fdatasync runs as the file's own commit, and the
// directory fsync for its new name rides with the segment's first frames commit. Before, both
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

const options = { codec: raw, maxSegmentSize: 32 + 4 * 26, recycleCapacity: 4 };

/** `backend` with its blocking fdatasync and directory fsync counted while `on` says so. */
function countingBlockingSyncs(backend: FileBackend, on: () => boolean): { backend: FileBackend; calls: string[] } {
  const calls: string[] = [];
  const spy = new Proxy(backend, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if ((key === 'fdatasync' || key === 'fsyncDir') && typeof value === 'function') {
        return (...args: unknown[]) => {
          if (on()) calls.push(`${String(key)} ${String(args[args.length - 1])}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
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

  it('a power cut before the first frames commit leaves the recycled file unseen or an empty segment, never a stale one', async () => {
    // Cut at every operation of the rotations onto recycled files: the log must read back as a
    // prefix holding every entry reported durable (the rename's directory entry is made durable
    // by the frames commit, not before).
    let cuts = 0;
    for (let k = 1; k <= 60; k++) {
      const dir = new SimulatedDirectory({ seed: k });
      const acknowledged: number[] = [];
      const w = WalWriter.create<Uint8Array>(dir, options);
      for (let i = 0; i < 12; i++) acknowledged.push(await w.appendDurable(new Uint8Array(10).fill(i + 1)));
      w.recycle(new WalMaintenance(dir).truncateToRecycle(8));
      const cut = dir.scheduleCrash(k, { seed: k });
      await Promise.all(Array.from({ length: 12 }, () => w.appendDurable(new Uint8Array(10)).then((id) => void acknowledged.push(id), () => undefined)));
      await w.close().catch(() => undefined);
      if (cut.directory === undefined) break; // past the last operation
      cuts++;
      const found = new WalReader(cut.directory, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
      assert.deepEqual(found, Array.from({ length: found.length }, (_, i) => (found[0] ?? 0) + i), `cut ${k}: not contiguous`);
      const newest = Math.max(...acknowledged);
      assert.ok(found.length > 0 && found[found.length - 1] >= newest, `cut ${k}: entry ${newest} was reported durable, the log ends at ${found[found.length - 1]}`);
    }
    assert.ok(cuts >= 20, `${cuts} cuts`);
  });
});
