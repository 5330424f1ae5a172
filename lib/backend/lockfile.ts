// Exclusive locks for the node:fs backend, which cannot call flock(2).
//
// The closest safe thing node:fs offers is a pid file next to the locked file, `<file>.pid`,
// holding "<pid> <host> <start token> <nonce>" (pid-record.ts). The start token identifies one process
// lifetime: on Linux the boot id, pid namespace and start time from /proc; elsewhere the
// process's performance.timeOrigin, which only this process can check.
//
// Acquire: write a complete record to a uniquely named file and fdatasync it, then link(2) it to
// `<file>.pid`. link fails with EEXIST when the name is taken, so exactly one contender wins, and
// the pid file is never seen half-written: not after a crash between create and write, and not
// after a power cut (the record is on disk before any name leads to it).
//
// A pid file whose owner is provably dead (no such pid; or, on Linux, the same pid with another
// start time or boot) is stale and may be broken. Unlinking by name is not conditional, so two
// breakers must not both do it: A unlinks the stale file and links its own, then B (which read
// the same stale file earlier) would unlink A's live lock. Breakers therefore first take a
// breaker role by create-then-list: each puts a uniquely named claim `<file>.pid.break.<nonce>`
// (renamed into place, so always complete), then lists the directory; it proceeds only if no
// other claim belongs to a live process. If two breakers both proceeded, each listing happened
// before the other's claim appeared, i.e. L_a < C_b < L_b < C_a < L_a: impossible. (Both may
// see each other and back off; tryLock then reports "not acquired" and the caller retries.)
// The sole breaker rereads `<file>.pid`, unlinks it only if it still holds the same dead
// record, and then competes for it through link like anyone else. Dead claims are unique
// names, so removing them by name cannot hit anyone else's file.
//
// The native backend takes this same lock after its flock (NativeFileBackend.tryLock), so the
// two backends exclude each other in every pairing: across processes through the pid file, in
// one thread through the registry below, across worker threads through the pid file again. Its
// records carry a fifth field, "flock": a holder of the flock that finds such a record knows its
// writer lost the flock (a crashed process, a terminated worker) and breaks it, even where the
// pid alone cannot tell (same process, another pid namespace). A holder of the flock also breaks
// an incomplete record (empty or torn: older versions linked the record into place unsynced, and
// a power cut brought the pid file back empty) where hard links work: see deadUnderFlock.
//
// How this differs from flock:
// - Dead owners are recognised, not released by the kernel. On Linux a reused pid is told apart
//   by its start time; elsewhere a reused pid looks alive and the lock stays held (safe side)
//   until that unrelated process exits or someone deletes the pid file.
// - Only processes on this host in this pid namespace can be checked. A pid file written on
//   another host (NFS, shared volumes) or from another container's pid namespace is always
//   treated as held; if its owner died it must be removed by hand. On NFS, link and readdir
//   are not guaranteed to be coherent across clients, so two hosts may both win.
// - flock locks the inode; this locks the resolved path, so hard links to one file do not
//   exclude each other.
// - Within one process, flock excludes a second open of the same file. Here a registry on
//   globalThis (under Symbol.for, so every copy of this module in the isolate shares it) does
//   that. worker_threads share the pid but not the registry: a worker's lock still excludes the
//   main thread through the pid file (the owner, this process, is alive). Where flock would drop
//   a dead holder's lock, a thread that ends by itself (script done, process.exit(), uncaught
//   error) releases its locks from process 'exit'. worker.terminate() runs no JavaScript in the
//   worker, so a lock left open there stays held until the process exits (the native backend
//   releases it: native/env_files.h).
// - As with flock, closing the descriptor releases the lock (NodeFsBackend.close calls
//   releaseLockOnClose); a descriptor closed behind our back is noticed on the next tryLock. A
//   release that cannot remove its record (EIO, ESTALE) leaves it naming this live process, which
//   no one else may break: this thread remembers it (leftBehind) and breaks it on its next tryLock.
//
// The files kept beside the lock file, and how they are written and read: lock-companions.ts.

import { randomBytes } from 'node:crypto';
import fs, { type Stats } from 'node:fs';
import path from 'node:path';
import { toIoError } from '../errors';
import type { LockResult } from './backend';
import { createPidFile, hardLinksWork, readOrUndefined, removeProbeLeftovers, unlinkQuietly, writeRecordFile } from './lock-companions';
import { isIncompleteRecord, newRecord, ownerState, writtenUnderFlock } from './pid-record';

export const DEGRADED_LOCK = 'node:fs cannot flock; using a pid file next to the lock file';

