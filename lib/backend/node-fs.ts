// FileBackend over node:fs: the fallback when no native binary loads. Writes the same bytes as
// the native core. Descriptors are plain fds (no FileHandle) so both backends hand the
// Directory layer the same thing; async forms use the callback APIs, which run on libuv's
// threadpool. libuv opens everything with O_CLOEXEC.

import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cleanUpAfterFailure } from '../after-failure';
import { crc32c, crc32cRanges } from '../crc32c';
import { channels, diagnoseOnce } from '../diagnostics';
import { IoError, toIoError } from '../errors';
import { isNoRoom } from './no-room';
import { openModeFlags, type CommitResult, type CommitStats, type CommitSteps, type FileBackend, type LockResult, type OpenMode } from './backend';
import { GUARD_FLAGS, notRegularAt, requireRegular } from './file-type';
import { pathExists, readDirectory } from './fs-metadata';
import { DEGRADED_LOCK, releaseLockOnClose, tryLockFile, unlockFile } from './lockfile';
import { OWNED_BYTES, snapshot, snapshotCommitChunks } from './owned-bytes';
import { readFully } from './read-fully';
import { splitZeros } from './zero-chunks';

const { O_RDONLY } = fs.constants;

/** As the native core opens a directory to fsync it: something else at the path fails at once (a FIFO would block). */
const OPEN_DIRECTORY = O_RDONLY | (fs.constants.O_DIRECTORY ?? 0);

const OPEN_FLAGS = openModeFlags(fs.constants);

