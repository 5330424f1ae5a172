import { types } from 'node:util';
import { brokenContract, ignoreLateRejection, releaseLateLock, shown, thrownBy } from './broken-contract';
import type { CommitPlan, CommitResult, Directory, DirectoryLock, ReadableFile, WritableFile } from './directory';
import { FsDirectory } from './fs';
import { MemoryDirectory } from './memory';
import { SimulatedDirectory } from './simulated';
import { toIoError } from '../errors';
import { isDirectory } from '../guards';

// A Directory of the caller's own is checked once, where it enters the package (the WAL writer,
// maintenance, the record log writer, checkpoints, recovery): what it and the files and locks it
// hands out do when the package writes through them is typed as its reads are
// (checked-answers.ts). What one throws is an IoError (broken-contract.ts thrownBy: a
// DurabilityError as it is, an OS code as an IoError of that code, a TypeError of its own as EIO
// with it as the cause), and so is an answer outside the contract: a synchronous call answering
// a Promise has done nothing yet when it returns (an fdatasync that has not run), an asynchronous
// one answering no Promise was never waited for (a commit reported durable, never written). The
// writers meet these failures where they meet an OS error, so they poison the writer the same way.
// One wrapper here rather than a check at each of the dozens of call sites: it also covers the
// ones still to come. The built-in directories are trusted and pass as they are: the WAL's hot
// path (writeAt, commitAsync) goes through no extra layer for them.

const TRUSTED: readonly object[] = [FsDirectory.prototype, MemoryDirectory.prototype, SimulatedDirectory.prototype];
const METHODS = [
  'create', 'openAppend', 'atomicWrite', 'atomicWriteAsync', 'atomicRename', 'renameNoSync', 'delete', 'deleteNoSync',
  'deleteNoSyncAsync', 'mkdirp', 'syncFile', 'syncDir', 'syncDirAsync', 'lock',
] as const;
const checked = new WeakSet<Directory>();
/** One wrapper per Directory: what is keyed by the Directory object (checkpoint turns, lib/checkpoint/turns.ts) sees one object. */
const wrappers = new WeakMap<Directory, Directory>();

/** `dir` itself when it is one of the package's own (not a Proxy, not a subclass, no method replaced); else `dir` checked. */
export function checkedDirectory(dir: Directory): Directory {
  // Not a Directory at all: left for requireDirectory to refuse by name, where it is asked.
  if (!isDirectory(dir) || checked.has(dir) || isTrusted(dir)) return dir;
  let wrapped = wrappers.get(dir);
  if (wrapped === undefined) {
    wrapped = new CheckedDirectory(dir);
    wrappers.set(dir, wrapped);
    checked.add(wrapped);
  }
  return wrapped;
}

/**
 * The Directory a checked one wraps (`dir` itself when it wraps none), for what depends on what a
 * Directory is rather than on what it does: the commit pacing of FsDirectory (cohort-merge.ts)
 * is as right for a subclass or a Proxy of it as it was before they were wrapped.
 */
export function uncheckedDirectory(dir: Directory): Directory {
  return dir instanceof CheckedDirectory ? dir.inner : dir;
}

function isTrusted(dir: Directory): boolean {
  if (types.isProxy(dir) || !TRUSTED.includes(Object.getPrototypeOf(dir) as object)) return false;
  return !METHODS.some((m) => Object.prototype.hasOwnProperty.call(dir, m));
}

/**
 * What a write-side call threw, typed: broken-contract.ts thrownBy, except that an Error of the
 * Directory's own making without an OS code (not one the engine throws for a bug: TypeError,
 * RangeError, ...) reaches the caller, and poisons a writer, as it is: the application meets the
 * failure it raised (test/wal-zero-ahead.test.ts pins it as the poison cause).
 */
function thrown(err: unknown, path: string, syscall: string, call: string): unknown {
  if (err instanceof Error && !isEngineError(err)) return toIoError(err, path);
  return thrownBy(err, path, syscall, call);
}

function isEngineError(err: Error): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError
    || err instanceof EvalError || err instanceof URIError;
}

