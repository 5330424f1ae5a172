// FileBackend over the C++ core (binding.d.ts). The binding already checks arguments (TypeError /
// RangeError, thrown synchronously even by the async forms) and loops over short writes and
// EINTR; this class maps OS errors to IoError naming the caller's path, and turns "this file
// system cannot flock" into a degraded lock with one diagnostic.

import fs from 'node:fs';
import type { Crc32cImpl, NativeBinding } from '../../binding';
import { diagnoseOnce } from '../diagnostics';
import { toIoError } from '../errors';
import { loadNative } from '../native';
import { openModeFlags, type CommitResult, type CommitStats, type CommitSteps, type FileBackend, type LockResult, type OpenMode } from './backend';
import { GUARD_FLAGS, notRegularAt, requireRegular, requireRegularAt } from './file-type';
import { pathExists, readDirectory } from './fs-metadata';
import { releaseLockOnClose, tryLockFile, unlockFile } from './lockfile';
import { OWNED_BYTES, snapshot, snapshotCommitChunks } from './owned-bytes';

/** The core's descriptors are OS descriptors on POSIX; on Windows, numbers of its own handle table. */
const CORE_FD_SPACE = process.platform === 'win32' ? 'durability-core' : undefined;

/** flock errors meaning "no OS locks here" (some NFS and FUSE mounts), not "someone holds it". */
const LOCK_UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'ENOLCK', 'EINVAL']);

export class NativeFileBackend implements FileBackend {
  readonly name = 'native' as const;
  private readonly flags: Readonly<Record<OpenMode, number>>;

  constructor(private readonly binding: NativeBinding) {
    this.flags = openModeFlags(binding.constants);
  }

  crc32c(data: Uint8Array, crc?: number): number {
    return this.binding.crc32c(data, crc);
  }

  crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number): void {
    this.binding.crc32cRanges(data, ranges, count, out, seed);
  }

  open(path: string, mode: OpenMode): number {
    const flags = this.flags[mode];
    if (flags === undefined) throw new TypeError(`unknown open mode ${JSON.stringify(mode)}`);
    let fd: number;
    try {
      fd = this.binding.open(path, flags | GUARD_FLAGS, 0o666);
    } catch (err) {
      throw notRegularAt(path) ?? toIoError(err, path);
    }
    // The core's descriptors are OS descriptors on POSIX; on Windows they are its own handle numbers.
    if (process.platform === 'win32') requireRegularAt(path, () => this.binding.close(fd));
    else requireRegular(fd, path, () => this.binding.close(fd));
    return fd;
  }

  close(fd: number): void {
    releaseLockOnClose(fd, CORE_FD_SPACE);
    try {
      this.binding.close(fd);
    } catch (err) {
      throw toIoError(err);
    }
  }

  pwrite(fd: number, data: Uint8Array, offset: number, path?: string): void {
    try {
      this.binding.pwrite(fd, data, offset);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  // Not `async`: argument errors must stay synchronous throws, as the binding makes them.
  pwriteAsync(fd: number, data: Uint8Array, offset: number, path?: string): Promise<void> {
    return this.binding.pwriteAsync(fd, snapshot(data), offset).then(
      () => undefined,
      (err: unknown) => Promise.reject(toIoError(err, path)),
    );
  }

  pwritev(fd: number, chunks: readonly Uint8Array[], offset: number, path?: string): void {
    try {
      this.binding.pwritev(fd, chunks, offset);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  pread(fd: number, target: Uint8Array, offset: number, path?: string): number {
    try {
      return this.binding.pread(fd, target, offset);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  fallocate(fd: number, offset: number, length: number, path?: string): void {
    // fallocate(2) answers EINVAL for a zero length; the node:fs backend calls that a RangeError.
    if (length === 0) throw new RangeError('length must be positive');
    try {
      this.binding.fallocate(fd, offset, length);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  ftruncate(fd: number, length: number, path?: string): void {
    try {
      this.binding.ftruncate(fd, length);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  fdatasync(fd: number, path?: string): void {
    try {
      this.binding.fdatasync(fd);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  fdatasyncAsync(fd: number, path?: string): Promise<void> {
    return this.binding.fdatasyncAsync(fd).catch((err: unknown) => Promise.reject(toIoError(err, path)));
  }

  fsyncDir(path: string): void {
    try {
      this.binding.fsyncDir(path);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  fsyncDirAsync(path: string): Promise<void> {
    return this.binding.fsyncDirAsync(path).catch((err: unknown) => Promise.reject(toIoError(err, path)));
  }

  /** Each descriptor's commits run on its own commit thread, in call order (native/commit_thread.h). */
  readonly ordersCommits = true;

  commitStats(): CommitStats {
    return this.binding.commitStats();
  }

  commitAsync(fd: number, steps: CommitSteps, path?: string): Promise<CommitResult> {
    const truncateTo = steps.truncateTo === undefined ? -1 : steps.truncateTo;
    // A failed directory step names its directory; the file steps name the file.
    const copied = snapshotCommitChunks(steps.chunks, steps.zeroChunks ?? 0, steps[OWNED_BYTES]);
    return this.binding.commitAsync(fd, copied.chunks, steps.offset, truncateTo, steps.dirs, copied.zeroChunks)
      .catch((err: unknown) => Promise.reject(toIoError(err, path)));
  }

  waitCommits(fd: number, path?: string): void {
    try {
      this.binding.waitCommits(fd);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  fileSize(fd: number, path?: string): number {
    try {
      return this.binding.fileSize(fd);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  rename(from: string, to: string): void {
    try {
      this.binding.rename(from, to);
    } catch (err) {
      throw toIoError(err, from);
    }
  }

  unlink(path: string): void {
    try {
      this.binding.unlink(path);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  unlinkAsync(path: string): Promise<void> {
    return this.binding.unlinkAsync(path).catch((err: unknown) => Promise.reject(toIoError(err, path)));
  }

  mkdir(path: string): void {
    try {
      this.binding.mkdir(path, 0o777);
    } catch (err) {
      throw toIoError(err, path);
    }
  }

  // Listing and probing are metadata reads that never sit on the durable-write path.
  readdir(path: string): string[] {
    return readDirectory(path);
  }

  exists(path: string): boolean {
    return pathExists(path);
  }

  /**
   * flock, and the pid file the node:fs backend locks with (lib/backend/lockfile.ts), so a writer
   * on either backend, in any process or thread, sees this one. The pid file's record is marked
   * as flock-backed: whoever holds the flock may break such a record, since its writer has lost
   * the flock (exited, or a worker torn down). Where flock is unsupported, the pid file alone.
   */
  tryLock(fd: number, path: string): LockResult {
    let degraded: string | undefined;
    try {
      if (!this.binding.tryLockExclusive(fd)) return { acquired: false };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !LOCK_UNSUPPORTED.has(code)) throw toIoError(err, path);
      degraded = `flock is not supported here (${code}); using a pid file next to the lock file`;
      diagnoseOnce({ kind: 'flock-unsupported', message: `${path}: ${degraded}`, path, error: err }, path);
    }
    const flocked = degraded === undefined;
    let acquired = false;
    let detail: string | undefined;
    try {
      // The pid-file lock identifies the file through the descriptor: the core's Windows
      // descriptors are its own handle numbers, which node:fs cannot fstat, so there by path.
      const statOf = CORE_FD_SPACE === undefined ? undefined : () => fs.statSync(path);
      ({ acquired, detail } = tryLockFile(fd, path, { flockHeld: flocked, statOf, fdSpace: CORE_FD_SPACE }));
    } finally {
      if (!acquired && flocked) this.binding.unlock(fd);
    }
    const why = detail === undefined ? {} : { detail };
    return flocked ? { acquired, ...why } : { acquired, degraded, ...why };
  }

  unlock(fd: number, path: string): void {
    try {
      // The pid file first, so a flock-marked record is never seen without its flock; the flock
      // is dropped even if removing the pid file failed.
      try {
        unlockFile(fd, path, CORE_FD_SPACE);
      } finally {
        this.binding.unlock(fd);
      }
    } catch (err) {
      throw toIoError(err, path);
    }
  }
}

/** The CRC32C implementation the native core chose on this CPU, or undefined without the core. */
export function nativeCrc32cImpl(): Crc32cImpl | undefined {
  return loadNative().binding?.crc32cImpl();
}

/** The native core's portable (table-driven) CRC32C, for tests and benches; undefined without the core. */
export function nativePortableCrc32c(): ((data: Uint8Array, crc?: number) => number) | undefined {
  const binding = loadNative().binding;
  return binding ? (data, crc) => binding.crc32cPortable(data, crc) : undefined;
}
