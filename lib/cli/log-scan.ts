import nodePath from 'node:path';
import type { Directory } from '../directory/directory';
import { CorruptionError } from '../errors';
import type { UnknownNames } from '../unknown-names';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE } from '../wal/format';
import { surveyValidFrames, type FrameSurvey } from '../wal/quarantine';
import { scanSegment, type ScanMode, type SegmentScan } from '../wal/segment-scan';
import { checkSegmentSequence, listSegments, readValidSegmentHeader, type SegmentRef } from '../wal/segment-files';
import { sizeOf } from '../directory/read-whole';
import { openReadChecked } from '../directory/checked-answers';

// Walks every segment the way WalReader does (sequence and id-continuity rules included), but
// keeps going after damage so inspect can describe the whole log, and reports bytes as it goes
// for a progress bar.

export interface SegmentReport {
  readonly segmentId: number;
  readonly path: string;
  readonly fileSize: number;
  readonly scan: SegmentScan | undefined;
  /** Damage that stopped the scan of this segment (scan is then undefined). */
  readonly damage: CorruptionError | undefined;
  /** With damage: the good frames read before it (entries a reader returns before the error). */
  readonly beforeDamage?: { readonly count: number; readonly firstEntryId: number; readonly lastEntryId: number };
  /** With ScanLogOptions.survey: frames passing their CRC after the torn or damaged offset. */
  readonly following?: FrameSurvey;
}

export interface LogReport {
  readonly segments: readonly SegmentReport[];
  /** First damage in log order (a torn tail counts in strict mode), or undefined when clean. */
  readonly firstDamage: CorruptionError | undefined;
  readonly totalBytes: number;
}

export interface ScanLogOptions {
  mode: ScanMode;
  /** Stop at the first damage (verify) instead of describing every segment (inspect). */
  stopAtDamage: boolean;
  /** Count the frames passing their CRC after a torn or damaged offset (SegmentReport.following). */
  survey?: boolean;
  /** Called with (bytesDone, bytesTotal) now and then. */
  onProgress?: (done: number, total: number) => void;
  /** Where names in wal/ that the package never writes are reported (they are ignored). */
  unknown?: UnknownNames;
}

const PROGRESS_EVERY = 4096;

export function scanLog(dir: Directory, options: ScanLogOptions): LogReport {
  const refs = listSegments(dir, options.unknown);
  const sizes = refs.map((r) => fileSize(dir, r.path));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const segments: SegmentReport[] = [];
  let firstDamage: CorruptionError | undefined;
  try {
    checkSegmentSequence(refs);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    firstDamage = err;
    if (options.stopAtDamage) return { segments, firstDamage, totalBytes };
  }
  let before = 0;
  let expected: number | undefined;
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i];
    let done = before;
    let frames = 0;
    let firstRead = 0;
    let lastRead = 0;
    const onProgress = options.onProgress;
    try {
      const scan = scanSegment(dir, ref, {
        isFinal: i === refs.length - 1,
        mode: options.mode,
        expectedFirstEntryId: expected,
        onFrame: (id, payload) => {
          if (frames === 0) firstRead = id;
          lastRead = id;
          if (onProgress === undefined) return void frames++;
          done += FRAME_HEADER_SIZE + payload.length;
          if (++frames % PROGRESS_EVERY === 0) onProgress(done + SEGMENT_HEADER_SIZE, totalBytes);
        },
      });
      const following = options.survey === true && scan.tail === 'torn' && scan.header !== undefined
        ? surveyValidFrames(dir, ref.path, scan.validEnd, scan.header.salt, scan.lastEntryId + 1, true)
        : undefined;
      segments.push({ segmentId: ref.segmentId, path: ref.path, fileSize: sizes[i], scan, damage: undefined, following });
      expected = scan.lastEntryId + 1;
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      const following = options.survey === true ? surveyAfterDamage(dir, ref, err, expected) : undefined;
      const beforeDamage = { count: frames, firstEntryId: firstRead, lastEntryId: lastRead };
      segments.push({ segmentId: ref.segmentId, path: ref.path, fileSize: sizes[i], scan: undefined, damage: err, beforeDamage, following });
      firstDamage ??= err;
      if (options.stopAtDamage) break;
      expected = undefined;
    }
    before += sizes[i];
    options.onProgress?.(before, totalBytes);
  }
  return { segments, firstDamage, totalBytes };
}

/** Frames passing their CRC in the damaged segment from the damaged offset on (none known when its header is bad). */
function surveyAfterDamage(dir: Directory, ref: SegmentRef, damage: CorruptionError, expected: number | undefined): FrameSurvey | undefined {
  if (damage.file !== ref.path) return undefined;
  const header = readValidSegmentHeader(dir, ref);
  if (header === undefined) return undefined;
  return surveyValidFrames(dir, ref.path, Math.max(damage.offset, SEGMENT_HEADER_SIZE), header.salt, expected ?? header.firstEntryId);
}

/** "N frame(s) passing their CRC follow (entries a..b)", for inspect and verify. */
export function describeFollowing(s: FrameSurvey | undefined): string {
  if (s === undefined) return '';
  const more = s.undecided ? ' (or more: the search stopped at its budget)' : '';
  if (s.count === 0) return `no frame passing its CRC follows${more}`;
  return `${s.count} frame(s) passing their CRC follow (entries ${s.firstEntryId}..${s.lastEntryId})${more}`;
}

/** "ignored: <path> (...)", for a name in wal/ or checkpoints/ that the package never writes. */
export function describeIgnored(dirPath: string, storePath: string): string {
  return `ignored: ${nodePath.join(dirPath, storePath)} (not a file this package writes)`;
}

function fileSize(dir: Directory, path: string): number {
  const f = openReadChecked(dir, path);
  try {
    return sizeOf(f);
  } finally {
    f.close();
  }
}
