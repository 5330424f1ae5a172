// Nothing that validates is destroyed: before open, repair or recovery cuts bytes off a segment,
// the frames there that still pass their CRC are looked for, and if there are any the cut bytes
// are copied to a quarantine file in wal/ (fdatasynced, directory fsynced) before the cut, and a
// diagnostic names the segment, the offset and the entry ids preserved. The file name ends in
// `.quarantine`, which no reader takes for a segment.

import { channels, type DiagnosticEvent } from '../diagnostics';
import type { Directory } from '../directory/directory';
import { NotFoundError } from '../errors';
import { SEARCH_UNDECIDED, searchBudget, surveyWitnesses } from '../framed/witness-search';
import { MARK_LENGTH, SEGMENT_HEADER_SIZE, WAL_DIR, WAL_FRAME_LAYOUT, readU32, readU64 } from './format';
import { listSegments, readValidSegmentHeader } from './segment-files';
import { readWhole, sizeOf } from '../directory/read-whole';
import { brokenContract } from '../directory/broken-contract';
import { existsAt, openReadChecked } from '../directory/checked-answers';

export const QUARANTINE_SUFFIX = '.quarantine';
const COPY_CHUNK = 1 << 20;

/** Entry frames that validate in a segment's bytes from some offset on. */
export interface FrameSurvey {
  /** Frames found (entry frames; sync marks are not counted). */
  count: number;
  /** Lowest and highest entry id among them (0 when none). */
  firstEntryId: number;
  lastEntryId: number;
  /** The search gave up on adversarial bytes before the end: there may be more. */
  undecided: boolean;
}

export interface QuarantineEvent extends DiagnosticEvent {
  readonly kind: 'wal-quarantine';
  /** The quarantine file (under the log directory). */
  readonly path: string;
  /** The segment cut, and the offset the cut starts at: the quarantine holds its bytes from there to its end. */
  readonly file: string;
  readonly offset: number;
  readonly frames: number;
  readonly firstEntryId: number;
  readonly lastEntryId: number;
  /** The count stopped at its CRC budget: more frames (and later ids) may pass their CRC in the copy. */
  readonly undecided: boolean;
}

/**
 * Counts the frames from `from` on in `path` that validate under `salt` with an id ≥ idMin,
 * stepping over each one found (a validating frame is taken as a frame boundary). One pass
 * (surveyWitnesses): a cut tail of many frames is read once, and the CRC work of the whole survey
 * is capped at one search's budget from `from`; when a budget runs out the survey is undecided.
 * `nextIdAtFrom`: idMin is the id a frame at `from` would carry (a cut at the log's end), so one
 * at p carries at most idMin + ⌊(p − from)/16⌋ (the frames between take 16 bytes at least).
 * Without that bound a recycled file's earlier life, read a few bytes off, offers candidates
 * with lengths up to the end of the file at every offset, and the search ran out of budget.
 */
export function surveyValidFrames(dir: Directory, path: string, from: number, salt: number, idMin: number, nextIdAtFrom = false): FrameSurvey {
  const file = openReadChecked(dir, path);
  const out: FrameSurvey = { count: 0, firstEntryId: 0, lastEntryId: 0, undecided: false };
  try {
    const fileSize = sizeOf(file);
    const end = surveyWitnesses({
      // markAbove 0: a sync mark that validates is a witness too, so the survey steps over it.
      // Scanned byte by byte instead, its watermark bytes read as a length under a plausible id
      // make candidates that each cost a CRC of most of the file, and a whole segment synced
      // every few entries ran out of budget part way (760 of 1231 frames).
      layout: WAL_FRAME_LAYOUT, file, fileSize, checksum: dir.checksum, from, endBeyond: from, markAbove: 0, salts: [salt], idMin,
      idBase: nextIdAtFrom ? from : undefined, budget: searchBudget(fileSize, from),
    }, (_offset, head) => {
      if (readU32(head, 4) === MARK_LENGTH) return; // a sync mark: not an entry
      const id = readU64(head, 8);
      if (out.count === 0 || id < out.firstEntryId) out.firstEntryId = id;
      if (id > out.lastEntryId) out.lastEntryId = id;
      out.count++;
    });
    out.undecided = end === SEARCH_UNDECIDED;
  } finally {
    file.close();
  }
  return out;
}

/**
 * Before bytes [from, end of file) of segment `path` are cut: if any frame there validates (or
 * the search could not rule it out), copies those bytes to a new quarantine file, makes it
 * durable, and publishes a 'wal-quarantine' diagnostic. Returns the event, or undefined when
 * nothing there validates (nothing to preserve).
 */
