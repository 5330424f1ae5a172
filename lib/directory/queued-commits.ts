import type { CommitResult } from './directory';
import type { CheckedCommitPlan } from './file-arguments';
import type { StickyFailure } from './sticky-failure';

// Commits of a file whose steps run within a call (memory and simulated files: commitNow). Each
// waits in this queue for its turn (the commits and syncs before it settled), or for a
// synchronous wait (waitCommitsSync) that runs every one queued, oldest first, as a commit
// thread would have.

export interface QueuedCommit {
  readonly plan: CheckedCommitPlan;
  done: boolean;
  /** It failed, or the file had failed before its turn: it throws the file's first failure. */
  failed: boolean;
  result: CommitResult;
}

export class QueuedCommits {
  private queue: QueuedCommit[] = [];

  /**
   * `runNow` runs a commit's steps; `failure` is the file's first failure, which a commit of a
   * failed file fails with, unrun.
   */
  constructor(private readonly runNow: (plan: CheckedCommitPlan) => CommitResult, private readonly failure: StickyFailure) {}

  add(plan: CheckedCommitPlan): QueuedCommit {
    const queued: QueuedCommit = { plan, done: false, failed: false, result: undefined };
    this.queue.push(queued);
    return queued;
  }

  /** Runs every queued commit; a failure is recorded as the file's, not thrown. */
  runAll(): void {
    for (const queued of this.queue.splice(0)) this.run(queued);
  }

  /** Runs `queued` (every earlier one first) unless it already ran; returns its result or throws its error. */
  settle(queued: QueuedCommit): CommitResult {
    if (!queued.done) {
      const at = this.queue.indexOf(queued);
      for (const earlier of this.queue.splice(0, at + 1)) this.run(earlier);
    }
    if (queued.failed) this.failure.throwIfFailed();
    return queued.result;
  }

  private run(queued: QueuedCommit): void {
    if (queued.done) return;
    queued.done = true;
    if (!this.failure.failed) {
      try {
        queued.result = this.runNow(queued.plan);
      } catch (err) {
        this.failure.record(err);
      }
    }
    queued.failed = this.failure.failed;
  }
}
