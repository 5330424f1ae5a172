import { isLockCompanionName } from '../backend/lock-companions';
import { LOCK_FILE, parseSegmentFileName } from './format';
import { isRecycleName } from './recycle-pool';

// Every name the package gives an entry of wal/, sorted by what it means to a listing. Anything
// else there is someone else's (lib/unknown-names.ts). atomicWrite's temp names never reach
// here: Directory.list() hides them.

const LOCK_NAME = LOCK_FILE.slice(LOCK_FILE.lastIndexOf('/') + 1);

/**
 * `<digits>.wal`, the segments' namespace, also where the id is out of range (0, more than 20
 * digits, above 2^53 - 1). Another `.wal` name (notes.wal) is no segment's, and someone else's.
 */
const SEGMENT_SHAPED = /^[0-9]+\.wal$/;

/** What quarantine.ts names a copy of bytes cut from a segment: `<segment file>.<offset>[.<n>].quarantine`. */
const QUARANTINE_NAME = /^[0-9]{1,20}\.wal\.[0-9]+(?:\.[0-9]+)?\.quarantine$/;

export type WalNameKind =
  /** A segment: parseSegmentFileName gives its id. */
  | 'segment'
  /**
   * Shaped as a segment's name but with no id a segment can have. Refused by every listing, not
   * skipped: it may be a segment renamed or restored wrongly, and a log read without one of its
   * segments could be cut short with nothing said.
   */
  | 'malformed-segment'
  /** LOCK and its companions, a recycle file, a quarantine file: the writer's own, not segments. */
  | 'own'
  /** A name the package never writes. */
  | 'unknown';

export function walNameKind(name: string): WalNameKind {
  if (parseSegmentFileName(name) !== undefined) return 'segment';
  if (SEGMENT_SHAPED.test(name)) return 'malformed-segment';
  if (name === LOCK_NAME || isLockCompanionName(name, LOCK_NAME) || isRecycleName(name) || QUARANTINE_NAME.test(name)) return 'own';
  return 'unknown';
}
