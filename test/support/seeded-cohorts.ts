// A CohortPolicy (lib/wal/cohort-merge.ts) that holds batches to merge at seeded random, so the
// crash and fault properties go through holds on simulated directories (whose default is one
// batch per run) and a seed replays the same batches.
import type { CohortPolicy } from '../../lib/wal/cohort-merge';

export class SeededCohorts implements CohortPolicy {
  private state: number;

  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }

  shouldMerge(): boolean {
    return this.random() < 0.5;
  }

  runStarted(): void {}
  runEnded(): void {}
  commitTook(): void {}

  /** xorshift32, in [0, 1). */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }
}
