import fs from 'node:fs';

/**
 * How many reads in a row may be interrupted (EINTR) with no byte read between them before the
 * read fails with EINTR. A signal interrupts a read now and then; a FUSE server that answers
 * every read with EINTR would otherwise hold the event loop for good. The native core's
 * PreadFull gives up at the same count (native/platform.h kMaxEintrInARow).
 */
export const MAX_EINTR_IN_A_ROW = 1000;

/**
 * fs.readSync from `position` until `target` is full or the file ends; returns the bytes read.
 * One read may return less than asked before the end (FUSE, network file systems): taken as the
 * end, it would show a file cut short. A read interrupted by a signal (EINTR, on FUSE or NFS) is
 * made again, up to MAX_EINTR_IN_A_ROW times without progress: libuv retries every interrupted
 * file call but read, which node:fs then reports, where the native core (PreadFull) reads again.
 */
export function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  let interrupted = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = fs.readSync(fd, target, done, target.length - done, position + done);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EINTR' && ++interrupted < MAX_EINTR_IN_A_ROW) continue;
      throw err;
    }
    if (n === 0) break;
    interrupted = 0;
    done += n;
  }
  return done;
}