/** Runs a synchronous call: what it throws typed, a Promise for its answer refused (nothing is done yet). */
function run<T>(path: string, syscall: string, call: string, f: () => T): T {
  let answer: T;
  try {
    answer = f();
  } catch (err) {
    throw thrown(err, path, syscall, call);
  }
  if (isThenable(answer)) {
    ignoreLateRejection(answer);
    throw brokenContract(path, syscall, `${call}() answered ${shown(answer)}`);
  }
  return answer;
}

/** Runs an asynchronous call: a throw or a rejection typed, an answer that is no Promise refused (nothing was waited for). */
function runAsync<T>(path: string, syscall: string, call: string, f: () => Promise<T>): Promise<T> {
  let answer: unknown;
  try {
    answer = f();
  } catch (err) {
    return Promise.reject(thrown(err, path, syscall, call));
  }
  if (!isThenable(answer)) return Promise.reject(brokenContract(path, syscall, `${call}() answered ${shown(answer)}, not a Promise`));
  return Promise.resolve(answer as PromiseLike<T>).then(undefined, (err: unknown) => {
    throw thrown(err, path, syscall, call);
  });
}

function boolean(path: string, syscall: string, call: string, answer: unknown): boolean {
  if (typeof answer === 'boolean') return answer;
  throw brokenContract(path, syscall, `${call}() answered ${shown(answer)}, not a boolean`);
}

function isThenable(v: unknown): boolean {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

const FILE_METHODS = ['writeAt', 'write', 'writev', 'writeAsync', 'allocate', 'truncate', 'size', 'sync', 'syncAsync', 'commitAsync', 'waitCommitsSync', 'close'] as const;

function writableFile(path: string, call: string, file: unknown): WritableFile {
  const f = file as Record<string, unknown> | null;
  if (f === null || typeof f !== 'object' || FILE_METHODS.some((m) => typeof f[m] !== 'function')) {
    ignoreLateRejection(file);
    throw brokenContract(path, 'open', `${call}() answered ${shown(file)}, not a writable file`);
  }
  return new CheckedFile(path, file as WritableFile);
}

class CheckedDirectory implements Directory {
  readonly atomicWriteAsync?: (path: string, data: Uint8Array) => Promise<void>;
  readonly deleteNoSyncAsync?: (path: string) => Promise<void>;

  constructor(readonly inner: Directory) {
    const dir = inner;
    // Optional methods stay absent where the Directory has none (off-loop.ts asks).
    if (dir.atomicWriteAsync !== undefined) {
      this.atomicWriteAsync = (p, data) => runAsync(p, 'rename', 'atomicWriteAsync', () => dir.atomicWriteAsync!(p, data));
    }
    if (dir.deleteNoSyncAsync !== undefined) {
      this.deleteNoSyncAsync = (p) => runAsync(p, 'unlink', 'deleteNoSyncAsync', () => dir.deleteNoSyncAsync!(p));
    }
  }

  get kind(): string {
    return this.inner.kind;
  }

  get checksum(): Directory['checksum'] {
    return this.inner.checksum;
  }

  create(path: string): WritableFile {
    return writableFile(path, 'create', run(path, 'open', 'create', () => this.inner.create(path)));
  }

  openAppend(path: string): WritableFile {
    return writableFile(path, 'openAppend', run(path, 'open', 'openAppend', () => this.inner.openAppend(path)));
  }

  // Reads are checked where the package asks (checked-answers.ts, read-whole.ts).
  openRead(path: string): ReadableFile {
    return this.inner.openRead(path);
  }

  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }

  exists(path: string): boolean {
    return this.inner.exists(path);
  }

  list(path: string): string[] {
    return this.inner.list(path);
  }

  filePath(path: string): string | undefined {
    return this.inner.filePath(path);
  }

  atomicWrite(path: string, data: Uint8Array): void {
    run(path, 'rename', 'atomicWrite', () => this.inner.atomicWrite(path, data));
  }

  atomicRename(from: string, to: string): void {
    run(from, 'rename', 'atomicRename', () => this.inner.atomicRename(from, to));
  }

  renameNoSync(from: string, to: string): void {
    run(from, 'rename', 'renameNoSync', () => this.inner.renameNoSync(from, to));
  }

  delete(path: string): void {
    run(path, 'unlink', 'delete', () => this.inner.delete(path));
  }

  deleteNoSync(path: string): void {
    run(path, 'unlink', 'deleteNoSync', () => this.inner.deleteNoSync(path));
  }

  mkdirp(path: string): void {
    run(path, 'mkdir', 'mkdirp', () => this.inner.mkdirp(path));
  }

  syncFile(path: string): void {
    run(path, 'fdatasync', 'syncFile', () => this.inner.syncFile(path));
  }

  syncDir(path: string): void {
    run(path, 'fsync', 'syncDir', () => this.inner.syncDir(path));
  }

  syncDirAsync(path: string): Promise<void> {
    return runAsync(path, 'fsync', 'syncDirAsync', () => this.inner.syncDirAsync(path));
  }

  lock(path: string): DirectoryLock {
    // A Promise is refused (run), and the lock it brings released when it comes (releaseLateLock).
    const lock = run(path, 'flock', 'lock', () => releaseLateLock(this.inner.lock(path) as unknown)) as unknown;
    const l = lock as Record<string, unknown> | null;
    if (l === null || typeof l !== 'object' || typeof l.release !== 'function') {
      throw brokenContract(path, 'flock', `lock() answered ${shown(lock)}, not a lock`);
    }
    const held = lock as DirectoryLock;
    return { path: held.path, release: () => run(path, 'flock', 'release', () => held.release()) };
  }
}

