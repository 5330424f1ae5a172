import type { OpenHandles } from './open-handles';
import type { Checksummer } from '../backend/backend';
import { InvalidArgumentError, IoError } from '../errors';
import { requireOptionsObject, requireChecksummer } from '../guards';
import { crashedContent, crashedEntries, FILE_CRASH_MODES, type FileCrashMode, rebuildTree } from './crash-model';
import type { Directory, DirectoryLock, ReadableFile, WritableFile } from './directory';
import type { FaultSpec, InjectedFault, RandomFaultSpec } from './faults';
import { jsChecksummer } from './js-checksum';
import { normalizePath, parentOf } from './path';
import { Prng } from './prng';
import { SimEngine, type SimulatedOperation } from './simulated-engine';
import { SimReadableFile, SimWritableFile } from './simulated-file';
import type { SimDir } from './simulated-model';
import { hexSuffix, isTempName, isTempOf, tempPath } from './temp';
import { bufferForRead, checkBytes } from './file-arguments';

/**
 * A Directory in memory that models the page cache, for testing recovery code against power
 * loss. Every file has durable bytes plus the writes not yet fdatasynced; every directory has
 * durable entries plus the creates, renames and deletes not yet fsynced. crash() returns a new
 * SimulatedDirectory holding one state a power cut could leave; the seed makes it replayable.
 *
 * Durability rules modelled (the ones real file systems enforce, see docs):
 * - WritableFile.sync()/syncFile() make that file's written bytes durable — not its name.
 * - syncDir(d) makes d's pending entry operations durable, together with every earlier pending
 *   operation on a name they touch. A rename across directories is durable once either is synced.
 * - A failed sync forgets the unsynced writes: still readable, never durable ("fsyncgate").
 * - atomicWrite's temp files (`<path>.tmp-<16 hex>`) may survive a crash; list() hides them and
 *   the next atomicWrite of the same path deletes them.
 *
 * After crash() the old instance is powered off: every operation on it and on its handles throws
 * IoError EIO (close() and lock release() are no-ops, so cleanup code runs). The inspection
 * helpers and crash() itself keep working on it, so one state can be crashed many ways.
 * Async methods complete synchronously and return settled promises, except a file's commits
 * (run in microtasks, in order: WritableFile.commitAsync) and a syncAsync issued while one of them
 * is pending (it runs after them, as one fdatasync of a handle runs at a time).
 */
export interface SimulatedDirectoryOptions {
  /** Seeds crash() choices (and temp names). Default 0. */
  seed?: number;
  checksum?: Checksummer;
  /** Unit of a torn write, in bytes. Default 512. */
  sectorSize?: number;
  /** false: allocate() returns false, like a file system without fallocate. Default true. */
  supportsAllocate?: boolean;
}

/**
 * How unsynced file data fares in a crash:
 * - 'dropAll': only durable state survives (and no unsynced create, rename or delete);
 * - 'keepPrefix': a random prefix of each file's unsynced writes survives;
 * - 'tear': a random prefix survives and the next write is torn: each of its sectors landed or
 *   not, in any combination; the file size may have grown without the data (zeros);
 * - 'reorder': each sector touched by unsynced writes holds its content as of a random point in
 *   the unsynced history, independently of other sectors;
 * - 'random' (default): one of the above, chosen per crash.
 * In every mode but 'dropAll', each unsynced entry operation is independently kept or lost
 * (keeping history per name in order).
 */
export type CrashMode = FileCrashMode | 'random';

export interface CrashOptions {
  mode?: CrashMode;
  /** Seed for this crash's choices; default: drawn from the directory's own PRNG. */
  seed?: number;
  /** Chance that each unsynced entry operation survives (modes other than 'dropAll'). Default 0.5. */
  entryKeepProbability?: number;
}

export type { SimulatedOperation } from './simulated-engine';

export interface ScheduledCrash {
  /** The directory after the power cut, once it happened. */
  readonly directory: SimulatedDirectory | undefined;
}

export class SimulatedDirectory implements Directory {
  readonly kind = 'simulated';
  readonly checksum: Checksummer;
  readonly seed: number;
  readonly sectorSize: number;
  private readonly supportsAllocate: boolean;
  private readonly prng: Prng;
  private engine: SimEngine;
  private tempCounter = 0;
  private origin: FileCrashMode | undefined;

  constructor(options: SimulatedDirectoryOptions = {}) {
    requireOptionsObject(options, 'SimulatedDirectory');
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('seed must be an integer');
    const sectorSize = options.sectorSize ?? 512;
    if (!Number.isSafeInteger(sectorSize) || sectorSize < 1 || sectorSize > 1 << 20) {
      throw new InvalidArgumentError('sectorSize must be an integer in [1, 1048576]');
    }
    this.seed = seed >>> 0;
    this.sectorSize = sectorSize;
    if (options.checksum !== undefined) requireChecksummer(options.checksum, 'SimulatedDirectory');
    this.checksum = options.checksum ?? jsChecksummer;
    this.supportsAllocate = options.supportsAllocate ?? true;
    this.prng = new Prng(this.seed);
    this.engine = new SimEngine(this.supportsAllocate);
  }

