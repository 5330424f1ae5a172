import { InvalidArgumentError } from '../errors';
import { requireCodec } from '../guards';
import type { Codec } from './codec';
import { resolveFlushPolicy, type FlushPolicy, type ResolvedFlushPolicy } from './flush-policy';
import { DEFAULT_SYNC_WINDOW, FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE } from './format';
import type { WalObserver } from './observer';
import type { CohortPolicy } from './cohort-merge';

export interface WalWriterOptions<E> {
  codec: Codec<E>;
  /** When buffered frames are written to the OS. Default { everyN: 64 }. */
  flushPolicy?: FlushPolicy;
  /** Frame buffer size in bytes; a full buffer is written whatever the policy. Default 1 MiB. 0 writes every frame at once. */
  bufferSize?: number;
  /** Rotate before a frame would take the segment past this many bytes. Default 64 MiB, at most 1 TiB (MAX_SEGMENT_SIZE). */
  maxSegmentSize?: number;
  /** Rotate before appending to a segment at least this old (ms, measured by `clock`). Default: no age limit. */
  maxSegmentAgeMs?: number;
  /**
   * W: the most bytes of a segment that may be written but not fdatasynced. Recorded in each
   * segment header; the reader uses it to tell a torn tail from damage. Default 64 MiB.
   */
  syncWindow?: number;
  /** Reserve space for new segments with fallocate: true = maxSegmentSize bytes, or a byte count. Default false. */
  preallocate?: boolean | number;
  /**
   * Fill each new segment file with zeros up to maxSegmentSize by writing (and fdatasync) before
   * any frame goes into it, so appends overwrite blocks the file already owns and each fdatasync
   * need not also commit block allocation or extent conversion (fallocate only reserves
   * "unwritten" extents). Costs one write of maxSegmentSize per new file, done inside the commit
   * that creates the segment (off the event loop when pipelined); recycled files are not filled.
   * The zero tail is trimmed at rotation and close like preallocated space. Default false:
   * group commits already keep zeros written ahead of the log (ActiveSegment.zeroAheadAsync and
   * zeroAhead), which gives the same effect without writing whole segments up front.
   */
  zeroFill?: boolean;
  /**
   * How many truncated segment files to keep for reuse as new segments (recycle files, each as
   * large as the segment it was: about maxSegmentSize, more for one whose single entry was larger
   * or one left by a log with a larger maxSegmentSize). The checkpoint publisher's truncation hands its segments to the
   * writer up to this many and deletes the rest. Default 2 (DEFAULT_RECYCLE_CAPACITY); 0: delete
   * every truncated segment.
   */
  recycleCapacity?: number;
  /**
   * How long (ms) the writer stays idle after a sync before it writes a sync mark alone, so a
   * reader in another process that trusts only what the files prove durable (follow's
   * durableOnly) sees the newest entries without waiting for the next write. One 24-byte write,
   * not synced, per idle spell. Default 5; 0: never (the next write or close carries the mark).
   */
  idleMarkMs?: number;
  /** Largest payload accepted by append (≤ 64 MiB, the format's limit). */
  maxPayloadSize?: number;
  observer?: WalObserver;
  /**
   * appendDurable batching: a batch is cut once it holds this many bytes of frames (default 1 MiB)
   * or this many entries (default 16384), so a burst is committed in steps instead of one huge
   * write. A single larger frame is a batch of its own. pollMicros: how long the event loop keeps
   * turning (instead of sleeping) while a commit is in flight, so its completion is seen without a
   * wake-up (default 1000; 0: sleep). Disks whose commits take longer on average are not polled
   * (see completion-poll.ts). cohorts: when a cut batch is held to merge with the next run of
   * appends (cohort-merge.ts); measured by default on FsDirectory, one batch per run on memory and
   * simulated directories; tests pass their own (its answers only move batch boundaries; one that
   * throws is taken as "do not merge").
   */
  groupCommit?: { maxBatchBytes?: number; maxBatchEntries?: number; pollMicros?: number; cohorts?: CohortPolicy };
  /** Milliseconds clock for segment age (Date.now by default); tests pass their own. */
  clock?: () => number;
}

