// Both backends open store files the same guarded way, so nothing planted in the store can send
// a write out of the root or block the thread:
// - O_NOFOLLOW: a symbolic link in a file's place fails the open (ELOOP) instead of being
//   followed, for reading too. Links in the directories above (the root itself, or a wal/
//   moved to another disk) are followed: they are the operator's choice, not a file's.
// - O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; regular files
//   ignore the flag.
// - fstat after open: anything but a regular file is closed again and refused.
// Every refusal is a NotRegularFileError naming what was found.

import fs, { type Stats } from 'node:fs';
import { NotRegularFileError } from '../errors';

/** Added to every open of a store file. The binding takes node:fs's flag values (native/platform.h). */
export const GUARD_FLAGS = (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

export function fileTypeOf(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'unknown';
}

/**
 * After a failed open: the NotRegularFileError to throw instead, when what sits at `path` is not
 * a regular file (ELOOP for a link, EISDIR for a directory, ENXIO for a socket), else undefined.
 */
export function notRegularAt(path: string): NotRegularFileError | undefined {
  let st: Stats | undefined;
  try {
    st = fs.lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  return st === undefined || st.isFile() ? undefined : new NotRegularFileError(path, fileTypeOf(st));
}

/** Throws NotRegularFileError unless the open descriptor `fd` is a regular file; `close` runs first. */
export function requireRegular(fd: number, path: string, close: () => void): void {
  let st: Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return; // the caller's next call on fd reports the failure in its own terms
  }
  if (st.isFile()) return;
  try {
    close();
  } catch {
    // the refusal is the error worth reporting
  }
  throw new NotRegularFileError(path, fileTypeOf(st));
}

/**
 * requireRegular for a descriptor node:fs cannot fstat (the native core's handles on Windows):
 * checks what sits at `path` instead. Windows has no FIFOs to block an open, and the core
 * already refuses a directory there, so the check after the open is enough.
 */
export function requireRegularAt(path: string, close: () => void): void {
  const refused = notRegularAt(path);
  if (refused === undefined) return;
  try {
    close();
  } catch {
    // the refusal is the error worth reporting
  }
  throw refused;
}

/**
 * Where the symbolic link at `path` points, when that target does not exist (a directory moved
 * to a disk that is not mounted now); undefined for anything else, or nothing, at `path`.
 */
export function danglingLinkAt(path: string): string | undefined {
  try {
    if (!fs.lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
    return fs.existsSync(path) ? undefined : fs.readlinkSync(path);
  } catch {
    return undefined;
  }
}
