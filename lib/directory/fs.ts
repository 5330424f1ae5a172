import { randomBytes } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import nodePath from 'node:path';
import type { FileBackend } from '../backend/backend';
import { danglingLinkAt, notRegularAt } from '../backend/file-type';
import { defaultBackend } from '../backend/select';
import { diagnoseOnce } from '../diagnostics';
import { AlreadyExistsError, InvalidArgumentError, InvalidPathError, IoError, LockedError, NotFoundError, toIoError } from '../errors';
import { requireBackend, requireOptionsObject, typeName } from '../guards';
import { runSteps, runStepsAsync } from './step-driver';
import { cleanUpAfterFailure } from '../after-failure';
import type { Directory, DirectoryLock, ReadableFile, WritableFile } from './directory';
import { normalizePath, parentOf } from './path';
import { isTempName, isTempOf, tempPath } from './temp';
import { bufferForRead, checkBytes } from './file-arguments';
import { readWhole } from './read-whole';
import { FsLock, FsReadableFile, FsWritableFile } from './fs-handles';

// Real files under a root directory, through a FileBackend (native core or node:fs).
// Every durability step named in directory.ts is a real fdatasync/fsync here.

export interface FsDirectoryOptions {
  /** Defaults to defaultBackend(): native when it loads, else node:fs. */
  backend?: FileBackend;
  /** Create the root (and its missing parents, each fsynced) if it does not exist. */
  create?: boolean;
}

const NO_PREALLOCATION = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EINVAL', 'ENOSYS']);

/** ENOENT → NotFoundError naming the store path; other OS failures stay IoErrors. */
function mapError(err: unknown, path: string): unknown {
  const mapped = toIoError(err);
  if (mapped instanceof IoError && mapped.errno === 'ENOENT') return new NotFoundError(path);
  return mapped;
}

/** A step of atomicWrite that waits on the disk (atomicWriteSteps). */
type DiskStep =
  | { readonly kind: 'pwrite'; readonly fd: number; readonly data: Uint8Array; readonly path: string }
  | { readonly kind: 'fdatasync'; readonly fd: number; readonly path: string }
  | { readonly kind: 'fsyncDir'; readonly path: string };

export class FsDirectory implements Directory {
  readonly kind = 'fs';
  readonly root: string;
  readonly backend: FileBackend;
  readonly checksum: FileBackend;
  private preallocation = true;

  constructor(rootPath: string, options: FsDirectoryOptions = {}) {
    if (typeof rootPath !== 'string' || rootPath === '') throw new InvalidArgumentError(`new FsDirectory needs the root directory's path (a non-empty string), not ${typeName(rootPath)}`);
    if (rootPath.includes('\0')) throw new InvalidPathError(rootPath, 'the root path contains NUL');
    requireOptionsObject(options, 'new FsDirectory');
    if (options.backend !== undefined) requireBackend(options.backend, 'new FsDirectory');
    this.root = nodePath.resolve(rootPath);
    this.backend = options.backend ?? defaultBackend();
    this.checksum = this.backend;
    if (options.create) this.createRoot();
  }

  create(path: string): WritableFile {
    const p = normalizePath(path);
    const os = this.osPath(p);
    let fd: number;
    try {
      fd = this.backend.open(os, 'createNew');
    } catch (err) {
      const mapped = mapError(err, p);
      if (mapped instanceof IoError && mapped.errno === 'EEXIST') throw new AlreadyExistsError(p);
      throw mapped;
    }
    return new FsWritableFile(this, p, os, fd, 0);
  }

  openAppend(path: string): WritableFile {
    const p = normalizePath(path);
    const os = this.osPath(p);
    const fd = this.call(p, () => this.backend.open(os, 'readWrite'));
    try {
      return new FsWritableFile(this, p, os, fd, this.backend.fileSize(fd, os));
    } catch (err) {
      cleanUpAfterFailure(() => this.backend.close(fd));
      throw mapError(err, p);
    }
  }

  openRead(path: string): ReadableFile {
    const p = normalizePath(path);
    const os = this.osPath(p);
    return new FsReadableFile(this.backend, p, os, this.call(p, () => this.backend.open(os, 'read')));
  }

  readFile(path: string): Uint8Array {
    const file = this.openRead(path);
    try {
      const out = bufferForRead(file.size(), this.osPath(normalizePath(path)));
      const n = readWhole(file, out, 0);
      return n === out.length ? out : out.subarray(0, n);
    } finally {
      file.close();
    }
  }

  atomicWrite(path: string, data: Uint8Array): void {
    runSteps(this.atomicWriteSteps(path, data), (step) => {
      if (step.kind === 'pwrite') this.backend.pwrite(step.fd, step.data, 0, step.path);
      else if (step.kind === 'fdatasync') this.backend.fdatasync(step.fd, step.path);
      else this.backend.fsyncDir(step.path);
    });
  }

