// Cohorts (lib/wal/cohort-merge.ts): the measured policy's decisions on a clock the test drives,
// the default per directory, and what the commit queue does with a hold, on memory directories
// with a policy that decides the same way every time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { checkedDirectory } from '../lib/directory/foreign';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidArgumentError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { CohortMerge, defaultCohortPolicy, type CohortPolicy } from '../lib/wal/cohort-merge';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

/** A CohortMerge fed one run of `entries` taking `runUs` and one commit of `commitUs`, on a fake clock. */
function measured(entries: number, runUs: number, commitUs: number): CohortMerge {
  let nowMs = 0;
  const policy = new CohortMerge(() => nowMs);
  policy.runStarted(1);
  nowMs += runUs / 1000;
  policy.runEnded(1 + entries);
  policy.commitTook(commitUs);
  return policy;
}

describe('CohortMerge: the measured cohort policy', () => {
  it('decides nothing before it has measured a run and a commit', () => {
    const policy = new CohortMerge(() => 0);
    assert.equal(policy.shouldMerge(1, 1), false);
    policy.commitTook(100);
    assert.equal(policy.shouldMerge(1, 1), false, 'no run measured yet');
  });

  it('merges two cohorts only when their JS together is under 0.8 of a commit', () => {
    const policy = measured(100, 200, 100); // 2 µs of JS per entry, 100 µs per commit
    assert.equal(policy.shouldMerge(20, 19), true, '78 µs');
    assert.equal(policy.shouldMerge(20, 20), false, '80 µs');
    assert.equal(policy.shouldMerge(200, 200), false, 'two cohorts that take turns keep the disk busy while JS runs');
  });

  it('ignores runs of fewer than 8 entries when measuring JS per entry', () => {
    let nowMs = 0;
    const policy = new CohortMerge(() => nowMs);
    policy.runStarted(1);
    nowMs += 1;
    policy.runEnded(8);
    policy.commitTook(1_000_000);
    assert.equal(policy.shouldMerge(1, 1), false);
  });

  it('the default: measured on FsDirectory, one batch per run on memory and simulated directories', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cohorts-'));
    try {
      for (const backend of availableBackends()) {
        const policy = defaultCohortPolicy(new FsDirectory(root, { backend }));
        assert.ok(policy instanceof CohortMerge, backend.name);
      }
      assert.equal(defaultCohortPolicy(new MemoryDirectory()), undefined);
      assert.equal(defaultCohortPolicy(new SimulatedDirectory()), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  // The writer holds a subclass of FsDirectory (or a Proxy of one) as foreign.ts wrapped it, to
  // check its write side: the default must still see the FsDirectory inside.
  it('the default: measured on a subclass or a Proxy of FsDirectory, as the writer holds it (checkedDirectory)', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cohorts-'));
    try {
      class LoggingDirectory extends FsDirectory {}
      for (const backend of availableBackends()) {
        for (const dir of [new LoggingDirectory(root, { backend }), new Proxy(new FsDirectory(root, { backend }), {})]) {
          const held = checkedDirectory(dir);
          assert.notEqual(held, dir, 'wrapped: not one of the built-ins as they are');
          assert.ok(defaultCohortPolicy(held) instanceof CohortMerge, backend.name);
        }
      }
      const memory = new MemoryDirectory();
      memory.syncDir = () => undefined;
      assert.equal(defaultCohortPolicy(checkedDirectory(memory)), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A policy that holds whenever `merge` says. */
function fixedPolicy({ merge }: { merge: boolean }): CohortPolicy {
  return {
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

/**
 * Two cohorts: 1..3 are cut and in flight when 4..6 end their run (where a hold would begin), and
 * the callers of 1..3 append 7..9 as soon as they are woken. Resolves once all nine are durable.
 */
async function twoCohorts(w: WalWriter<Uint8Array>): Promise<void> {
  const first = appendMany(w, 1, 3);
  await Promise.resolve(); // the kick has started 1..3
  const second = appendMany(w, 4, 3);
  const third = first[2].then(() => Promise.all(appendMany(w, 7, 3)));
  assert.deepEqual(await Promise.all([...first, ...second]), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(await third, [7, 8, 9]);
}

describe('commit queue: a batch held to merge (a fixed policy on a memory directory)', () => {
  it('a batch held to merge is cut with the run of the callers of the commit ahead of it', async () => {
    const { dir, w, synced } = writerWith(fixedPolicy({ merge: true }));
    await twoCohorts(w);
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

  it('without a hold, the later batch commits on its own right behind the one in flight', async () => {
    const { dir, w, synced } = writerWith(fixedPolicy({ merge: false }));
    await twoCohorts(w);
    assert.deepEqual(synced, [3, 6, 9]);
    await w.close();
    assert.deepEqual(readBack(dir), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a policy that throws is taken as "do not merge": every append still becomes durable, in order', async () => {
    const boom = (): never => {
      throw new Error('policy failure');
    };
    const { dir, w, synced } = writerWith({ shouldMerge: boom, runStarted: boom, runEnded: boom, commitTook: boom });
    await twoCohorts(w);
    assert.deepEqual(synced, [3, 6, 9]);
    assert.deepEqual(await Promise.all(appendMany(w, 10, 2)), [10, 11]);
    await w.close();
    assert.deepEqual(readBack(dir), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('groupCommit.cohorts must be a CohortPolicy', () => {
    for (const cohorts of [null, 1, {}, { shouldMerge: () => true }] as unknown[]) {
      assert.throws(() => WalWriter.create(new MemoryDirectory(), { codec: raw, groupCommit: { cohorts: cohorts as CohortPolicy } }), InvalidArgumentError);
    }
  });
});
