// The file operations FsDirectory needs, implemented twice: over the native core
// (lib/backend/native.ts) and over node:fs (lib/backend/node-fs.ts). Both write the same bytes.
//
// Every OS failure is thrown as an IoError (lib/errors.ts) naming errno, syscall and path; both
// backends name an errno alike (toIoError), also those libuv has no name for (EDQUOT, ESTALE),
// and the syscall alike (pwrite, pwritev, pread: node:fs's own names are write and read).
// Methods that can block on the disk have an Async form that runs off the event loop; the async
// writes take a copy of the caller's bytes when called (owned-bytes.ts), so the caller may reuse,
// transfer or resize its buffer at once.

import type { OWNED_BYTES } from './owned-bytes';

export type BackendName = 'native' | 'ts';

export type OpenMode =
  | 'read' // O_RDONLY
  | 'readWrite' // O_RDWR, must exist
  | 'create' // O_RDWR|O_CREAT (opens an existing file as is)
  | 'createNew' // O_RDWR|O_CREAT|O_EXCL
  | 'truncate'; // O_RDWR|O_CREAT|O_TRUNC

/** The open(2) flags of each mode, from a backend's flag values (node:fs's, or the core's). */
export function openModeFlags(c: { readonly O_RDONLY: number; readonly O_RDWR: number; readonly O_CREAT: number; readonly O_EXCL: number; readonly O_TRUNC: number }): Readonly<Record<OpenMode, number>> {
  return {
    read: c.O_RDONLY,
    readWrite: c.O_RDWR,
    create: c.O_RDWR | c.O_CREAT,
    createNew: c.O_RDWR | c.O_CREAT | c.O_EXCL,
    truncate: c.O_RDWR | c.O_CREAT | c.O_TRUNC,
  };
}

export interface LockResult {
  readonly acquired: boolean;
  /**
   * Set when the OS lock is unavailable on this file system and a weaker scheme was used. The
   * backend has published the 'flock-unsupported' diagnostic for it (once: per process on node:fs,
   * per lock file on the native core); callers do not publish another.
   */
  readonly degraded?: string;
  /** Why the lock was not acquired, when that is worth telling the person who sees the LockedError. */
  readonly detail?: string;
}

/** CRC32C over one buffer, or over many ranges of one buffer in a single call (one native crossing per batch). */
export interface Checksummer {
  readonly name: BackendName;
  /** crc32c(data) continuing from `crc` (default 0). */
  crc32c(data: Uint8Array, crc?: number): number;
  /**
   * For i < count: out[i] = crc32c(data.subarray(ranges[2i], ranges[2i] + ranges[2i+1]), seed).
   * The native backend does the whole batch in one call.
   */
  crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number): void;
}

/** How a commit ended when it succeeded: 'zeros-skipped' when its zeros (CommitSteps.zeroChunks) found no room. */
export type CommitResult = void | 'zeros-skipped';

/** The durable step of one group-commit batch (FileBackend.commitAsync). */
export interface CommitSteps {
  /** Internal: the chunks are the library's own and are written without a copy (owned-bytes.ts). */
  readonly [OWNED_BYTES]?: true;
  /** Written contiguously from `offset` with one gather write (nothing is written when they hold no bytes). */
  readonly chunks: readonly Uint8Array[];
  readonly offset: number;
  /** Then the file's length is set to this (undefined: left alone). */
  readonly truncateTo?: number;
  /** After the file's fdatasync, these directories (OS paths) are fsynced in order. */
  readonly dirs: readonly string[];
  /**
   * How many of the last chunks are zeros ahead of the log (directory.ts CommitPlan.zeroChunks):
   * written after the others, their range first reserved where the file system can; for want of
   * room (ENOSPC, EDQUOT, EFBIG: lib/backend/no-room.ts) left out, and the commit goes on and resolves 'zeros-skipped'.
   */
  readonly zeroChunks?: number;
}

/** Where commit time went (FileBackend.commitStats). */
export interface CommitStats {
  readonly commits: number;
  /** In the gather write. */
  readonly writeNs: number;
  /** In ftruncate, fdatasync and directory fsyncs. */
  readonly syncNs: number;
  /** From the end of the last step to the event loop settling the commit's promise. */
  readonly wakeNs: number;
}

export interface FileBackend extends Checksummer {

  open(path: string, mode: OpenMode): number;
  /**
   * The descriptor's commits (commitAsync) run to their end on its own file first: the native
   * backend blocks until they have run; node:fs, which cannot block on its thread pool, returns
   * at once and closes the descriptor when the last of them settles, so no later open is given
   * its number while they still act on it. Either way `fd` is not the caller's once this returned.
   */
  close(fd: number): void;
  /** Writes all bytes at offset (short writes are retried until done or an error). */
  pwrite(fd: number, data: Uint8Array, offset: number, path?: string): void;
  pwriteAsync(fd: number, data: Uint8Array, offset: number, path?: string): Promise<void>;
  pwritev(fd: number, chunks: readonly Uint8Array[], offset: number, path?: string): void;
  /** Reads until target is full or end of file; returns bytes read. */
  pread(fd: number, target: Uint8Array, offset: number, path?: string): number;
  /** Throws IoError with errno ENOTSUP (EOPNOTSUPP where that is another errno)/EINVAL where the file system cannot preallocate. */
  fallocate(fd: number, offset: number, length: number, path?: string): void;
  ftruncate(fd: number, length: number, path?: string): void;
  /**
   * The caller runs one fdatasync of a descriptor at a time (fdatasync, fdatasyncAsync, or the
   * one in commitAsync; commits the backend orders itself count as one): Linux reports a
   * writeback error to only one of two racing fdatasyncs of an open file, the other returning 0
   * for bytes that were lost. FsDirectory's files keep to it (WritableFile).
   */
  fdatasync(fd: number, path?: string): void;
  fdatasyncAsync(fd: number, path?: string): Promise<void>;
  fsyncDir(path: string): void;
  fsyncDirAsync(path: string): Promise<void>;
  /**
   * write, truncate, fdatasync, directory fsyncs, in that order, off the event loop; stops at the
   * first failure and rejects with it. The native backend runs it on the descriptor's commit
   * thread; node:fs chains its callback APIs (one thread-pool hop per step).
   */
  commitAsync(fd: number, steps: CommitSteps, path?: string): Promise<CommitResult>;
  /**
   * Blocks until the commits handed to the descriptor have run, and throws the first failed
   * one's error. Only where commits run on a thread of the descriptor's own (the native core).
   */
  waitCommits?(fd: number, path?: string): void;
  /**
   * True when commitAsync calls on one descriptor run in call order even when issued without
   * waiting (each after the previous one's fdatasync; after a failure every later one rejects
   * with the same cause, unrun). Otherwise the directory layer waits for each commit before the next.
   */
  readonly ordersCommits?: boolean;
  /** Totals of the commits run so far, process-wide, where the backend measures them (bench/). */
  commitStats?(): CommitStats;
  fileSize(fd: number, path?: string): number;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /**
   * unlink off the event loop: freeing a large file's blocks happens inside the call and can take
   * milliseconds (10 ms per 64 MiB on ext4 mounted with discard). Optional: FsDirectory unlinks
   * synchronously on a backend without it.
   */
  unlinkAsync?(path: string): Promise<void>;
  mkdir(path: string): void;
  readdir(path: string): string[];
  exists(path: string): boolean;
  /** Non-blocking exclusive lock tied to the open descriptor `fd` of the file at `path`. */
  tryLock(fd: number, path: string): LockResult;
  unlock(fd: number, path: string): void;
}
