// When a commit of a file may be handed to it, given the syncAsync and writeAsync calls issued
// before it. A file that orders its own commits (the native commit thread) would run a commit
// handed to it at once, alongside a syncAsync's fdatasync or ahead of a write still on the thread
// pool; the thread pool runs a write and an fdatasync issued after it in either order. So commits
// issued behind such calls wait here, oldest first, and are handed over in the first reaction to
// the last of those calls settling: a caller that awaited it finds them handed over. Memory and
// simulated files queue theirs alike, so tests on them refuse where the disk would
// (waitCommitsSync cannot wait for commits not handed over yet).

/**
 * A commit that cannot be handed to its file yet: how many syncAsync calls were issued before it,
 * the ticket the next writeAsync would have taken at its call (every write with a lower one was
 * issued before it), and what hands it over.
 */
interface AwaitingTurn {
  readonly asyncSyncsBefore: number;
  readonly writesBefore: number;
  readonly handOver: () => void;
}

export class CommitTurns {
  private readonly waiting: AwaitingTurn[] = [];
  /** syncAsync calls issued, and how many of them settled (they settle in call order). */
  private asyncSyncsIssued = 0;
  private asyncSyncsSettled = 0;
  /**
   * The tickets of the writeAsync calls not yet settled (in issue order), the next ticket, and a
   * promise that settles (never rejects) once every one issued so far did.
   */
  private readonly unsettledWrites = new Set<number>();
  private writesIssued = 0;
  private writesSettled: Promise<unknown> = Promise.resolve();

  /** Commits waiting for their turn. */
  get waitingCommits(): number {
    return this.waiting.length;
  }

  /** writeAsync calls not yet settled. */
  get writesInFlight(): number {
    return this.unsettledWrites.size;
  }

  /** A writeAsync was issued; `writing` settles with it. Call before awaiting it, so waiting commits are handed over before its caller resumes. */
  writeIssued(writing: Promise<unknown>): void {
    const ticket = this.writesIssued++;
    this.unsettledWrites.add(ticket);
    const earlier = this.writesSettled;
    const settled = (): Promise<unknown> => {
      this.unsettledWrites.delete(ticket);
      this.handOver();
      return earlier;
    };
    this.writesSettled = writing.then(settled, settled);
  }

  /** A syncAsync was issued; `running` settles with it. Call before awaiting it (see writeIssued). */
  syncIssued(running: Promise<unknown>): void {
    const issued = ++this.asyncSyncsIssued;
    const settled = (): void => {
      this.asyncSyncsSettled = Math.max(this.asyncSyncsSettled, issued);
      this.handOver();
    };
    running.then(settled, settled);
  }

  /** `previous`, and also the writeAsync calls in flight when there are any. */
  afterWrites(previous: Promise<unknown>): Promise<unknown>;
  afterWrites(previous: Promise<unknown> | undefined): Promise<unknown> | undefined;
  afterWrites(previous: Promise<unknown> | undefined): Promise<unknown> | undefined {
    if (this.writesInFlight === 0) return previous;
    return previous === undefined ? this.writesSettled : Promise.allSettled([previous, this.writesSettled]);
  }

  /** Queues a commit behind the syncAsync and writeAsync calls issued before it; `handOver` runs when they all settled. */
  awaitTurn(handOver: () => void): void {
    this.waiting.push({ asyncSyncsBefore: this.asyncSyncsIssued, writesBefore: this.writesIssued, handOver });
    this.handOver();
  }

  /**
   * Hands over, in call order, the commits whose syncAsync and writeAsync calls all settled;
   * stops at the first that must still wait. Called as each of those settles.
   */
  private handOver(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0];
      if (this.asyncSyncsSettled < next.asyncSyncsBefore) return;
      const oldestWrite = this.unsettledWrites.values().next();
      if (oldestWrite.done !== true && oldestWrite.value < next.writesBefore) return;
      this.waiting.shift();
      next.handOver();
    }
  }
}
