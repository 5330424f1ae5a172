// A disk nearly full: the zeros kept ahead of the log are an optimisation, so a disk with no
// room for them must not fail appends whose own bytes fit. A write of zeros that fails with
// ENOSPC is dropped (ActiveSegment.skipZeros): the commits left unsettled on that file handle
// run again, without zeros, on a fresh one, and the writer goes on (preallocation:
// preallocate-no-space.test.ts). The faults are injected where the real ones happen: in the native core's commit thread (test
// build), in the simulated directory's write, and in the node:fs backend's commit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { NativeFileBackend } from '../lib/backend/native';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import type { CommitPlan, Directory, WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import type { CohortPolicy } from '../lib/wal/cohort-merge';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { TEST_BUILD, testBuild } from './support/test-binding';

const never: CohortPolicy = { shouldMerge: () => false, runStarted() {}, runEnded() {}, commitTook() {} };
const PAYLOAD = 1000;
const payload = (i: number): Uint8Array => new Uint8Array(PAYLOAD).fill(1 + (i % 250));
const isZeros = (c: Uint8Array): boolean => c.length >= 4096 && c.every((b) => b === 0);

/** The commits of zeros alone handed to the files of `inner`, each with how it settled. */
class ZeroCommits {
  readonly settled: Array<Promise<'ok' | 'failed'>> = [];

