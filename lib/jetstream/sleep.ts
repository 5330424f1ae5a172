// The forwarder's back-off between retries: a timer that an abort (stop()) ends early, and the
// delays it waits, doubling from the first up to a maximum.

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Delays between retries. reset() after a success starts over: without it one long outage left
 * every later blip waiting the maximum.
 */
export class Backoff {
  private current: number;

  constructor(private readonly first: number, private readonly max: number) {
    this.current = first;
  }

  /** The delay before this retry; the next one is twice as long, up to the maximum. */
  next(): number {
    const delay = this.current;
    this.current = Math.min(this.max, delay * 2);
    return delay;
  }

  reset(): void {
    this.current = this.first;
  }
}
