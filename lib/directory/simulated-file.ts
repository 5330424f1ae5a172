import { ClosedError } from '../errors';
import type { CommitResult, ReadableFile } from './directory';
import type { SimEngine } from './simulated-engine';
import type { SimFile } from './simulated-model';
import { checkBytes, checkPosition, concatChunks, type CheckedCommitPlan } from './file-arguments';
import { splitZeros } from '../backend/zero-chunks';
import { BaseWritableFile } from './writable-base';

// File handles of SimulatedDirectory. They hold the file (inode), not its name, so like POSIX
// descriptors they keep working after the name is renamed or deleted. After crash() every call
// but close() throws IoError EIO.

export class SimWritableFile extends BaseWritableFile {
  constructor(
    private readonly engine: SimEngine,
    private readonly file: SimFile,
    path: string,
    offset: number,
  ) {
    super(path, offset);
    engine.openHandles.track(this, path);
  }

  protected pwrite(data: Uint8Array, position: number): void {
    this.engine.write(this.file, this.path, position, data);
  }
  protected pwritev(chunks: readonly Uint8Array[], position: number): void {
    this.engine.write(this.file, this.path, position, concatChunks(chunks));
  }
  protected async pwriteAsync(data: Uint8Array, position: number): Promise<void> {
    this.pwrite(data, position);
  }
  protected fallocate(offset: number, length: number): boolean {
    return this.engine.allocate(this.file, this.path, offset, length);
  }
  protected ftruncate(length: number): void {
    this.engine.truncate(this.file, this.path, length);
  }
  protected fileSize(): number {
    this.engine.alive('read', this.path);
    return this.file.current.length;
  }
  protected fdatasync(): void {
    this.engine.sync(this.file, this.path);
  }
  protected async fdatasyncAsync(): Promise<void> {
    this.fdatasync();
  }
  /**
   * Each step is one counted operation (write, allocate and write of the zeros, truncate, sync,
   * syncDir), run at once in order, as the native commit thread runs them.
   */
  protected override commitNow(plan: CheckedCommitPlan): CommitResult {
    const { data, zeros, dataLength } = splitZeros(plan.chunks, plan.zeroChunks);
    const bytes = concatChunks(data);
    if (bytes.length > 0) this.engine.write(this.file, this.path, plan.position, bytes);
    const zerosWritten = this.zerosWhereRoom(zeros, plan.position + dataLength);
    if (plan.truncateTo !== undefined) this.engine.truncate(this.file, this.path, plan.truncateTo);
    this.engine.sync(this.file, this.path);
    for (const d of plan.syncDirs) this.engine.syncDir(d);
    return zerosWritten ? undefined : 'zeros-skipped';
  }
  protected release(): void {
    this.engine.openHandles.untrack(this);
  }
}

export class SimReadableFile implements ReadableFile {
  private closed = false;
  constructor(
    private readonly engine: SimEngine,
    private readonly file: SimFile,
    readonly path: string,
  ) {
    engine.openHandles.track(this, path);
  }

  size(): number {
    this.checkOpen();
    this.engine.alive('read', this.path);
    return this.file.current.length;
  }

  read(target: Uint8Array, position: number): number {
    this.checkOpen();
    checkBytes(target, 'target');
    checkPosition(position, 'position');
    return this.engine.read(this.file, this.path, target, position);
  }

  close(): void {
    this.closed = true;
    this.engine.openHandles.untrack(this);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`file ${this.path}`);
  }
}