  /** atomicWrite with the write, the fdatasync and the directory fsync on the thread pool. */
  atomicWriteAsync(path: string, data: Uint8Array): Promise<void> {
    return runStepsAsync(this.atomicWriteSteps(path, data), (step) => {
      if (step.kind === 'pwrite') return this.backend.pwriteAsync(step.fd, step.data, 0, step.path);
      if (step.kind === 'fdatasync') return this.backend.fdatasyncAsync(step.fd, step.path);
      return this.backend.fsyncDirAsync(step.path);
    });
  }

  /** atomicWrite's steps (lib/directory/step-driver.ts); the ones that wait on the disk are yielded. */
  private *atomicWriteSteps(path: string, data: Uint8Array): Generator<DiskStep, void, void> {
    const p = normalizePath(path);
    checkBytes(data);
    this.removeStaleTemps(p);
    const tmpOs = this.osPath(tempPath(p, randomBytes(8).toString('hex')));
    let fd: number | undefined;
    let renamed = false;
    try {
      fd = this.call(p, () => this.backend.open(tmpOs, 'createNew'));
      if (data.length > 0) yield { kind: 'pwrite', fd, data, path: tmpOs };
      yield { kind: 'fdatasync', fd, path: tmpOs };
      // Not ours once close is called, even if it fails: closing the number again could close a
      // descriptor another thread (a commit thread, the thread pool) was given meanwhile.
      const written = fd;
      fd = undefined;
      this.backend.close(written);
      this.call(p, () => this.backend.rename(tmpOs, this.osPath(p)));
      renamed = true;
      yield { kind: 'fsyncDir', path: this.osPath(parentOf(p)) };
    } catch (err) {
      if (fd !== undefined) cleanUpAfterFailure(() => this.backend.close(fd as number));
      if (!renamed) cleanUpAfterFailure(() => this.backend.unlink(tmpOs));
      throw mapError(err, p);
    }
  }

  atomicRename(from: string, to: string): void {
    const f = normalizePath(from);
    const t = normalizePath(to);
    this.renameNoSync(f, t);
    this.syncDir(parentOf(t));
    if (parentOf(f) !== parentOf(t)) this.syncDir(parentOf(f));
  }

  renameNoSync(from: string, to: string): void {
    const f = normalizePath(from);
    const t = normalizePath(to);
    // rename(2) moves a link as a link: checked here, a planted one never takes a file's name.
    const planted = notRegularAt(this.osPath(f));
    if (planted !== undefined) throw planted;
    this.call(f, () => this.backend.rename(this.osPath(f), this.osPath(t)));
  }

  delete(path: string): void {
    const p = normalizePath(path);
    this.deleteNoSync(p);
    this.syncDir(parentOf(p));
  }

  deleteNoSync(path: string): void {
    const p = normalizePath(path);
    this.call(p, () => this.backend.unlink(this.osPath(p)));
  }

  async deleteNoSyncAsync(path: string): Promise<void> {
    const p = normalizePath(path);
    if (this.backend.unlinkAsync === undefined) return this.deleteNoSync(p);
    try {
      await this.backend.unlinkAsync(this.osPath(p));
    } catch (err) {
      throw mapError(err, p);
    }
  }

  exists(path: string): boolean {
    const p = normalizePath(path, { allowRoot: true });
    return this.backend.exists(this.osPath(p));
  }

  list(path: string): string[] {
    const p = normalizePath(path, { allowRoot: true });
    let names: string[];
    try {
      names = this.backend.readdir(this.osPath(p));
    } catch (err) {
      const mapped = mapError(err, p);
      if (mapped instanceof NotFoundError) {
        // A missing directory is an empty one (a store not written yet); a link to a missing one
        // is a directory elsewhere that is not there now, and a missing root a mistyped path or a
        // disk not mounted: read as empty either would hide a log (a replay returning nothing).
        this.refuseDanglingLink(p);
        this.refuseMissingRoot(p);
        return [];
      }
      throw mapped;
    }
    return names.filter((n) => !isTempName(n)).sort();
  }