export function quarantineBeforeCut(
  dir: Directory, path: string, from: number, salt: number | undefined, idMin: number,
  { always = false, nextIdAtFrom = false }: { always?: boolean; nextIdAtFrom?: boolean } = {},
): QuarantineEvent | undefined {
  const survey = salt === undefined ? { count: 0, firstEntryId: 0, lastEntryId: 0, undecided: true } : surveyValidFrames(dir, path, from, salt, idMin, nextIdAtFrom);
  if (survey.count === 0 && !survey.undecided && !always) return undefined;
  const target = copyToQuarantine(dir, path, from);
  const ids = survey.count === 0 ? 'no entry id known' : `entries ${survey.firstEntryId}..${survey.lastEntryId}`;
  const more = survey.undecided ? ' (maybe more: the search stopped at its budget)' : '';
  const event: QuarantineEvent = {
    kind: 'wal-quarantine', path: target, file: path, offset: from,
    frames: survey.count, firstEntryId: survey.firstEntryId, lastEntryId: survey.lastEntryId, undecided: survey.undecided,
    message: `${path} @ ${from}: ${survey.count} frame(s) that pass their CRC (${ids})${more} are cut from the log; the bytes from there on are preserved in ${target}`,
  };
  if (channels.diagnostic.hasSubscribers) channels.diagnostic.publish(event);
  return event;
}

const MAX_QUARANTINE_COPIES = 10_000;

/** Copies bytes [from, end) of `path` to a fresh `wal/<segment file>.<from>[.<n>].quarantine`, fdatasynced, directory fsynced. */
function copyToQuarantine(dir: Directory, path: string, from: number): string {
  const base = `${path}.${from}`;
  let target = `${base}${QUARANTINE_SUFFIX}`;
  for (let n = 1; existsAt(dir, target); n++) {
    // No store holds this many quarantines of one offset: a Directory whose exists() says true
    // of every name would hold the open here for ever.
    if (n > MAX_QUARANTINE_COPIES) throw brokenContract(target, 'stat', `exists() says ${MAX_QUARANTINE_COPIES} quarantine names in a row are taken`);
    target = `${base}.${n}${QUARANTINE_SUFFIX}`;
  }
  const source = openReadChecked(dir, path);
  try {
    const size = sizeOf(source);
    const out = dir.create(target);
    try {
      const chunk = new Uint8Array(Math.max(1, Math.min(COPY_CHUNK, size - from)));
      for (let at = from; at < size; ) {
        const got = readWhole(source, chunk.subarray(0, Math.min(chunk.length, size - at)), at);
        if (got === 0) break;
        out.writeAt(chunk.subarray(0, got), at - from);
        at += got;
      }
      out.sync();
    } finally {
      out.close();
    }
  } finally {
    source.close();
  }
  dir.syncDir(WAL_DIR);
  return target;
}

/**
 * `durability repair --force`: cuts the log at damage (segment `file`, byte `offset`): that
 * segment is cut there (removed when the offset is inside its header) and every later segment
 * removed, each piece first copied to a quarantine file (made durable) and announced. Returns
 * what was preserved. The caller then lets a writer resume the log (which finishes the repair).
 */
export function forceCut(dir: Directory, file: string, offset: number): QuarantineEvent[] {
  const segments = listSegments(dir);
  const k = segments.findIndex((s) => s.path === file);
  if (k < 0) throw new NotFoundError(file);
  const out: QuarantineEvent[] = [];
  for (let i = segments.length - 1; i > k; i--) {
    const seg = segments[i];
    const header = readValidSegmentHeader(dir, seg);
    out.push(quarantineBeforeCut(dir, seg.path, 0, header?.salt, header?.firstEntryId ?? 1, { always: true })!);
    dir.delete(seg.path);
  }
  const seg = segments[k];
  const header = readValidSegmentHeader(dir, seg);
  if (header === undefined || offset < SEGMENT_HEADER_SIZE) {
    out.push(quarantineBeforeCut(dir, seg.path, 0, header?.salt, header?.firstEntryId ?? 1, { always: true })!);
    dir.delete(seg.path);
  } else {
    out.push(quarantineBeforeCut(dir, seg.path, offset, header.salt, header.firstEntryId, { always: true })!);
    const f = dir.openAppend(seg.path);
    try {
      f.truncate(offset);
      f.sync();
    } finally {
      f.close();
    }
  }
  dir.syncDir(WAL_DIR);
  return out.reverse();
}
