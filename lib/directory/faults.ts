import { InvalidArgumentError, IoError } from '../errors';
import { Prng } from './prng';

// Injected failures for SimulatedDirectory: a chosen operation fails with EIO, ENOSPC or a short
// write, after a countdown or at random from a seed.

/** The operations a fault can target ('any' matches all of them). */
export type FaultOp =
  | 'create'
  | 'open'
  | 'read'
  | 'write'
  | 'truncate'
  | 'allocate'
  | 'sync'
  | 'syncDir'
  | 'rename'
  | 'delete'
  | 'mkdir'
  | 'any';

/** 'short': a write stores the first half of its bytes, then fails with ENOSPC (other ops: plain ENOSPC). */
export type FaultError = 'EIO' | 'ENOSPC' | 'short';

export interface FaultSpec {
  op: FaultOp;
  error: FaultError;
  /** Let this many matching operations succeed first: the (after+1)th fails. Default 0. */
  after?: number;
  /** Only operations whose path (either path, for a rename) contains this substring. */
  path?: string;
  /** Keep failing every matching operation once triggered (a dead disk), not just once. */
  persistent?: boolean;
}

export interface RandomFaultSpec {
  seed: number;
  /** Chance in [0, 1] that a matching operation fails. */
  probability: number;
  /** Default: every operation kind except 'open' and 'read'. */
  ops?: readonly FaultOp[];
  /** Drawn uniformly per failure. Default ['EIO']. */
  errors?: readonly FaultError[];
  path?: string;
}

export interface InjectedFault {
  /** How many operations this fault has failed so far. */
  readonly fired: number;
  /** False once a one-shot fault has fired or the fault was cancelled. */
  readonly active: boolean;
  cancel(): void;
}

const OPS = new Set<string>(['create', 'open', 'read', 'write', 'truncate', 'allocate', 'sync', 'syncDir', 'rename', 'delete', 'mkdir', 'any']);
const ERRORS = new Set<string>(['EIO', 'ENOSPC', 'short']);
const DEFAULT_RANDOM_OPS: readonly FaultOp[] = ['create', 'write', 'truncate', 'allocate', 'sync', 'syncDir', 'rename', 'delete', 'mkdir'];

export const SYSCALL_OF: Readonly<Record<Exclude<FaultOp, 'any'>, string>> = {
  create: 'open',
  open: 'open',
  read: 'pread',
  write: 'pwrite',
  truncate: 'ftruncate',
  allocate: 'fallocate',
  sync: 'fdatasync',
  syncDir: 'fsync',
  rename: 'rename',
  delete: 'unlink',
  mkdir: 'mkdir',
};

export function faultError(error: FaultError, op: Exclude<FaultOp, 'any'>, path: string): IoError {
  const errno = error === 'EIO' ? 'EIO' : 'ENOSPC';
  const syscall = SYSCALL_OF[op];
  return new IoError(errno, syscall, path, { message: `${syscall} failed: ${errno} (${path}) [injected fault]` });
}

class Fault implements InjectedFault {
  fired = 0;
  active = true;
  private remaining: number;
  private readonly ops: ReadonlySet<string>;
  private readonly prng: Prng | undefined;
  private readonly probability: number;

  constructor(
    ops: readonly FaultOp[],
    private readonly errors: readonly FaultError[],
    private readonly path: string | undefined,
    after: number,
    private readonly persistent: boolean,
    random?: { seed: number; probability: number },
  ) {
    this.ops = new Set(ops);
    this.remaining = after;
    this.prng = random ? new Prng(random.seed) : undefined;
    this.probability = random?.probability ?? 1;
  }

  cancel(): void {
    this.active = false;
  }

  /**
   * Counts one matching operation; returns the error when this one must fail. With `mayFire`
   * false (another fault already failed the operation) a due fault waits for the next one.
   */
  check(op: string, paths: readonly string[], mayFire: boolean): FaultError | undefined {
    if (!this.active || !(this.ops.has('any') || this.ops.has(op))) return undefined;
    if (this.path !== undefined && !paths.some((p) => p.includes(this.path as string))) return undefined;
    if (this.remaining > 0) {
      this.remaining--;
      return undefined;
    }
    if (!mayFire) return undefined;
    if (this.prng !== undefined && !this.prng.chance(this.probability)) return undefined;
    this.fired++;
    if (!this.persistent) this.active = false;
    return this.prng !== undefined ? this.prng.pick(this.errors) : this.errors[0];
  }
}

export class FaultTable {
  private faults: Fault[] = [];

  add(spec: FaultSpec): InjectedFault {
    if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError('a fault needs { op, error }');
    checkOp(spec.op);
    checkError(spec.error);
    const after = spec.after ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError(`after must be a non-negative integer, not ${String(after)}`);
    const fault = new Fault([spec.op], [spec.error], checkPath(spec.path), after, spec.persistent === true);
    this.faults.push(fault);
    return fault;
  }

  addRandom(spec: RandomFaultSpec): InjectedFault {
    if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError('random faults need { seed, probability }');
    if (!Number.isInteger(spec.seed)) throw new InvalidArgumentError('seed must be an integer');
    if (typeof spec.probability !== 'number' || !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new InvalidArgumentError('probability must be a number in [0, 1]');
    }
    const ops = spec.ops ?? DEFAULT_RANDOM_OPS;
    const errors = spec.errors ?? ['EIO'];
    if (!Array.isArray(ops) || ops.length === 0) throw new InvalidArgumentError('ops must be a non-empty array');
    if (!Array.isArray(errors) || errors.length === 0) throw new InvalidArgumentError('errors must be a non-empty array');
    ops.forEach(checkOp);
    errors.forEach(checkError);
    const fault = new Fault(ops, errors, checkPath(spec.path), 0, true, { seed: spec.seed, probability: spec.probability });
    this.faults.push(fault);
    return fault;
  }

  clear(): void {
    for (const f of this.faults) f.cancel();
    this.faults = [];
  }

  /** Every active fault counts the operation; the first that fires decides its error. */
  check(op: Exclude<FaultOp, 'any'>, paths: readonly string[]): FaultError | undefined {
    let result: FaultError | undefined;
    for (const f of this.faults) {
      if (result === undefined) result = f.check(op, paths, true);
      else f.check(op, paths, false);
    }
    if (result !== undefined) this.faults = this.faults.filter((f) => f.active);
    return result;
  }
}

function checkOp(op: unknown): void {
  if (typeof op !== 'string' || !OPS.has(op)) throw new InvalidArgumentError(`unknown fault op ${JSON.stringify(op)}`);
}

function checkError(error: unknown): void {
  if (typeof error !== 'string' || !ERRORS.has(error)) throw new InvalidArgumentError(`unknown fault error ${JSON.stringify(error)}`);
}

function checkPath(path: unknown): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== 'string') throw new InvalidArgumentError('path must be a string');
  return path;
}
