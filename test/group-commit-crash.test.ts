// Group commit under power cuts and I/O failures: an entry is never reported durable before the
// fdatasync covering it returned (a crash right after any resolution keeps it), rules A and B hold
// with batches in flight, and a failed commit rejects its batch and every later one with the
// cause, poisons the writer and never reports anything after it durable. Simulated faults, and
// the native backend on real files with the failure injected at the syscall layer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import type { FaultOp } from '../lib/directory/faults';
import { Prng } from '../lib/directory/prng';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import type { Directory } from '../lib/directory/directory';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { TEST_BUILD, usingFaultHooks } from './support/test-binding';

const FRAME = 16 + 20;
// Buffers sized to these tiny segments: the power-cut test opens thousands of writers, and
// default 1 MiB buffers each took the mocha worker past 1.8 GB before a collection freed them.
const options = { codec: raw, maxSegmentSize: 32 + 6 * FRAME, syncWindow: 4 * FRAME, bufferSize: 4096, groupCommit: { maxBatchEntries: 5, maxBatchBytes: 4096 } };

function replayIds(dir: Directory): number[] {
  return new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
}

function assertPrefixHolding(found: number[], acknowledged: number[], label: string): void {
  assert.deepEqual(found, Array.from({ length: found.length }, (_, i) => i + 1), `${label}: not a prefix`);
  const highest = Math.max(0, ...acknowledged);
  assert.ok(found.length >= highest, `${label}: entry ${highest} was reported durable but only ${found.length} survived`);
}

interface Run {
  acknowledged: number[];
  rejections: unknown[];
}

/** Producers in waves (durable appends, batches, plain appends + sync), recording what each call reports. */
async function workload(w: WalWriter<Uint8Array>, prng: Prng): Promise<Run> {
  const run: Run = { acknowledged: [], rejections: [] };
  const record = (p: Promise<number | number[] | void>, covers: () => number): Promise<void> =>
    p.then(
      (v) => {
        if (typeof v === 'number') run.acknowledged.push(v);
        else if (Array.isArray(v)) run.acknowledged.push(...v);
        else run.acknowledged.push(covers());
      },
      (err: unknown) => void run.rejections.push(err),
    );
  const pending: Promise<void>[] = [];
  for (let wave = 0; wave < 6; wave++) {
    for (let i = 0; i < 3 + prng.int(6); i++) {
      try {
        const roll = prng.int(10);
        if (roll < 6) pending.push(record(w.appendDurable(new Uint8Array(20).fill(wave)), () => 0));
        else if (roll < 8) pending.push(record(w.appendBatchDurable([new Uint8Array(20), new Uint8Array(20)]), () => 0));
        else {
          w.append(new Uint8Array(20));
          const covered = w.lastEntryId;
          pending.push(record(w.sync(), () => covered));
        }
      } catch (err) {
        run.rejections.push(err); // append throws synchronously once poisoned or powered off
      }
    }
    await Promise.resolve();
  }
  await Promise.all(pending);
  return run;
}

