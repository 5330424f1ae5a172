import type { Checksummer } from '../backend/backend';
import { AlreadyExistsError, ClosedError, IoError, LockedError, NotFoundError } from '../errors';
import { requireOptionsObject, requireChecksummer } from '../guards';
import type { Directory, DirectoryLock, ReadableFile, WritableFile } from './directory';
import { jsChecksummer } from './js-checksum';
import { OpenHandles } from './open-handles';
import { baseName, normalizePath, parentOf } from './path';
import { SparseBytes } from './sparse-bytes';
import { bufferForRead, checkBytes, checkPosition, type CheckedCommitPlan } from './file-arguments';
import { BaseWritableFile } from './writable-base';

// Files in process memory. Same observable semantics as FsDirectory (errors, offsets, open
// handles that outlive a rename or delete of their name); every sync is a no-op because nothing
// here survives the process anyway. For power-loss testing use SimulatedDirectory.

export interface MemoryDirectoryOptions {
  checksum?: Checksummer;
}

class MemFile {
  readonly type = 'file';
  data = new SparseBytes();
}

class MemDir {
  readonly type = 'dir';
  readonly entries = new Map<string, MemNode>();
}

type MemNode = MemFile | MemDir;

export class MemoryDirectory implements Directory {
  readonly kind = 'memory';
  readonly checksum: Checksummer;
  private readonly root = new MemDir();
  private readonly locks = new Set<string>();
  /** Handles opened and not closed yet (see OpenHandles). */
  readonly openHandles = new OpenHandles();

  constructor(options: MemoryDirectoryOptions = {}) {
    requireOptionsObject(options, 'MemoryDirectory');
    if (options.checksum !== undefined) requireChecksummer(options.checksum, 'MemoryDirectory');
    this.checksum = options.checksum ?? jsChecksummer;
  }

  create(path: string): WritableFile {
    const p = normalizePath(path);
    const parent = this.parentDir(p, 'open');
    if (parent.entries.has(baseName(p))) throw new AlreadyExistsError(p);
    const file = new MemFile();
    parent.entries.set(baseName(p), file);
    return new MemWritableFile(this, p, file, 0);
  }

  openAppend(path: string): WritableFile {
    const p = normalizePath(path);
    const file = this.file(p, 'open');
    return new MemWritableFile(this, p, file, file.data.length);
  }

  openRead(path: string): ReadableFile {
    const p = normalizePath(path);
    return new MemReadableFile(p, this.file(p, 'open'), this.openHandles);
  }

  readFile(path: string): Uint8Array {
    const p = normalizePath(path);
    const data = this.file(p, 'open').data;
    const out = bufferForRead(data.length, p);
    data.read(out, 0);
    return out;
  }

  atomicWrite(path: string, data: Uint8Array): void {
    const p = normalizePath(path);
    checkBytes(data);
    const parent = this.parentDir(p, 'rename');
    if (parent.entries.get(baseName(p))?.type === 'dir') throw new IoError('EISDIR', 'rename', p);
    // A fresh node, so readers that opened the old file keep reading the old bytes.
    const file = new MemFile();
    file.data.write(0, data);
    parent.entries.set(baseName(p), file);
  }

  /** No directory to fsync in memory: the same as atomicRename. */
  renameNoSync(from: string, to: string): void {
    this.atomicRename(from, to);
  }

  atomicRename(from: string, to: string): void {
    const f = normalizePath(from);
    const t = normalizePath(to);
    const node = this.file(f, 'rename');
    const target = this.parentDir(t, 'rename');
    if (target.entries.get(baseName(t))?.type === 'dir') throw new IoError('EISDIR', 'rename', t);
    if (f === t) return;
    this.parentDir(f, 'rename').entries.delete(baseName(f));
    target.entries.set(baseName(t), node);
  }

  delete(path: string): void {
    this.deleteNoSync(path);
  }

  deleteNoSync(path: string): void {
    const p = normalizePath(path);
    this.file(p, 'unlink');
    this.parentDir(p, 'unlink').entries.delete(baseName(p));
  }

  exists(path: string): boolean {
    return this.lookup(normalizePath(path, { allowRoot: true })) !== undefined;
  }

  list(path: string): string[] {
    const p = normalizePath(path, { allowRoot: true });
    const node = this.lookup(p);
    if (node === undefined) return [];
    if (node.type !== 'dir') throw new IoError('ENOTDIR', 'scandir', p);
    return [...node.entries.keys()].sort();
  }

