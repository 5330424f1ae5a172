import { AlreadyExistsError, IoError, LockedError, NotFoundError } from '../errors';
import { FaultTable, type FaultError, type FaultOp, faultError, SYSCALL_OF } from './faults';
import { OpenHandles } from './open-handles';
import { baseName, parentOf } from './path';
import { commitDir, type EntryMaps, type EntryOp, SimDir, SimFile, type SimNode } from './simulated-model';

// The primitive operations of SimulatedDirectory: each one checks that the machine still has
// power, consults the injected faults, changes the model, and is counted for onOperation.
// Not exported from the package: SimulatedDirectory and its file handles are the public face.

export type SimOp = Exclude<FaultOp, 'any'>;

/** One primitive operation, reported to SimulatedDirectory.onOperation after it took effect or failed. */
export interface SimulatedOperation {
  /** 0-based position among all counted operations of this directory. */
  readonly index: number;
  readonly op: SimOp;
  readonly path: string;
  /** Destination of a rename. */
  readonly to?: string;
  /** The operation failed from an injected fault (a short write still stored its prefix). */
  readonly failed: boolean;
}

/** Operations that change the model or are barriers; 'open' and 'read' are faultable but not counted. */
const UNCOUNTED = new Set<SimOp>(['open', 'read']);

export class SimEngine {
  root = new SimDir('');
  pending: EntryOp[] = [];
  readonly faults = new FaultTable();
  readonly locks = new Set<string>();
  readonly openHandles = new OpenHandles();
  operations = 0;
  onOperation: ((event: SimulatedOperation) => void) | undefined;
  /** SimulatedDirectory's own hook (scheduled crashes), run after the user's. */
  afterOperation: ((event: SimulatedOperation) => void) | undefined;
  dead = false;

  constructor(readonly supportsAllocate: boolean) {}

  alive(op: SimOp, path: string): void {
    if (!this.dead) return;
    const syscall = SYSCALL_OF[op];
    throw new IoError('EIO', syscall, path, {
      message: `${syscall} failed: EIO (${path}): the simulated machine lost power; use the directory crash() returned`,
    });
  }

  done(op: SimOp, path: string, failed = false, to?: string): void {
    if (UNCOUNTED.has(op)) return;
    const index = this.operations++;
    const event: SimulatedOperation = { index, op, path, failed, ...(to === undefined ? {} : { to }) };
    this.onOperation?.(event);
    this.afterOperation?.(event);
  }

  fail(op: SimOp, error: FaultError, path: string, to?: string): never {
    this.done(op, path, true, to);
    throw faultError(error, op, path);
  }

  /** Injected fault check for operations that have no partial effect. */
  gate(op: SimOp, path: string, to?: string): void {
    const e = this.faults.check(op, to === undefined ? [path] : [path, to]);
    if (e !== undefined) this.fail(op, e, path, to);
  }

  // --- namespace (what the running program sees) ---

  lookup(p: string): SimNode | undefined {
    return this.walk(p, (d) => d.current);
  }

  durableLookup(p: string): SimNode | undefined {
    return this.walk(p, (d) => d.durable);
  }

  /** Follows `p` from the root through the entries `entries` picks (the current or the durable namespace). */
  private walk(p: string, entries: EntryMaps): SimNode | undefined {
    let node: SimNode = this.root;
    for (const name of p === '' ? [] : p.split('/')) {
      if (node.type !== 'dir') return undefined;
      const next: SimNode | undefined = entries(node).get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  parentDir(p: string, op: SimOp): SimDir {
    const node = this.lookup(parentOf(p));
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'dir') throw new IoError('ENOTDIR', SYSCALL_OF[op], p);
    return node;
  }

  fileAt(p: string, op: SimOp): SimFile {
    const node = this.lookup(p);
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'file') throw new IoError('EISDIR', SYSCALL_OF[op], p);
    return node;
  }

  dirAt(p: string, op: SimOp): SimDir {
    const node = this.lookup(p);
    if (node === undefined) throw new NotFoundError(p);
    if (node.type !== 'dir') throw new IoError('ENOTDIR', SYSCALL_OF[op], p);
    return node;
  }

  // --- primitives ---

