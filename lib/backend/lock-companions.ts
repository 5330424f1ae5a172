// The files a pid-file lock (lockfile.ts) keeps beside its lock file: their names, how a record
// is written (synced before any name leads to it) and read (never following a planted link), and
// the hard-link probe that tells whether an incomplete record may be broken.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { toIoError } from '../errors';
import { GUARD_FLAGS, notRegularAt, requireRegular } from './file-type';
import { readFully } from './read-fully';

// ---- names ------------------------------------------------------------------------------

/** After `<lock file>.pid`: nothing (the pid file), a record file, a breaker's claim, the hard-link probe or its link. */
const COMPANION_SUFFIX = /^(?:\.[0-9a-f]{16}|\.break\.[0-9a-f]{16}|\.probe\.[0-9a-f]{16}(?:\.link)?)?$/;
/** After `<lock file>.pid`: the hard-link probe (hardLinksWork) or its link. */
const PROBE_SUFFIX = /^\.probe\.[0-9a-f]{16}(?:\.link)?$/;

/** Whether `name` is one the pid-file lock gives a file beside the lock file named `lockName`. */
export function isLockCompanionName(name: string, lockName: string): boolean {
  const pid = `${lockName}.pid`;
  return name.startsWith(pid) && COMPANION_SUFFIX.test(name.slice(pid.length));
}

// ---- small fs helpers --------------------------------------------------------------------

/** Longer than any record this module writes; a longer file is someone else's and never matches. */
const RECORD_MAX = 4096;

/**
 * The file's text, or undefined when it does not exist. Opened like store files
 * (lib/backend/file-type.ts): a link, FIFO or directory planted here is a NotRegularFileError,
 * never followed and never waited on.
 */
export function readOrUndefined(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | GUARD_FLAGS);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw notRegularAt(file) ?? toIoError(err, file);
  }
  try {
    requireRegular(fd, file, () => undefined);
    const buffer = Buffer.alloc(RECORD_MAX);
    // Read to the end: a record taken from a read that stopped short looks cut short, or as if
    // written by a process with another start time, and a live owner would be taken for a dead one.
    const n = readFully(fd, buffer, 0);
    return buffer.toString('latin1', 0, n);
  } catch (err) {
    throw toIoError(err, file);
  } finally {
    fs.closeSync(fd);
  }
}

export function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone, or unremovable: nothing we can do that would be safer
  }
}

/**
 * Writes `record` to a fresh unique file beside `pidPath`, fdatasynced; returns its name. A power
 * cut can keep the link made to it later (a journaled name) and lose bytes that were never
 * synced: the pid file (or a breaker's claim) would come back empty after the reboot, which
 * reads as an owner that cannot be checked: only a holder of the flock may break it
 * (deadUnderFlock), and without flock no writer could take the lock again until someone removed
 * it by hand.
 */
export function writeRecordFile(pidPath: string, record: string): string {
  const file = `${pidPath}.${randomBytes(8).toString('hex')}`;
  try {
    const fd = fs.openSync(file, 'wx');
    try {
      fs.writeFileSync(fd, record, 'latin1');
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    unlinkQuietly(file);
    throw toIoError(err, file);
  }
  return file;
}

const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** One attempt to create `pidPath` holding `record`; false when it already exists. */
export function createPidFile(pidPath: string, record: string): boolean {
  const temp = writeRecordFile(pidPath, record);
  try {
    fs.linkSync(temp, pidPath);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EEXIST') return false;
    if (code !== undefined && NO_LINK.has(code)) return createExclusive(pidPath, record);
    throw toIoError(err, pidPath);
  } finally {
    unlinkQuietly(temp);
  }
}

/**
 * For file systems without hard links: O_EXCL create, then write. A crash in between leaves an
 * empty pid file, which reads as 'unknown' and must be removed by hand (safe, not convenient).
 */
function createExclusive(pidPath: string, record: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(pidPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw toIoError(err, pidPath);
  }
  try {
    fs.writeSync(fd, record, 0, 'latin1');
  } catch (err) {
    unlinkQuietly(pidPath);
    throw toIoError(err, pidPath);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

// ---- the hard-link probe -----------------------------------------------------------------

/**
 * Whether hard links can be made beside `pidPath`. Any failure (not only "unsupported") counts
 * as no: the answer only ever lets a lock be broken.
 */
export function hardLinksWork(pidPath: string): boolean {
  const probe = `${pidPath}.probe.${randomBytes(8).toString('hex')}`;
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
  } catch {
    return false;
  }
  try {
    fs.linkSync(probe, `${probe}.link`);
    unlinkQuietly(`${probe}.link`);
    return true;
  } catch {
    return false;
  } finally {
    unlinkQuietly(probe);
  }
}

/**
 * Removes the probes of hardLinksWork a crash left beside `pidPath` (regular files of exactly
 * those names), while the caller holds the lock file's flock. Safe because only a holder of that
 * flock probes, and flock admits one holder of the file at a time; and should a probe still be
 * removed under another prober (the lock file replaced while its old inode stayed flocked), that
 * prober's link or open fails and it answers "no hard links", which never breaks a lock. A probe
 * holds no bytes. Not made durable: one that comes back is removed by the next holder.
 */
export function removeProbeLeftovers(pidPath: string): void {
  const dir = path.dirname(pidPath);
  const base = path.basename(pidPath);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // housekeeping: the lock is taken either way
  }
  for (const name of names) {
    if (!name.startsWith(base) || !PROBE_SUFFIX.test(name.slice(base.length))) continue;
    const file = path.join(dir, name);
    let regular = false;
    try {
      regular = fs.lstatSync(file).isFile();
    } catch {
      // gone already
    }
    if (regular) unlinkQuietly(file);
  }
}
