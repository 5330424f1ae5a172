import type { Checksummer, CommitResult } from '../backend/backend';
import type { OWNED_BYTES } from '../backend/owned-bytes';

// A Directory is the root under which all files of one store live: every path the package
// opens, renames or deletes is relative to it.
// Paths are relative, '/'-separated, and never leave the root.
//
// Durability vocabulary used throughout:
// - write: bytes handed to the OS (page cache); lost on power failure unless synced.
// - sync (fdatasync): the file's written bytes are on stable storage.
// - syncDir: the directory's entries (creates, renames, deletes) are on stable storage.

/** The durable step of one group-commit batch (WritableFile.commitAsync). */
export interface CommitPlan {
  /** Written contiguously from `position` by one gather write; `offset` does not move. May be empty. */
  readonly chunks: readonly Uint8Array[];
  readonly position: number;
  /** After the write, the file's length is set to this (drops preallocated or stale bytes). */
  readonly truncateTo?: number;
  /** After the file's fdatasync, these directories ('' is the root) are fsynced, in order. */
  readonly syncDirs?: readonly string[];
  /**
   * How many of the last chunks are zeros written ahead of the log: an optimisation, not data, so
   * they go in only where the file system has room. The file writes the other chunks first, then
   * reserves the zeros' range (fallocate, where it can) and writes them; when either step finds no
   * room (ENOSPC, EDQUOT, EFBIG: lib/backend/no-room.ts) the zeros are left out, the file does not fail, the commit goes on
   * (truncate, fdatasync, directories) and resolves 'zeros-skipped'. Whatever part of them reached
   * the file is zeros past the other chunks. Any other failure fails the commit as usual. Default 0.
   */
  readonly zeroChunks?: number;
  /** Internal (the WAL's own buffers): the chunks are written without a copy (backend/owned-bytes.ts). */
  readonly [OWNED_BYTES]?: true;
}

/** How a commit ended when it succeeded: 'zeros-skipped' when its zeros (CommitPlan.zeroChunks) found no room. */
export type { CommitResult };

/**
 * After a failed write, sync or commit, every later write, sync and commit of the handle throws
 * that first failure without reaching the disk (reliability rule 4: a later fdatasync that returns
 * 0 proves nothing). close() still works; another handle of the file is not affected. A commit
 * that ran before the failing one resolves, whichever of the two the caller learns of first.
 *
 * One fdatasync of a handle at a time: Linux reports a writeback error once per open file
 * description, to whichever of two racing fdatasyncs checks first, and the other returns 0 although
 * the bytes it was to make durable are lost. So syncAsync and commitAsync each start after the
 * ones issued before them settled (failing unrun, with the same cause, if one of those failed), and
 * sync() waits for them where a synchronous call can (waitsForCommits) and otherwise throws
 * InvalidStateError, without syncing and without failing the handle.
 *
 * A commit runs off the thread, so nothing orders it against a call that changes the file from
 * the calling thread: while a commitAsync is in flight (not settled, and not seen run by
 * waitCommitsSync) write, writev, writeAsync, writeAt, allocate and truncate throw
 * InvalidStateError, changing nothing, on every kind of file (a write to a failed handle throws
 * the failure instead).
 */
export interface WritableFile {
  readonly path: string;
  /** Offset at which the next write lands (starts at the file's size when opened for append). */
  readonly offset: number;
  /** Writes all bytes at `offset` and advances it. */
  write(data: Uint8Array): void;
  /** Gather write of all chunks at `offset`, advancing it by their total length. */
  writev(chunks: readonly Uint8Array[]): void;
  writeAsync(data: Uint8Array): Promise<void>;
  /** Positioned write that does not move `offset` (used to rewrite a header in place). */
  writeAt(data: Uint8Array, position: number): void;
  /**
   * writeAt for bytes the caller can do without (an idle writer's sync mark): false when the file
   * system has no room (ENOSPC, EDQUOT, EFBIG: lib/backend/no-room.ts), and the handle does not fail. Part of the bytes may have
   * reached the file at `position`: the caller must write over them or cut them before anything
   * depends on what lies there. Any other failure fails the handle as writeAt's does. Optional:
   * without it the writer uses writeAt, and no room there fails the writer.
   */
  writeAtWhereRoom?(data: Uint8Array, position: number): boolean;
  /**
   * Reserves `length` bytes from `offset` so later writes need not grow the file.
   * Returns false (and does nothing) where the file system cannot preallocate.
   */
  allocate(length: number): boolean;
  /**
   * Sets the file length; moves `offset` to `length` if it was beyond it. InvalidStateError while a
   * writeAsync or a commitAsync is in flight: either could write after the truncation.
   */
  truncate(length: number): void;
  /** Current length of the file (may exceed `offset` after preallocation). */
  size(): number;
  /**
   * fdatasync: every byte written to this file so far is durable when this returns. With commits
   * in flight it first waits for them where waitsForCommits (throwing a failed one's error);
   * InvalidStateError while a syncAsync, a writeAsync, or a commit it cannot wait for, is in flight.
   */
  sync(): void;
  /**
   * fdatasync off the event loop, once the syncs, commits and writeAsync calls issued before it
   * settled (at once when none is in flight): the thread pool may run a write after an fdatasync
   * queued later, which would return with the write's bytes not even written.
   */
  syncAsync(): Promise<void>;
  /**
   * Group commit: write the chunks, truncate, fdatasync this file, fsync the directories, in that
   * order and off the event loop; resolves once every step succeeded, rejects with the first
   * failure (later steps do not run). Commits of one file run in call order even when issued
   * without waiting, each after the previous one's fdatasync (and after any syncAsync and
   * writeAsync issued before it); after a failed one every later commit of the file rejects with the same cause,
   * unrun. FsDirectory on the native backend runs
   * them on the file's commit thread. The caller's bytes are copied at the call. Memory and
   * simulated directories run the steps within microtasks (simulated counts each step as an
   * operation, so crash-after-k and fault injection see them).
   */
  commitAsync(plan: CommitPlan): Promise<CommitResult>;
  /**
   * Whether waitCommitsSync can block until the commits handed to this file have run: true when
   * they run on a thread of the file's own (FsDirectory on the native backend) and on memory and
   * simulated files (their steps run synchronously); false on node:fs files.
   */
  readonly waitsForCommits: boolean;
  /**
   * Blocks until every commit handed to the file has run; throws the first failed one's error. Only
   * where waitsForCommits. InvalidStateError while a commit waits for a syncAsync or writeAsync in
   * flight (a commit thread has not been handed it yet; memory and simulated files refuse alike).
   */
  waitCommitsSync(): void;
  close(): void;
}