interface Held {
  readonly fd: number;
  /** What `fd` refers to now (see PidLockOptions.statOf); absent in records of older copies. */
  readonly statOf?: (fd: number) => Stats;
  /** Whose numbering `fd` is in (PidLockOptions.fdSpace); absent: the OS's. */
  readonly fdSpace?: string;
  readonly dev: number;
  readonly ino: number;
  readonly pidPath: string;
  readonly record: string;
}

const REGISTRY = Symbol.for('durability.backend.ts-locks.v1');
const EXIT_HOOK = Symbol.for('durability.backend.ts-locks.exit-hook.v1');
const LEFT_BEHIND = Symbol.for('durability.backend.ts-locks.left-behind.v1');

function registry(): Map<string, Held> {
  const g = globalThis as unknown as Record<symbol, Map<string, Held> | undefined>;
  let map = g[REGISTRY];
  if (map === undefined) {
    map = new Map();
    g[REGISTRY] = map;
  }
  return map;
}

/**
 * Records this thread released but could not remove (reading or unlinking the pid file failed).
 * Each names this live process, so no other contender may break it; its nonce makes it this
 * thread's alone, so a tryLock here that finds it breaks it as stale, or no writer could open the
 * file again before the process exits.
 */
function leftBehind(): Set<string> {
  const g = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  let set = g[LEFT_BEHIND];
  if (set === undefined) {
    set = new Set();
    g[LEFT_BEHIND] = set;
  }
  return set;
}

/** Once per thread (every copy of this module shares the flag): release what is held at 'exit'. */
function releaseAllAtExit(): void {
  const g = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (g[EXIT_HOOK] === true) return;
  g[EXIT_HOOK] = true;
  process.on('exit', () => {
    for (const [key, held] of [...registry()]) {
      try {
        releaseHeld(key, held);
      } catch {
        registry().delete(key); // exiting: nothing better to do than leave the file to the stale check
      }
    }
  });
}

// ---- stale-lock breaking -----------------------------------------------------------------

/**
 * With the file's flock held, whether `record` can belong to no live writer. Holding the flock
 * excludes every native writer, so a live holder of the pid file can only be a node:fs writer,
 * which links a complete record into place and, only where links fail, creates the pid file
 * first and writes after (createExclusive). So a record marked as written under flock is dead
 * (its writer lost the flock), and so is an incomplete one where hard links work. Where they do
 * not, or without the flock (node:fs, NFS), an incomplete record may be a writer that just
 * created it, and is never broken.
 */
function deadUnderFlock(record: string, pidPath: string): boolean {
  return writtenUnderFlock(record) || (isIncompleteRecord(record) && hardLinksWork(pidPath));
}

/**
 * Removes `pidPath` if it still holds `stale` (whose owner is dead), under the breaker role
 * described at the top. Returns false if another live breaker is active. `flockHeld`: the
 * caller holds the file's flock, and a claim that is incomplete is dead too (claims are renamed
 * into place whole, so only a power cut leaves one incomplete: an older version's, unsynced).
 */
function breakStale(pidPath: string, stale: string, flockHeld: boolean): boolean {
  const dir = path.dirname(pidPath);
  const prefix = `${path.basename(pidPath)}.break.`;
  const mine = `${prefix}${randomBytes(8).toString('hex')}`;
  const claim = path.join(dir, mine);
  const record = writeRecordFile(pidPath, newRecord());
  try {
    fs.renameSync(record, claim);
  } catch (err) {
    unlinkQuietly(record);
    throw toIoError(err, claim);
  }
  try {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      throw toIoError(err, dir);
    }
    const base = path.basename(pidPath);
    for (const name of names) {
      if (name === mine) continue;
      const isClaim = name.startsWith(prefix);
      // Record files left by a crash between write and link; harmless, but tidy them up.
      const isRecord = !isClaim && name.length === base.length + 17 && name.startsWith(`${base}.`) && /^[0-9a-f]{16}$/.test(name.slice(base.length + 1));
      if (!isClaim && !isRecord) continue;
      const other = path.join(dir, name);
      const content = readOrUndefined(other);
      if (content === undefined) continue;
      const dead = ownerState(content) === 'dead' || (flockHeld && isClaim && isIncompleteRecord(content));
      if (dead) unlinkQuietly(other); // unique name: only ever that dead process's file
      else if (isClaim) return false;
    }
    if (readOrUndefined(pidPath) === stale) {
      try {
        fs.unlinkSync(pidPath);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw toIoError(err, pidPath);
      }
    }
    return true;
  } finally {
    unlinkQuietly(claim);
  }
}

// ---- public operations -----------------------------------------------------------------

function canonical(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * Whether the holder's descriptor still refers to the locked file. Only EBADF (closed; ENOENT for
 * a statOf by path) says no: fstat on a network or FUSE file system asks the server and can fail
 * (EIO, ESTALE) while the holder writes on, and a lock taken as let go would admit a second writer.
 */
