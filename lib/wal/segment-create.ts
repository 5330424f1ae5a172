import type { Checksummer } from '../backend/backend';
import { channels, diagnoseOnce } from '../diagnostics';
import type { Directory, WritableFile } from '../directory/directory';
import { cleanUpAfterFailure } from '../after-failure';
import { parentOf } from '../directory/path';
import { isNoRoom } from '../backend/no-room';
import { InvalidStateError } from '../errors';
import { ActiveSegment, zeroRuns } from './active-segment';
import { encodeSegmentHeader, FORMAT_VERSION as MARKS_VERSION, SEGMENT_HEADER_SIZE, segmentPath } from './format';

// How a segment comes to be: created fresh (header written and synced, zero fill, preallocation),
// reused from a recycle file (header synced under the recycle name, then renamed into place), or
// planned (pipelined mode: header and salt fixed, its file created by its first commit).

/**
 * Reserves a new segment's space with fallocate; false where the directory cannot, or where the
 * disk has no room for it: preallocation is an optimisation, and a segment grows as it is written
 * just the same. The writer then preallocates no more segments. A reservation that failed part
 * way may leave the file longer, which reads as zeros: a clean end, trimmed at rotation and close
 * like the rest. No room is published once per writer that meets it (a disk fills and empties
 * again), no support once per process (a file system's nature).
 */
function reserve(dir: Directory, file: WritableFile, length: number, path: string): boolean {
  try {
    if (file.allocate(length)) return true;
    diagnoseOnce({ kind: 'fallocate-unsupported', message: 'WAL segments are not preallocated: this directory cannot reserve space', path }, dir.kind);
  } catch (err) {
    if (!isNoRoom(err)) throw err;
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'fallocate-no-space', message: `WAL segments are not preallocated: no room to reserve ${length} bytes`, path, error: err });
    }
  }
  return false;
}

export interface NewSegment {
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  createdAt: number;
  /** Bytes to reserve with fallocate (0: none). */
  preallocate: number;
  /** Bytes to fill with zeros by writing, header included (0 or absent: none). See WalWriterOptions.zeroFill. */
  zeroFill?: number;
}

/**
 * A planned segment's first commits (pipelined mode): its header, then the zero fill up to
 * `zeroFill` (options.zeroFill), each run a commit of its own (write + fdatasync) so no commit
 * holds more than one run. The first run rides with the header: zeros read as a clean end, so a
 * torn header over zeros is still a segment that never held a frame. Frames go in afterwards.
 */
export async function commitHeader(segment: ActiveSegment, header: Uint8Array, zeroFill: number): Promise<void> {
  const runs = zeroRuns(SEGMENT_HEADER_SIZE, zeroFill);
  const first = runs.next();
  await segment.commit({ chunks: first.done === true ? [header] : [header, ...first.value.chunks], position: 0 }, SEGMENT_HEADER_SIZE);
  for (const run of runs) await segment.commit({ chunks: run.chunks, position: run.position }, SEGMENT_HEADER_SIZE);
}

/**
 * Creates a fresh segment file: header written and fdatasynced, so the segment's first entry id is
 * on disk before anything can depend on it. The directory entry still needs syncDir('wal').
 * `preallocationFailed`: the file system cannot reserve space (one diagnostic is published).
 */
export function createSegment(dir: Directory, spec: NewSegment, checksum: Checksummer): { segment: ActiveSegment; preallocationFailed: boolean } {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const file = dir.create(path);
  let preallocationFailed = false;
  try {
    file.writeAt(bytes, 0);
    // Zeros read as a clean end (docs/FORMAT.md); a crash before the sync below leaves at worst a
    // torn header over zeros, which resume repairs like any torn header.
    for (const run of zeroRuns(SEGMENT_HEADER_SIZE, spec.zeroFill ?? 0)) {
      let at = run.position;
      for (const chunk of run.chunks) {
        file.writeAt(chunk, at);
        at += chunk.length;
      }
    }
    if (spec.preallocate > SEGMENT_HEADER_SIZE && !reserve(dir, file, spec.preallocate, path)) preallocationFailed = true;
    file.sync();
  } catch (err) {
    cleanUpAfterFailure(() => file.close());
    // After a failed write or fdatasync the header may exist only in the page cache: a writer
    // reopened before a reboot would append to a segment with no header on disk. It holds no
    // entry yet, so it goes (best effort; a crash that brings it back leaves a torn final header).
    cleanUpAfterFailure(() => dir.deleteNoSync(path));
    throw err;
  }
  const segment = segmentFor(spec, path, header.salt, file);
  segment.extendsTo(spec.zeroFill ?? 0);
  return { segment, preallocationFailed };
}

/**
 * Turns a recycled file into segment `spec.segmentId`: the new header (new salt, so the old
 * frames behind it can never validate; FLAG_EARLIER_LIFE, so a reader knows they may follow the
 * zeros past the log) is written with zeros after it and fdatasynced while the file still has its
 * recycle name, and only then is it renamed into place (rename + directory fsync). A crash at any
 * point leaves either a recycle file the reader ignores or a segment with a valid header.
 */
export function reuseSegment(dir: Directory, recyclePath: string, spec: NewSegment, checksum: Checksummer): ActiveSegment {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader({ ...spec, earlierLife: true }, checksum);
  const zeroedTo = installRecycled(dir, recyclePath, bytes, path);
  const segment = segmentFor(spec, path, header.salt, dir.openAppend(path), true);
  try {
    segment.overwritesStaleBytes(zeroedTo);
  } catch (err) {
    cleanUpAfterFailure(() => segment.close());
    throw err;
  }
  return segment;
}

