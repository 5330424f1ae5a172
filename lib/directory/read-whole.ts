import { brokenContract, ignoreLateRejection, shown, thrownBy } from './broken-contract';
import type { ReadableFile } from './directory';

// Every read the package makes of a file goes through readWhole, and every size it reads through
// sizeOf: a Directory or FileBackend of the caller's own may break ReadableFile's contract, and
// its answer is checked here, once, before anything takes it for bytes read or for the end of
// the file. A read that answers undefined, NaN, a Promise or a negative count would otherwise be
// taken for the end (a torn tail, which a writer's open cuts), or make a caller use bytes no read
// returned (stale buffer contents, written back over the log by a rewrite or a quarantine copy).
// An error of its own that it throws reaches the caller typed (broken-contract.ts thrownBy).

/**
 * file.read until `target` is full or a read returns nothing (the end of the file); returns the
 * bytes read. ReadableFile.read promises as much, but a Directory or FileBackend of the caller's
 * own may return less before the end, as read(2) does on FUSE and network file systems: a scan
 * that took such a read for the end would find a torn tail there, and a writer's open would cut
 * the acknowledged entries behind it. A read that answers anything but a byte count from 0 to
 * the length asked is an IoError EIO.
 */
export function readWhole(file: ReadableFile, target: Uint8Array, position: number): number {
  let done = readOnce(file, target, position);
  while (done > 0 && done < target.length) {
    const n = readOnce(file, target.subarray(done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** file.size(), refused (IoError EIO) unless it is a byte count: a non-negative safe integer. */
export function sizeOf(file: ReadableFile): number {
  let size: unknown;
  try {
    size = file.size();
  } catch (err) {
    throw thrownBy(err, String(file.path), 'fstat', 'size');
  }
  if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) return size;
  throw brokenContract(String(file.path), 'fstat', `size() answered ${shown(size)}, not a byte count`);
}

function readOnce(file: ReadableFile, target: Uint8Array, position: number): number {
  let n: unknown;
  try {
    n = file.read(target, position);
  } catch (err) {
    throw thrownBy(err, String(file.path), 'pread', 'read');
  }
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= target.length) return n;
  ignoreLateRejection(n);
  throw brokenContract(String(file.path), 'pread', `read() of ${target.length} bytes at ${position} answered ${shown(n)}, not a byte count from 0 to ${target.length}`);
}
