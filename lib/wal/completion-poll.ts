// While a group commit is in flight, the event loop keeps turning instead of sleeping, so the
// commit's completion is seen at the next turn rather than after a wake-up. An idle loop sleeps
// in epoll_wait; the completion (native commit thread or thread pool) wakes it, and on a virtual
// machine that wake-up, a halted vCPU brought back, costs 40–60 µs: a third to a half of a fast
// disk's fdatasync, paid once per round by every caller. Measured here (bench/RESULTS.md): the
// bare commit loop through the commit thread went from 1.3–1.6× the blocking bare fdatasync loop
// to at or below it, and 256 producers from 550 k to 680 k appends/s.
//
// One setImmediate per turn, so every other event, timer and I/O callback is still served each
// turn: the loop stays as responsive as when it sleeps, it only spends CPU instead of waiting.
// That spend is bounded: a wait stops polling after `budgetUs` and sleeps again, and when the
// disk's commits take longer than the budget on average (a slow or busy disk) no wait polls,
// so a slow disk costs no CPU; the average keeps being measured, so polling resumes when the
// disk is fast again.
export class CompletionPoll {
  private polling = false;
  private until = 0;
  /** Recent commits' duration, start to completion seen in JS (µs); 0 until the first one. */
  private averageUs = 0;
  private readonly turn = (): void => {
    if (!this.pending() || performance.now() > this.until) {
      this.polling = false;
      return;
    }
    setImmediate(this.turn);
  };

  /** `pending`: whether a commit is still in flight. */
  constructor(private readonly budgetUs: number, private readonly pending: () => boolean) {}

  /** A commit was handed to the file: poll until it (or any later one) completes, within the budget. */
  started(): number {
    const now = performance.now();
    if (this.budgetUs > 0 && this.averageUs <= this.budgetUs) {
      this.until = now + this.budgetUs / 1000;
      if (!this.polling) {
        this.polling = true;
        setImmediate(this.turn);
      }
    }
    return now;
  }

  /** The commit handed over at `startedAt` (started's result) completed. */
  completed(startedAt: number): void {
    const us = (performance.now() - startedAt) * 1000;
    this.averageUs = this.averageUs === 0 ? us : this.averageUs + (us - this.averageUs) / 8;
  }
}
