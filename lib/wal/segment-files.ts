// The segment files of a log as names and headers: which exist (sorted, no duplicates, no
// gaps) and what their header says. Reading what they hold is segment-scan.ts's job.

import type { Directory } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { CorruptionError } from '../errors';
import type { UnknownNames } from '../unknown-names';
import { SEGMENT_HEADER_SIZE, WAL_DIR, checkSegmentHeader, parseSegmentFileName, type SegmentHeader } from './format';
import { walNameKind } from './wal-names';
import { listNames, openReadChecked } from '../directory/checked-answers';

export interface SegmentRef {
  segmentId: number;
  path: string;
}

/**
 * Segments under wal/, sorted by numeric id. The writer's other files are not segments; a name
 * shaped as a segment's with an id no segment has is refused; any other name is someone else's,
 * ignored, and reported to `unknown` when given (lib/unknown-names.ts).
 */
export function listSegments(dir: Directory, unknown?: UnknownNames): SegmentRef[] {
  const out: SegmentRef[] = [];
  for (const name of listNames(dir, WAL_DIR)) {
    const path = `${WAL_DIR}/${name}`;
    const kind = walNameKind(name);
    if (kind === 'unknown') unknown?.report(path);
    if (kind === 'malformed-segment') throw new CorruptionError(path, 0, 'not a segment file name (expected <digits>.wal, id 1..2^53-1)');
    if (kind !== 'segment') continue;
    out.push({ segmentId: parseSegmentFileName(name) as number, path });
  }
  out.sort((a, b) => a.segmentId - b.segmentId);
  for (let i = 1; i < out.length; i++) {
    if (out[i].segmentId === out[i - 1].segmentId) {
      throw new CorruptionError(out[i].path, 0, `duplicate segment id ${out[i].segmentId} (also ${out[i - 1].path})`);
    }
  }
  return out;
}

/** Segment ids must be consecutive: a gap means a segment is missing from the middle of the log. */
export function checkSegmentSequence(segments: readonly SegmentRef[]): void {
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1].segmentId;
    if (segments[i].segmentId !== prev + 1) {
      throw new CorruptionError(segments[i].path, 0, `segment id gap: ${segments[i].segmentId} follows ${prev}`);
    }
  }
}

/** The first SEGMENT_HEADER_SIZE bytes of a segment file (fewer when the file is shorter). */
export function readSegmentPrefix(dir: Directory, seg: SegmentRef): Uint8Array {
  const f = openReadChecked(dir, seg.path);
  try {
    const bytes = new Uint8Array(SEGMENT_HEADER_SIZE);
    const n = readWhole(f, bytes, 0);
    return bytes.subarray(0, n);
  } finally {
    f.close();
  }
}

/** The segment's header when it is whole, valid and names this segment; else undefined (a scan says what is wrong). */
export function readValidSegmentHeader(dir: Directory, seg: SegmentRef): SegmentHeader | undefined {
  const check = checkSegmentHeader(readSegmentPrefix(dir, seg), dir.checksum, seg.segmentId);
  return check.kind === 'ok' ? check.header : undefined;
}
