import type { Checksummer } from '../backend/backend';
import type { Directory } from '../directory/directory';
import { CorruptionError } from '../errors';
import { ActiveSegment, createSegment } from './active-segment';
import { listSegments, scanSegment } from './segment-scan';

// How a writer picks up an existing log: only the final segment is read (the reader checks the
// rest when it replays). A torn tail is cut off in place at the last good frame boundary; a torn
// header means the segment never held a synced frame (headers are fdatasynced when a segment is
// created), so it is deleted and created again.

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
  options: { syncWindow: number; preallocate: number; maxPayloadSize: number; now: number },
): ResumedTail | undefined {
  const segments = listSegments(dir);
  if (segments.length === 0) return undefined;
  const final = segments[segments.length - 1];
  const scan = scanSegment(dir, final, { isFinal: true, mode: 'bestEffortTail', maxPayloadSize: options.maxPayloadSize });

  if (scan.header === undefined) {
    let firstEntryId: number;
    if (segments.length > 1) {
      const previous = scanSegment(dir, segments[segments.length - 2], {
        isFinal: false, mode: 'strict', maxPayloadSize: options.maxPayloadSize,
      });
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

  const file = dir.openAppend(final.path);
  try {
    if (scan.tail === 'torn') file.truncate(scan.validEnd);
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
    position: scan.validEnd, synced: scan.validEnd, frameCount: scan.frameCount,
  });
  return {
    segment, nextEntryId: scan.lastEntryId + 1, repaired: scan.tail === 'torn' ? 'tail' : 'none', created: false, preallocationFailed: false,
  };
}
