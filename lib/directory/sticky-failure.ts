// The first failed write, sync or commit of a file: every later write, sync and commit fails with
// it, unrun. After a failed fdatasync the kernel may have dropped the dirty pages and cleared the
// error, so a later fdatasync that returns 0 proves nothing (fsyncgate); after a failed write
// nobody knows which of its bytes are in the page cache.

export class StickyFailure {
  private first: { readonly cause: unknown } | undefined = undefined;

  get failed(): boolean {
    return this.first !== undefined;
  }

  /** Records `err` unless a failure came first. */
  record(err: unknown): void {
    this.first ??= { cause: err };
  }

  /** Throws the first failure, if any. */
  throwIfFailed(): void {
    if (this.first !== undefined) throw this.first.cause;
  }

  /** Runs a write or sync: refused after an earlier failure; its own failure becomes the file's. */
  run<T>(op: () => T): T {
    this.throwIfFailed();
    try {
      return op();
    } catch (err) {
      this.record(err);
      throw err;
    }
  }

  /**
   * The same for one running off the thread. It also fails when another operation of the file
   * failed while it ran: that failure may have cost bytes this one was to make durable.
   */
  async runAsync<T>(op: () => Promise<T>): Promise<T> {
    this.throwIfFailed();
    let result: T;
    try {
      result = await op();
    } catch (err) {
      this.record(err);
      throw err;
    }
    this.throwIfFailed();
    return result;
  }

  /**
   * runAsync for an operation the file runs after every earlier one and before every later one
   * (a commit on the native commit thread, which fails every commit behind a failed one, unrun):
   * a failure recorded while it ran is a later operation's (sync() learns of it by waiting for
   * the thread), which cannot cost what this one's fdatasync had already made durable. So its
   * success stands: rejected, its caller would take durable bytes for lost and may write them again.
   */
  async runInOrderAsync<T>(op: () => Promise<T>): Promise<T> {
    this.throwIfFailed();
    try {
      return await op();
    } catch (err) {
      this.record(err);
      throw err;
    }
  }
}