describe('group commit under power cuts (SimulatedDirectory)', () => {
  // zeroFill: each new segment file is first written full of zeros, in the commit that writes its header.
  for (const [label, variant] of [['plain files', options], ['zeroFill', { ...options, zeroFill: true }]] as const) {
    it(`after a power cut at any operation, every entry reported durable survives and the log is a prefix (${label})`, async () => {
      let cuts = 0;
      for (let seed = 0; seed < 6; seed++) {
        // A dry run counts the workload's operations, so the cuts cover every one of them.
        const probe = new SimulatedDirectory({ seed });
        const probeWriter = WalWriter.create(probe, variant);
        const start = probe.operations;
        await workload(probeWriter, new Prng(seed));
        await probeWriter.close();
        const total = probe.operations - start;
        assert.ok(total > 30, `${total} operations`);
        for (let k = 1; k <= total; k++) {
          const dir = new SimulatedDirectory({ seed });
          const w = WalWriter.create(dir, variant);
          const cut = dir.scheduleCrash(k, { seed: 1000 * seed + k });
          const run = await workload(w, new Prng(seed));
          await w.close().catch(() => undefined);
          assert.ok(cut.directory !== undefined, `cut ${k} of ${total} happened`);
          cuts++;
          assertPrefixHolding(replayIds(cut.directory), run.acknowledged, `${label} seed ${seed}, cut after ${k} ops (${cut.directory.crashMode})`);
        }
      }
      assert.ok(cuts > 200, `${cuts} cuts`);
    });

    it(`a crash right after a resolution keeps that entry, in every crash mode (${label})`, async () => {
      for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as const) {
        for (let seed = 0; seed < 8; seed++) {
          const dir = new SimulatedDirectory({ seed });
          const w = WalWriter.create(dir, variant);
          let crashed: SimulatedDirectory | undefined;
          let seen = 0;
          const target = 1 + seed * 3;
          const all = Array.from({ length: 30 }, () => w.appendDurable(new Uint8Array(20)).then((id) => {
            if (id === target) crashed = dir.crash({ mode, seed });
            if (crashed === undefined) seen = id;
            return id;
          }, () => undefined));
          await Promise.all(all);
          assert.ok(crashed !== undefined);
          assert.equal(seen, target - 1);
          assertPrefixHolding(replayIds(crashed), [target], `${label} ${mode} seed ${seed}`);
        }
      }
    });
  }

  it('rule A and B hold with batches in flight: no segment before its predecessor is synced, no span over W', async () => {
    const dir = new SimulatedDirectory({ seed: 9 });
    const synced = new Map<string, number>();
    let worst = 0;
    let creates = 0;
    // Where the frames end: group commits write zeros ahead of them (ActiveSegment.zeroAhead),
    // which are no frame; every payload here is non-zero, so the last frame ends at the last non-zero byte.
    const frameEnd = (file: string): number => {
      const bytes = dir.readFile(file);
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end--;
      return end;
    };
    dir.onOperation = (e) => {
      if (!e.path.endsWith('.wal')) return;
      const length = frameEnd(e.path);
      if (e.op === 'write') {
        worst = Math.max(worst, length - Math.max(32, synced.get(e.path) ?? 32));
      }
      if (e.op === 'sync') synced.set(e.path, length);
      if (e.op === 'create') {
        creates++;
        const id = Number(path.basename(e.path, '.wal'));
        if (id > 1) {
          const previous = `wal/${String(id - 1).padStart(20, '0')}.wal`;
          assert.equal(synced.get(previous), frameEnd(previous), `${previous} was not fully synced before ${e.path} was created`);
          assert.equal(dir.readFile(previous).length, frameEnd(previous), `${previous} was not trimmed before ${e.path} was created`);
        }
      }
    };
    const w = WalWriter.create(dir, { ...options, groupCommit: { ...options.groupCommit, maxBatchEntries: 100 } });
    await Promise.all(Array.from({ length: 60 }, (_, i) => w.appendDurable(new Uint8Array(i % 3 === 0 ? 20 : 50).fill(7))));
    await w.close();
    assert.ok(creates >= 8, `${creates} segments`);
    assert.ok(worst <= options.syncWindow, `unsynced span reached ${worst} > W`);
    assert.equal(replayIds(dir).length, 60);
  });
});

