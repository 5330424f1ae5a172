// How async readers share the event loop. The scanners are synchronous (a record is a few
// microseconds of work); an async reader gives each run of them a budget of work, counted in
// bytes read or scanned (a record counts as RECORD_WORK more, for its decode), and turns the
// event loop once the budget is spent, so no single turn holds the loop for long whatever the
// log holds: a backlog of small records, a 64 MiB frame, or gigabytes of zeros to skip.
// Bytes, not clock time: the slices stay the same on a loaded machine, and tests can count them.

/**
 * Work per slice: 512 KiB of file read, or 2048 records. A slice may overrun it by one read (up to
 * 1 MiB, or one frame): reads are not split. Reading the holes of a sparse file runs at ~0.5 GB/s
 * cold, so a slice of zeros to check takes about a millisecond on an idle machine.
 */
export const SLICE_WORK = 512 * 1024;
/** What one record adds to a slice besides its bytes (checks, decode, the caller's loop body). */
export const RECORD_WORK = 256;

export class Pacer {
  private used = 0;

  charge(work: number): void {
    this.used += work;
  }

  /** The slice is spent: the reader should let the event loop turn before doing more. */
  get due(): boolean {
    return this.used >= SLICE_WORK;
  }

  /** A new slice, after a turn of the event loop. */
  reset(): void {
    this.used = 0;
  }
}

/** One turn of the event loop (timers and I/O callbacks run before it resolves). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
