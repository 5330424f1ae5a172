import fs from 'node:fs';

// libuv starts its thread pool (UV_THREADPOOL_SIZE threads, 4 by default) at a process's first
// use of it, and keeps it. A test that counts this process's threads takes its baseline after the
// pool exists, or the first pool request of the code under test reads as threads left running.
// Mocha's parallel workers start without it (their serial runner's loading starts it); loading
// the package used to start it too, through msgpackr's asynchronous close (lib/wal/codec.ts), and
// no longer does.

/** Resolves once libuv's thread pool runs (one request through it). */
export function startThreadPool(): Promise<void> {
  return new Promise((resolve) => fs.stat(__filename, () => resolve()));
}