  wrap(inner: Directory): Directory {
    const wrapFile = (file: WritableFile): WritableFile => new Proxy(file, {
      get: (target, key) => {
        if (key === 'commitAsync') {
          return (plan: CommitPlan): Promise<void> => {
            const done = target.commitAsync(plan);
            if (plan.chunks.length > 0 && plan.chunks.every(isZeros)) this.settled.push(done.then(() => 'ok' as const, () => 'failed' as const));
            return done;
          };
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return new Proxy(inner, {
      get: (target, key) => {
        if (key === 'create') return (p: string) => wrapFile(target.create(p));
        if (key === 'openAppend') return (p: string) => wrapFile(target.openAppend(p));
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
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

const ids = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * How a test fails a commit's write with ENOSPC on one kind of directory: `arm(after)` before an
 * append lets `after` writes pass, so the next one fails (after 1: the batch's own write passes
 * and a commit of zeros queued behind it fails); `disarm` once it settled.
 */
interface NoSpaceKind {
  readonly name: string;
  make(): Directory;
  arm(after: number): void;
  disarm(): void;
  cleanup(): void;
}

function simulatedKind(): NoSpaceKind {
  let dir: SimulatedDirectory;
  let fault: { cancel(): void } | undefined;
  return {
    name: 'SimulatedDirectory',
    make: () => (dir = new SimulatedDirectory({ seed: 11 })),
    // A short write: half of the bytes reach the file, then ENOSPC, as a real disk filling up does.
    arm: (after) => void (fault = dir.injectFault({ op: 'write', error: 'short', after })),
    disarm: () => fault?.cancel(),
    cleanup: () => {},
  };
}

function nativeKind(): NoSpaceKind {
  const binding = testBuild().binding;
  const roots: string[] = [];
  return {
    name: `FsDirectory(native) ${TEST_BUILD}`,
    make: () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-no-space-'));
      roots.push(root);
      return new FsDirectory(root, { backend: new NativeFileBackend(binding) });
    },
    arm: (after) => binding.__setFaultInjection({ op: 'write', errno: os.constants.errno.ENOSPC, after }),
    disarm: () => binding.__setFaultInjection(null),
    cleanup: () => {
      binding.__setFaultInjection(null);
      for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
    },
  };
}

const noSpaceKinds: Array<() => NoSpaceKind> = [simulatedKind];
if (nativeBackend() !== undefined) noSpaceKinds.push(nativeKind);

for (const makeKind of noSpaceKinds) {
  describe(`no room for zeros ahead of the log: ${makeKind === simulatedKind ? 'SimulatedDirectory' : `FsDirectory(native) ${TEST_BUILD}`}`, () => {
    let kind: NoSpaceKind;
    before(function () {
      this.timeout(600_000); // the native kind builds the test addon on its first run
      kind = makeKind();
    });
    afterEach(() => kind.cleanup());

    it('a commit of zeros alone that fails with ENOSPC is dropped: no append fails, the writer is not poisoned, the log reads back whole', async () => {
      const inner = kind.make();
      const zeros = new ZeroCommits();
      const w = WalWriter.create(zeros.wrap(inner), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
      let acked = await w.appendDurable(payload(0)); // the segment's first commit: its zeros ride with its frames
      let failed = false;
      const published = await diagnosticsOf(async () => {
        for (let i = 1; i < 2000 && !failed; i++) {
          const handed = zeros.settled.length;
          kind.arm(1);
          acked = await w.appendDurable(payload(i));
          if (zeros.settled.length > handed) failed = (await zeros.settled[handed]) === 'failed';
          kind.disarm();
        }
        assert.ok(failed, 'no commit of zeros failed');
        // Past where the dropped zeros would have reached: these commits extend the file themselves.
        for (let i = 0; i < 400; i++) acked = await w.appendDurable(payload(i));
      });
      assert.equal(w.poisoned, false, String(w.poisonCause));
      assert.deepEqual(published.filter((k) => k === 'zeros-skipped'), ['zeros-skipped']);
      await w.close();
      assert.deepEqual(ids(inner), upTo(acked));
    });

    it('zeros in the same commit as frames that fail with ENOSPC: the frames are written again alone and the append succeeds', async () => {
      const inner = kind.make();
      const w = WalWriter.create(inner, { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
      kind.arm(0); // the segment's first commit of frames, with 1 MiB of zeros behind them, does not fit
      let acked = await w.appendDurable(payload(0));
      kind.disarm();
      for (let i = 1; i < 300; i++) acked = await w.appendDurable(payload(i));
      assert.equal(w.poisoned, false, String(w.poisonCause));
      await w.close();
      assert.deepEqual(ids(inner), upTo(acked));
    });

    it('closeSync right after a commit of zeros found no room closes cleanly', async () => {
      const inner = kind.make();
      const zeros = new ZeroCommits();
      const w = WalWriter.create(zeros.wrap(inner), { codec: raw, groupCommit: { cohorts: never, pollMicros: 0 } });
      let acked = await w.appendDurable(payload(0));
      for (let i = 1; i < 2000; i++) {
        const handed = zeros.settled.length;
        kind.arm(1);
        acked = await w.appendDurable(payload(i));
        if (zeros.settled.length > handed) break;
        kind.disarm();
      }
      // The commit of zeros is handed (and fails, or is about to): the synchronous close waits for it.
      w.closeSync();
      kind.disarm();
      assert.deepEqual(ids(inner), upTo(acked));
    });
  });
}

describe('no room for zeros ahead of the log: FsDirectory(ts)', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });

  /** node:fs, whose disk has room for the log's frames but never for zeros: such a commit writes half its bytes, then fails. */
  function noRoomForZeros(): FileBackend {
    const inner = tsBackend();
    return new Proxy(inner, {
      get(target, key) {
        if (key === 'commitAsync') {
          return (fd: number, steps: { chunks: readonly Uint8Array[]; offset: number }, p?: string): Promise<void> => {
            if (!steps.chunks.some(isZeros)) return target.commitAsync(fd, steps as Parameters<FileBackend['commitAsync']>[1], p);
            let total = 0;
            for (const c of steps.chunks) total += c.length;
            const all = Buffer.concat(steps.chunks);
            target.pwrite(fd, all.subarray(0, total >> 1), steps.offset, p);
            return Promise.reject(new IoError('ENOSPC', 'pwritev', p));
          };
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  it('the commits that would carry zeros write their frames alone: every append succeeds and the log reads back whole', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-no-space-'));
    roots.push(root);
    const dir = new FsDirectory(root, { backend: noRoomForZeros() });
    const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 600_000, groupCommit: { cohorts: never, pollMicros: 0 } });
    let acked = 0;
    const published = await diagnosticsOf(async () => {
      // Across a rotation: each segment tries zeros again (the disk may have room by then).
      for (let i = 0; i < 1500; i++) acked = await w.appendDurable(payload(i));
    });
    assert.equal(w.poisoned, false, String(w.poisonCause));
    assert.ok(published.filter((k) => k === 'zeros-skipped').length >= 2, published.join());
    await w.close();
    assert.deepEqual(ids(new FsDirectory(root)), upTo(acked));
  });
});
