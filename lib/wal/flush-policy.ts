import { InvalidArgumentError } from '../errors';
import { typeName } from '../guards';

// When buffered frames are handed to the OS (write), as opposed to made durable (sync).
// A policy only moves the moment of the write: the bytes in the file are the same under every
// policy, and a full frame buffer is written whatever the policy says.
export type FlushPolicy =
  | 'perAppend'
  | 'manual'
  | { readonly everyN: number }
  | { readonly intervalMs: number };

export const DEFAULT_FLUSH_POLICY: FlushPolicy = { everyN: 64 };

/** The policy as the writer's append path reads it: flush after `everyN` appends (0: never), or on a timer. */
export interface ResolvedFlushPolicy {
  readonly everyN: number;
  readonly intervalMs: number;
}

export function resolveFlushPolicy(policy: FlushPolicy | undefined): ResolvedFlushPolicy {
  const p = policy ?? DEFAULT_FLUSH_POLICY;
  if (p === 'perAppend') return { everyN: 1, intervalMs: 0 };
  if (p === 'manual') return { everyN: 0, intervalMs: 0 };
  if (typeof p === 'object' && p !== null) {
    if ('everyN' in p) {
      if (!Number.isSafeInteger(p.everyN) || p.everyN < 1) {
        throw new InvalidArgumentError(`flushPolicy.everyN must be a positive integer, not ${String(p.everyN)}`);
      }
      return { everyN: p.everyN, intervalMs: 0 };
    }
    if ('intervalMs' in p) {
      if (typeof p.intervalMs !== 'number' || !Number.isFinite(p.intervalMs) || p.intervalMs <= 0 || p.intervalMs > 2 ** 31 - 1) {
        throw new InvalidArgumentError(`flushPolicy.intervalMs must be a positive number of milliseconds, not ${String(p.intervalMs)}`);
      }
      return { everyN: 0, intervalMs: p.intervalMs };
    }
  }
  // Not JSON.stringify: a BigInt or a cycle would throw a TypeError before this error exists.
  throw new InvalidArgumentError(`unknown flushPolicy ${typeof p === 'string' ? JSON.stringify(p) : typeName(p)}: use 'perAppend', 'manual', { everyN } or { intervalMs }`);
}