describe('group commit failures (SimulatedDirectory faults)', () => {
  const faults: { op: FaultOp; after: number }[] = [
    { op: 'sync', after: 2 },
    { op: 'write', after: 3 },
    { op: 'syncDir', after: 1 },
    { op: 'create', after: 1 },
    { op: 'truncate', after: 0 },
  ];
  for (const { op, after } of faults) {
    it(`a failed ${op} rejects its batch and every later one with the cause and poisons the writer`, async () => {
      const dir = new SimulatedDirectory({ seed: 4 });
      const w = WalWriter.create(dir, { ...options, preallocate: 4096 });
      dir.injectFault({ op, error: 'EIO', after, path: 'wal' });
      const outcomes: { id: number; error?: unknown }[] = [];
      const calls = Array.from({ length: 60 }, (_, i) => i).map(async (i) => {
        if (i % 12 === 0) await new Promise((r) => setImmediate(r));
        try {
          outcomes.push({ id: await w.appendDurable(new Uint8Array(20)) });
        } catch (error) {
          outcomes.push({ id: -1, error });
        }
      });
      await Promise.all(calls);
      const failures = outcomes.filter((o) => o.error !== undefined);
      assert.ok(failures.length > 0, 'the fault fired');
      const cause = failures[0].error;
      assert.ok(cause instanceof IoError && cause.errno === 'EIO', String(cause));
      for (const f of failures) assert.ok(f.error === cause || f.error instanceof PoisonedError, 'rejected with the cause (or poisoned, for calls made after it)');
      const good = outcomes.filter((o) => o.error === undefined).map((o) => o.id);
      assert.deepEqual(good, Array.from({ length: good.length }, (_, i) => i + 1), 'successes are exactly the entries before the failure, in order');
      assert.equal(w.durableEntryId, good.length, 'nothing after the failure point is reported durable');
      assert.ok(w.poisoned);
      assert.equal(w.poisonCause, cause);
      await assert.rejects(w.appendDurable(new Uint8Array(1)), PoisonedError);
      await assert.rejects(w.sync(), PoisonedError);
      await assert.rejects(w.close(), PoisonedError);
      const again = WalWriter.open(dir, options); // the lock was released
      again.closeSync();
      assertPrefixHolding(replayIds(dir.crash({ mode: 'dropAll' })), good, op);
    });
  }
});

if (nativeBackend() !== undefined) {
  describe(`group commit failures injected at the syscall layer (native backend, real files) ${TEST_BUILD}`, () => {
    const hooks = usingFaultHooks('durability-gc-fault-');

    for (const op of ['fdatasync', 'write', 'fsyncDir', 'ftruncate'] as const) {
      it(`${op} fails with EIO: its batch and all later ones reject with the cause, earlier ones stay durable`, async () => {
        const dir = new FsDirectory(hooks.root, { backend: hooks.native });
        const w = WalWriter.create(dir, { ...options, preallocate: op === 'ftruncate' ? 4096 : false });
        const call = () => w.appendDurable(new Uint8Array(20)).then((id) => ({ id }), (error: unknown) => ({ id: -1, error }));
        const first = await Promise.all(Array.from({ length: 5 }, call));
        assert.deepEqual(first.map((r) => r.id), [1, 2, 3, 4, 5]);
        // The next commits: entry 6 ends segment 1 (trim, sync), then segment 2 is created
        // (directory fsync) in batches of 5. The first step of the armed kind fails.
        hooks.binding.__setFaultInjection({ op, errno: os.constants.errno.EIO });
        const results = await Promise.all(Array.from({ length: 15 }, call));
        const failures = results.filter((r) => 'error' in r);
        assert.ok(failures.length >= 14, `${failures.length} failures`);
        const cause = (failures[0] as { error: unknown }).error;
        assert.ok(cause instanceof IoError && cause.errno === 'EIO', String(cause));
        assert.equal(cause.syscall, { fdatasync: 'fdatasync', write: 'pwritev', fsyncDir: 'fsync', ftruncate: 'ftruncate' }[op]);
        for (const f of failures) assert.equal((f as { error: unknown }).error, cause, 'every later promise rejects with the cause itself');
        const good = [...first, ...results].filter((r) => !('error' in r)).map((r) => r.id);
        assert.deepEqual(good, Array.from({ length: good.length }, (_, i) => i + 1));
        assert.equal(w.durableEntryId, good.length);
        await assert.rejects(w.close(), PoisonedError);
        hooks.binding.__setFaultInjection(null);
        const found = new WalReader(new FsDirectory(hooks.root, { backend: hooks.native }), { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
        assertPrefixHolding(found, good, op);
      });
    }
  });
}
