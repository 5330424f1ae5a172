// Opening a record log's file for its writer (the caller holds the lock): created with a synced
// header when missing; otherwise scanned, a torn tail cut off (or a torn header rewritten), the
// bytes no mark vouches for rewritten in place, and everything synced before anything is appended.

import type { Directory, WritableFile } from '../directory/directory';
import { existsAt } from '../directory/checked-answers';
import { parentOf } from '../directory/path';
import { rewriteInPlace } from '../framed/rewrite';
import { refuseBytesPastEnd } from '../framed/scanned-end';
import { DEFAULT_RECORD_SYNC_WINDOW, RECORD_LOG_HEADER_SIZE, RECORD_LOG_V1, RECORD_LOG_VERSION, encodeRecordLogHeader } from './format';
import { RecordLogScanner } from './scan';

/** What a writer knows of a file's sync marks (RecordLogScan's fields of the same names). */
export interface MarkState {
  readonly version: number;
  readonly watermark: number;
  readonly markedEnd: number;
}

/** A file just created (or whose torn header was rewritten): the current version, no mark yet. */
const NEW_FILE: MarkState = { version: RECORD_LOG_VERSION, watermark: 0, markedEnd: 0 };

export interface OpenedRecordLog {
  readonly file: WritableFile;
  readonly syncWindow: number;
  /** What opening repaired: a torn tail cut off, a torn header rewritten, or nothing. */
  readonly repaired: 'none' | 'tail' | 'header';
  readonly marks: MarkState;
  /** Where the log ends: the writer's first record goes here. */
  readonly end: number;
}

/** `syncWindowOption`: W for a new file (or one whose torn header is rewritten); an existing file keeps its own. */
export function openRecordLogFile(dir: Directory, path: string, syncWindowOption: number | undefined): OpenedRecordLog {
  const parent = parentOf(path);
  if (!existsAt(dir, path)) {
    const header = encodeRecordLogHeader(syncWindowOption ?? DEFAULT_RECORD_SYNC_WINDOW, dir.checksum);
    const file = dir.create(path);
    try {
      file.writeAt(header, 0);
      file.sync();
      dir.syncDir(parent);
    } catch (err) {
      file.close();
      throw err;
    }
    return { file, syncWindow: syncWindowOption ?? DEFAULT_RECORD_SYNC_WINDOW, repaired: 'none', marks: NEW_FILE, end: RECORD_LOG_HEADER_SIZE };
  }
  // Finding the end reads every record the format allows: maxRecordSize limits appends only.
  const scanner = new RecordLogScanner(dir, path, { mode: 'bestEffortTail' });
  let scan;
  let lastRecordAt = RECORD_LOG_HEADER_SIZE;
  try {
    while (scanner.next()) lastRecordAt = scanner.recordOffset();
    scan = scanner.result();
  } finally {
    scanner.close();
  }
  refuseBytesPastEnd(dir, path, scan.fileSize);
  const file = dir.openAppend(path);
  try {
    let syncWindow = scan.syncWindow;
    let repaired: 'none' | 'tail' | 'header' = 'none';
    // A version 1 file stays version 1: its readers know no sync marks.
    let marks: MarkState = scan;
    if (scan.headerTorn) {
      syncWindow = syncWindowOption ?? DEFAULT_RECORD_SYNC_WINDOW;
      file.truncate(0);
      file.writeAt(encodeRecordLogHeader(syncWindow, dir.checksum), 0);
      marks = NEW_FILE;
      repaired = 'header';
    } else {
      // Cut even at the current size: a failed fdatasync may have lost a cut (an earlier
      // open's, or a poisoned writer's) that the page cache shows as done.
      file.truncate(scan.validEnd);
      // Bytes no mark vouches for may be ones a failed fdatasync left in the page cache but
      // not on disk (marked clean: the sync below would not carry them); rewritten, it does.
      // From the last watermark in version 2, header included while there is no mark (the
      // fdatasync that created the file may have failed); in version 1 (created by an older
      // release) from W before the end, or from the last record when it alone is longer
      // (rule B: only a record written right after a sync may exceed W).
      const unvouched = scan.version === RECORD_LOG_V1
        ? Math.max(RECORD_LOG_HEADER_SIZE, Math.min(scan.validEnd - scan.syncWindow, lastRecordAt))
        : scan.watermark;
      rewriteInPlace(dir, path, file, unvouched, scan.validEnd);
      repaired = scan.tail === 'torn' ? 'tail' : 'none';
    }
    // What a previous writer left in the page cache becomes durable now (it may have been
    // killed before its sync), so this writer starts with an empty sync window.
    file.sync();
    dir.syncDir(parent);
    const end = scan.headerTorn ? RECORD_LOG_HEADER_SIZE : scan.validEnd;
    return { file, syncWindow, repaired, marks, end };
  } catch (err) {
    file.close();
    throw err;
  }
}
