// A disk nearly full: the zeros kept ahead of the log are an optimisation, so a disk with no room
// for them must not fail appends whose own bytes fit. A commit carries them as its last chunks
// (CommitPlan.zeroChunks); the file writes its frames, then reserves the zeros' range and writes
// them, and where either finds no room it leaves them out and goes on: the commit still syncs its
// frames and resolves 'zeros-skipped', and the segment writes no more zeros. Nothing is rerun.
// The faults are injected where the real ones happen: the simulated directory's operations, the
// native core's commit thread (test build's fault hook), and node:fs's writev.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeFileBackend } from '../lib/backend/native';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import type { CommitResult, Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import type { CohortPolicy } from '../lib/wal/cohort-merge';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding, wrappingFiles } from './support/overriding';
import { TEST_BUILD, testBuild } from './support/test-binding';

const never: CohortPolicy = { shouldMerge: () => false, runStarted() {}, runEnded() {}, commitTook() {} };
const PAYLOAD = 1000;
const payload = (i: number): Uint8Array => new Uint8Array(PAYLOAD).fill(1 + (i % 250));
const isZeros = (c: Uint8Array): boolean => c.length >= 4096 && c.every((b) => b === 0);
const ids = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** How each commit of zeros alone handed to the files of a directory settled. */
class ZeroCommits {
  readonly settled: Array<Promise<CommitResult | 'failed'>> = [];

  wrap(inner: Directory): Directory {
    return wrappingFiles(inner, (file) => overriding(file, {
      commitAsync: (plan) => {
        const done = file.commitAsync(plan);
        if (plan.chunks.length > 0 && plan.chunks.every(isZeros)) this.settled.push(done.catch(() => 'failed' as const));
        return done;
      },
    }));
  }
}

/** The diagnostics published while `fn` runs. */
async function diagnosticsOf(fn: () => Promise<void>): Promise<string[]> {
  const kinds: string[] = [];
  const onDiagnostic = (e: unknown): void => void kinds.push((e as DiagnosticEvent).kind);
  channels.diagnostic.subscribe(onDiagnostic);
  try {
    await fn();
  } finally {
    channels.diagnostic.unsubscribe(onDiagnostic);
  }
  return kinds;
}

/**
 * `count` awaited appends across segments of `maxSegmentSize`; the writer must stay healthy. Returns
 * the diagnostics published and how the commits of zeros alone settled.
 */
async function appendAll(inner: Directory, count: number, maxSegmentSize: number): Promise<{ published: string[]; zeroResults: Array<CommitResult | 'failed'> }> {
  const zeros = new ZeroCommits();
  const w = WalWriter.create(zeros.wrap(inner), { codec: raw, maxSegmentSize, groupCommit: { cohorts: never, pollMicros: 0 } });
  let acked = 0;
  const published = await diagnosticsOf(async () => {
    for (let i = 0; i < count; i++) acked = await w.appendDurable(payload(i));
  });
  assert.equal(w.poisoned, false, String(w.poisonCause));
  await w.close();
  assert.equal(acked, count);
  assert.deepEqual(ids(inner), upTo(count));
  return { published, zeroResults: await Promise.all(zeros.settled) };
}

