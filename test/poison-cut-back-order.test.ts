import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeFileBackend } from '../lib/backend/native';
import { NodeFsBackend } from '../lib/backend/node-fs';
import { nativeBackend } from '../lib/backend/select';
import type { CommitResult, CommitSteps, FileBackend } from '../lib/backend/backend';
import type { WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import type { CohortPolicy } from '../lib/wal/cohort-merge';
import { WalWriter } from '../lib/wal/writer';
import { testBuild } from './support/test-binding';

// A failed commit poisons the WAL writer, which cuts the segment back to its last completed
// fdatasync through a second handle (lib/framed/cut-back.ts) while the commits handed to the
// first handle after the failed one may still be queued. None of them may write after the cut:
// the native commit thread fails every commit behind a failed one unrun, and node:fs runs each
// commit only after the one before it settled, failing it unrun once the file failed. So the
// segment stays as the cut left it. Proved with commits really in flight behind the failed one.

/** node:fs with the fdatasync numbered `failAt` (counting from 0) failing with EIO. */
class FailingSyncBackend extends NodeFsBackend {
  count = 0;
  failAt = Infinity;
  /** Commits the file layer started on the backend once the fdatasync failed. */
  startedAfterFailure = 0;
  private failed = false;
  override fdatasyncAsync(fd: number, p?: string): Promise<void> {
    if (this.count++ !== this.failAt) return super.fdatasyncAsync(fd, p);
    this.failed = true;
    return Promise.reject(new IoError('EIO', 'fdatasync', p));
  }
  override commitAsync(fd: number, steps: CommitSteps, p?: string): Promise<CommitResult> {
    if (this.failed) this.startedAfterFailure++;
    return super.commitAsync(fd, steps, p);
  }
}

const ONE_BATCH_PER_RUN: CohortPolicy = { shouldMerge: () => false, runStarted() {}, runEnded() {}, commitTook() {} };

interface Setup {
  readonly backend: FileBackend;
  /** Makes the `n`th fdatasync of a commit from now on fail (0-based). */
  readonly failAt: (n: number) => void;
  readonly done: () => void;
  /** Commits started on the backend after the failure, where the test can tell (node:fs: the file layer starts each after the one before settled). */
  readonly startedAfterFailure?: () => number;
}

describe('a WAL writer poisoned by a failed commit, with commits queued behind it', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cut-order-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const setups: [string, () => Setup][] = [];
  if (nativeBackend() !== undefined) {
    setups.push(['the native core (test build)', () => {
      const binding = testBuild().binding;
      return {
        backend: new NativeFileBackend(binding),
        failAt: (n) => binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO, after: n }),
        done: () => binding.__setFaultInjection(null),
      };
    }]);
  }
  setups.push(['node:fs', () => {
    const backend = new FailingSyncBackend();
    return { backend, failAt: (n) => (backend.failAt = backend.count + n), done: () => undefined, startedAfterFailure: () => backend.startedAfterFailure };
  }]);

  for (const [name, make] of setups) {
    it(`on ${name}: no commit handed to the file before the cut writes after it`, async function () {
      this.timeout(600_000); // the first run may build the test addon
      const setup = make();
      const dir = new FsDirectory(root, { backend: setup.backend });
      let issued = 0;
      /** The number of the first commit that failed (its rejection is seen before the writer's). */
      let firstFailed = 0;
      const count = (file: WritableFile, p: string): WritableFile => {
        if (!p.endsWith('.wal')) return file;
        const commit = file.commitAsync.bind(file);
        file.commitAsync = (plan) => {
          const number = ++issued;
          const running = commit(plan);
          running.catch(() => (firstFailed ||= number));
          return running;
        };
        return file;
      };
      const create = dir.create.bind(dir);
      dir.create = (p: string) => count(create(p), p);
      const openAppend = dir.openAppend.bind(dir);
      dir.openAppend = (p: string) => count(openAppend(p), p);

      let atCut: { size: number; behind: number; file: string } | undefined;
      const onPoison = (): void => {
        const wal = path.join(root, 'wal');
        const file = path.join(wal, fs.readdirSync(wal).filter((n) => n.endsWith('.wal')).sort().at(-1) as string);
        atCut = { size: fs.statSync(file).size, behind: issued - firstFailed, file };
      };
      diagnosticsChannel.subscribe('durability:wal:poison', onPoison);
      try {
        // One batch per run of appends, whatever the timings: no merge may fold the batches
        // behind the failing one into it.
        const groupCommit = { cohorts: ONE_BATCH_PER_RUN, pollMicros: 0 };
        const w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 1 << 30, groupCommit });
        await w.appendDurable(new Uint8Array(100));
        setup.failAt(1);
        const outcomes: Promise<unknown>[] = [];
        for (let i = 0; i < 40; i++) {
          outcomes.push(w.appendDurable(new Uint8Array(100).fill(i)).catch((err: unknown) => err));
          await null; // the kick cuts a batch per append: commits go out one behind another
        }
        await Promise.all(outcomes);
        await w.close().catch(() => undefined);
        assert.ok(atCut !== undefined, 'the writer was poisoned');
        assert.ok(firstFailed > 0 && atCut.behind >= 1, `commits were handed to the file behind the failed one before it was cut (${atCut.behind})`);
        assert.equal(fs.statSync(atCut.file).size, atCut.size, 'no commit wrote after the cut');
        if (setup.startedAfterFailure) assert.equal(setup.startedAfterFailure(), 0, 'the commits behind the failed one failed unrun');
      } finally {
        diagnosticsChannel.unsubscribe('durability:wal:poison', onPoison);
        setup.done();
      }
    });
  }
});