  mkdirp(path: string): void {
    const p = normalizePath(path, { allowRoot: true });
    if (p === '') return;
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const os = this.osPath(dir);
      const st = this.call(dir, () => statSync(os, { throwIfNoEntry: false }));
      if (st !== undefined && !st.isDirectory()) throw new IoError('ENOTDIR', 'mkdir', os);
      if (st === undefined) {
        this.refuseDanglingLink(dir);
        try {
          this.backend.mkdir(os);
        } catch (err) {
          // Someone else made it between our stat and mkdir: synced below like any existing one.
          const mapped = toIoError(err);
          // The root itself is missing (a mistyped path): say so, not that 'wal' is.
          if (i === 1 && mapped instanceof IoError && mapped.errno === 'ENOENT') this.refuseMissingRoot(dir);
          if (!(mapped instanceof IoError && mapped.errno === 'EEXIST')) throw mapError(mapped, dir);
        }
      }
      // Also when it existed: whoever made it may have failed or died before this fsync.
      this.syncDir(parentOf(dir));
    }
  }

  syncFile(path: string): void {
    const p = normalizePath(path);
    const os = this.osPath(p);
    const fd = this.call(p, () => this.backend.open(os, 'readWrite'));
    try {
      this.backend.fdatasync(fd, os);
    } catch (err) {
      // The fdatasync's failure is the one to report, not a close failing after it.
      cleanUpAfterFailure(() => this.backend.close(fd));
      throw err;
    }
    this.backend.close(fd);
  }

  syncDir(path: string): void {
    const p = normalizePath(path, { allowRoot: true });
    this.call(p, () => this.backend.fsyncDir(this.osPath(p)));
  }

  async syncDirAsync(path: string): Promise<void> {
    const p = normalizePath(path, { allowRoot: true });
    try {
      await this.backend.fsyncDirAsync(this.osPath(p));
    } catch (err) {
      throw mapError(err, p);
    }
  }

  lock(path: string): DirectoryLock {
    const p = normalizePath(path);
    const os = this.osPath(p);
    const fd = this.call(p, () => this.backend.open(os, 'create'));
    try {
      // A degraded lock (no flock) was reported by the backend, which knows how far the fact
      // reaches: node:fs never has flock, the native core lacks it on some file systems.
      const result = this.backend.tryLock(fd, os);
      if (!result.acquired) throw new LockedError(p, result.detail);
    } catch (err) {
      cleanUpAfterFailure(() => this.backend.close(fd));
      throw mapError(err, p);
    }
    return new FsLock(this.backend, p, os, fd);
  }

  /**
   * The root's real path (symbolic links resolved): one store opened through two paths (a link to
   * its root) has one real root. Resolved at each ask, as every call of this object follows the
   * path anew: a link re-pointed since (a deploy swapping a `current` link) names another store,
   * and this object's files are that store's. The path as given while the root does not exist.
   */
  get realRoot(): string {
    try {
      return realpathSync(this.root);
    } catch {
      return this.root;
    }
  }

  filePath(path: string): string {
    return this.osPath(normalizePath(path, { allowRoot: true }));
  }

  /** Internal: fallocate with the one-time fallback described in WritableFile.allocate. */
  preallocate(fd: number, offset: number, length: number, os: string): boolean {
    if (!this.preallocation) return false;
    try {
      this.backend.fallocate(fd, offset, length, os);
      return true;
    } catch (err) {
      const mapped = toIoError(err);
      if (!(mapped instanceof IoError) || !NO_PREALLOCATION.has(mapped.errno)) throw mapped;
      this.preallocation = false;
      diagnoseOnce({
        kind: 'fallocate-unsupported',
        message: `preallocation is not supported here (${mapped.errno}); files grow as they are written`,
        path: os,
        error: mapped,
      });
      return false;
    }
  }

  /** Internal: the OS path of an already normalized store path. */
  osPathOf(p: string): string {
    return this.osPath(p);
  }

  private osPath(p: string): string {
    return p === '' ? this.root : nodePath.join(this.root, p);
  }

  private call<T>(path: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw mapError(err, path);
    }
  }

  /** NotFoundError naming the root when it is missing (a mistyped path, a disk not mounted under a link). */
  private refuseMissingRoot(p: string): void {
    const st = this.call(p, () => statSync(this.root, { throwIfNoEntry: false }));
    if (st === undefined) throw new NotFoundError(p, `the directory's root ${this.root} does not exist`);
  }

  /** NotFoundError when `p` is a symbolic link whose target is missing (wal/ on a disk not mounted). */
  private refuseDanglingLink(p: string): void {
    const target = danglingLinkAt(this.osPath(p));
    if (target !== undefined) throw new NotFoundError(p, `a symbolic link to ${target}, which does not exist`);
  }

  private removeStaleTemps(target: string): void {
    const dir = parentOf(target);
    let names: string[];
    try {
      names = this.backend.readdir(this.osPath(dir));
    } catch {
      return; // a missing parent fails the create below with a clearer error
    }
    for (const name of names) {
      if (isTempOf(name, target)) cleanUpAfterFailure(() => this.backend.unlink(nodePath.join(this.osPath(dir), name)));
    }
  }

  private createRoot(): void {
    const missing: string[] = [];
    let dir = this.root;
    while (!this.backend.exists(dir)) {
      missing.push(dir);
      const up = nodePath.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    for (const d of missing.reverse()) {
      try {
        this.backend.mkdir(d);
      } catch (err) {
        const mapped = toIoError(err);
        if (!(mapped instanceof IoError && mapped.errno === 'EEXIST')) throw mapped;
      }
      this.backend.fsyncDir(nodePath.dirname(d));
    }
  }
}