  // --- simulation API ---

  /** Counted operations so far (create, write, truncate, allocate, sync, syncDir, rename, delete, mkdir). */
  get operations(): number {
    return this.engine.operations;
  }

  /** Handles opened on this directory and not closed yet (a crashed directory keeps its count). */
  get openHandles(): OpenHandles {
    return this.engine.openHandles;
  }

  /** Called after every counted operation; calling crash() from here cuts power right after it. */
  get onOperation(): ((event: SimulatedOperation) => void) | undefined {
    return this.engine.onOperation;
  }
  set onOperation(hook: ((event: SimulatedOperation) => void) | undefined) {
    this.engine.onOperation = hook;
  }

  /** True once crash() was called on this instance. */
  get crashed(): boolean {
    return this.engine.dead;
  }

  /** The file crash mode that produced this directory (undefined for one made by the constructor). */
  get crashMode(): FileCrashMode | undefined {
    return this.origin;
  }

  /** Cuts the power: returns the directory as the disk holds it afterwards; this one goes dead. */
  crash(given?: CrashOptions | null): SimulatedDirectory {
    const options = given ?? {}; // null is no options, as undefined
    const prng = new Prng(options.seed === undefined ? this.prng.nextUint32() : checkSeed(options.seed));
    const requested = options.mode ?? 'random';
    if (requested !== 'random' && !FILE_CRASH_MODES.includes(requested)) {
      throw new InvalidArgumentError(`unknown crash mode ${JSON.stringify(requested)}`);
    }
    const keep = options.entryKeepProbability ?? 0.5;
    if (typeof keep !== 'number' || !(keep >= 0 && keep <= 1)) throw new InvalidArgumentError('entryKeepProbability must be in [0, 1]');
    const mode = requested === 'random' ? prng.pick(FILE_CRASH_MODES) : requested;
    this.engine.dead = true;
    const entries = crashedEntries(this.engine.pending, mode === 'dropAll' ? 0 : keep, prng);
    const root = rebuildTree(this.engine.root, entries, (f) => crashedContent(f, mode, prng, this.sectorSize));
    const next = new SimulatedDirectory({
      seed: prng.nextUint32(),
      checksum: this.checksum,
      sectorSize: this.sectorSize,
      supportsAllocate: this.supportsAllocate,
    });
    next.adopt(root, mode);
    return next;
  }

  /**
   * Arms a power cut right after the next `operations` counted operations (0: right now).
   * The handle's `directory` is the crashed directory once the cut happened; the program that
   * was running sees IoError EIO from then on. Replaces an earlier scheduled crash.
   */
  scheduleCrash(operations: number, options: CrashOptions = {}): ScheduledCrash {
    if (!Number.isSafeInteger(operations) || operations < 0) throw new InvalidArgumentError('operations must be a non-negative integer');
    const scheduled: { directory: SimulatedDirectory | undefined } = { directory: undefined };
    if (operations === 0) {
      scheduled.directory = this.crash(options);
      return scheduled;
    }
    const at = this.engine.operations + operations;
    this.engine.afterOperation = (event) => {
      if (event.index + 1 !== at || this.engine.dead) return;
      this.engine.afterOperation = undefined;
      scheduled.directory = this.crash(options);
    };
    return scheduled;
  }

  /** Fails a matching operation with an IoError (see FaultSpec). One-shot unless persistent. */
  injectFault(spec: FaultSpec): InjectedFault {
    return this.engine.faults.add(spec);
  }

  /** Fails each matching operation with the given probability, from its own seeded PRNG. */
  injectRandomFaults(spec: RandomFaultSpec): InjectedFault {
    return this.engine.faults.addRandom(spec);
  }

  clearFaults(): void {
    this.engine.faults.clear();
  }

  /** Bytes of the file whose name is durable at `path`, as the disk holds them; undefined if none. */
  durableContent(path: string): Uint8Array | undefined {
    const node = this.engine.durableLookup(normalizePath(path));
    return node?.type === 'file' ? node.durable.toBytes() : undefined;
  }

  /** Durable entry names under a directory, temp files included, sorted; [] if none. */
  durableList(path: string): string[] {
    const node = this.engine.durableLookup(normalizePath(path, { allowRoot: true }));
    return node?.type === 'dir' ? [...node.durable.keys()].sort() : [];
  }

  /** Every entry name a running program sees under a directory, temp files included. */
  listAll(path: string): string[] {
    const node = this.engine.lookup(normalizePath(path, { allowRoot: true }));
    return node?.type === 'dir' ? [...node.current.keys()].sort() : [];
  }

