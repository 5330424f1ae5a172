// Reads a record log frame by frame and classifies its end: clean, torn (a crash mid-append)
// or damaged, by the rule of a final WAL segment (docs/FORMAT.md): a bad frame at offset o is
// damage when a witness proves the bytes at o had been synced, else a torn tail. In a version 2
// file the witness is a later sync mark whose watermark is past o (the writer leads its first
// write after each fdatasync with one, and ends a closed file with one, so damage anywhere in a
// closed file is damage); in a version 1 file, a frame that validates and ends beyond o + W
// (the writer never leaves more than W bytes unsynced, so bytes that far back had been synced).
//
// Memory is bounded by the largest frame: a ScanWindow of 1 MiB, grown only for a frame whose
// length was checked against the maximum and the bytes left in the file.

import type { Checksummer } from '../backend/backend';
import type { Directory } from '../directory/directory';
import { CorruptionError, DecodeError, InvalidArgumentError } from '../errors';
import { maskCrc, readU32, readU64 } from '../framed/bytes';
import { SEARCH_NONE, SEARCH_UNDECIDED, findWitnessFrame, frameCrcMatches, searchBudget, type FrameLayout } from '../framed/witness-search';
import { ScanWindow } from '../wal/scan-window';
import {
  checkRecordLogHeader, MAX_RECORD_SIZE, RECORD_FRAME_HEADER_SIZE, RECORD_LOG_HEADER_SIZE, RECORD_LOG_V1, RECORD_MARK_LENGTH, RECORD_MARK_SIZE,
  recordFrameLayout,
} from './format';
import { openReadChecked } from '../directory/checked-answers';

/**
 * 'bestEffortTail' is the WAL's name for the same rule (a torn final write ends the read; damage
 * is still an error). 'bestEffort' is its older name here, kept as a deprecated alias.
 */
export type RecordLogMode = 'strict' | 'bestEffortTail' | 'bestEffort';

export interface RecordLogScan {
  /** Records read. */
  readonly count: number;
  /** Offset just past the last good frame (16 with none; 0 when the header is torn). */
  readonly validEnd: number;
  readonly fileSize: number;
  /** 'torn': the log ended at a torn write (bestEffort only); the bytes from validEnd on are not records. */
  readonly tail: 'clean' | 'torn';
  readonly headerTorn: boolean;
  /** W of the header (0 when the header is torn). */
  readonly syncWindow: number;
  /** The header's format version (0 when the header is torn). */
  readonly version: number;
  /** Largest watermark of a good sync mark read: the file had been synced up to it (0: none). */
  readonly watermark: number;
  /** Offset just past the last good sync mark read (0: none). */
  readonly markedEnd: number;
}

export class RecordLogScanner extends ScanWindow {
  readonly path: string;
  private readonly checksum: Checksummer;
  private readonly strict: boolean;
  private readonly max: number;
  /** Frames as the witness search sees them: a witness is at most the caller's maxRecordSize. */
  private readonly layout: FrameLayout;
  private syncWindow = 0;
  private version = 0;
  private watermark = 0;
  private markedEnd = 0;
  private headerTorn = false;
  private count = 0;
  private validEnd = 0;
  private tail: 'clean' | 'torn' = 'clean';
  private done = false;
  private payloadStart = 0;
  private payloadEnd = 0;
  /** Offset of the current record's frame (the last one next() returned). */
  private frameStart = 0;

