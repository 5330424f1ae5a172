import type { CommitResult, FileBackend } from '../backend/backend';
import { OWNED_BYTES } from '../backend/owned-bytes';
import { cleanUpAfterFailure } from '../after-failure';
import { ClosedError } from '../errors';
import type { DirectoryLock, ReadableFile } from './directory';
import { checkBytes, checkPosition, type CheckedCommitPlan } from './file-arguments';
import type { FsDirectory } from './fs';
import { BaseWritableFile } from './writable-base';

// What an FsDirectory hands out: a file open for writing (its syscalls through the directory's
// backend), one open for reading, and a held lock. Each owns its descriptor until closed.

export class FsWritableFile extends BaseWritableFile {
  constructor(
    private readonly dir: FsDirectory,
    path: string,
    private readonly os: string,
    private readonly fd: number,
    offset: number,
  ) {
    super(path, offset);
  }

  protected pwrite(data: Uint8Array, position: number): void {
    this.dir.backend.pwrite(this.fd, data, position, this.os);
  }
  protected pwritev(chunks: readonly Uint8Array[], position: number): void {
    this.dir.backend.pwritev(this.fd, chunks, position, this.os);
  }
  protected pwriteAsync(data: Uint8Array, position: number): Promise<void> {
    return this.dir.backend.pwriteAsync(this.fd, data, position, this.os);
  }
  protected fallocate(offset: number, length: number): boolean {
    return this.dir.preallocate(this.fd, offset, length, this.os);
  }
  protected ftruncate(length: number): void {
    this.dir.backend.ftruncate(this.fd, length, this.os);
  }
  protected fileSize(): number {
    return this.dir.backend.fileSize(this.fd, this.os);
  }
  protected fdatasync(): void {
    this.dir.backend.fdatasync(this.fd, this.os);
  }
  protected fdatasyncAsync(): Promise<void> {
    return this.dir.backend.fdatasyncAsync(this.fd, this.os);
  }
  protected override get ordersCommits(): boolean {
    return this.dir.backend.ordersCommits === true;
  }
  override get waitsForCommits(): boolean {
    return this.dir.backend.waitCommits !== undefined;
  }
  protected override runCommitsNow(): void {
    // Called only where waitsForCommits, that is where the backend has waitCommits.
    (this.dir.backend.waitCommits as (fd: number, path: string) => void)(this.fd, this.os);
  }
  protected override commit(plan: CheckedCommitPlan): Promise<CommitResult> {
    const dirs = plan.syncDirs.map((d) => this.dir.osPathOf(d));
    const steps = { chunks: plan.chunks, offset: plan.position, truncateTo: plan.truncateTo, dirs, zeroChunks: plan.zeroChunks, [OWNED_BYTES]: plan[OWNED_BYTES] };
    return this.dir.backend.commitAsync(this.fd, steps, this.os);
  }
  protected release(): void {
    this.dir.backend.close(this.fd);
  }
}

export class FsReadableFile implements ReadableFile {
  private closed = false;
  constructor(
    private readonly backend: FileBackend,
    readonly path: string,
    private readonly os: string,
    private readonly fd: number,
  ) {}

  size(): number {
    this.checkOpen();
    return this.backend.fileSize(this.fd, this.os);
  }

  read(target: Uint8Array, position: number): number {
    this.checkOpen();
    checkBytes(target, 'target');
    checkPosition(position, 'position');
    return this.backend.pread(this.fd, target, position, this.os);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.backend.close(this.fd);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`file ${this.path}`);
  }
}

export class FsLock implements DirectoryLock {
  private held = true;
  constructor(
    private readonly backend: FileBackend,
    readonly path: string,
    private readonly os: string,
    private readonly fd: number,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      this.backend.unlock(this.fd, this.os);
    } catch (err) {
      cleanUpAfterFailure(() => this.backend.close(this.fd)); // the descriptor is gone either way
      throw err;
    }
    this.backend.close(this.fd);
  }
}