  /** Unsynced data operations (writes, truncates, allocations) of the file now at `path`. */
  pendingWriteCount(path: string): number {
    return this.engine.fileAt(normalizePath(path), 'open').pending.length;
  }

  /** Unsynced entry operations (creates, mkdirs, renames, deletes) in the whole directory tree. */
  pendingEntryCount(): number {
    return this.engine.pending.length;
  }

  // --- Directory ---

  create(path: string): WritableFile {
    const p = normalizePath(path);
    return new SimWritableFile(this.engine, this.engine.create(p), p, 0);
  }

  openAppend(path: string): WritableFile {
    const p = normalizePath(path);
    const file = this.engine.open(p);
    return new SimWritableFile(this.engine, file, p, file.current.length);
  }

  openRead(path: string): ReadableFile {
    const p = normalizePath(path);
    return new SimReadableFile(this.engine, this.engine.open(p), p);
  }

  readFile(path: string): Uint8Array {
    const p = normalizePath(path);
    const file = this.engine.open(p);
    const out = bufferForRead(file.current.length, p);
    this.engine.read(file, p, out, 0);
    return out;
  }

  atomicWrite(path: string, data: Uint8Array): void {
    const p = normalizePath(path);
    checkBytes(data);
    this.engine.alive('create', p);
    this.engine.parentDir(p, 'create');
    for (const name of this.listAll(parentOf(p))) {
      if (isTempOf(name, p)) this.engine.unlink(parentOf(p) === '' ? name : `${parentOf(p)}/${name}`);
    }
    const tmp = tempPath(p, hexSuffix(this.seed, this.tempCounter++));
    let file: WritableFile | undefined;
    let renamed = false;
    try {
      file = this.create(tmp);
      if (data.length > 0) file.write(data);
      file.sync();
      file.close();
      this.engine.rename(tmp, p);
      renamed = true;
      this.engine.syncDir(parentOf(p));
    } catch (err) {
      file?.close();
      if (!renamed && file !== undefined) {
        try {
          this.engine.unlink(tmp);
        } catch {
          // the first failure is the one to report; the leftover is cleaned by the next attempt
        }
      }
      throw err;
    }
  }

  atomicRename(from: string, to: string): void {
    const f = normalizePath(from);
    const t = normalizePath(to);
    this.engine.rename(f, t);
    this.engine.syncDir(parentOf(t));
    if (parentOf(f) !== parentOf(t)) this.engine.syncDir(parentOf(f));
  }

  renameNoSync(from: string, to: string): void {
    this.engine.rename(normalizePath(from), normalizePath(to));
  }

  delete(path: string): void {
    const p = normalizePath(path);
    this.engine.unlink(p);
    this.engine.syncDir(parentOf(p));
  }

  deleteNoSync(path: string): void {
    this.engine.unlink(normalizePath(path));
  }

  exists(path: string): boolean {
    const p = normalizePath(path, { allowRoot: true });
    this.engine.alive('open', p);
    return this.engine.lookup(p) !== undefined;
  }

  list(path: string): string[] {
    const p = normalizePath(path, { allowRoot: true });
    this.engine.alive('open', p);
    const node = this.engine.lookup(p);
    if (node === undefined) return [];
    if (node.type !== 'dir') throw new IoError('ENOTDIR', 'scandir', p);
    return [...node.current.keys()].filter((n) => !isTempName(n)).sort();
  }

  mkdirp(path: string): void {
    const p = normalizePath(path, { allowRoot: true });
    this.engine.alive('mkdir', p);
    if (p === '') return;
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const node = this.engine.lookup(dir);
      if (node !== undefined && node.type !== 'dir') throw new IoError('ENOTDIR', 'mkdir', dir);
      if (node === undefined) this.engine.mkdir(dir);
      // Also when it existed: its entry may still be pending (an earlier fsync failed).
      this.engine.syncDir(parentOf(dir));
    }
  }

  syncFile(path: string): void {
    const p = normalizePath(path);
    this.engine.alive('sync', p);
    this.engine.sync(this.engine.fileAt(p, 'sync'), p);
  }

  syncDir(path: string): void {
    this.engine.syncDir(normalizePath(path, { allowRoot: true }));
  }

  async syncDirAsync(path: string): Promise<void> {
    this.syncDir(path);
  }

  lock(path: string): DirectoryLock {
    const p = normalizePath(path);
    return { path: p, release: this.engine.lock(p) };
  }

  filePath(path: string): undefined {
    normalizePath(path, { allowRoot: true });
    return undefined;
  }

  private adopt(root: SimDir, mode: FileCrashMode): void {
    this.engine.root = root;
    this.origin = mode;
  }
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new InvalidArgumentError('seed must be an integer');
  return seed >>> 0;
}