  constructor(dir: Directory, path: string, options: { mode: RecordLogMode; maxRecordSize?: number }) {
    const max = options.maxRecordSize ?? MAX_RECORD_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > MAX_RECORD_SIZE) throw new InvalidArgumentError(`maxRecordSize must be an integer in 0..${MAX_RECORD_SIZE}`);
    if (options.mode !== 'strict' && options.mode !== 'bestEffortTail' && options.mode !== 'bestEffort') {
      throw new InvalidArgumentError(`mode must be 'strict' or 'bestEffortTail', got ${String(options.mode)}`);
    }
    super(openReadChecked(dir, path), RECORD_LOG_HEADER_SIZE, RECORD_FRAME_HEADER_SIZE + max);
    this.path = path;
    this.strict = options.mode === 'strict';
    this.max = max;
    // A witness may be any record the format allows, whatever this reader's limit.
    this.layout = recordFrameLayout(MAX_RECORD_SIZE);
    this.checksum = dir.checksum;
    try {
      this.openHeader();
    } catch (err) {
      this.file.close();
      throw err;
    }
  }

  /** Advances to the next record; false at the end. Throws CorruptionError on damage (and on a torn end in strict mode). */
  next(): boolean {
    for (;;) {
      const step = this.step();
      if (step !== 'mark') return step;
    }
  }

  /** Reads the frame at validEnd: a record (true), a sync mark (passed over), or the end (false). */
  private step(): boolean | 'mark' {
    if (this.done) return false;
    const pos = this.validEnd;
    const remaining = this.fileSize - pos;
    if (remaining === 0) return this.end();
    if (this.load(pos, Math.min(RECORD_FRAME_HEADER_SIZE, remaining)) < RECORD_FRAME_HEADER_SIZE) {
      if (this.zeroFrom(pos)) return this.end();
      return this.bad(pos, `truncated frame header (${remaining} bytes before end of file)`);
    }
    let rel = pos - this.bufStart;
    const len = readU32(this.buf, rel + 4);
    if (len === 0 && readU32(this.buf, rel) === 0) {
      // Zeros never form a frame (the CRC of a zero length is not zero): preallocated or never-written space.
      return this.zeroFrom(pos) ? this.end() : this.bad(pos, 'zero frame header followed by nonzero bytes');
    }
    if (len === RECORD_MARK_LENGTH && this.version !== RECORD_LOG_V1) return this.mark(pos);
    // Torn or damaged is judged by the format's maximum, never the caller's: a smaller
    // maxRecordSize must not turn a good record, and every one after it, into a torn tail.
    if (len > MAX_RECORD_SIZE) return this.bad(pos, `frame length ${len} exceeds the maximum ${MAX_RECORD_SIZE}`);
    const end = pos + RECORD_FRAME_HEADER_SIZE + len;
    if (end > this.fileSize) return this.bad(pos, `frame of ${len} bytes runs past the end of the file (${this.fileSize} bytes)`);
    if (len > this.max) {
      // Within the format, beyond the caller's limit: a record that validates is the caller's
      // problem to name (checked by streaming, not buffering); one that does not is a bad frame.
      if (frameCrcMatches(this.file, this.layout, pos, len, 0, readU32(this.buf, rel), this.checksum)) {
        this.done = true;
        throw new DecodeError(`${this.path} @ ${pos}: record ${this.count} has ${len} bytes, more than maxRecordSize ${this.max}; read it with a larger maxRecordSize`, { file: this.path });
      }
      return this.bad(pos, `frame length ${len} exceeds maxRecordSize ${this.max} and the frame does not validate`);
    }
    // Checked against the maximum and the file: now the length may size the buffer.
    this.load(pos, RECORD_FRAME_HEADER_SIZE + len);
    rel = pos - this.bufStart;
    const crc = this.checksum.crc32c(this.buf.subarray(rel + 4, rel + RECORD_FRAME_HEADER_SIZE + len), 0);
    if (maskCrc(crc) !== readU32(this.buf, rel)) return this.bad(pos, 'frame CRC mismatch');
    this.payloadStart = rel + RECORD_FRAME_HEADER_SIZE;
    this.payloadEnd = this.payloadStart + len;
    this.frameStart = pos;
    this.validEnd = end;
    this.count++;
    return true;
  }

  /** The current record: a view into the scan buffer, valid until the next call to next(). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadStart, this.payloadEnd);
  }

  /** Where the current record's frame starts. */
  recordOffset(): number {
    return this.frameStart;
  }

  result(): RecordLogScan {
    return {
      count: this.count, validEnd: this.validEnd, fileSize: this.fileSize, tail: this.tail, headerTorn: this.headerTorn, syncWindow: this.syncWindow,
      version: this.version, watermark: this.watermark, markedEnd: this.markedEnd,
    };
  }

  close(): void {
    this.file.close();
  }

  private openHeader(): void {
    const n = this.load(0, RECORD_LOG_HEADER_SIZE);
    const check = checkRecordLogHeader(this.buf.subarray(0, Math.min(n, RECORD_LOG_HEADER_SIZE)), this.checksum);
    if (check.kind === 'ok') {
      this.syncWindow = check.header.syncWindow;
      this.version = check.header.version;
      this.validEnd = RECORD_LOG_HEADER_SIZE;
      return;
    }
    if (check.kind === 'bad') throw new CorruptionError(this.path, check.offset, check.reason);
    // The header is synced before any frame is written: a frame that validates behind a torn
    // header means the header had been on disk, so it is damage.
    const found = this.search(RECORD_LOG_HEADER_SIZE, RECORD_LOG_HEADER_SIZE, RECORD_LOG_HEADER_SIZE - 1);
    if (found !== SEARCH_NONE) throw new CorruptionError(this.path, 0, found === SEARCH_UNDECIDED ? `${check.reason}; could not rule out damage within the search budget` : `${check.reason}, yet a frame at offset ${found} validates: damage`);
    if (this.strict) throw new CorruptionError(this.path, 0, `${check.reason}: torn header (mode 'bestEffortTail' reads it as an empty log)`);
    this.headerTorn = true;
    this.tail = 'torn';
    this.done = true;
  }

  private end(): false {
    this.done = true;
    return false;
  }

  /** A sync mark at `pos` (version 2): checked, then passed over; its watermark is remembered. */
  private mark(pos: number): 'mark' | false {
    if (pos + RECORD_MARK_SIZE > this.fileSize) return this.bad(pos, `sync mark runs past the end of the file (${this.fileSize} bytes)`);
    this.load(pos, RECORD_MARK_SIZE);
    const rel = pos - this.bufStart;
    const crc = this.checksum.crc32c(this.buf.subarray(rel + 4, rel + RECORD_MARK_SIZE), 0);
    if (maskCrc(crc) !== readU32(this.buf, rel)) return this.bad(pos, 'sync mark CRC mismatch');
    const d = readU64(this.buf, rel + 8);
    if (d < RECORD_LOG_HEADER_SIZE || d > pos) return this.bad(pos, `sync mark watermark ${d < 0 ? 'above 2^53-1' : d} outside ${RECORD_LOG_HEADER_SIZE}..${pos}`);
    if (d > this.watermark) this.watermark = d;
    this.validEnd = pos + RECORD_MARK_SIZE;
    this.markedEnd = this.validEnd;
    return 'mark';
  }

  private bad(offset: number, reason: string): false {
    this.done = true;
    const w = this.syncWindow;
    const v1 = this.version === RECORD_LOG_V1;
    const found = v1 ? this.search(offset + 1, offset + w, undefined) : this.search(offset + 1, Infinity, offset);
    if (found === SEARCH_UNDECIDED) throw new CorruptionError(this.path, offset, `${reason}; could not rule out damage within the search budget`);
    if (found >= 0) {
      const proof = v1
        ? `the valid frame at offset ${found} ends more than the sync window (${w} bytes) past it`
        : `the sync mark at offset ${found} says the file had been synced past it`;
      throw new CorruptionError(this.path, offset, `${reason}; ${proof}, so these bytes had been synced: damage, not a torn write`);
    }
    if (this.strict) throw new CorruptionError(this.path, offset, `${reason}: torn write at the end of the log (mode 'bestEffortTail' stops before it)`);
    this.tail = 'torn';
    return false;
  }

  /**
   * Offset of a witness at p ≥ from: a frame that validates and ends beyond `endBeyond`, or a sync
   * mark whose watermark is above `markAbove` (undefined: marks are no witness); SEARCH_NONE, or
   * SEARCH_UNDECIDED.
   */
  private search(from: number, endBeyond: number, markAbove: number | undefined): number {
    return findWitnessFrame({
      layout: this.layout, file: this.file, fileSize: this.fileSize, checksum: this.checksum, from, endBeyond, markAbove, salts: [0],
      idMin: 0, idBase: undefined, budget: searchBudget(this.fileSize, from),
    });
  }
}