export interface ResolvedWriterOptions<E> {
  readonly codec: Codec<E>;
  readonly flush: ResolvedFlushPolicy;
  readonly bufferSize: number;
  readonly maxSegmentSize: number;
  readonly maxSegmentAgeMs: number;
  readonly syncWindow: number;
  readonly preallocate: number;
  /** Bytes new segment files are zero-filled to (0: no filling). */
  readonly zeroFill: number;
  readonly recycleCapacity: number;
  /** 0: no mark alone when idle (see WalWriterOptions.idleMarkMs). */
  readonly idleMarkMs: number;
  readonly maxPayloadSize: number;
  readonly observer: WalObserver | undefined;
  readonly clock: () => number;
  readonly maxBatchBytes: number;
  readonly maxBatchEntries: number;
  readonly commitPollMicros: number;
  /** groupCommit.cohorts as given (undefined: the directory's default, defaultCohortPolicy). */
  readonly cohorts: CohortPolicy | undefined;
}

export const DEFAULT_BUFFER_SIZE = 1024 * 1024;
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;
export const DEFAULT_MAX_BATCH_ENTRIES = 16384;
/** groupCommit.pollMicros: long enough for a fast disk's fdatasync and the commit around it (≈ 100–250 µs on this machine), with room to spare. */
export const DEFAULT_COMMIT_POLL_MICROS = 1000;
export const DEFAULT_MAX_SEGMENT_SIZE = 64 * 1024 * 1024;
/** See WalWriterOptions.idleMarkMs. */
export const DEFAULT_IDLE_MARK_MS = 5;
/**
 * Recycle files a writer keeps unless told: two segments a checkpoint truncates are renamed for
 * the writer to reuse (no blocks freed beside its commits, none allocated again), the rest deleted.
 * Measured against deletion under checkpoints: bench/RESULTS.md, "Checkpoints that recycle".
 */
export const DEFAULT_RECYCLE_CAPACITY = 2;
/** A segment must hold its header and at least one empty frame. */
export const MIN_SEGMENT_SIZE = SEGMENT_HEADER_SIZE + FRAME_HEADER_SIZE;
/**
 * The largest segment (and preallocation) accepted: 1 TiB. The format itself has no segment
 * length field; this keeps every offset far inside exact float arithmetic and a segment within
 * what common file systems allow in one file (ext4: 16 TiB), so a typo like Number.MAX_SAFE_INTEGER
 * is refused at open instead of failing at the first write or zero fill.
 */
