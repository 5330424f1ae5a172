// WalWriterOptions.zeroFill: a new segment file is written full of zeros (to maxSegmentSize)
// and synced before frames go into it, in both I/O modes; the zero tail reads as a clean end and
// is trimmed at rotation and close; a crash with a zero tail still resumes cleanly (a torn tail
// is cut by resume, zeros and all, as before).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { MemoryDirectory } from '../lib/directory/memory';
import { InvalidArgumentError } from '../lib/errors';
import { ZERO_RUN_CHUNKS, zeroRuns } from '../lib/wal/active-segment';
import { MAX_SEGMENT_SIZE } from '../lib/wal/options';
import { raw } from '../lib/wal/codec';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, segmentPath } from '../lib/wal/format';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { WalWriter } from '../lib/wal/writer';
import type { WritableFile } from '../lib/directory/directory';
import { overriding } from './support/overriding';

const SEGMENT = 4096;
const PAYLOAD = 100;
const FRAME = FRAME_HEADER_SIZE + PAYLOAD;
const options = { codec: raw, maxSegmentSize: SEGMENT, zeroFill: true };

function payload(i: number): Uint8Array {
  return new Uint8Array(PAYLOAD).fill((i % 250) + 1);
}

function replayIds(dir: Directory): number[] {
  return new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId);
}

/** Where the segment's frames (and sync marks) end: a trimmed file ends exactly there. */
function framesEnd(dir: Directory, segmentId: number): number {
  return scanSegment(dir, { segmentId, path: segmentPath(segmentId) }, { isFinal: false, mode: 'strict' }).validEnd;
}

function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

