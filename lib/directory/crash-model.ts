import type { Prng } from './prng';
import { applyDataOp, applyEntryOp, type DataOp, type EntryMaps, type EntryOp, entryKeys, SimDir, SimFile, type SimNode } from './simulated-model';
import { SparseBytes } from './sparse-bytes';

// What a power cut leaves on the disk, given the durable state and what was still pending.
// Each function draws from the PRNG in a fixed order, so one seed always gives one outcome.

/** How unsynced file writes fare in a crash (see SimulatedDirectory.crash). */
export type FileCrashMode = 'dropAll' | 'keepPrefix' | 'tear' | 'reorder';
export const FILE_CRASH_MODES: readonly FileCrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];

export function crashedContent(file: SimFile, mode: FileCrashMode, prng: Prng, sectorSize: number): SparseBytes {
  const ops = file.pending;
  if (mode === 'dropAll' || ops.length === 0) return file.durable.clone();
  if (mode === 'reorder') return reorder(file.durable, ops, prng, sectorSize);
  const out = file.durable.clone();
  const kept = mode === 'keepPrefix' ? prng.int(ops.length + 1) : prng.int(ops.length);
  for (let i = 0; i < kept; i++) applyDataOp(out, ops[i]);
  if (mode === 'tear') tear(out, ops[kept], prng, sectorSize);
  return out;
}

/**
 * The write in flight at the cut: each sector it covers landed or not, independently (disks
 * write sectors atomically but in no promised order). The size may have reached the disk
 * without the data, leaving zeros at the end.
 */
function tear(out: SparseBytes, op: DataOp, prng: Prng, sectorSize: number): void {
  if (op.kind !== 'write' || op.bytes.length === 0) {
    if (prng.chance(0.5)) applyDataOp(out, op);
    return;
  }
  const start = op.position;
  const end = start + op.bytes.length;
  for (let s = Math.floor(start / sectorSize); s * sectorSize < end; s++) {
    const a = Math.max(start, s * sectorSize);
    const b = Math.min(end, (s + 1) * sectorSize);
    if (prng.chance(0.5)) out.write(a, op.bytes.subarray(a - start, b - start));
  }
  if (end > out.length && prng.chance(0.25)) out.setLength(end);
}

/**
 * Write-back in any order: every sector an unsynced write touched holds its content as of some
 * random point in the unsynced history, independently of the others; the size is that of yet
 * another point. The harshest model a page cache allows.
 */
function reorder(durable: SparseBytes, ops: readonly DataOp[], prng: Prng, sectorSize: number): SparseBytes {
  const lengths = [durable.length];
  for (const op of ops) {
    const prev = lengths[lengths.length - 1];
    if (op.kind === 'write') lengths.push(Math.max(prev, op.position + op.bytes.length));
    else if (op.kind === 'truncate') lengths.push(op.length);
    else lengths.push(Math.max(prev, op.length));
  }
  const sizeAt = prng.int(ops.length + 1);
  const out = durable.clone();
  // Sectors no write touched only change by truncation, seen as of the size's point in time.
  let shortest = Infinity;
  for (let i = 0; i < sizeAt; i++) {
    const op = ops[i];
    if (op.kind === 'truncate') shortest = Math.min(shortest, op.length);
  }
  if (shortest < out.length) out.setLength(shortest);

  // For each sector, the indices of the operations that change it, in order (truncations can
  // change any sector, so every sector sees all of them).
  const truncates: number[] = [];
  const touching = new Map<number, number[]>();
  ops.forEach((op, i) => {
    if (op.kind === 'truncate') truncates.push(i);
    if (op.kind !== 'write' || op.bytes.length === 0) return;
    const last = Math.floor((op.position + op.bytes.length - 1) / sectorSize);
    for (let s = Math.floor(op.position / sectorSize); s <= last; s++) {
      const list = touching.get(s);
      if (list === undefined) touching.set(s, [i]);
      else list.push(i);
    }
  });
  const local = new Uint8Array(sectorSize);
  for (const [s, writes] of touching) {
    const base = s * sectorSize;
    const upTo = prng.int(ops.length + 1);
    local.fill(0);
    durable.read(local, base);
    let w = 0;
    let t = 0;
    for (;;) {
      const wi = w < writes.length && writes[w] < upTo ? writes[w] : Infinity;
      const ti = t < truncates.length && truncates[t] < upTo ? truncates[t] : Infinity;
      if (wi === Infinity && ti === Infinity) break;
      const op = ops[Math.min(wi, ti)];
      if (wi < ti) w++;
      else t++;
      if (op.kind === 'write') {
        const a = Math.max(op.position, base);
        const b = Math.min(op.position + op.bytes.length, base + sectorSize);
        local.set(op.bytes.subarray(a - op.position, b - op.position), a - base);
      } else if (op.kind === 'truncate' && op.length < base + sectorSize) {
        local.fill(0, Math.max(0, op.length - base));
      }
    }
    out.write(base, local);
  }
  out.setLength(lengths[sizeAt]);
  return out;
}

/**
 * Which unsynced entry operations survive: each independently with probability `keep`, except
 * that once an operation on a name is lost, every later one on that name (or below it, when the
 * name was a new directory) is lost too. Returns the surviving entries of every directory.
 */
export function crashedEntries(pending: readonly EntryOp[], keep: number, prng: Prng): EntryMaps {
  const copies = new Map<SimDir, Map<string, SimNode>>();
  const entries: EntryMaps = (d) => {
    let m = copies.get(d);
    if (m === undefined) {
      m = new Map(d.durable);
      copies.set(d, m);
    }
    return m;
  };
  const lost = new Set<string>();
  for (const op of pending) {
    const keys = entryKeys(op);
    const blocked = keys.some((k) => lost.has(k) || underLost(k, lost));
    if (!blocked && keep > 0 && prng.chance(keep)) applyEntryOp(op, entries);
    else for (const k of keys) lost.add(k);
  }
  return entries;
}

function underLost(path: string, lost: ReadonlySet<string>): boolean {
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    if (lost.has(path.slice(0, i))) return true;
  }
  return false;
}

/** The directory tree reachable from `root` after the crash, every state now durable. */
export function rebuildTree(root: SimDir, entries: EntryMaps, contentOf: (file: SimFile) => SparseBytes): SimDir {
  const files = new Map<SimFile, SimFile>();
  const walk = (old: SimDir): SimDir => {
    const dir = new SimDir(old.path);
    for (const [name, node] of entries(old)) {
      let copy: SimNode;
      if (node.type === 'dir') {
        copy = walk(node);
      } else {
        let file = files.get(node);
        if (file === undefined) {
          file = new SimFile(contentOf(node));
          files.set(node, file);
        }
        copy = file;
      }
      dir.current.set(name, copy);
      dir.durable.set(name, copy);
    }
    return dir;
  };
  return walk(root);
}
