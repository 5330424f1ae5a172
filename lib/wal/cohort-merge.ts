// Whether a cut batch should wait to be committed together with the next run of appends.
//
// Callers woken together by a batch's completion append again in one run of the event loop (a
// cohort), and their batch is cut when the run ends. Two cohorts can end up taking turns: one
// batch in flight while the other cohort's run appends, its batch handed to the file behind it.
// Each round then pays a commit for half the callers. Where the JS of both cohorts together takes
// less than a commit, one batch serves them better: the later batch is held at the end of its run
// and cut with the run of the callers the commit ahead of it wakes, so the two cohorts become one
// and every commit carries all of them. Measured on the pure-TS backend (its commits chain through
// the event loop and alternated readily): +25–55 % appends/s at 64 to 1024 producers; on the
// native core, where runs rarely alternate, +0–10 % (bench/RESULTS.md).
//
// Where the JS outlasts a commit, two cohorts that take turns keep the disk busy while JS runs,
// so they are left alone. Splitting a single cohort in two on purpose was measured too and not
// kept: twice the fdatasyncs and a longer tail for no steady gain.
//
// The estimates come from the pipeline's own rounds: JS per entry from runs the kick closes (first
// append to the end of the run), and a commit's duration from commits that had the disk and the
// event loop to themselves (handed over at the end of a run with none in flight), handed over to
// seen complete. Memory and simulated directories commit within microtasks (there is no disk, and
// their tests must replay the same batches from a seed), so they keep one batch per run unless a
// test passes a policy of its own.

import type { Directory } from '../directory/directory';
import { FsDirectory } from '../directory/fs';
import { uncheckedDirectory } from '../directory/foreign';

/** Merge only when both cohorts' JS is under a commit by this factor, so a count near the boundary does not flip every round. */
const MERGE_BELOW = 0.8;
/** Runs shorter than this say little about JS per entry. */
const MIN_RUN_ENTRIES = 8;

/** When a cut batch waits for the next run (groupCommit.cohorts; CohortMerge measures, tests may pass their own). */
export interface CohortPolicy {
  /** Whether a batch of `filling` entries should wait for the run of the callers of the `inFlight` entries in flight, to be cut with it. */
  shouldMerge(filling: number, inFlight: number): boolean;
  /** A run of appends started with entry `firstId` (the append that scheduled the end-of-run kick). */
  runStarted(firstId: number): void;
  /** The run ended (the kick ran) with `nextId` the next id to be given. */
  runEnded(nextId: number): void;
  /** A commit that had the disk and the event loop to itself was seen complete `us` microseconds after it was handed over. */
  commitTook(us: number): void;
}

/** The measured policy for `dir`'s files, or undefined for one batch per run (see above). */
export function defaultCohortPolicy(dir: Directory): CohortPolicy | undefined {
  return uncheckedDirectory(dir) instanceof FsDirectory ? new CohortMerge() : undefined;
}

export class CohortMerge implements CohortPolicy {
  private entryUs = 0;
  private commitUs = 0;
  private runStartedAt = 0;
  private runFirstId = 0;

  /** `now`: a clock in milliseconds. */
  constructor(private readonly now: () => number = () => performance.now()) {}

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