describe('no room for zeros ahead of the log: SimulatedDirectory', () => {
  it('a commit of zeros alone whose write stores half of them and fails with ENOSPC leaves them out: no append fails, the writer is not poisoned', async () => {
    const inner = new SimulatedDirectory({ seed: 11, supportsAllocate: false });
    const zeros = new ZeroCommits();
    const w = WalWriter.create(zeros.wrap(inner), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
    let acked = await w.appendDurable(payload(0)); // the segment's first commit: its zeros ride with its frames
    let hit: CommitResult | 'failed' | undefined;
    const published = await diagnosticsOf(async () => {
      for (let i = 1; i < 2000 && hit === undefined; i++) {
        const handed = zeros.settled.length;
        // The batch's own write passes; the next one, of the commit of zeros queued behind it if any, is short.
        const fault = inner.injectFault({ op: 'write', error: 'short', after: 1 });
        acked = await w.appendDurable(payload(i));
        if (zeros.settled.length > handed) hit = await zeros.settled[handed];
        fault.cancel();
      }
      // Past where the zeros left out would have reached: these commits extend the file themselves.
      for (let i = 0; i < 400; i++) acked = await w.appendDurable(payload(i));
    });
    assert.equal(hit, 'zeros-skipped');
    assert.equal(w.poisoned, false, String(w.poisonCause));
    assert.deepEqual(published.filter((k) => k === 'zeros-skipped'), ['zeros-skipped']);
    await w.close();
    assert.deepEqual(ids(inner), upTo(acked));
  });

  it('no room to reserve zeros (fallocate ENOSPC): every append succeeds, no zeros are written, one diagnostic per segment', async () => {
    const inner = new SimulatedDirectory({ seed: 12 });
    inner.injectFault({ op: 'allocate', error: 'ENOSPC', persistent: true });
    const { published, zeroResults } = await appendAll(inner, 700, 300_000);
    // Each segment's first commit carries its zeros and leaves them out: no commit of zeros alone follows.
    assert.deepEqual(zeroResults, []);
    assert.ok(published.filter((k) => k === 'zeros-skipped').length >= 2, published.join());
  });

  it('a write of zeros failing with EIO still fails the commit and poisons the writer', async () => {
    const inner = new SimulatedDirectory({ seed: 13, supportsAllocate: false });
    const zeros = new ZeroCommits();
    const w = WalWriter.create(zeros.wrap(inner), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
    let failure: unknown;
    for (let i = 0; i < 2000 && failure === undefined; i++) {
      const handed = zeros.settled.length;
      const fault = inner.injectFault({ op: 'write', error: 'EIO', after: 1 });
      const acked = await w.appendDurable(payload(i)).catch((err: unknown) => err);
      if (typeof acked !== 'number') failure = acked;
      else if (zeros.settled.length > handed && (await zeros.settled[handed]) === 'failed') {
        failure = await w.appendDurable(payload(i)).then(() => undefined, (err: unknown) => err);
      }
      fault.cancel();
    }
    // Reported by the append whose commit carried the zeros, or by the next call once the writer is poisoned.
    const cause = failure instanceof PoisonedError ? failure.cause : failure;
    assert.ok(cause instanceof IoError && cause.errno === 'EIO', String(failure));
    assert.ok(w.poisoned);
  });
});

if (nativeBackend() !== undefined) {
  describe(`no room for zeros ahead of the log: FsDirectory(native) ${TEST_BUILD}`, () => {
    let binding: ReturnType<typeof testBuild>['binding'];
    const roots: string[] = [];
    before(function () {
      this.timeout(600_000); // the first run builds the test addon
      binding = testBuild().binding;
    });
    afterEach(() => {
      binding.__setFaultInjection(null);
      for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
    });
    const make = (): FsDirectory => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-no-room-'));
      roots.push(root);
      return new FsDirectory(root, { backend: new NativeFileBackend(binding) });
    };

    for (const op of ['fallocate', 'zeros'] as const) {
      it(`the commit thread's ${op === 'fallocate' ? 'reservation' : 'write'} of zeros failing with ENOSPC leaves them out: every append succeeds, one diagnostic per segment`, async () => {
        const dir = make();
        binding.__setFaultInjection({ op, errno: os.constants.errno.ENOSPC, persistent: true });
        const { published, zeroResults } = await appendAll(dir, 500, 200_000);
        // Each segment's first commit carries its zeros and leaves them out: no commit of zeros alone follows.
    assert.deepEqual(zeroResults, []);
        assert.ok(published.filter((k) => k === 'zeros-skipped').length >= 2, published.join());
      });

      it(`the commit thread's ${op === 'fallocate' ? 'reservation' : 'write'} of zeros failing with EIO fails the commit and poisons the writer`, async () => {
        const zeros = new ZeroCommits();
        const w = WalWriter.create(zeros.wrap(make()), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
        binding.__setFaultInjection({ op, errno: os.constants.errno.EIO, persistent: true });
        // The segment's first commit carries its zeros: it fails, and so does its append.
        const failure = await w.appendDurable(payload(0)).then(() => undefined, (err: unknown) => err);
        assert.ok(failure instanceof IoError && failure.errno === 'EIO', String(failure));
        assert.ok(w.poisoned);
        await assert.rejects(w.appendDurable(payload(1)), PoisonedError);
      });
    }

    it('a commit of zeros alone queued behind a batch that finds no room leaves them out instead of poisoning the writer between calls', async () => {
      const inner = make();
      const zeros = new ZeroCommits();
      const w = WalWriter.create(zeros.wrap(inner), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
      let acked = await w.appendDurable(payload(0)); // the segment's first commit: its zeros ride with its frames
      binding.__setFaultInjection({ op: 'fallocate', errno: os.constants.errno.ENOSPC, persistent: true });
      const published = await diagnosticsOf(async () => {
        // Past the zeros the first commit wrote: commits of zeros alone are queued behind batches.
        for (let i = 1; zeros.settled.length === 0 && i < 3000; i++) acked = await w.appendDurable(payload(i));
        assert.ok(zeros.settled.length > 0, 'no commit of zeros alone was handed');
        for (let i = 0; i < 50; i++) acked = await w.appendDurable(payload(i));
      });
      assert.deepEqual(await Promise.all(zeros.settled), ['zeros-skipped']);
      assert.deepEqual(published.filter((k) => k === 'zeros-skipped'), ['zeros-skipped']);
      assert.equal(w.poisoned, false, String(w.poisonCause));
      await w.close();
      assert.deepEqual(ids(inner), upTo(acked));
    });

    it('the binding checks zeroChunks', () => {
      const dir = make();
      const file = dir.create('f');
      try {
        const fd = (file as unknown as { fd: number }).fd;
        assert.throws(() => binding.commitAsync(fd, [new Uint8Array(1)], 0, -1, [], 2), RangeError);
        assert.throws(() => binding.commitAsync(fd, [new Uint8Array(1)], 0, -1, [], -1), RangeError);
      } finally {
        file.close();
      }
    });
  });
}

describe('no room for zeros ahead of the log: FsDirectory(ts)', () => {
  const roots: string[] = [];
  const writev = fs.writev;
  afterEach(() => {
    fs.writev = writev;
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });

  /** node:fs on a disk with room for `limit` bytes per file: a writev that would pass it fails with ENOSPC, writing nothing. */
  function diskOf(limit: number): void {
    fs.writev = ((fd: number, buffers: NodeJS.ArrayBufferView[], position: number | null, cb: (err: NodeJS.ErrnoException | null, n: number) => void) => {
      let total = 0;
      for (const b of buffers) total += b.byteLength;
      if (position !== null && position + total > limit) {
        const err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -os.constants.errno.ENOSPC, syscall: 'write' });
        process.nextTick(() => cb(err, 0));
        return;
      }
      writev(fd, buffers, position, cb);
    }) as typeof fs.writev;
  }

  it('appends whose own bytes fit succeed (the zeros that would not fit are left out), and the first that does not fit fails with ENOSPC', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-no-room-'));
    roots.push(root);
    const limit = 200_000;
    diskOf(limit);
    const zeros = new ZeroCommits();
    const w = WalWriter.create(zeros.wrap(new FsDirectory(root, { backend: tsBackend() })), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
    let acked = 0;
    let failure: unknown;
    const published = await diagnosticsOf(async () => {
      for (let i = 0; i < 1000 && failure === undefined; i++) {
        try {
          acked = await w.appendDurable(payload(i));
        } catch (err) {
          failure = err;
        }
      }
    });
    assert.ok(failure instanceof IoError && failure.errno === 'ENOSPC', String(failure));
    // Each frame is its payload and 16 bytes; the file holds a 32-byte header and sync marks.
    assert.ok(acked >= Math.floor((limit - 32) / (PAYLOAD + 16 + 24)) - 1, `only ${acked} appends fitted in ${limit} bytes`);
    assert.deepEqual(published.filter((k) => k === 'zeros-skipped'), ['zeros-skipped']);
    fs.writev = writev;
    await assert.rejects(w.close(), PoisonedError);
    const replayed = ids(new FsDirectory(root));
    assert.deepEqual(replayed.slice(0, acked), upTo(acked));
  });
});

describe('CommitPlan.zeroChunks on memory and simulated files', () => {
  for (const make of [() => new MemoryDirectory(), () => new SimulatedDirectory({ seed: 1 })]) {
    it(`${make().constructor.name}: the zeros are written after the frames; an out-of-range count is an InvalidArgumentError`, async () => {
      const dir = make();
      const f = dir.create('f');
      const zeros = new Uint8Array(8192);
      assert.equal(await f.commitAsync({ chunks: [new Uint8Array([1, 2, 3]), zeros], position: 0, zeroChunks: 1 }), undefined);
      assert.equal(f.size(), 3 + zeros.length);
      await assert.rejects(f.commitAsync({ chunks: [zeros], position: 0, zeroChunks: 2 }), (e: unknown) => (e as { code?: string }).code === 'DURABILITY_INVALID_ARGUMENT');
      f.close();
    });
  }
});
