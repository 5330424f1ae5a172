import fs from 'node:fs';

/**
 * fs.readSync from `position` until `target` is full or the file ends; returns the bytes read.
 * One read may return less than asked before the end (FUSE, network file systems): taken as the
 * end, it would show a file cut short.
 */
export function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