// node:fs reads a null or negative position as "the current file position" and clamps a
// negative ftruncate length to 0; the native core rejects both, and so do we.
function checkOffset(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative safe integer, not ${String(value)}`);
}

/** fsyncDir's checks where there is nothing to flush: ENOENT or ENOTDIR as POSIX's open would give. */
function checkDirectory(path: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = fs.statSync(path).isDirectory();
  } catch (err) {
    throw toIoError(Object.assign(err as object, { syscall: 'open' }), path);
  }
  if (!isDirectory) throw new IoError('ENOTDIR', 'open', path);
}

function fail(err: unknown, path: string | undefined, syscall?: CoreSyscall): never {
  throw syscall === undefined ? toIoError(err, path) : asCall(err, path, syscall);
}

/**
 * What the native core calls the syscall behind a method. node:fs reports a failed pwrite or
 * pwritev as `write` and a failed pread as `read`, and fallocate's descriptor check here is an
 * fstat: IoError.syscall names the core's call instead, so an error reads the same on both backends.
 */
type CoreSyscall = 'pwrite' | 'pwritev' | 'pread' | 'fallocate';

function asCall(err: unknown, path: string | undefined, syscall: CoreSyscall): unknown {
  const mapped = toIoError(err, path);
  if (!(mapped instanceof IoError) || mapped.syscall === syscall) return mapped;
  return new IoError(mapped.errno, syscall, mapped.path, { cause: err });
}

/** A write that made no progress and reported no error would loop forever; treat it as EIO. */
function noProgress(syscall: CoreSyscall, path: string | undefined): IoError {
  return new IoError('EIO', syscall, path, { message: `${syscall} wrote 0 bytes${path === undefined ? '' : ` (${path})`}` });
}

function callback<T>(run: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void, path: string | undefined, syscall?: CoreSyscall): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    run((err, value) => (err ? reject(syscall === undefined ? toIoError(err, path) : asCall(err, path, syscall)) : resolve(value)));
  });
}

/** The chunks still to write after `written` bytes of them went out. */
function remaining(chunks: readonly Uint8Array[], written: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (written >= chunk.length) {
      written -= chunk.length;
      continue;
    }
    out.push(written === 0 ? chunk : chunk.subarray(written));
    written = 0;
  }
  return out;
}

/**
 * commitStats' process-wide totals of the commits that succeeded. Each step is timed from issuing
 * it to its callback (performance.now(): no allocation). wakeNs stays 0: on node:fs the hop from
 * the thread pool back to the event loop is inside every step's callback time and cannot be told
 * apart from the syscall.
 */
const totals = { commits: 0, writeNs: 0, syncNs: 0, wakeNs: 0 };

/**
 * Commits in flight per descriptor, and the descriptors close() was called on while some were:
 * those are closed when their last commit settles (see close). Per process, as descriptor numbers are.
 */
const commitsInFlight = new Map<number, number>();
const closeWhenIdle = new Set<number>();

function totalLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

function closeNow(fd: number): void {
  // flock locks die with their descriptor; the pid-file emulation must follow suit.
  releaseLockOnClose(fd);
  fs.closeSync(fd);
}

/** Counts a commit of `fd` out; the last one out closes the descriptor if close() was called meanwhile. */
function commitEnded(fd: number): void {
  const left = (commitsInFlight.get(fd) as number) - 1;
  if (left > 0) {
    commitsInFlight.set(fd, left);
    return;
  }
  commitsInFlight.delete(fd);
  if (!closeWhenIdle.delete(fd)) return;
  try {
    closeNow(fd);
  } catch (err) {
    // No caller is left to throw to (see NodeFsBackend.close) and the commits' own results
    // stand; a close(2) that fails (EIO on some network file systems) still deserves a trace.
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'deferred-close-failed', message: `close(${fd}) after its last commit failed`, error: toIoError(err) });
    }
  }
}

export class NodeFsBackend implements FileBackend {
  readonly name = 'ts' as const;

  crc32c(data: Uint8Array, crc?: number): number {
    return crc32c(data, crc);
  }

  crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number): void {
    crc32cRanges(data, ranges, count, out, seed);
  }

  open(path: string, mode: OpenMode): number {
    const flags = OPEN_FLAGS[mode];
    if (flags === undefined) throw new TypeError(`unknown open mode ${JSON.stringify(mode)}`);
    let fd: number;
    try {
      fd = fs.openSync(path, flags | GUARD_FLAGS, 0o666);
    } catch (err) {
      throw notRegularAt(path) ?? toIoError(err, path);
    }
    // Also what stops Windows, which opens a directory like a file and reads it as empty.
    requireRegular(fd, path, () => fs.closeSync(fd));
    return fd;
  }

  /**
   * The native backend's close waits for the descriptor's commits to run. This one cannot block
   * on the thread pool, so with commits in flight it leaves the descriptor open until the last of
   * them settles and closes it then: their remaining steps (ftruncate, fdatasync) act on their own
   * file, never on one a later open was given the number of. The caller may not use `fd` once
   * this returned (a second close throws EBADF, as it would on a closed descriptor); an error of
   * the deferred close(2) itself has no caller left, so it goes out as a 'deferred-close-failed'
   * diagnostic event.
   */
  close(fd: number): void {
    if (closeWhenIdle.has(fd)) throw new IoError('EBADF', 'close', undefined);
    if (commitsInFlight.has(fd)) {
      closeWhenIdle.add(fd);
      return;
    }
    try {
      closeNow(fd);
    } catch (err) {
      fail(err, undefined);
    }
  }

  pwrite(fd: number, data: Uint8Array, offset: number, path?: string): void {
    checkOffset(offset, 'offset');
    let done = 0;
    try {
      while (done < data.length) {
        const n = fs.writeSync(fd, data, done, data.length - done, offset + done);
        if (n <= 0) throw noProgress('pwrite', path);
        done += n;
      }
    } catch (err) {
      fail(err, path, 'pwrite');
    }
  }

  // Argument errors throw synchronously from the async forms too, as the native binding does.
  pwriteAsync(fd: number, data: Uint8Array, offset: number, path?: string): Promise<void> {
    checkOffset(offset, 'offset');
    return this.pwriteLoop(fd, snapshot(data), offset, path);
  }

  private async pwriteLoop(fd: number, data: Uint8Array, offset: number, path: string | undefined): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const n = await callback<number>((cb) => fs.write(fd, data, done, data.length - done, offset + done, cb), path, 'pwrite');
      if (n <= 0) throw noProgress('pwrite', path);
      done += n;
    }
  }

  pwritev(fd: number, chunks: readonly Uint8Array[], offset: number, path?: string): void {
    checkOffset(offset, 'offset');
    let pending = chunks as Uint8Array[];
    let left = totalLength(chunks);
    try {
      while (left > 0) {
        const n = fs.writevSync(fd, pending, offset);
        if (n <= 0) throw noProgress('pwritev', path);
        left -= n;
        offset += n;
        if (left > 0) pending = remaining(pending, n);
      }
    } catch (err) {
      fail(err, path, 'pwritev');
    }
  }

  private async pwritevLoop(fd: number, chunks: readonly Uint8Array[], offset: number, path: string | undefined): Promise<void> {
    let pending = chunks as Uint8Array[];
    let left = totalLength(chunks);
    while (left > 0) {
      const n = await callback<number>((cb) => fs.writev(fd, pending, offset, cb), path, 'pwritev');
      if (n <= 0) throw noProgress('pwritev', path);
      left -= n;
      offset += n;
      if (left > 0) pending = remaining(pending, n);
    }
  }

  pread(fd: number, target: Uint8Array, offset: number, path?: string): number {
    checkOffset(offset, 'offset');
    try {
      return readFully(fd, target, offset);
    } catch (err) {
      fail(err, path, 'pread');
    }
  }

  /**
   * node:fs has no fallocate. The two candidates were: report ENOTSUP, or emulate by writing
   * zeros past the end of the file. We report ENOTSUP, which the contract allows and the
   * Directory layer handles with one 'fallocate-unsupported' diagnostic. Zero-filling is not
   * safe here: it reads the size and then writes, so an async pwrite still in flight on the
   * threadpool beyond the old end would be overwritten with zeros; it would also block the event
   * loop writing (say) 64 MiB synchronously and make the next fdatasync flush all of it.
   * Preallocation is an optimisation; the format reads a file that simply grows just the same.
   * A bad descriptor or argument is still reported as such, not as "unsupported".
   */
  fallocate(fd: number, offset: number, length: number, path?: string): void {
    checkOffset(offset, 'offset');
    checkOffset(length, 'length');
    if (length === 0) throw new RangeError('length must be positive');
    try {
      fs.fstatSync(fd);
    } catch (err) {
      fail(err, path, 'fallocate');
    }
    throw new IoError('ENOTSUP', 'fallocate', path, {
      message: `fallocate failed: ENOTSUP${path === undefined ? '' : ` (${path})`}: the node:fs backend cannot preallocate`,
    });
  }

  ftruncate(fd: number, length: number, path?: string): void {
    checkOffset(length, 'length');
    try {
      fs.ftruncateSync(fd, length);
    } catch (err) {
      fail(err, path);
    }
  }

  fdatasync(fd: number, path?: string): void {
    try {
      fs.fdatasyncSync(fd);
    } catch (err) {
      fail(err, path);
    }
  }

  fdatasyncAsync(fd: number, path?: string): Promise<void> {
    return callback<void>((cb) => fs.fdatasync(fd, (err) => cb(err, undefined)), path);
  }

  /** Makes a directory's entries (creates, renames, unlinks) durable. */
  fsyncDir(path: string): void {
    // Windows cannot flush a directory (FlushFileBuffers needs a handle opened for writing, which
    // needs backup privileges) and NTFS journals its metadata anyway: only check it is one.
    if (process.platform === 'win32') return checkDirectory(path);
    let fd: number;
    try {
      fd = fs.openSync(path, OPEN_DIRECTORY);
    } catch (err) {
      fail(err, path);
    }
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      // The fsync's failure is the one to report (the entries may not be durable), as in the native core.
      cleanUpAfterFailure(() => fs.closeSync(fd));
      fail(err, path);
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      fail(err, path);
    }
  }

  async fsyncDirAsync(path: string): Promise<void> {
    if (process.platform === 'win32') return checkDirectory(path);
    const fd = await callback<number>((cb) => fs.open(path, OPEN_DIRECTORY, cb), path);
    try {
      await callback<void>((cb) => fs.fsync(fd, (err) => cb(err, undefined)), path);
    } catch (err) {
      // As in fsyncDir: the fsync's failure wins over the close's.
      cleanUpAfterFailure(() => fs.closeSync(fd));
      throw err;
    }
    // Closed here, not queued on the thread pool (close(2) of a directory does no I/O): Node stops
    // counting a descriptor as a worker's when fs.close is called, and a worker terminated
    // before the pool ran that close would leave it open for the life of the process.
    try {
      fs.closeSync(fd);
    } catch (err) {
      fail(err, path);
    }
  }

  // Argument errors throw synchronously, as the native binding's do.
  commitAsync(fd: number, steps: CommitSteps, path?: string): Promise<CommitResult> {
    checkOffset(steps.offset, 'offset');
    if (steps.truncateTo !== undefined) checkOffset(steps.truncateTo, 'truncateTo');
    // snapshotCommitChunks also refuses anything but an array of Uint8Array.
    const copied = snapshotCommitChunks(steps.chunks, steps.zeroChunks ?? 0, steps[OWNED_BYTES]);
    const chunks = copied.chunks.slice();
    const zeroChunks = copied.zeroChunks;
    checkOffset(zeroChunks, 'zeroChunks');
    if (zeroChunks > chunks.length) throw new RangeError(`zeroChunks must be at most the number of chunks (${chunks.length}), not ${zeroChunks}`);
    steps = { ...steps, zeroChunks };
    // Closed by the caller, open only for the commits it left running.
    if (closeWhenIdle.has(fd)) return Promise.reject(new IoError('EBADF', 'pwritev', path));
    commitsInFlight.set(fd, (commitsInFlight.get(fd) ?? 0) + 1);
    return this.commitSteps(fd, chunks, steps, path).finally(() => commitEnded(fd));
  }

  private async commitSteps(fd: number, chunks: Uint8Array[], steps: CommitSteps, path: string | undefined): Promise<CommitResult> {
    const start = performance.now();
    const { data, zeros, dataLength } = splitZeros(chunks, steps.zeroChunks ?? 0);
    if (dataLength > 0) await this.pwritevLoop(fd, data, steps.offset, path);
    const zerosWritten = await this.zerosWhereRoom(fd, zeros, steps.offset + dataLength, path);
    const written = performance.now();
    const truncateTo = steps.truncateTo;
    if (truncateTo !== undefined) await callback<void>((cb) => fs.ftruncate(fd, truncateTo, (err) => cb(err, undefined)), path);
    await this.fdatasyncAsync(fd, path);
    for (const dir of steps.dirs) await this.fsyncDirAsync(dir);
    totals.commits++;
    totals.writeNs += (written - start) * 1e6;
    totals.syncNs += (performance.now() - written) * 1e6;
    return zerosWritten ? undefined : 'zeros-skipped';
  }

  /**
   * A commit's zeros ahead of the log, in a write of their own after its frames: node:fs cannot
   * reserve their range first (no fallocate), so a write that finds no room (ENOSPC, EDQUOT, EFBIG: lib/backend/no-room.ts) is
   * where they are left out; whatever part of them it wrote is zeros past the frames.
   */
  private async zerosWhereRoom(fd: number, zeros: readonly Uint8Array[], offset: number, path: string | undefined): Promise<boolean> {
    if (totalLength(zeros) === 0) return true;
    try {
      await this.pwritevLoop(fd, zeros, offset, path);
      return true;
    } catch (err) {
      if (isNoRoom(err)) return false;
      throw err;
    }
  }

  /** Totals of this process's successful commits on node:fs (see `totals`). */
  commitStats(): CommitStats {
    return { ...totals };
  }

  fileSize(fd: number, path?: string): number {
    try {
      return fs.fstatSync(fd).size;
    } catch (err) {
      fail(err, path);
    }
  }

  rename(from: string, to: string): void {
    try {
      fs.renameSync(from, to);
    } catch (err) {
      fail(err, from);
    }
  }

  unlink(path: string): void {
    try {
      fs.unlinkSync(path);
    } catch (err) {
      fail(err, path);
    }
  }

  unlinkAsync(path: string): Promise<void> {
    return callback<void>((cb) => fs.unlink(path, (err) => cb(err, undefined)), path);
  }

  mkdir(path: string): void {
    try {
      fs.mkdirSync(path);
    } catch (err) {
      fail(err, path);
    }
  }

  readdir(path: string): string[] {
    return readDirectory(path);
  }

  exists(path: string): boolean {
    return pathExists(path);
  }

  tryLock(fd: number, path: string): LockResult {
    const result = tryLockFile(fd, path);
    // node:fs never has flock: said once per process, not once per lock.
    diagnoseOnce({ kind: 'flock-unsupported', message: `exclusive lock degraded: ${DEGRADED_LOCK}`, path });
    return result;
  }

  unlock(fd: number, path: string): void {
    unlockFile(fd, path);
  }
}
