import type { Directory } from '../directory/directory';
import { CorruptionError, NotFoundError, RecoveryGapError } from '../errors';
import type { UnknownNames } from '../unknown-names';
import { SEGMENT_HEADER_SIZE, checkSegmentHeader, type SegmentHeader } from './format';
import type { Position } from './follow-position';
import { listSegments, readSegmentPrefix, readValidSegmentHeader, type SegmentRef } from './segment-files';
import { existsAt } from '../directory/checked-answers';

// Which segment a follower (follow.ts) reads, and whether the writer has moved past it: segments
// come and go under it (rotation, retention, recycling), so a header that no longer reads is a
// segment gone, not an error, except where the format says it cannot be.

/** The segment holding `nextId`, at its first frame; undefined when the log has nothing to read yet. */
export function segmentHolding(dir: Directory, nextId: number, unknown?: UnknownNames): Position | undefined {
  const segments = listSegments(dir, unknown);
  let oldest: number | undefined;
  for (let i = segments.length - 1; i >= 0; i--) {
    const header = liveHeader(dir, segments[i]);
    if (header === undefined) {
      if (i === segments.length - 1) {
        refuseForeignShortSegment(dir, segments[i]);
        continue; // being created right now
      }
      if (!existsAt(dir, segments[i].path)) return undefined; // truncated meanwhile: look again
      throw new CorruptionError(segments[i].path, 0, 'segment header does not validate (in a non-final segment)');
    }
    oldest = header.firstEntryId;
    if (header.firstEntryId <= nextId) {
      return { seg: segments[i], header, offset: SEGMENT_HEADER_SIZE, nextId: header.firstEntryId };
    }
  }
  if (oldest !== undefined) {
    throw new RecoveryGapError(nextId, oldest, 'the log was truncated past the entry the follower needs next');
  }
  return undefined;
}

/**
 * A final segment shorter than a header is one being created only if its bytes are a prefix
 * of the magic or zeros (docs/FORMAT.md): anything else never becomes a segment, and waiting
 * for it would wait forever.
 */
function refuseForeignShortSegment(dir: Directory, seg: SegmentRef): void {
  let prefix: Uint8Array;
  try {
    prefix = readSegmentPrefix(dir, seg);
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  const check = checkSegmentHeader(prefix, dir.checksum, seg.segmentId);
  if (check.kind === 'bad' && prefix.length < SEGMENT_HEADER_SIZE) throw new CorruptionError(seg.path, check.offset, check.reason);
}

/** The next segment, if it exists with a valid header (then `seg` is complete: rule A). */
export function nextSegment(dir: Directory, seg: SegmentRef, unknown?: UnknownNames): { seg: SegmentRef; header: SegmentHeader } | undefined {
  const found = listSegments(dir, unknown).find((s) => s.segmentId === seg.segmentId + 1);
  if (found === undefined) return undefined;
  const header = liveHeader(dir, found);
  return header === undefined ? undefined : { seg: found, header };
}

/** Whether segment `segmentId` is listed without a valid header (cut to less than one, or being created). */
export function headerless(dir: Directory, segmentId: number, unknown?: UnknownNames): boolean {
  const found = listSegments(dir, unknown).find((s) => s.segmentId === segmentId);
  return found !== undefined && liveHeader(dir, found) === undefined && existsAt(dir, found.path);
}

/** Whether the segment `pos` reads still has the header it was read under (not removed or replaced). */
export function stillThere(dir: Directory, pos: Position): boolean {
  const header = liveHeader(dir, pos.seg);
  return header !== undefined && header.salt === pos.header.salt;
}

function liveHeader(dir: Directory, seg: SegmentRef): SegmentHeader | undefined {
  try {
    return readValidSegmentHeader(dir, seg);
  } catch (err) {
    // Deleted since it was listed (retention, or recycled by the writer).
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
