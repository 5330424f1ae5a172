// An idle sync mark left out for want of room (idle-mark-no-room.test.ts), met by the paths that
// test does not take: a follower reading the partial mark, a rotation right after the skip, an
// fdatasync that makes the partial mark durable before a power cut, zeros kept ahead of the log
// on both backends, and random mixes of appends, syncs, skips, recycling and power cuts. Each
// must read back every acknowledged entry, in order, with nothing invented.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const payload = (n: number, size = 100): Uint8Array => {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (n * 31 + i) & 255;
  return b;
};
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const ids = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);

/** A writer whose idle mark the test writes itself (idleMarkMs 0: the timer never runs it). */
function writerOn(dir: Directory, options: { maxSegmentSize?: number; recycleCapacity?: number } = {}, open = false) {
  const opts = { codec: raw, idleMarkMs: 0, ...options };
  const w = open ? WalWriter.open(dir, opts) : WalWriter.create(dir, opts);
  return { w, markWhileIdle: () => (w as unknown as { markWhileIdle(): void }).markWhileIdle() };
}

/** The first `want` entry ids a follower yields (the test times out if it never gets them). */
async function follow(dir: Directory, durableOnly: boolean, want: number): Promise<number[]> {
  const stop = new AbortController();
  const got: number[] = [];
  for await (const r of new WalReader(dir, { codec: raw }).follow({ signal: stop.signal, durableOnly, maxPollIntervalMs: 5 })) {
    got.push(r.entryId);
    if (got.length === want) break;
  }
  stop.abort();
  return got;
}

describe('an idle mark left out for want of room, on the paths around it (SimulatedDirectory)', () => {
  for (const durableOnly of [false, true]) {
    it(`a follower (durableOnly ${durableOnly}) waits at the partial mark and reads on once frames cover it`, async () => {
      const dir = new SimulatedDirectory({ seed: 3 });
      const { w, markWhileIdle } = writerOn(dir);
      w.append(payload(1));
      w.append(payload(2));
      w.syncSync();
      dir.injectFault({ op: 'write', error: 'short' });
      markWhileIdle();
      assert.equal(w.poisoned, false, String(w.poisonCause));
      if (!durableOnly) assert.deepEqual(await follow(dir, false, 2), [1, 2]);
      await w.appendDurable(payload(3)); // its mark, over the partial one, vouches for 1 and 2
      assert.deepEqual(await follow(dir, durableOnly, durableOnly ? 2 : 3), durableOnly ? [1, 2] : [1, 2, 3]);
      await w.close(); // the closing mark vouches for 3
      assert.deepEqual(await follow(dir, durableOnly, 3), [1, 2, 3]);
      assert.deepEqual(ids(dir), [1, 2, 3]);
    });
  }

  for (const pipelined of [false, true]) {
    it(`rotation right after the skip (${pipelined ? 'appendDurable' : 'append + syncSync'}): every segment reads whole`, async () => {
      const dir = new SimulatedDirectory({ seed: 4 });
      const { w, markWhileIdle } = writerOn(dir, { maxSegmentSize: 64 * 1024 });
      w.append(payload(1));
      w.syncSync();
      dir.injectFault({ op: 'write', error: 'short' });
      markWhileIdle();
      for (let id = 2; id <= 11; id++) {
        if (pipelined) await w.appendDurable(payload(id, 20_000));
        else {
          w.append(payload(id, 20_000));
          w.syncSync();
        }
      }
      await w.close();
      assert.ok(new WalMaintenance(dir).segmentRanges().length > 1, 'the log rotated');
      assert.deepEqual(ids(dir), upTo(11));
    });
  }

  it('a partial mark made durable by an fdatasync with nothing to write, then a power cut: a torn tail, and the reopened writer goes on (every crash mode, 20 seeds)', async () => {
    for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as const) {
      for (let seed = 1; seed <= 20; seed++) {
        const dir = new SimulatedDirectory({ seed });
        const { w, markWhileIdle } = writerOn(dir);
        w.append(payload(1));
        w.syncSync();
        dir.injectFault({ op: 'write', error: 'short' });
        markWhileIdle();
        await w.sync();
        await w.appendDurable(payload(2));
        w.append(payload(3));
        w.flushSync();
        w.syncSync();
        dir.injectFault({ op: 'write', error: 'short' });
        markWhileIdle();
        await w.sync();
        assert.equal(w.poisoned, false, String(w.poisonCause));
        const after = dir.crash({ mode, seed });
        const kept = new WalReader(after, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
        assert.deepEqual(kept, [1, 2, 3], `${mode} seed ${seed}`);
        const reopened = writerOn(after, {}, true).w;
        reopened.append(payload(4));
        reopened.closeSync();
        assert.deepEqual(ids(after), [1, 2, 3, 4], `${mode} seed ${seed}`);
      }
    }
  });

  it('random mixes of appends, syncs, skipped and written idle marks, recycling and power cuts lose no acknowledged entry and invent none (100 seeds)', async function () {
    this.timeout(120_000);
    for (let seed = 1; seed <= 100; seed++) {
      let s = seed;
      const rand = (n: number): number => {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        return s % n;
      };
      let dir = new SimulatedDirectory({ seed });
      const options = { maxSegmentSize: 64 * 1024, recycleCapacity: 4 };
      let { w, markWhileIdle } = writerOn(dir, options);
      const sizes = new Map<number, number>();
      let next = 1;
      let durable = 0;
      const trace: string[] = [];
      const at = (): string => `seed ${seed} after ${trace.join('')}`;
      for (let step = 0; step < 60; step++) {
        const op = rand(10);
        const size = 1 + rand(9000);
        if (op <= 2) {
          sizes.set(next, size);
          w.append(payload(next++, size));
          trace.push('a');
        } else if (op === 3) {
          w.flushSync();
          trace.push('f');
        } else if (op === 4) {
          w.syncSync();
          durable = next - 1;
          trace.push('s');
        } else if (op === 5) {
          sizes.set(next, size);
          durable = await w.appendDurable(payload(next++, size));
          trace.push('d');
        } else if (op === 6) {
          await w.sync();
          durable = next - 1;
          trace.push('S');
        } else if (op === 7) {
          dir.injectFault({ op: 'write', error: 'short' });
          markWhileIdle();
          dir.clearFaults(); // armed for the idle mark only, which writes nothing when none is due
          trace.push('I');
        } else if (op === 8) {
          markWhileIdle();
          trace.push('i');
        } else {
          const m = new WalMaintenance(dir);
          const ranges = m.segmentRanges();
          if (ranges.length > 2) m.truncateToRecycle(ranges[0].lastEntryId);
          trace.push('R');
        }
        assert.equal(w.poisoned, false, `${at()}: ${String(w.poisonCause)}`);
        if (rand(12) === 0) {
          const mode = (['dropAll', 'keepPrefix', 'tear', 'reorder'] as const)[rand(4)];
          dir = dir.crash({ mode, seed: seed * 100 + step });
          trace.push(`C(${mode})`);
          const kept = new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' });
          const first = kept[0]?.entryId ?? 1;
          kept.forEach((r, i) => {
            assert.equal(r.entryId, first + i, `${at()}: a gap`);
            assert.deepEqual(r.payload, payload(r.entryId, sizes.get(r.entryId)!), `${at()}: entry ${r.entryId}`);
          });
          const last = kept.length === 0 ? first - 1 : kept[kept.length - 1].entryId;
          assert.ok(last >= durable, `${at()}: entry ${durable} was acknowledged, the log ends at ${last}`);
          ({ w, markWhileIdle } = writerOn(dir, options, true));
          next = last + 1;
          durable = last;
        }
      }
      await w.close();
      const kept = new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' });
      assert.equal(kept[kept.length - 1]?.entryId ?? 0, next - 1, at());
      for (const r of kept) assert.deepEqual(r.payload, payload(r.entryId, sizes.get(r.entryId)!), at());
    }
  });
});