function withRealDirs(name: string, body: (dir: FsDirectory) => Promise<void> | void): void {
  for (const backend of availableBackends()) {
    it(`${name} (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-zero-fill-'));
      try {
        await body(new FsDirectory(root, { backend }));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
}

describe('WalWriter zeroFill', () => {
  it('rejects a non-boolean', () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    assert.throws(() => WalWriter.create(dir, { codec: raw, zeroFill: 1 as unknown as boolean }), InvalidArgumentError);
  });

  withRealDirs('synchronous mode: new files are full-size zeros behind the header, trimmed at rotation and close', (dir) => {
    const w = WalWriter.create(dir, options);
    const first = dir.readFile(segmentPath(1));
    assert.equal(first.length, SEGMENT);
    assert.ok(allZero(first.subarray(SEGMENT_HEADER_SIZE)));
    // Each write after a sync carries a sync mark, so a segment holds fewer than SEGMENT / FRAME frames.
    const perSegment = Math.floor((SEGMENT - SEGMENT_HEADER_SIZE) / FRAME);
    const n = perSegment * 2 + 3;
    for (let i = 1; i <= n; i++) {
      w.append(payload(i));
      w.syncSync();
    }
    const last = w.currentSegmentId;
    assert.ok(last >= 3);
    const trimmed = framesEnd(dir, 1);
    assert.ok(trimmed < SEGMENT && trimmed > SEGMENT - 2 * FRAME);
    assert.equal(dir.readFile(segmentPath(1)).length, trimmed, 'rotation trims the zero tail');
    assert.equal(dir.readFile(segmentPath(last)).length, SEGMENT, 'the current segment is still full size');
    assert.deepEqual(replayIds(dir), Array.from({ length: n }, (_, i) => i + 1), 'the zero tail reads as a clean end');
    w.closeSync();
    assert.equal(dir.readFile(segmentPath(last)).length, framesEnd(dir, last), 'close trims the zero tail');
    assert.ok(framesEnd(dir, last) < SEGMENT);
    assert.deepEqual(replayIds(dir), Array.from({ length: n }, (_, i) => i + 1));
  });

  withRealDirs('pipelined mode: a segment created by a group commit is zero-filled before its frames, and trimmed', async (dir) => {
    const w = WalWriter.create(dir, options);
    const perSegment = Math.floor((SEGMENT - SEGMENT_HEADER_SIZE) / FRAME);
    const n = perSegment * 3 + 5;
    const ids: number[] = [];
    for (let wave = 0; wave * 10 < n; wave++) {
      const count = Math.min(10, n - wave * 10);
      ids.push(...(await Promise.all(Array.from({ length: count }, (_, i) => w.appendDurable(payload(wave * 10 + i))))));
      const current = dir.readFile(segmentPath(w.currentSegmentId));
      // Every segment in the run was created by a commit (or at open): while current it is full size.
      assert.equal(current.length, SEGMENT, `segment ${w.currentSegmentId} after wave ${wave}`);
    }
    assert.ok(w.currentSegmentId >= 4, `${w.currentSegmentId} segments`);
    await w.close();
    for (let id = 1; id <= w.currentSegmentId; id++) {
      const bytes = dir.readFile(segmentPath(id));
      assert.ok(bytes.length < SEGMENT && bytes.length === framesEnd(dir, id), `segment ${id} trimmed to its frames (${bytes.length})`);
    }
    assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i + 1));
    assert.deepEqual(replayIds(dir), ids);
  });

  it('a power cut with a zero tail resumes after the last durable entry and appends on', async () => {
    for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as const) {
      const dir = new SimulatedDirectory({ seed: 3 });
      const w = WalWriter.create(dir, options);
      for (let i = 1; i <= 12; i++) await w.appendDurable(payload(i));
      w.append(payload(13)); // written, never synced
      w.flushSync();
      const after = dir.crash({ mode, seed: 5 });
      const again = WalWriter.open(after, options);
      assert.ok(again.nextEntryId === 13 || again.nextEntryId === 14, `${mode}: next ${again.nextEntryId}`);
      const id = await again.appendDurable(payload(99));
      await again.close();
      assert.deepEqual(replayIds(after), Array.from({ length: id }, (_, i) => i + 1), mode);
    }
  });

  it('refuses sizes no file could hold before touching the directory (no heap exhaustion building the fill)', () => {
    const huge = [
      { maxSegmentSize: Number.MAX_SAFE_INTEGER }, { maxSegmentSize: MAX_SEGMENT_SIZE + 1 }, { preallocate: Number.MAX_SAFE_INTEGER },
      { maxSegmentAgeMs: 1e300 }, { bufferSize: 2 ** 31 }, { groupCommit: { maxBatchBytes: 2 ** 31 } },
    ];
    for (const extra of huge) {
      const dir = new MemoryDirectory();
      assert.throws(() => WalWriter.open(dir, { codec: raw, zeroFill: true, ...extra }), InvalidArgumentError, JSON.stringify(extra));
      assert.deepEqual(dir.list(''), [], JSON.stringify(extra));
    }
  });

  it('zero runs are made lazily, each at most ZERO_RUN_CHUNKS chunks, and cover the range exactly', () => {
    const first = zeroRuns(SEGMENT_HEADER_SIZE, MAX_SEGMENT_SIZE).next();
    assert.equal(first.done, false);
    assert.equal(first.value?.chunks.length, ZERO_RUN_CHUNKS);
    let at = SEGMENT_HEADER_SIZE;
    const end = 3 * ZERO_RUN_CHUNKS * 1024 * 1024 + 12345;
    for (const run of zeroRuns(SEGMENT_HEADER_SIZE, end)) {
      assert.equal(run.position, at);
      assert.ok(run.chunks.length >= 1 && run.chunks.length <= ZERO_RUN_CHUNKS);
      for (const c of run.chunks) at += c.length;
    }
    assert.equal(at, end);
  });

  it('fills a large segment in bounded writes and commits on both I/O paths', async () => {
    // A 300 MiB segment on a directory that counts zero writes instead of storing them.
    const size = 300 * 1024 * 1024;
    const seen = { zeroBytes: 0, largestWrite: 0, largestCommit: 0 };
    const dir = zeroCountingDirectory(new MemoryDirectory(), seen);
    let now = 0;
    const w = WalWriter.create(dir, { codec: raw, zeroFill: true, maxSegmentSize: size, maxSegmentAgeMs: 10, clock: () => now });
    assert.equal(seen.zeroBytes, size - SEGMENT_HEADER_SIZE, 'the synchronous fill covers the segment');
    await w.appendDurable(payload(1));
    now += 100; // the next append rotates on age, through the group-commit path
    await w.appendDurable(payload(2));
    await w.close();
    assert.equal(w.currentSegmentId, 2);
    assert.equal(seen.zeroBytes, 2 * (size - SEGMENT_HEADER_SIZE), 'the pipelined fill covers the segment');
    assert.ok(seen.largestWrite <= 1024 * 1024, `largest zero write ${seen.largestWrite}`);
    assert.ok(seen.largestCommit <= ZERO_RUN_CHUNKS + 1, `largest commit ${seen.largestCommit} chunks`);
    assert.deepEqual(replayIds(dir), [1, 2]);
  });
});

const ZEROS = Buffer.alloc(1024 * 1024);

function isZeroFill(c: Uint8Array): boolean {
  return c.length > SEGMENT_HEADER_SIZE && c.length <= ZEROS.length && Buffer.compare(Buffer.from(c.buffer, c.byteOffset, c.length), ZEROS.subarray(0, c.length)) === 0;
}

/** `inner`, except that zero-fill writes are counted and dropped (an unwritten tail reads as zeros anyway). */
function zeroCountingDirectory(inner: Directory, seen: { zeroBytes: number; largestWrite: number; largestCommit: number }): Directory {
  const wrap = (file: WritableFile): WritableFile => overriding(file, {
    writeAt: (data, position) => {
      if (!isZeroFill(data)) return file.writeAt(data, position);
      seen.zeroBytes += data.length;
      seen.largestWrite = Math.max(seen.largestWrite, data.length);
    },
    commitAsync: (plan) => {
      seen.largestCommit = Math.max(seen.largestCommit, plan.chunks.length);
      const kept = plan.chunks.filter((c) => !isZeroFill(c));
      for (const c of plan.chunks) if (isZeroFill(c)) seen.zeroBytes += c.length;
      return file.commitAsync({ ...plan, chunks: kept });
    },
  });
  // The files it creates: the test's writer starts from an empty directory.
  return overriding(inner, { create: (path) => wrap(inner.create(path)) });
}