class CheckedFile implements WritableFile {
  readonly writeAtWhereRoom?: (data: Uint8Array, position: number) => boolean;

  constructor(readonly path: string, private readonly file: WritableFile) {
    if (typeof file.writeAtWhereRoom === 'function') {
      this.writeAtWhereRoom = (data, position) => boolean(path, 'pwrite', 'writeAtWhereRoom', run(path, 'pwrite', 'writeAtWhereRoom', () => file.writeAtWhereRoom!(data, position)));
    }
  }

  get offset(): number {
    return this.file.offset;
  }

  get waitsForCommits(): boolean {
    return this.file.waitsForCommits === true;
  }

  write(data: Uint8Array): void {
    run(this.path, 'write', 'write', () => this.file.write(data));
  }

  writev(chunks: readonly Uint8Array[]): void {
    run(this.path, 'writev', 'writev', () => this.file.writev(chunks));
  }

  writeAsync(data: Uint8Array): Promise<void> {
    return runAsync(this.path, 'write', 'writeAsync', () => this.file.writeAsync(data));
  }

  writeAt(data: Uint8Array, position: number): void {
    run(this.path, 'pwrite', 'writeAt', () => this.file.writeAt(data, position));
  }

  allocate(length: number): boolean {
    return boolean(this.path, 'fallocate', 'allocate', run(this.path, 'fallocate', 'allocate', () => this.file.allocate(length)));
  }

  truncate(length: number): void {
    run(this.path, 'ftruncate', 'truncate', () => this.file.truncate(length));
  }

  // Its answer passes as it is: it only steers the zeros ahead of the log and trims, which stay
  // within what was written and maxSegmentSize whatever it says (test/writable-size-lies.test.ts).
  size(): number {
    return run(this.path, 'fstat', 'size', () => this.file.size());
  }

  sync(): void {
    run(this.path, 'fdatasync', 'sync', () => this.file.sync());
  }

  syncAsync(): Promise<void> {
    return runAsync(this.path, 'fdatasync', 'syncAsync', () => this.file.syncAsync());
  }

  commitAsync(plan: CommitPlan): Promise<CommitResult> {
    return runAsync(this.path, 'fdatasync', 'commitAsync', () => this.file.commitAsync(plan)).then((result: unknown) => {
      if (result === undefined || result === 'zeros-skipped') return result;
      throw brokenContract(this.path, 'fdatasync', `commitAsync() resolved with ${shown(result)}, not undefined or 'zeros-skipped'`);
    });
  }

  waitCommitsSync(): void {
    run(this.path, 'fdatasync', 'waitCommitsSync', () => this.file.waitCommitsSync());
  }

  close(): void {
    run(this.path, 'close', 'close', () => this.file.close());
  }
}
