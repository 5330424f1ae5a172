import { InvalidArgumentError } from '../errors';

export interface FollowOptions {
  /** First entry to yield (default 1). RecoveryGapError if the log was truncated past it. */
  fromEntryId?: number;
  /** Ends the iteration (cleanly: the loop just stops) when aborted. */
  signal?: AbortSignal;
  /** Longest pause between two looks at the log when nothing new arrived (ms). Default 100. */
  maxPollIntervalMs?: number;
  /**
   * Yield only entries the log proves durable: covered by a sync mark's watermark, or in a
   * segment the writer has moved past. The newest batch waits for the writer's next write,
   * rotation or close, or the mark an idle writer writes (WalWriterOptions.idleMarkMs).
   * Version 1 segments carry no marks: theirs wait for the next segment. At most 4,096 entries
   * are held decoded; past them frames are only checked, and read again once proven (a writer
   * may go a whole segment without a sync).
   * Default false (entries are yielded as soon as their frames validate, synced or not).
   */
  durableOnly?: boolean;
}

export const FIRST_DELAY_MS = 1;
/** setTimeout's longest delay: past it a timer fires at once, and the follower would spin. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export function resolveFollowOptions(options: FollowOptions): { from: number; maxDelay: number; durableOnly: boolean } {
  const from = options.fromEntryId ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) throw new InvalidArgumentError(`fromEntryId must be an integer ≥ 1, got ${String(from)}`);
  const maxDelay = options.maxPollIntervalMs ?? 100;
  if (typeof maxDelay !== 'number' || !(maxDelay >= FIRST_DELAY_MS && maxDelay <= MAX_DELAY_MS)) {
    throw new InvalidArgumentError(`maxPollIntervalMs must be a number of milliseconds in [${FIRST_DELAY_MS}, ${MAX_DELAY_MS}], not ${String(maxDelay)}`);
  }
  const durableOnly = options.durableOnly ?? false;
  if (typeof durableOnly !== 'boolean') throw new InvalidArgumentError(`durableOnly must be a boolean, not ${String(durableOnly)}`);
  return { from, maxDelay, durableOnly };
}