export interface ReadableFile {
  readonly path: string;
  /** A non-negative safe integer; anything else is an IoError EIO where the package reads it (read-whole.ts). */
  size(): number;
  /**
   * Reads up to target.length bytes at position; returns how many were read (short only at end of
   * file). The package's readers read again after a shorter read (read-whole.ts) and take only 0 for the end;
   * any other answer (undefined, NaN, negative, more than asked, a Promise) is an IoError EIO there.
   */
  read(target: Uint8Array, position: number): number;
  close(): void;
}

export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

export interface Directory {
  /** 'fs', 'memory' or 'simulated'. */
  readonly kind: string;
  /** CRC32C implementation for files of this directory (the native core's when FsDirectory runs on it). */
  readonly checksum: Checksummer;

  /** Creates a new empty file; fails with AlreadyExistsError if it exists. The entry needs syncDir to be durable. */
  create(path: string): WritableFile;
  /** Opens an existing file for writing at its end. */
  openAppend(path: string): WritableFile;
  openRead(path: string): ReadableFile;
  readFile(path: string): Uint8Array;

  /**
   * Temp file, write, fdatasync, rename over `path`, fsync the parent: old or new content, never a mix.
   * A crash mid-way can leave `<path>.tmp-<16 hex>` behind: list() never shows such names, and the
   * next atomicWrite of the same path deletes them (made durable by its own parent fsync).
   */
  atomicWrite(path: string, data: Uint8Array): void;
  /** atomicWrite with its write and syncs off the event loop; `data` must not change until it settles (optional: lib/directory/off-loop.ts). */
  atomicWriteAsync?(path: string, data: Uint8Array): Promise<void>;
  /** rename + fsync of the parent directory (and of the source's parent when it differs). */
  atomicRename(from: string, to: string): void;
  /** rename without the directory fsync: the caller fsyncs the directory (syncDir, syncDirAsync) before anything depends on the new name. */
  renameNoSync(from: string, to: string): void;
  /** unlink + fsync of the parent directory. */
  delete(path: string): void;
  /** unlink without the directory fsync, for callers that batch several deletes before one syncDir. */
  deleteNoSync(path: string): void;
  /** deleteNoSync off the event loop, where unlinking a large file frees its blocks (optional: lib/directory/off-loop.ts). */
  deleteNoSyncAsync?(path: string): Promise<void>;
  /** A boolean; anything else (a Promise) is an IoError EIO where the package asks (checked-answers.ts). */
  exists(path: string): boolean;
  /**
   * Names (not paths) of the entries directly under `path` ('' is the root), sorted, without
   * atomicWrite temp files. Missing dir lists as []; a symbolic link to a missing one is a
   * NotFoundError (the directory is elsewhere, on a disk not mounted: not empty). Anything but an
   * array of distinct names is an IoError EIO where the package lists (checked-answers.ts).
   */
  list(path: string): string[];
  /**
   * Creates the directory and its missing parents; when it returns, every entry of the chain is
   * durable. Each parent is fsynced, also where the entry already existed: a directory made by an
   * earlier call whose fsync failed, or by a process that died before that fsync, is visible but
   * may not survive a power cut, and neither would anything synced under it.
   */
  mkdirp(path: string): void;
  /** fdatasync of a file by path. */
  syncFile(path: string): void;
  /** fsync of a directory ('' is the root): its entries become durable. */
  syncDir(path: string): void;
  syncDirAsync(path: string): Promise<void>;
  /** Exclusive lock on a lock file at `path`, held until release() or process death. Throws LockedError. */
  lock(path: string): DirectoryLock;
  /** The OS path of `path`, or undefined where there is none (memory). */
  filePath(path: string): string | undefined;
}
