// Cohorts (lib/wal/run-split.ts): the measured policy's decisions on a clock the test drives, the
// default per directory, and what the commit queue does with a split or a hold, on memory
// directories with a policy that decides the same way every time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidArgumentError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { MIN_SPLIT_ENTRIES, RunSplit, defaultCohortPolicy, type CohortPolicy } from '../lib/wal/run-split';
import { WalWriter } from '../lib/wal/writer';

/** A RunSplit fed one run of `entries` taking `runUs` and one commit of `commitUs`, on a fake clock. */
function measured(entries: number, runUs: number, commitUs: number, splits = true): RunSplit {
  let nowMs = 0;
  const policy = new RunSplit({ splits, now: () => nowMs });
  policy.runStarted(1);
  nowMs += runUs / 1000;
  policy.runEnded(1 + entries);
  policy.commitTook(commitUs);
  return policy;
}

describe('RunSplit: the measured cohort policy', () => {
  it('decides nothing before it has measured a run and a commit', () => {
    const policy = new RunSplit({ now: () => 0 });
    assert.equal(policy.splitAt(100_000), Infinity);
    assert.equal(policy.shouldMerge(1, 1), false);
    policy.commitTook(100);
    assert.equal(policy.splitAt(100_000), Infinity, 'no run measured yet');
    assert.equal(policy.shouldMerge(1, 1), false);
  });

  it('splits a run into halves only when its JS outlasts a commit by a quarter', () => {
    const policy = measured(100, 200, 100); // 2 µs of JS per entry, 100 µs per commit
    assert.equal(policy.splitAt(100), 50, '200 µs of JS against a 100 µs commit');
    assert.equal(policy.splitAt(63), 32, '126 µs: over 1.25 commits');
    assert.equal(policy.splitAt(62), Infinity, '124 µs: within 1.25 commits, one batch does better');
  });

  it('never splits off fewer than MIN_SPLIT_ENTRIES entries', () => {
    const policy = measured(10, 1000, 10); // 100 µs per entry, 10 µs per commit
    assert.equal(policy.splitAt(20), MIN_SPLIT_ENTRIES);
  });

  it('merges two cohorts only when their JS together is under 0.8 of a commit', () => {
    const policy = measured(100, 200, 100);
    assert.equal(policy.shouldMerge(20, 19), true, '78 µs');
    assert.equal(policy.shouldMerge(20, 20), false, '80 µs');
  });

  it('does not split where the file has no commit thread of its own, and still merges', () => {
    const policy = measured(100, 200, 100, false);
    assert.equal(policy.splitAt(10_000), Infinity);
    assert.equal(policy.shouldMerge(10, 10), true);
  });

  it('ignores runs of fewer than 8 entries when measuring JS per entry', () => {
    let nowMs = 0;
    const policy = new RunSplit({ now: () => nowMs });
    policy.runStarted(1);
    nowMs += 1;
    policy.runEnded(8);
    policy.commitTook(1);
    assert.equal(policy.splitAt(100_000), Infinity);
  });

  it('the default: measured on FsDirectory (splitting only on the native core), one batch per run on memory and simulated directories', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cohorts-'));
    try {
      for (const backend of availableBackends()) {
        const policy = defaultCohortPolicy(new FsDirectory(root, { backend }));
        assert.ok(policy instanceof RunSplit, backend.name);
        // It runs on the real clock: a run of 100 entries that took at least 0.1 ms, then a 1 s
        // commit, and a run of a billion entries to decide on (its JS far longer than the commit).
        policy.runStarted(1);
        const from = performance.now();
        while (performance.now() - from < 0.1);
        policy.runEnded(101);
        policy.commitTook(1_000_000);
        assert.equal(policy.splitAt(1_000_000_000) < Infinity, backend.ordersCommits === true, `${backend.name} splits`);
      }
      assert.equal(defaultCohortPolicy(new MemoryDirectory()), undefined);
      assert.equal(defaultCohortPolicy(new SimulatedDirectory()), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A policy that splits every run at `splitAt` entries and holds whenever `merge` says. */
function fixedPolicy({ splitAt = Infinity, merge = false }: { splitAt?: number; merge?: boolean }): CohortPolicy {
  return {
    splitAt: () => splitAt,
    shouldMerge: () => merge,
    runStarted: () => undefined,
    runEnded: () => undefined,
    commitTook: () => undefined,
  };
}

/** A raw writer on a memory directory with `cohorts`, and the durable ids its commits reported. */
function writerWith(cohorts: CohortPolicy): { dir: MemoryDirectory; w: WalWriter<Uint8Array>; synced: number[] } {
  const dir = new MemoryDirectory();
  const synced: number[] = [];
  const w = WalWriter.create(dir, { codec: raw, groupCommit: { cohorts }, observer: { onSync: ({ durableEntryId }) => void synced.push(durableEntryId) } });
  return { dir, w, synced };
}

const entry = (n: number): Uint8Array => new Uint8Array([n]);
const appendMany = (w: WalWriter<Uint8Array>, from: number, count: number): Promise<number>[] =>
  Array.from({ length: count }, (_, i) => w.appendDurable(entry(from + i)));

function readBack(dir: MemoryDirectory): number[] {
  return new WalReader(dir, { codec: raw }).replaySync().map((r) => r.payload[0]);
}

describe('commit queue cohorts (a fixed policy on a memory directory)', () => {
  it('a run after a completion is cut where the policy says and its two batches commit in order', async () => {
    const { dir, w, synced } = writerWith(fixedPolicy({ splitAt: 4 }));
    assert.deepEqual(await Promise.all(appendMany(w, 1, 10)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(synced, [10], 'the first run is never split: nothing has completed before it');
    assert.deepEqual(await Promise.all(appendMany(w, 11, 10)), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.deepEqual(synced, [10, 14, 20], 'cut after 4 entries, the rest at the end of the run');
    assert.equal((w as unknown as { pipeline: { commits: { runsSplit: number } } }).pipeline.commits.runsSplit, 1);
    await w.close();
    assert.deepEqual(readBack(dir), Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('a batch held to merge is cut with the run of the callers of the commit ahead of it', async () => {
    const { dir, w, synced } = writerWith(fixedPolicy({ merge: true }));
    const first = appendMany(w, 1, 3);
    await Promise.resolve(); // the kick has started 1..3
    const second = appendMany(w, 4, 3); // their kick finds 1..3 in flight: held
    // The callers of 1..3 append again as soon as they are woken; the held 4..6 go with them.
    const third = first[2].then(() => Promise.all(appendMany(w, 7, 3)));
    assert.deepEqual(await Promise.all([...first, ...second]), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await third, [7, 8, 9]);
    assert.deepEqual(synced, [3, 9], '4..6 held and committed with 7..9');
    assert.equal((w as unknown as { pipeline: { commits: { batchesHeld: number } } }).pipeline.commits.batchesHeld, 1);
    await w.close();
    assert.deepEqual(readBack(dir), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a held batch whose merge partner never appends is committed on the next turn', async () => {
    const { dir, w, synced } = writerWith(fixedPolicy({ merge: true }));
    const first = appendMany(w, 1, 3);
    await Promise.resolve();
    const second = appendMany(w, 4, 3);
    assert.deepEqual(await Promise.all([...first, ...second]), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(synced, [3, 6]);
    await w.close();
    assert.deepEqual(readBack(dir), [1, 2, 3, 4, 5, 6]);
  });

  it('groupCommit.cohorts must be a CohortPolicy', () => {
    for (const cohorts of [null, 1, {}, { splitAt: () => 1 }] as unknown[]) {
      assert.throws(() => WalWriter.create(new MemoryDirectory(), { codec: raw, groupCommit: { cohorts: cohorts as CohortPolicy } }), InvalidArgumentError);
    }
  });
});
