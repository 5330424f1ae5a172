import fs from 'node:fs';

/**
 * fs.readSync from `position` until `target` is full or the file ends; returns the bytes read.
 * One read may return less than asked before the end (FUSE, network file systems): taken as the
 * end, it would show a file cut short. A read interrupted by a signal (EINTR, on FUSE or NFS) is
 * made again: libuv retries every interrupted file call but read, which node:fs then reports,
 * where the native core (PreadFull) reads again.
 */
export function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = fs.readSync(fd, target, done, target.length - done, position + done);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EINTR') continue;
      throw err;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}
