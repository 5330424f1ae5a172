import type { Checksummer } from '../backend/backend';
import type { Directory } from '../directory/directory';
import { CorruptionError, IoError } from '../errors';
import { rewriteInPlace } from '../framed/rewrite';
import { refuseBytesPastEnd } from '../framed/scanned-end';
import type { UnknownNames } from '../unknown-names';
import { ActiveSegment } from './active-segment';
import { createSegment } from './segment-create';
import { FORMAT_VERSION, SEGMENT_HEADER_SIZE } from './format';
import { quarantineBeforeCut } from './quarantine';
import { scanSegment, type SegmentScan } from './segment-scan';
import { checkSegmentSequence, listSegments, type SegmentRef } from './segment-files';

// How a writer picks up an existing log: only the final segment is read (the reader checks the
// rest when it replays). A torn tail is cut off in place at the last good frame boundary; a torn
// header means the segment never held a synced frame (headers are fdatasynced when a segment is
// created), so it is deleted and created again. Frames that validate behind a cut are copied to
// a quarantine file first (quarantine.ts). Damage is refused: nothing is changed.
//
// Bytes the previous writer left unsynced are rewritten before the fdatasync that makes them
// this writer's starting point: after a failed fdatasync the page cache can show bytes the disk
// never got, and marks them clean, so a retry in the same boot (this process or another) would
// otherwise read them, sync nothing, and trust them. Rewriting dirties them again. Which bytes:
// those after the last sync mark's watermark (v2), or after validEnd − W (v1, rule B).

export interface ResumedTail {
  segment: ActiveSegment;
  nextEntryId: number;
  /** Whether a torn tail or header was repaired. */
  repaired: 'none' | 'tail' | 'header';
  /** Whether the segment was created here (its directory entry then needs syncDir). */
  created: boolean;
  preallocationFailed: boolean;
}

export function resumeTail(
  dir: Directory,
  checksum: Checksummer,
  options: { syncWindow: number; preallocate: number; now: number },
  unknown?: UnknownNames,
): ResumedTail | undefined {
  const segments = listSegments(dir, unknown);
  if (segments.length === 0) return undefined;
  // Only the final segment is read here, but a gap anywhere (a file planted or left under a later
  // id) makes the log one no reader accepts: refused before anything is changed, or the writer
  // would repair that file, append to it and acknowledge entries no recovery could return.
  checkSegmentSequence(segments);
  const final = segments[segments.length - 1];
  // The format's limit decides what is torn, never the caller's maxPayloadSize: a smaller limit
  // would cut good entries as a "torn tail" (they are refused when read instead).
  const scan = scanFinal(dir, final);
  refuseBytesPastEnd(dir, final.path, scan.fileSize);

  if (scan.header === undefined) {
    let firstEntryId: number;
    if (segments.length > 1) {
      const previous = scanSegment(dir, segments[segments.length - 2], { isFinal: false, mode: 'strict' });
      firstEntryId = previous.lastEntryId + 1;
    } else if (final.segmentId === 1) {
      firstEntryId = 1;
    } else {
      throw new CorruptionError(final.path, 0, 'the only segment has a torn header, so the id of its first entry is unknown');
    }
    dir.delete(final.path);
    const { segment, preallocationFailed } = createSegment(dir, {
      segmentId: final.segmentId, firstEntryId, syncWindow: options.syncWindow, createdAt: options.now, preallocate: options.preallocate,
    }, checksum);
    return { segment, nextEntryId: firstEntryId, repaired: 'header', created: true, preallocationFailed };
  }

  const header = scan.header;
  // An earlier life's bytes past the log ('stale') are cut like a torn tail (and searched for
  // frames of this life first, as a crash that lost one batch and kept the next leaves them).
  const cut = scan.tail !== 'clean';
  if (cut) quarantineBeforeCut(dir, final.path, scan.validEnd, header.salt, scan.lastEntryId + 1, { nextIdAtFrom: true });
  const file = dir.openAppend(final.path);
  try {
    refuseUnreadBytes(file.size(), scan.fileSize, final.path);
    // Cut even at the current size: a failed fdatasync may also have lost a truncation that
    // the page cache shows as done (an earlier attempt's cut, or a poisoned writer's).
    file.truncate(cut ? scan.validEnd : scan.fileSize);
    // Version 1: rule B leaves at most W unsynced bytes, except one frame written alone right after
    // a sync, which may be longer than W: from its start then.
    const unvouched = header.version >= FORMAT_VERSION ? scan.watermark : Math.min(scan.validEnd - header.syncWindow, scan.lastFrameAt);
    rewriteInPlace(dir, final.path, file, Math.max(SEGMENT_HEADER_SIZE, unvouched), scan.validEnd);
    // Whatever the previous writer left unsynced (it may have died with its data still in the
    // page cache) is made durable now, so this writer starts with an empty sync window and the
    // repair itself cannot be undone by a crash.
    file.sync();
  } catch (err) {
    file.close();
    throw err;
  }
  const segment = new ActiveSegment({
    segmentId: final.segmentId, path: final.path, salt: scan.header.salt, firstEntryId: scan.header.firstEntryId,
    syncWindow: scan.header.syncWindow, createdAt: options.now, file,
    position: scan.validEnd, synced: scan.validEnd, frameCount: scan.frameCount, version: scan.header.version,
    earlierLife: scan.header.earlierLife,
  });
  return {
    segment, nextEntryId: scan.lastEntryId + 1, repaired: scan.tail === 'torn' ? 'tail' : 'none', created: false, preallocationFailed: false,
  };
}

function scanFinal(dir: Directory, final: SegmentRef): SegmentScan {
  try {
    return scanSegment(dir, final, { isFinal: true, mode: 'bestEffortTail' });
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    throw new CorruptionError(
      err.file, err.offset,
      `${err.reason}. The writer will not open a damaged log (nothing was changed): run 'durability verify' on it for details, ` +
        `then restore it from a copy or a checkpoint, or run 'durability repair --force' to cut the log at this offset (the bytes cut are kept in a quarantine file)`,
      { cause: err },
    );
  }
}

/**
 * The scan lowers its idea of the file's size when a read returns nothing before the size it
 * started from (a file that shrank while read). Under the writer's lock nothing shrinks the final
 * segment, so a file still larger than what was read is a read that ended early (a FUSE or NFS
 * page cache out of step with the size it reports): the bytes past it were never looked at, and
 * cutting there would drop entries that may have been acknowledged. Refused, nothing changed.
 */
function refuseUnreadBytes(size: number, read: number, path: string): void {
  if (size <= read) return;
  throw new IoError('EIO', 'pread', path, {
    message: `pread failed: EIO (${path}): reading ended at byte ${read} but the file holds ${size} bytes; nothing was cut. Open the log again once its file system reads it whole`,
  });
}
