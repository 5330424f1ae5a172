import type { Checksummer } from '../backend/backend';
import type { ReadableFile } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { RecoveryGapError } from '../errors';
import { SEGMENT_HEADER_SIZE, checkSegmentHeader } from './format';

/**
 * Whether an open file still is segment `segmentId`, asked before a failed frame is judged. A
 * segment truncateToRecycle renamed away becomes a later segment in the same file: its new header
 * (synced before any new frame) names a higher segment id, and new frames overwrite the old ones
 * under a reader that had it open. Judged as this segment, they read as damage (or a torn tail)
 * of a log that is whole; the truth is that the entries from `nextId` on left the log, as a
 * segment deleted under a follower, whose case follow.ts reports the same way (RecoveryGapError).
 */
export function refuseIfRecycled(file: ReadableFile, path: string, segmentId: number, nextId: number, checksum: Checksummer): void {
  const bytes = new Uint8Array(SEGMENT_HEADER_SIZE);
  const now = checkSegmentHeader(bytes.subarray(0, readWhole(file, bytes, 0)), checksum);
  if (now.kind !== 'ok' || now.header.segmentId <= segmentId) return;
  throw new RecoveryGapError(nextId, undefined,
    `${path} was recycled (WalMaintenance.truncateToRecycle) while being read: it is segment ${now.header.segmentId} now, its own entries are no longer in the log`);
}
