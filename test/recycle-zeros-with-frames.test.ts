// Over a recycled file's earlier life the 16 bytes of zeros that follow a pipelined commit's
// frames are what tells a reader the log ends there (rule C), not an optimisation: they go in the
// same gather write as the frames. As the optional zeros ahead of a fresh file (a step of their own
// after the frames, left out where the disk has no room), a process killed between the two steps,
// or a `durability verify` run then, found the new frames followed directly by the earlier life (a
// torn write to a strict read), and a commit whose zeros found no room left them out for good.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsBackend } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { segmentPath } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const SEGMENT = 256 * 1024;
const entry = new Uint8Array(4000).fill(7);

/**
 * A live writer on segment 3, a recycled file holding a few entries of this life. `oldSegment`:
 * the size of the segments of the file's earlier life, written by an earlier writer (default:
 * the same writer, SEGMENT).
 */
async function onRecycledSegment(dir: Directory, oldSegment = SEGMENT): Promise<WalWriter<Uint8Array>> {
  let w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: oldSegment, recycleCapacity: 2, idleMarkMs: 0 });
  while (w.currentSegmentId < 2) await w.appendDurable(entry);
  const m = new WalMaintenance(dir);
  const recycled = m.truncateToRecycle(m.segmentRanges()[0].lastEntryId);
  if (oldSegment === SEGMENT) w.recycle(recycled);
  else {
    await w.close();
    w = WalWriter.open<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
  }
  while (w.currentSegmentId < 3 || w.currentSegmentBytes < 16 * 1024) await w.appendDurable(entry);
  const f = dir.openRead(segmentPath(3));
  try {
    assert.ok(f.size() >= oldSegment - entry.length, 'segment 3 is a recycled file as long as a full segment of its earlier life');
  } finally {
    f.close();
  }
  return w;
}

/** The id of the last entry each mode reads. */
async function readBoth(dir: Directory): Promise<{ strict: number | undefined; bestEffort: number | undefined }> {
  const bestEffort = (await new WalReader(dir, { codec: raw }).replay({ mode: 'bestEffortTail' })).at(-1)?.entryId;
  const strict = (await new WalReader(dir, { codec: raw }).replay({ mode: 'strict' })).at(-1)?.entryId;
  return { strict, bestEffort };
}

describe("a pipelined commit over a recycled file's earlier life", () => {
  it('leaves a log that reads strictly to its end when the process is killed right after the frames are written (node:fs)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zeros-with-frames-'));
    const killed = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zeros-with-frames-killed-'));
    const writev = fs.writev;
    try {
      const w = await onRecycledSegment(new FsDirectory(root, { backend: tsBackend() }));
      let snapshots = 0;
      // The first write of the next commit (its frames): copy the files as the page cache has them
      // once it returns, which is what a SIGKILL there leaves (and what a reader sees then).
      (fs as { writev: unknown }).writev = (fd: number, buffers: Uint8Array[], position: number, cb: (err: Error | null, n: number) => void) =>
        writev(fd, buffers, position, (err, n) => {
          if (err === null && snapshots === 0 && buffers.some((b) => b.some((x) => x !== 0))) {
            snapshots++;
            fs.cpSync(root, killed, { recursive: true });
          }
          cb(err, n);
        });
      try {
        await w.appendDurable(entry);
      } finally {
        (fs as { writev: unknown }).writev = writev;
      }
      assert.equal(snapshots, 1);
      const expected = w.lastEntryId;
      await w.close();
      const dir = new FsDirectory(killed);
      assert.deepEqual(await readBoth(dir), { strict: expected, bestEffort: expected });
      assert.notEqual(scanSegment(dir, listSegments(dir).at(-1)!, { isFinal: true, mode: 'strict' }).tail, 'torn');
    } finally {
      (fs as { writev: unknown }).writev = writev;
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(killed, { recursive: true, force: true });
    }
  });

  it('leaves a log that reads strictly after every write, up to the commit that rotates off it and cuts it (node:fs)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zeros-with-frames-'));
    const killed = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zeros-with-frames-killed-'));
    const writev = fs.writev;
    const snapshots: string[] = [];
    try {
      // Its earlier life longer than the segments written now: it lies past this life's end too.
      const w = await onRecycledSegment(new FsDirectory(root, { backend: tsBackend() }), 2 * SEGMENT);
      // After each write of frames: the files as the page cache has them, what a SIGKILL there
      // leaves; the commit ending segment 3 writes its frames, then cuts the earlier life off.
      (fs as { writev: unknown }).writev = (fd: number, buffers: Uint8Array[], position: number, cb: (err: Error | null, n: number) => void) =>
        writev(fd, buffers, position, (err, n) => {
          if (err === null && buffers.some((b) => b.some((x) => x !== 0))) {
            const to = path.join(killed, String(snapshots.length));
            fs.cpSync(root, to, { recursive: true });
            snapshots.push(to);
          }
          cb(err, n);
        });
      const pending: Array<Promise<number>> = [];
      try {
        // Not awaited one by one: the frames queued when the segment is full go in the commit that ends it.
        while (w.currentSegmentId === 3) pending.push(w.appendDurable(entry));
        await Promise.all(pending);
      } finally {
        (fs as { writev: unknown }).writev = writev;
      }
      await w.close();
      assert.ok(snapshots.length > 1);
      for (const snapshot of snapshots) {
        const dir = new FsDirectory(snapshot);
        const { strict, bestEffort } = await readBoth(dir);
        assert.equal(strict, bestEffort, snapshot);
      }
    } finally {
      (fs as { writev: unknown }).writev = writev;
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(killed, { recursive: true, force: true });
    }
  });

  it('keeps its zeros when the disk has no room for zeros ahead of the log (the file leaves optional zeros out)', async () => {
    const inner = new MemoryDirectory();
    let skipped = 0;
    // What a file with no room for a commit's zeros does (CommitPlan.zeroChunks): writes the
    // frames, leaves the zeros out, and resolves 'zeros-skipped'.
    const dir = wrappingFiles(inner, (file) => overriding(file, {
      commitAsync: async (plan) => {
        const zeroChunks = plan.zeroChunks ?? 0;
        if (zeroChunks === 0) return file.commitAsync(plan);
        skipped++;
        await file.commitAsync({ ...plan, chunks: plan.chunks.slice(0, plan.chunks.length - zeroChunks), zeroChunks: 0 });
        return 'zeros-skipped';
      },
    }));
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
    while (w.currentSegmentId < 2) await w.appendDurable(entry);
    const m = new WalMaintenance(dir);
    w.recycle(m.truncateToRecycle(m.segmentRanges()[0].lastEntryId));
    while (w.currentSegmentId < 3 || w.currentSegmentBytes < 16 * 1024) await w.appendDurable(entry);
    assert.ok(skipped > 0, 'the disk had no room for zeros');
    assert.equal(w.poisoned, false);
    const expected = w.lastEntryId;
    assert.deepEqual(await readBoth(inner), { strict: expected, bestEffort: expected });
    await w.close();
  });
});
