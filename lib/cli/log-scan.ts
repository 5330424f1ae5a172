import type { Directory } from '../directory/directory';
import { CorruptionError } from '../errors';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE } from '../wal/format';
import { checkSegmentSequence, listSegments, scanSegment, type ScanMode, type SegmentScan } from '../wal/segment-scan';

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
  /** Called with (bytesDone, bytesTotal) now and then. */
  onProgress?: (done: number, total: number) => void;
}

const PROGRESS_EVERY = 4096;

export function scanLog(dir: Directory, options: ScanLogOptions): LogReport {
  const refs = listSegments(dir);
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
    const onProgress = options.onProgress;
    try {
      const scan = scanSegment(dir, ref, {
        isFinal: i === refs.length - 1,
        mode: options.mode,
        expectedFirstEntryId: expected,
        onFrame: onProgress === undefined ? undefined : (_id, payload) => {
          done += FRAME_HEADER_SIZE + payload.length;
          if (++frames % PROGRESS_EVERY === 0) onProgress(done + SEGMENT_HEADER_SIZE, totalBytes);
        },
      });
      segments.push({ segmentId: ref.segmentId, path: ref.path, fileSize: sizes[i], scan, damage: undefined });
      expected = scan.lastEntryId + 1;
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      segments.push({ segmentId: ref.segmentId, path: ref.path, fileSize: sizes[i], scan: undefined, damage: err });
      firstDamage ??= err;
      if (options.stopAtDamage) break;
      expected = undefined;
    }
    before += sizes[i];
    options.onProgress?.(before, totalBytes);
  }
  return { segments, firstDamage, totalBytes };
}

function fileSize(dir: Directory, path: string): number {
  const f = dir.openRead(path);
  try {
    return f.size();
  } finally {
    f.close();
  }
}