export const MAX_SEGMENT_SIZE = 2 ** 40;
/** Buffers the writer allocates (frame buffer, group-commit batch): at most 1 GiB each. */
const MAX_BUFFER = 1024 * 1024 * 1024;
const MAX_U32 = 0xffffffff;
/** setTimeout's longest delay. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], not ${String(value)}`);
  }
  return value;
}

export function resolveWriterOptions<E>(options: WalWriterOptions<E>): ResolvedWriterOptions<E> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('WalWriter options are required ({ codec })');
  const codec = options.codec;
  requireCodec<E>(codec, 'WalWriter (options.codec)');
  const maxSegmentSize = integerOption('maxSegmentSize', options.maxSegmentSize, DEFAULT_MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
  let preallocate = 0;
  if (options.preallocate === true) preallocate = maxSegmentSize;
  else if (typeof options.preallocate === 'number') preallocate = integerOption('preallocate', options.preallocate, 0, 0, MAX_SEGMENT_SIZE);
  else if (options.preallocate !== undefined && options.preallocate !== false) throw new InvalidArgumentError('preallocate must be a boolean or a byte count');
  if (options.zeroFill !== undefined && typeof options.zeroFill !== 'boolean') throw new InvalidArgumentError('zeroFill must be a boolean');
  let maxSegmentAgeMs = 0;
  if (options.maxSegmentAgeMs !== undefined) {
    if (typeof options.maxSegmentAgeMs !== 'number' || !(options.maxSegmentAgeMs > 0) || options.maxSegmentAgeMs > Number.MAX_SAFE_INTEGER) {
      throw new InvalidArgumentError(`maxSegmentAgeMs must be a positive number of milliseconds up to 2^53-1, not ${String(options.maxSegmentAgeMs)}`);
    }
    maxSegmentAgeMs = options.maxSegmentAgeMs;
  }
  if (options.observer !== undefined && (options.observer === null || typeof options.observer !== 'object')) {
    throw new InvalidArgumentError('observer must be an object with optional hooks');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new InvalidArgumentError('clock must be a function');
  const group = options.groupCommit ?? {};
  if (group === null || typeof group !== 'object') throw new InvalidArgumentError('groupCommit must be an object { maxBatchBytes?, maxBatchEntries?, pollMicros?, cohorts? }');
  return {
    codec,
    flush: resolveFlushPolicy(options.flushPolicy),
    bufferSize: integerOption('bufferSize', options.bufferSize, DEFAULT_BUFFER_SIZE, 0, MAX_BUFFER),
    maxSegmentSize,
    maxSegmentAgeMs,
    syncWindow: integerOption('syncWindow', options.syncWindow, DEFAULT_SYNC_WINDOW, FRAME_HEADER_SIZE, MAX_U32),
    preallocate,
    zeroFill: options.zeroFill === true ? maxSegmentSize : 0,
    recycleCapacity: integerOption('recycleCapacity', options.recycleCapacity, DEFAULT_RECYCLE_CAPACITY, 0, 1 << 20),
    idleMarkMs: integerOption('idleMarkMs', options.idleMarkMs, DEFAULT_IDLE_MARK_MS, 0, MAX_TIMER_MS),
    maxPayloadSize: integerOption('maxPayloadSize', options.maxPayloadSize, MAX_PAYLOAD_SIZE, 0, MAX_PAYLOAD_SIZE),
    observer: options.observer,
    clock: options.clock ?? Date.now,
    maxBatchBytes: integerOption('groupCommit.maxBatchBytes', group.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, FRAME_HEADER_SIZE, MAX_BUFFER),
    maxBatchEntries: integerOption('groupCommit.maxBatchEntries', group.maxBatchEntries, DEFAULT_MAX_BATCH_ENTRIES, 1, 1 << 24),
    commitPollMicros: integerOption('groupCommit.pollMicros', group.pollMicros, DEFAULT_COMMIT_POLL_MICROS, 0, 1_000_000),
    cohorts: cohortsOption(group.cohorts),
  };
}

const COHORT_METHODS = ['shouldMerge', 'runStarted', 'runEnded', 'commitTook'] as const;

/**
 * A caller's policy, checked and made advisory: its answers only move batch boundaries, so a
 * method that throws counts as "do not merge" (or is ignored), never as a failure of the commit
 * pipeline that called it.
 */
function cohortsOption(cohorts: unknown): CohortPolicy | undefined {
  if (cohorts === undefined) return undefined;
  const policy = cohorts as CohortPolicy | null;
  if (policy === null || typeof policy !== 'object' || COHORT_METHODS.some((m) => typeof (policy as unknown as Record<string, unknown>)[m] !== 'function')) {
    throw new InvalidArgumentError(`groupCommit.cohorts must be an object with ${COHORT_METHODS.join(', ')} (a CohortPolicy)`);
  }
  const quietly = (note: () => void): void => {
    try {
      note();
    } catch {
      // advisory only
    }
  };
  return {
    shouldMerge: (filling, inFlight) => {
      try {
        return policy.shouldMerge(filling, inFlight) === true;
      } catch {
        return false;
      }
    },
    runStarted: (firstId) => quietly(() => policy.runStarted(firstId)),
    runEnded: (nextId) => quietly(() => policy.runEnded(nextId)),
    commitTook: (us) => quietly(() => policy.commitTook(us)),
  };
}
