import { joinPath } from './path';
import { SparseBytes } from './sparse-bytes';

// The state SimulatedDirectory keeps: for every file its durable bytes plus the writes the page
// cache holds but the disk may not; for every directory its durable entries plus the entry
// operations (create, rename, delete) that a power cut may still lose.

export type DataOp =
  | { readonly kind: 'write'; readonly position: number; readonly bytes: Uint8Array }
  | { readonly kind: 'truncate'; readonly length: number }
  /** Preallocation: the file grows to `length` (zeros); never shrinks. */
  | { readonly kind: 'allocate'; readonly length: number };

export function applyDataOp(target: SparseBytes, op: DataOp): void {
  if (op.kind === 'write') target.write(op.position, op.bytes);
  else if (op.kind === 'truncate') target.setLength(op.length);
  else if (op.length > target.length) target.setLength(op.length);
}

export class SimFile {
  readonly type = 'file';
  /** What reads see: durable state with every pending op applied. */
  readonly current: SparseBytes;
  durable: SparseBytes;
  pending: DataOp[] = [];

  constructor(content = new SparseBytes()) {
    this.durable = content;
    this.current = content.clone();
  }

  record(op: DataOp): void {
    applyDataOp(this.current, op);
    this.pending.push(op);
  }

  /** fdatasync succeeded: everything written so far is on the disk. */
  sync(): void {
    for (const op of this.pending) applyDataOp(this.durable, op);
    this.pending = [];
  }

  /**
   * fdatasync failed. Linux marks the dirty pages clean anyway: reads still see the new bytes,
   * but they never reach the disk and no later fsync writes them ("fsyncgate").
   */
  forgetPending(): void {
    this.pending = [];
  }
}

export class SimDir {
  readonly type = 'dir';
  readonly current = new Map<string, SimNode>();
  readonly durable = new Map<string, SimNode>();
  /** Directories are never renamed or removed, so a path identifies one. */
  constructor(readonly path: string) {}
}

export type SimNode = SimFile | SimDir;

export type EntryOp =
  | { readonly kind: 'link'; readonly dir: SimDir; readonly name: string; readonly node: SimNode }
  | { readonly kind: 'unlink'; readonly dir: SimDir; readonly name: string; readonly node: SimNode }
  | {
      readonly kind: 'rename';
      readonly from: SimDir;
      readonly fromName: string;
      readonly to: SimDir;
      readonly toName: string;
      readonly node: SimNode;
    };

/** Full paths of the names an entry operation changes. */
export function entryKeys(op: EntryOp): string[] {
  if (op.kind === 'rename') return [joinPath(op.from.path, op.fromName), joinPath(op.to.path, op.toName)];
  return [joinPath(op.dir.path, op.name)];
}

export function touchesDir(op: EntryOp, dir: SimDir): boolean {
  return op.kind === 'rename' ? op.from === dir || op.to === dir : op.dir === dir;
}

export type EntryMaps = (dir: SimDir) => Map<string, SimNode>;

export function applyEntryOp(op: EntryOp, entries: EntryMaps): void {
  if (op.kind === 'link') {
    entries(op.dir).set(op.name, op.node);
  } else if (op.kind === 'unlink') {
    const m = entries(op.dir);
    if (m.get(op.name) === op.node) m.delete(op.name);
  } else {
    const src = entries(op.from);
    if (src.get(op.fromName) === op.node) src.delete(op.fromName);
    entries(op.to).set(op.toName, op.node);
  }
}

/**
 * fsync of `dir`: its pending entry operations become durable, and with them every earlier
 * pending operation on a name they touch (a journal commits a name's history in order, so a
 * later operation on a name never survives without the earlier ones). A rename is one journal
 * entry, so syncing either of its directories commits it. Returns the operations still pending.
 */
export function commitDir(pending: readonly EntryOp[], dir: SimDir): EntryOp[] {
  const committedKeys = new Set<string>();
  const commit = new Array<boolean>(pending.length).fill(false);
  for (let i = pending.length - 1; i >= 0; i--) {
    const keys = entryKeys(pending[i]);
    if (touchesDir(pending[i], dir) || keys.some((k) => committedKeys.has(k))) {
      commit[i] = true;
      for (const k of keys) committedKeys.add(k);
    }
  }
  const rest: EntryOp[] = [];
  for (let i = 0; i < pending.length; i++) {
    if (commit[i]) applyEntryOp(pending[i], (d) => d.durable);
    else rest.push(pending[i]);
  }
  return rest;
}