  mkdirp(path: string): void {
    const p = normalizePath(path, { allowRoot: true });
    let dir = this.root;
    for (const name of p === '' ? [] : p.split('/')) {
      let next = dir.entries.get(name);
      if (next === undefined) {
        next = new MemDir();
        dir.entries.set(name, next);
      }
      if (next.type !== 'dir') throw new IoError('ENOTDIR', 'mkdir', p);
      dir = next;
    }
  }

  syncFile(path: string): void {
    this.file(normalizePath(path), 'open');
  }

  syncDir(path: string): void {
    this.dir(normalizePath(path, { allowRoot: true }));
  }

  async syncDirAsync(path: string): Promise<void> {
    this.syncDir(path);
  }

  lock(path: string): DirectoryLock {
    const p = normalizePath(path);
    const parent = this.parentDir(p, 'open');
    const existing = parent.entries.get(baseName(p));
    if (existing?.type === 'dir') throw new IoError('EISDIR', 'open', p);
    if (this.locks.has(p)) throw new LockedError(p);
    if (existing === undefined) parent.entries.set(baseName(p), new MemFile());
    this.locks.add(p);
    let held = true;
    return {
      path: p,
      release: () => {
        if (!held) return;
        held = false;
        this.locks.delete(p);
      },
    };
  }

  filePath(path: string): undefined {
    normalizePath(path, { allowRoot: true });
    return undefined;
  }

  private lookup(p: string): MemNode | undefined {
    let node: MemNode = this.root;
    for (const name of p === '' ? [] : p.split('/')) {
      if (node.type !== 'dir') return undefined;
      const next: MemNode | undefined = node.entries.get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private dir(p: string): MemDir {
    const node = this.lookup(p);
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'dir') throw new IoError('ENOTDIR', 'open', p);
    return node;
  }

  private parentDir(p: string, syscall: string): MemDir {
    const parent = parentOf(p);
    const node = this.lookup(parent);
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'dir') throw new IoError('ENOTDIR', syscall, p);
    return node;
  }

  private file(p: string, syscall: string): MemFile {
    const node = this.lookup(p);
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'file') throw new IoError('EISDIR', syscall, p);
    return node;
  }
}

class MemWritableFile extends BaseWritableFile {
  constructor(private readonly dir: MemoryDirectory, path: string, private readonly file: MemFile, offset: number) {
    super(path, offset);
    dir.openHandles.track(this, path);
  }

  protected pwrite(data: Uint8Array, position: number): void {
    this.file.data.write(position, data);
  }
  protected pwritev(chunks: readonly Uint8Array[], position: number): void {
    let at = position;
    for (const c of chunks) {
      this.file.data.write(at, c);
      at += c.length;
    }
  }
  protected async pwriteAsync(data: Uint8Array, position: number): Promise<void> {
    this.pwrite(data, position);
  }
  protected fallocate(offset: number, length: number): boolean {
    if (offset + length > this.file.data.length) this.file.data.setLength(offset + length);
    return true;
  }
  protected ftruncate(length: number): void {
    this.file.data.setLength(length);
  }
  protected fileSize(): number {
    return this.file.data.length;
  }
  protected fdatasync(): void {}
  protected async fdatasyncAsync(): Promise<void> {}
  protected override commitNow(plan: CheckedCommitPlan): void {
    this.pwritev(plan.chunks, plan.position);
    if (plan.truncateTo !== undefined) this.ftruncate(plan.truncateTo);
    for (const d of plan.syncDirs) this.dir.syncDir(d);
  }
  protected release(): void {
    this.dir.openHandles.untrack(this);
  }
}

class MemReadableFile implements ReadableFile {
  private closed = false;
  constructor(readonly path: string, private readonly file: MemFile, private readonly handles: OpenHandles) {
    handles.track(this, path);
  }

  size(): number {
    this.checkOpen();
    return this.file.data.length;
  }

  read(target: Uint8Array, position: number): number {
    this.checkOpen();
    checkBytes(target, 'target');
    checkPosition(position, 'position');
    return this.file.data.read(target, position);
  }

  close(): void {
    this.closed = true;
    this.handles.untrack(this);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`file ${this.path}`);
  }
}
