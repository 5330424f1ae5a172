// The commits handed to a file whose promises have not settled, and of those the ones a
// synchronous wait (waitCommitsSync) saw run. Those only have their promises still to settle:
// they no longer touch the file, so they hold back neither a close nor a write or truncate. A
// commit handed over after that wait does, until a later wait or its own settling.

export class UnsettledCommits {
  private unsettled = 0;
  private seen = 0;

  handed(): void {
    this.unsettled++;
  }

  /** The oldest commit settled (they settle in the order they were handed over). */
  settled(): void {
    this.unsettled--;
    // The one settling is the oldest, so one of those seen run while any is left.
    if (this.seen > 0) this.seen--;
  }

  /** A synchronous wait saw every commit handed over so far run. */
  sawAllRun(): void {
    this.seen = this.unsettled;
  }

  /** Commits that may still be running: handed over, not settled, not seen run. */
  get running(): number {
    return this.unsettled - this.seen;
  }

  /** Commits seen run whose promises have not settled yet. */
  get seenRun(): number {
    return this.seen;
  }
}