/**
 * Zeros written behind a recycled file's new header, before it becomes a segment: until the first
 * frames (and the zeros the writer keeps ahead of them) are written, what follows the header is
 * an earlier life's bytes, which a reader tells from a torn write only by the zeros in front of
 * them (docs/FORMAT.md). One page; never past the file's end, so they overwrite blocks it owns.
 */
const ZEROS_BEHIND_HEADER = 4096;

function zerosBehindHeader(fileSize: number): Uint8Array[] {
  const n = Math.min(ZEROS_BEHIND_HEADER, fileSize - SEGMENT_HEADER_SIZE);
  return n > 0 ? [new Uint8Array(n)] : [];
}

/**
 * The crash-safe order of reuse: header and its zeros written and synced under the recycle name,
 * then renamed to `path`. Returns the end of those zeros.
 */
function installRecycled(dir: Directory, recyclePath: string, header: Uint8Array, path: string): number {
  const staged = dir.openAppend(recyclePath);
  let zeroedTo = SEGMENT_HEADER_SIZE;
  try {
    staged.writeAt(header, 0);
    for (const chunk of zerosBehindHeader(staged.size())) {
      staged.writeAt(chunk, zeroedTo);
      zeroedTo += chunk.length;
    }
    staged.sync();
  } catch (err) {
    cleanUpAfterFailure(() => staged.close());
    throw err;
  }
  staged.close();
  dir.atomicRename(recyclePath, path);
  return zeroedTo;
}

function segmentFor(spec: NewSegment, path: string, salt: number, file: WritableFile, earlierLife = false): ActiveSegment {
  return new ActiveSegment({
    segmentId: spec.segmentId, path, salt, firstEntryId: spec.firstEntryId, syncWindow: spec.syncWindow,
    createdAt: spec.createdAt, file, position: SEGMENT_HEADER_SIZE, synced: SEGMENT_HEADER_SIZE, frameCount: 0, version: MARKS_VERSION, earlierLife,
  });
}

/**
 * A segment decided on but not created: its header (hence its salt) is fixed, so frames can be
 * laid out and sealed for it, but the file appears only when its first batch commits
 * (createPlannedFile / installPlannedRecycled), which the group-commit path does only after the batch
 * that synced the previous segment completed (rule A). For a new file that first batch runs two
 * commits: the header alone (write + fdatasync), then the batch's frames (write + fdatasync and
 * the directory fsync for the new entry). Written together, a torn write could keep a frame and
 * lose the header, which the reader must call damage; in this order a crash leaves at worst a
 * torn header with no frames, or a whole header and a torn tail, and no entry of the segment was
 * reported durable before the frames' commit completed. A recycled file gets its header written
 * and synced before it is renamed into place (installPlannedRecycled), so its first commit is frames only.
 */
export function planSegment(spec: NewSegment & { earlierLife?: boolean }, checksum: Checksummer): ActiveSegment {
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const segment = new ActiveSegment({
    segmentId: spec.segmentId, path: segmentPath(spec.segmentId), salt: header.salt, firstEntryId: spec.firstEntryId,
    syncWindow: spec.syncWindow, createdAt: spec.createdAt, file: undefined, position: SEGMENT_HEADER_SIZE, synced: 0, frameCount: 0,
    version: MARKS_VERSION, earlierLife: header.earlierLife,
  });
  segment.pendingHeader = bytes;
  return segment;
}

/**
 * Creates a planned segment's file (its header stays pending, for the first commit to write).
 * Returns whether preallocation was unavailable. The directory entry needs syncDir('wal').
 */
export function createPlannedFile(dir: Directory, segment: ActiveSegment, preallocate: number): boolean {
  const file = dir.create(segment.path);
  let preallocationFailed = false;
  try {
    if (preallocate > SEGMENT_HEADER_SIZE && !reserve(dir, file, preallocate, segment.path)) preallocationFailed = true;
  } catch (err) {
    cleanUpAfterFailure(() => file.close());
    throw err;
  }
  segment.attach(file);
  return preallocationFailed;
}

/**
 * Turns a recycled file into a planned segment in reuseSegment's order, off the event loop: the
 * header is written and fdatasynced under the recycle name by the file's own commit (the commit
 * thread, or the thread pool on node:fs), then the file is renamed into place and the directory
 * fsynced, before any frame is written. The fsync cannot ride with the first frames commit (it
 * runs after that commit's fdatasync): a power cut could then keep the frames and lose the
 * rename, leaving a recycle file that holds frames sealed under this header's salt. The salt is
 * the header's CRC, the same for the same segment id and first entry id, so the next writer,
 * reusing that file for the same segment, would write an identical header in front of frames
 * nobody was told are durable, and they would validate.
 */
export async function installPlannedRecycled(dir: Directory, recyclePath: string, segment: ActiveSegment): Promise<void> {
  const header = segment.pendingHeader;
  if (header === undefined) throw new InvalidStateError(`segment ${segment.path} is not planned`);
  const staged = dir.openAppend(recyclePath);
  let zeroedTo = SEGMENT_HEADER_SIZE;
  try {
    const zeros = zerosBehindHeader(staged.size());
    await staged.commitAsync({ chunks: [header, ...zeros], position: 0 });
    for (const chunk of zeros) zeroedTo += chunk.length;
  } catch (err) {
    cleanUpAfterFailure(() => staged.close());
    throw err;
  }
  staged.close();
  dir.renameNoSync(recyclePath, segment.path);
  await dir.syncDirAsync(parentOf(segment.path));
  segment.attach(dir.openAppend(segment.path));
  segment.overwritesStaleBytes(zeroedTo);
  segment.pendingHeader = undefined;
  segment.synced = SEGMENT_HEADER_SIZE;
}
