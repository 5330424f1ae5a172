// A WritableFile of the caller's own whose size() lies (too small, too large, not a byte count)
// steers only the writer's zeros ahead of the log and its trims: zeros go past the end of every
// frame handed to the file and are bounded by ZERO_AHEAD and maxSegmentSize, and a trim never
// cuts below what was written. So no acknowledged entry is overwritten or lost, and no file
// grows past maxSegmentSize, whatever size() answers; at worst a segment keeps zeros past its
// last frame, which read as its clean end.
import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';

const LIES: Record<string, (n: number) => unknown> = {
  zero: () => 0,
  half: (n) => Math.floor(n / 2),
  negative: () => -5,
  NaN: () => NaN,
  'a little more': (n) => n + 100,
  'past 2^53': () => 2 ** 60,
  Infinity: () => Infinity,
  fractional: (n) => n + 0.5,
};

const SEGMENT = 64 * 1024;

describe("a WritableFile whose size() lies", () => {
  for (const [name, lie] of Object.entries(LIES)) {
    it(`size() answering ${name}: every acknowledged entry replays strictly, and no segment grows past maxSegmentSize`, async () => {
      const plain = new MemoryDirectory();
      const dir = wrappingFiles(plain, (file, path) => (path.startsWith('wal/') ? overriding(file, { size: () => lie(file.size()) as number }) : file));
      const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: SEGMENT, preallocate: SEGMENT });
      const acknowledged: number[] = [];
      // Plain appends first (the synchronous mode), then durable appends in waves across rotations.
      for (let i = 0; i < 10; i++) w.append(new Uint8Array(100).fill(i));
      for (let wave = 0; wave < 60; wave++) {
        acknowledged.push(...(await Promise.all(Array.from({ length: 25 }, (_, i) => w.appendDurable(new Uint8Array(100).fill(i))))));
      }
      await w.close();
      const ids = new WalReader(plain, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);
      assert.deepEqual(ids, Array.from({ length: 10 + 60 * 25 }, (_, i) => i + 1));
      assert.ok(acknowledged.every((id) => ids.includes(id)));
      const segments = plain.list('wal').filter((n) => n.endsWith('.wal'));
      assert.ok(segments.length > 2, 'the workload rotated');
      for (const n of segments) assert.ok(plain.openRead(`wal/${n}`).size() <= SEGMENT, `${n} grew past maxSegmentSize`);
    });
  }
});
