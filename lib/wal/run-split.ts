// Whether callers woken together should be one batch or two that take turns on the disk.
//
// Callers woken by a batch's completion append again in one run of the event loop (a cohort); the
// batch is cut when the run ends. While the run's JS executes the disk idles, and while the batch
// commits the JS idles: a round costs JS(cohort) + commit. Once the cohort's JS outlasts a commit
// (many producers, a codec that costs, such as JSON), two cohorts that take turns do better: one
// appends while the other's batch is on the disk, and a round costs max(JS of both, 2 commits,
// JS of one + commit) instead. Below that point two cohorts only double the commits.
//
// So the pipeline (CommitQueue) splits a run into halves when the run's expected JS outlasts a
// commit and the disk is idle, and holds a cut batch back to merge it with the next cohort's run
// when the JS of both together is shorter than a commit. The margins keep a cohort count that sits
// near the boundary from flipping at every round.
//
// Splitting pays only where the file runs the second batch the moment the first one's fdatasync
// returns, without the event loop in between: the native core's commit thread. On node:fs files
// the event loop starts each step, so only merging is done there. Memory and simulated directories
// commit within microtasks (there is no disk to overlap, and their tests must replay the same
// batches from a seed), so they keep one batch per run unless a test passes a policy of its own.
//
// The estimates come from the pipeline's own rounds: JS per entry from runs the kick closes (first
// append to the end of the run), and a commit's duration from commits that had the disk and the
// event loop to themselves (handed over at the end of a run with none in flight), handed over to
// seen complete. A commit started in the middle of a run, or behind another, looks longer than it is.

import type { Directory } from '../directory/directory';
import { FsDirectory } from '../directory/fs';

/** Split only when the run's JS exceeds a commit by this factor. */
const SPLIT_ABOVE = 1.25;
/** Merge only when both cohorts' JS is under a commit by this factor. */
const MERGE_BELOW = 0.8;
/** Never split off fewer entries than this: a commit per handful of entries costs more than it overlaps. */
export const MIN_SPLIT_ENTRIES = 16;
/** Runs shorter than this say little about JS per entry. */
const MIN_RUN_ENTRIES = 8;

/** How runs of appends become batches (groupCommit.cohorts; RunSplit measures, tests may pass their own). */
export interface CohortPolicy {
  /** Entries after which a run expected to append `expected` entries is cut in two (Infinity: keep it whole). */
  splitAt(expected: number): number;
  /** Whether a batch of `filling` entries should wait for the run of the callers of the `inFlight` entries in flight, to be cut with it. */
  shouldMerge(filling: number, inFlight: number): boolean;
  /** A run of appends started with entry `firstId` (the append that scheduled the end-of-run kick). */
  runStarted(firstId: number): void;
  runEnded(nextId: number): void;
  commitTook(us: number): void;
}

/** The measured policy for `dir`'s files, or undefined for one batch per run (see above). */
export function defaultCohortPolicy(dir: Directory): CohortPolicy | undefined {
  if (!(dir instanceof FsDirectory)) return undefined;
  return new RunSplit({ splits: dir.backend.ordersCommits === true });
}

export class RunSplit implements CohortPolicy {
  private entryUs = 0;
  private commitUs = 0;
  private runStartedAt = 0;
  private runFirstId = 0;

  private readonly splits: boolean;
  private readonly now: () => number;

  /** `splits`: whether runs may be split (files with a commit thread of their own); `now`: a clock in ms. */
  constructor({ splits = true, now = () => performance.now() }: { splits?: boolean; now?: () => number } = {}) {
    this.splits = splits;
    this.now = now;
  }

  splitAt(expected: number): number {
    if (!this.splits || this.entryUs === 0 || this.commitUs === 0 || expected * this.entryUs <= SPLIT_ABOVE * this.commitUs) return Infinity;
    return Math.max(MIN_SPLIT_ENTRIES, Math.ceil(expected / 2));
  }

  shouldMerge(filling: number, inFlight: number): boolean {
    return this.entryUs > 0 && this.commitUs > 0 && (filling + inFlight) * this.entryUs < MERGE_BELOW * this.commitUs;
  }

  runStarted(firstId: number): void {
    this.runStartedAt = this.now();
    this.runFirstId = firstId;
  }

  runEnded(nextId: number): void {
    const entries = nextId - this.runFirstId;
    if (entries < MIN_RUN_ENTRIES) return;
    const us = ((this.now() - this.runStartedAt) * 1000) / entries;
    this.entryUs = this.entryUs === 0 ? us : this.entryUs + (us - this.entryUs) / 8;
  }

  commitTook(us: number): void {
    this.commitUs = this.commitUs === 0 ? us : this.commitUs + (us - this.commitUs) / 8;
  }
}