function sameFile(fd: number, held: Held): boolean {
  try {
    const st = (held.statOf ?? fs.fstatSync)(fd);
    return st.dev === held.dev && st.ino === held.ino;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return !(code === 'EBADF' || code === 'ENOENT');
  }
}

function releaseHeld(key: string, held: Held): void {
  registry().delete(key);
  try {
    // Unlink only our own record: if it is not ours any more, it is not ours to remove.
    if (readOrUndefined(held.pidPath) === held.record) {
      try {
        fs.unlinkSync(held.pidPath);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw toIoError(err, held.pidPath);
      }
    }
  } catch (err) {
    leftBehind().add(held.record);
    throw err;
  }
}

/** The pid file that guards `file` (for tests and error messages). */
export function pidFilePath(file: string): string {
  return `${canonical(file)}.pid`;
}

export interface PidLockOptions {
  /**
   * The caller holds flock on `fd` (the native backend). Its record is marked so, and a marked
   * record found now is stale whoever wrote it: that holder no longer has the flock.
   */
  readonly flockHeld?: boolean;
  /**
   * The stats of the file `fd` refers to. Default fs.fstatSync, for node:fs descriptors and the
   * native core's POSIX ones; the core's Windows descriptors are its own handle numbers, which
   * node:fs cannot fstat.
   */
  readonly statOf?: (fd: number) => Stats;
  /**
   * Set when `fd` is not an OS descriptor (the core's Windows handle numbers): the same number
   * from node:fs is then another descriptor, and must not unlock or release this lock.
   */
  readonly fdSpace?: string;
}

/** Non-blocking exclusive lock on `file`, whose open descriptor is `fd`. */
export function tryLockFile(fd: number, file: string, options: PidLockOptions = {}): LockResult {
  const key = canonical(file);
  const locks = registry();
  const existing = locks.get(key);
  if (existing !== undefined) {
    // flock on a descriptor that already holds the lock succeeds; only another descriptor is refused.
    if (sameFile(existing.fd, existing)) return { acquired: existing.fd === fd && existing.fdSpace === options.fdSpace, degraded: DEGRADED_LOCK };
    // The holder's descriptor was closed without unlock; flock would have released it.
    releaseHeld(key, existing);
  }
  const statOf = options.statOf ?? fs.fstatSync;
  let st: Stats;
  try {
    st = statOf(fd);
  } catch (err) {
    throw toIoError(err, file);
  }
  const pidPath = `${key}.pid`;
  const record = newRecord(options.flockHeld);
  let acquired = false;
  let detail: string | undefined;
  // Bounded: at most one stale break and one retry after a holder let go between our steps.
  for (let attempt = 0; attempt < 3 && !acquired; attempt++) {
    if (createPidFile(pidPath, record)) {
      acquired = true;
      break;
    }
    const current = readOrUndefined(pidPath);
    if (current === undefined) continue; // released just now; try again
    const flockHeld = options.flockHeld === true;
    const ours = leftBehind().has(current);
    const stale = ours || ownerState(current) === 'dead' || (flockHeld && deadUnderFlock(current, pidPath));
    if (!stale) {
      // Kept as held: only a person can tell that no writer has just created it.
      if (isIncompleteRecord(current)) {
        detail = `${path.basename(pidPath)} holds an incomplete record, as a power cut leaves one, which cannot be proven stale here: remove it if no writer has the log open`;
      }
      break;
    }
    if (!breakStale(pidPath, current, flockHeld)) break;
    if (ours) leftBehind().delete(current);
  }
  if (acquired) {
    locks.set(key, { fd, statOf, fdSpace: options.fdSpace, dev: st.dev, ino: st.ino, pidPath, record });
    releaseAllAtExit();
    if (options.flockHeld === true) removeProbeLeftovers(pidPath);
  }
  return detail === undefined ? { acquired, degraded: DEGRADED_LOCK } : { acquired, degraded: DEGRADED_LOCK, detail };
}

/** Releases the lock taken through `fd` on `file`; a no-op when it is not held through `fd`. */
export function unlockFile(fd: number, file: string, fdSpace?: string): void {
  const key = canonical(file);
  const held = registry().get(key);
  if (held !== undefined && held.fd === fd && held.fdSpace === fdSpace) releaseHeld(key, held);
}

/** flock semantics: closing the descriptor drops its lock. Never throws. */
export function releaseLockOnClose(fd: number, fdSpace?: string): void {
  const locks = registry();
  if (locks.size === 0) return;
  for (const [key, held] of locks) {
    if (held.fd !== fd || held.fdSpace !== fdSpace) continue;
    try {
      releaseHeld(key, held);
    } catch {
      locks.delete(key);
    }
  }
}
