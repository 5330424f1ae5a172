// A writer's two timers: the interval flush (flushPolicy { intervalMs }) and the idle sync mark
// (idleMarkMs, see WalWriter's markWhileIdle). Both unref'd: an open writer never keeps the
// process alive on their account.
export class WriterTimers {
  private flush: NodeJS.Timeout | undefined;
  /** Re-armed after each sync. */
  private idleMark: NodeJS.Timeout | undefined;

  constructor(flushIntervalMs: number, private readonly idleMarkMs: number, onFlushTick: () => void, private readonly onIdle: () => void) {
    if (flushIntervalMs > 0) {
      this.flush = setInterval(onFlushTick, flushIntervalMs);
      this.flush.unref();
    }
  }

  /** One timer per writer, re-armed (refresh) rather than created per sync: the 1-producer round stays cheap. */
  armIdleMark(): void {
    if (this.idleMarkMs === 0) return;
    if (this.idleMark !== undefined) {
      this.idleMark.refresh();
      return;
    }
    this.idleMark = setTimeout(this.onIdle, this.idleMarkMs);
    this.idleMark.unref();
  }

  stop(): void {
    if (this.flush !== undefined) {
      clearInterval(this.flush);
      this.flush = undefined;
    }
    if (this.idleMark !== undefined) {
      clearTimeout(this.idleMark);
      this.idleMark = undefined;
    }
  }
}