  create(p: string): SimFile {
    this.alive('create', p);
    const parent = this.parentDir(p, 'create');
    if (parent.current.has(baseName(p))) throw new AlreadyExistsError(p);
    this.gate('create', p);
    const file = new SimFile();
    this.link(parent, baseName(p), file);
    this.done('create', p);
    return file;
  }

  open(p: string): SimFile {
    this.alive('open', p);
    const file = this.fileAt(p, 'open');
    this.gate('open', p);
    return file;
  }

  read(file: SimFile, p: string, target: Uint8Array, position: number): number {
    this.alive('read', p);
    this.gate('read', p);
    return file.current.read(target, position);
  }

  write(file: SimFile, p: string, position: number, bytes: Uint8Array): void {
    this.alive('write', p);
    const e = this.faults.check('write', [p]);
    if (e === 'short') {
      // A real short write is followed by an error: part of the bytes reached the page cache.
      const kept = Math.floor(bytes.length / 2);
      if (kept > 0) file.record({ kind: 'write', position, bytes: bytes.slice(0, kept) });
      this.fail('write', e, p);
    }
    if (e !== undefined) this.fail('write', e, p);
    if (bytes.length > 0) file.record({ kind: 'write', position, bytes: bytes.slice() });
    this.done('write', p);
  }

  truncate(file: SimFile, p: string, length: number): void {
    this.alive('truncate', p);
    this.gate('truncate', p);
    file.record({ kind: 'truncate', length });
    this.done('truncate', p);
  }

  allocate(file: SimFile, p: string, offset: number, length: number): boolean {
    this.alive('allocate', p);
    if (!this.supportsAllocate) return false;
    this.gate('allocate', p);
    if (offset + length > file.current.length) file.record({ kind: 'allocate', length: offset + length });
    this.done('allocate', p);
    return true;
  }

  sync(file: SimFile, p: string): void {
    this.alive('sync', p);
    const e = this.faults.check('sync', [p]);
    if (e !== undefined) {
      file.forgetPending();
      this.fail('sync', e, p);
    }
    file.sync();
    this.done('sync', p);
  }

  syncDir(p: string): void {
    this.alive('syncDir', p);
    const dir = this.dirAt(p, 'syncDir');
    this.gate('syncDir', p);
    this.pending = commitDir(this.pending, dir);
    this.done('syncDir', p);
  }

  rename(from: string, to: string): void {
    this.alive('rename', from);
    const node = this.fileAt(from, 'rename');
    const source = this.parentDir(from, 'rename');
    const target = this.parentDir(to, 'rename');
    if (target.current.get(baseName(to))?.type === 'dir') throw new IoError('EISDIR', 'rename', to);
    this.gate('rename', from, to);
    if (from !== to) {
      source.current.delete(baseName(from));
      target.current.set(baseName(to), node);
      this.pending.push({ kind: 'rename', from: source, fromName: baseName(from), to: target, toName: baseName(to), node });
    }
    this.done('rename', from, false, to);
  }

  unlink(p: string): void {
    this.alive('delete', p);
    const node = this.fileAt(p, 'delete');
    const parent = this.parentDir(p, 'delete');
    this.gate('delete', p);
    parent.current.delete(baseName(p));
    this.pending.push({ kind: 'unlink', dir: parent, name: baseName(p), node });
    this.done('delete', p);
  }

  mkdir(p: string): void {
    this.alive('mkdir', p);
    const parent = this.parentDir(p, 'mkdir');
    if (parent.current.has(baseName(p))) throw new IoError('EEXIST', 'mkdir', p);
    this.gate('mkdir', p);
    this.link(parent, baseName(p), new SimDir(p));
    this.done('mkdir', p);
  }

  /** Opens (creating if needed) the lock file and takes the in-process lock. */
  lock(p: string): () => void {
    this.alive('open', p);
    const parent = this.parentDir(p, 'open');
    const existing = parent.current.get(baseName(p));
    if (existing?.type === 'dir') throw new IoError('EISDIR', 'open', p);
    if (this.locks.has(p)) throw new LockedError(p);
    this.gate('open', p);
    if (existing === undefined) {
      this.link(parent, baseName(p), new SimFile());
      this.done('create', p);
    }
    this.locks.add(p);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (!this.dead) this.locks.delete(p);
    };
  }

  private link(parent: SimDir, name: string, node: SimNode): void {
    parent.current.set(name, node);
    this.pending.push({ kind: 'link', dir: parent, name, node });
  }
}