for (const [name, backend] of [['native', nativeBackend()], ['ts', tsBackend()]] as const) {
  if (backend === undefined) continue;
  describe(`an idle mark left out for want of room over zeros kept ahead of the log: FsDirectory(${name})`, () => {
    for (const keep of [1, 12, 23]) {
      it(`${keep} of its 24 bytes reached the file, three times, with pipelined commits, a rotation, followers and close between: the log reads whole`, async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-idle-skip-paths-'));
        try {
          let armed = false;
          const failing = overriding(backend as FileBackend, {
            pwrite: (fd: number, data: Uint8Array, offset: number, p?: string) => {
              if (!armed) return backend.pwrite(fd, data, offset, p);
              armed = false;
              backend.pwrite(fd, data.subarray(0, keep), offset, p);
              throw new IoError('ENOSPC', 'pwrite', p);
            },
          });
          const dir = new FsDirectory(root, { backend: failing });
          const { w, markWhileIdle } = writerOn(dir, { maxSegmentSize: 256 * 1024 });
          const skip = (): void => {
            armed = true;
            markWhileIdle();
            assert.equal(armed, false, 'the idle mark was written');
            assert.equal(w.poisoned, false, String(w.poisonCause));
          };
          let n = 0;
          for (let i = 0; i < 5; i++) await w.appendDurable(payload(++n, 3000)); // pipelined: zeros ahead
          w.append(payload(++n));
          w.syncSync();
          skip();
          assert.deepEqual(await follow(dir, false, n), upTo(n));
          await w.appendDurable(payload(++n, 3000));
          w.append(payload(++n));
          w.syncSync();
          skip();
          for (let i = 0; i < 150; i++) await w.appendDurable(payload(++n, 3000)); // past a rotation
          w.append(payload(++n));
          w.syncSync();
          skip();
          assert.deepEqual(await follow(dir, true, n - 1), upTo(n - 1));
          await w.close();
          assert.ok(new WalMaintenance(dir).segmentRanges().length > 1, 'the log rotated');
          assert.deepEqual(ids(dir), upTo(n));
          assert.deepEqual(await follow(dir, true, n), upTo(n));
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }
  });
}
