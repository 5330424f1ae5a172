import type { ReadableFile } from './directory';

/**
 * file.read until `target` is full or a read returns nothing (the end of the file); returns the
 * bytes read. ReadableFile.read promises as much, but a Directory or FileBackend of the caller's
 * own may return less before the end, as read(2) does on FUSE and network file systems: a scan
 * that took such a read for the end would find a torn tail there, and a writer's open would cut
 * the acknowledged entries behind it.
 */
export function readWhole(file: ReadableFile, target: Uint8Array, position: number): number {
  let done = file.read(target, position);
  while (done > 0 && done < target.length) {
    const n = file.read(target.subarray(done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
