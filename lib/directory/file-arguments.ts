import { constants } from 'node:buffer';
import { OWNED_BYTES } from '../backend/owned-bytes';
import { InvalidArgumentError, IoError } from '../errors';
import type { CommitPlan } from './directory';
import { normalizePath } from './path';

// What a file operation may be given, checked before any implementation sees it, so a bad length
// or position is an InvalidArgumentError everywhere instead of a RangeError from one backend and
// a huge allocation in another; and the buffers the operations build from what they were given.

/** The most chunks one writev takes: the native core's limit (native/args.h kMaxChunks), kept by every backend. */
export const MAX_WRITEV_CHUNKS = 2 ** 20;

export function checkBytes(data: unknown, what = 'data'): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`);
}

export function checkPosition(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative safe integer, not ${String(value)}`);
  }
}

export function checkEnd(position: number, length: number): void {
  if (position + length > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(`a write of ${length} bytes at ${position} ends past the largest safe offset`);
  }
}

/** A buffer for a whole file, or IoError EFBIG when no single buffer can hold it. */
export function bufferForRead(size: number, path: string): Uint8Array {
  if (size > constants.MAX_LENGTH) throw new IoError('EFBIG', 'read', path);
  return new Uint8Array(size);
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface CheckedCommitPlan {
  readonly chunks: readonly Uint8Array[];
  readonly position: number;
  readonly truncateTo: number | undefined;
  readonly syncDirs: readonly string[];
  /** CommitPlan.zeroChunks (0: none). */
  readonly zeroChunks: number;
  readonly [OWNED_BYTES]?: true;
}

/**
 * A commitAsync plan, checked. The chunks are read once, into a list of our own (as in writev):
 * the caller's array read again (by the snapshot, or by the backend on the group-commit path)
 * could yield other elements, and an argument error raised from inside the commit would fail the
 * file for good. The WAL's own chunks (OWNED_BYTES), which no caller can reach, are taken as they
 * are. `[OWNED_BYTES]` is left to the caller, which knows whether it snapshots them.
 */
export function checkCommitPlan(plan: CommitPlan): Omit<CheckedCommitPlan, typeof OWNED_BYTES> {
  if (plan === null || typeof plan !== 'object') throw new InvalidArgumentError('commitAsync takes a plan { chunks, position, truncateTo?, syncDirs? }');
  const { position, truncateTo } = plan;
  if (!Array.isArray(plan.chunks)) throw new InvalidArgumentError('plan.chunks must be an array of Uint8Array');
  const read: Uint8Array[] | undefined = plan[OWNED_BYTES] === true ? undefined : [];
  let total = 0;
  for (const c of plan.chunks) {
    checkBytes(c, 'every chunk');
    read?.push(c);
    total += c.length;
  }
  const chunks = read ?? plan.chunks;
  checkPosition(position, 'plan.position');
  checkEnd(position, total);
  if (truncateTo !== undefined) checkPosition(truncateTo, 'plan.truncateTo');
  const zeroChunks = plan.zeroChunks ?? 0;
  if (!Number.isSafeInteger(zeroChunks) || zeroChunks < 0 || zeroChunks > chunks.length) {
    throw new InvalidArgumentError(`plan.zeroChunks must be an integer from 0 to the number of chunks (${chunks.length}), not ${String(zeroChunks)}`);
  }
  const dirs = plan.syncDirs ?? [];
  if (!Array.isArray(dirs)) throw new InvalidArgumentError('plan.syncDirs must be an array of paths');
  const syncDirs = dirs.map((d: unknown) => {
    if (typeof d !== 'string') throw new InvalidArgumentError('plan.syncDirs must be an array of paths');
    return normalizePath(d, { allowRoot: true });
  });
  return { chunks, position, truncateTo, syncDirs, zeroChunks };
}
