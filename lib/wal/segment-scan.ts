// Reads one segment frame by frame and classifies how it ends: clean, torn (final segment
// only, by the rule in docs/FORMAT.md) or damaged (CorruptionError naming file and offset).
// Used by the reader and by the writer's resume/repair.
//
// Memory is bounded by the largest frame, not by the segment: the file is read through a
// ScanWindow (1 MiB, grown only to hold one frame whose length was first checked against
// the maximum and against the bytes left in the file), and CRCs of all whole frames in the
// buffer are computed in one Checksummer.crc32cRanges call (one native crossing per chunk).

import type { Checksummer } from '../backend/backend';
import type { Directory } from '../directory/directory';
import { CorruptionError, DecodeError, InvalidArgumentError } from '../errors';
import { SEARCH_NONE, SEARCH_UNDECIDED, frameCrcMatches, searchBudget, type FrameSearch } from '../framed/witness-search';
import {
  FORMAT_VERSION, FRAME_HEADER_SIZE, MARK_LENGTH, MARK_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, WAL_FRAME_LAYOUT,
  checkSegmentHeader, maskCrc, readU32, readU64, unmaskCrc,
  type SegmentHeader,
} from './format';
import { PacedSearch } from './paced-search';
import type { ScanOptions, SegmentScan, SegmentTail } from './segment-scan-result';
import type { SegmentRef } from './segment-files';
import { NONZERO, ScanWindow, ZEROS_TO_END } from './scan-window';
import { refuseIfRecycled } from './segment-identity';
import { openReadChecked } from '../directory/checked-answers';

export type { ScanMode, ScanOptions, SegmentScan, SegmentTail } from './segment-scan-result';

const MAX_BATCH = 4096;

export function scanSegment(dir: Directory, seg: SegmentRef, opts: ScanOptions): SegmentScan {
  const s = new SegmentScanner(dir, seg, opts);
  try {
    const onFrame = opts.onFrame;
    if (onFrame === undefined) {
      while (s.next());
    } else {
      while (s.next()) onFrame(s.entryId, s.payload());
    }
    return s.result();
  } finally {
    s.close();
  }
}

/**
 * Pull-style scanner: next() advances to the next good frame (entryId, payload()) and returns
 * false at the end; result() then describes the segment. Throws CorruptionError on damage, and
 * on a torn tail or header in strict mode.
 */
export class SegmentScanner extends ScanWindow {
  readonly path: string;
  readonly segmentId: number;
  /** Id of the current frame (valid after next() returned true). */
  entryId = 0;
  /** next() returned false only because the pacer is due: call it again after a turn of the event loop. */
  paused = false;

  private readonly checksum: Checksummer;
  private readonly isFinal: boolean;
  private readonly strict: boolean;
  /** The caller's limit (see ScanOptions.maxPayloadSize). */
  private readonly maxPayload: number;
  /** Whether the segment may hold sync marks (v2). */
  private marks = false;
  private watermark = SEGMENT_HEADER_SIZE;
  private lastFrameAt = SEGMENT_HEADER_SIZE;
  private header: SegmentHeader | undefined;
  private firstEntryId: number;
  private nextId: number;
  private frameCount = 0;
  private validEnd = 0;
  private tail: SegmentTail = 'clean';
  private done = false;

  private payloadStart = 0;
  private payloadEnd = 0;
  /** A zero frame header at `zeroHeaderAt`: the zeros after it are being checked from `zeroScanAt` (-1: no such scan). */
  private zeroScanAt = -1;
  private zeroHeaderAt = 0;
  /** A witness search in progress (paced steps), and what to conclude from its result. */
  private pendingSearch: { search: PacedSearch; conclude: (found: number) => void } | undefined = undefined;

  // The current batch: frame start (in buf), CRC range pairs, computed CRCs.
  private readonly rels: Int32Array;
  private readonly ranges: Uint32Array;
  private readonly crcs: Uint32Array;
  private batchIndex = 0;
  private batchCount = 0;

  constructor(dir: Directory, seg: SegmentRef, opts: ScanOptions) {
    const max = opts.maxPayloadSize ?? MAX_PAYLOAD_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > MAX_PAYLOAD_SIZE) {
      throw new InvalidArgumentError(`maxPayloadSize must be an integer in 0..${MAX_PAYLOAD_SIZE}`);
    }
    super(openReadChecked(dir, seg.path), SEGMENT_HEADER_SIZE, FRAME_HEADER_SIZE + max);
    this.path = seg.path;
    this.segmentId = seg.segmentId;
    this.isFinal = opts.isFinal;
    this.strict = opts.mode === 'strict';
    this.maxPayload = max;
    this.checksum = dir.checksum;
    this.pacer = opts.pacer;
    try {
      const batch = Math.min(MAX_BATCH, Math.ceil(this.buf.length / FRAME_HEADER_SIZE));
      this.rels = new Int32Array(batch);
      this.ranges = new Uint32Array(2 * batch);
      this.crcs = new Uint32Array(batch);
      this.firstEntryId = opts.expectedFirstEntryId ?? 1;
      this.nextId = this.firstEntryId;
      this.openHeader(opts.expectedFirstEntryId);
    } catch (err) {
      this.file.close();
      throw err;
    }
  }

  /** The current frame's payload: a view into the scan buffer, valid until the next call to next(). */
  payload(): Uint8Array {
    // The constructor form skips subarray's species lookup (measurably cheaper per frame); buf is
    // always our own allocation, at byteOffset 0.
    return new Uint8Array(this.buf.buffer, this.payloadStart, this.payloadEnd - this.payloadStart);
  }

  next(): boolean {
    this.paused = false;
    for (;;) {
      if (this.batchIndex < this.batchCount) {
        const i = this.batchIndex++;
        const b = this.buf;
        const rel = this.rels[i];
        if (readU32(b, rel) !== maskCrc(this.crcs[i])) {
          this.bad(this.bufStart + rel, 'frame CRC mismatch');
          continue;
        }
        const id = readU64(b, rel + 8);
        if (id !== this.nextId) {
          this.bad(this.bufStart + rel, `entry id ${id < 0 ? 'above 2^53-1' : id}, expected ${this.nextId}`);
          continue;
        }
        const end = rel + 4 + this.ranges[2 * i + 1];
        if (readU32(b, rel + 4) === MARK_LENGTH) {
          // A sync mark (only batched in a v2 segment): holds no entry, raises the watermark.
          const at = this.bufStart + rel;
          const d = readU64(b, rel + 16);
          if (d < SEGMENT_HEADER_SIZE || d > at) {
            this.bad(at, `sync mark watermark ${d < 0 ? 'above 2^53-1' : d} outside ${SEGMENT_HEADER_SIZE}..${at}`);
            continue;
          }
          if (d > this.watermark) this.watermark = d;
          this.validEnd = this.bufStart + end;
          continue;
        }
        this.entryId = id;
        this.nextId = id + 1;
        this.frameCount++;
        this.payloadStart = rel + FRAME_HEADER_SIZE;
        this.payloadEnd = end;
        this.lastFrameAt = this.bufStart + rel;
        this.validEnd = this.bufStart + end;
        return true;
      }
      if (this.done) return false;
      if (this.pacer?.due === true) {
        this.paused = true;
        return false;
      }
      this.fill();
    }
  }

  result(): SegmentScan {
    return {
      segmentId: this.segmentId,
      path: this.path,
      header: this.header,
      firstEntryId: this.firstEntryId,
      lastEntryId: this.nextId - 1,
      frameCount: this.frameCount,
      validEnd: this.validEnd,
      fileSize: this.fileSize,
      tail: this.tail,
      watermark: this.watermark,
      lastFrameAt: this.lastFrameAt,
    };
  }

  close(): void {
    this.file.close();
  }

  // ---- header ----

  private openHeader(expectedFirst: number | undefined): void {
    const n = Math.min(this.load(0, SEGMENT_HEADER_SIZE), SEGMENT_HEADER_SIZE);
    const check = checkSegmentHeader(this.buf.subarray(0, n), this.checksum, this.segmentId);
    if (check.kind === 'ok') {
      const h = check.header;
      if (expectedFirst !== undefined && h.firstEntryId !== expectedFirst) {
        throw new CorruptionError(this.path, 16, `first entry id ${h.firstEntryId}, expected ${expectedFirst} (one past the previous segment's last)`);
      }
      this.header = h;
      this.marks = h.version >= FORMAT_VERSION;
      this.firstEntryId = h.firstEntryId;
      this.nextId = h.firstEntryId;
      this.validEnd = SEGMENT_HEADER_SIZE;
      return;
    }
    if (!this.isFinal) throw new CorruptionError(this.path, check.offset, `${check.reason} (in a non-final segment)`);
    if (check.kind === 'bad' && check.crcValid && check.header === undefined) {
      // Bytes this format wrote, with a value this reader cannot accept (version, flags, ...).
      throw new CorruptionError(this.path, check.offset, check.reason);
    }
    if (n < SEGMENT_HEADER_SIZE && check.kind === 'bad') {
      // Short, and not what a crashed creation leaves (a prefix of the magic, or zeros):
      // another program's file, or damage. Never taken for an empty segment (overwritten).
      throw new CorruptionError(this.path, check.offset, `${check.reason}; a crash while a segment is created leaves a prefix of its header or zeros, so this is damage or another program's file`);
    }
    // Final segment: a short file a crash may have left, a header that fails its CRC, or a
    // well-formed header naming another segment (a recycled file whose new header never reached
    // the disk). It is torn unless a frame of this segment validates, which proves the header
    // had been synced.
    const torn = (): void => {
      if (this.strict) throw new CorruptionError(this.path, check.offset, `${check.reason}: torn header of the final segment (mode 'bestEffortTail' treats it as empty)`);
      this.tail = 'torn';
      this.validEnd = 0;
      this.done = true;
    };
    if (n < SEGMENT_HEADER_SIZE || (check.kind === 'bad' && check.crcValid)) return torn();
    const salts = [unmaskCrc(readU32(this.buf, 28)), this.checksum.crc32c(this.buf.subarray(0, 28), 0)];
    const spec = this.searchSpec({
      from: SEGMENT_HEADER_SIZE, endBeyond: SEGMENT_HEADER_SIZE - 1, markAbove: 0, salts, idMin: expectedFirst ?? 1,
      idBase: expectedFirst === undefined ? undefined : SEGMENT_HEADER_SIZE,
    });
    this.startSearch(spec, (found) => {
      if (found === SEARCH_UNDECIDED) throw new CorruptionError(this.path, check.offset, `${check.reason}; could not rule out damage within the search budget`);
      if (found >= 0) {
        throw new CorruptionError(this.path, check.offset, `${check.reason}; a frame at offset ${found} validates, so the header had been synced: damage, not a torn write`);
      }
      torn();
    });
  }

  // ---- frames ----

  /** Parses the next run of whole frames in the buffer and checksums them in one call. */
  private fill(): void {
    if (this.pendingSearch !== undefined) return this.continueSearch();
    if (this.zeroScanAt >= 0) return this.continueZeroScan();
    const pos = this.validEnd;
    if (this.bufLen - (pos - this.bufStart) < FRAME_HEADER_SIZE && this.bufStart + this.bufLen < this.fileSize) {
      this.load(pos, FRAME_HEADER_SIZE);
    }
    const remaining = this.fileSize - pos;
    if (remaining === 0) return this.end();
    if (remaining < FRAME_HEADER_SIZE) {
      if (this.zeroFrom(pos)) return this.end();
      this.bad(pos, `truncated frame header (${remaining} bytes before end of file)`);
      return;
    }
    const b = this.buf;
    const limit = this.bufLen;
    const max = this.maxPayload;
    const size = this.fileSize;
    const rels = this.rels;
    const ranges = this.ranges;
    const capacity = rels.length;
    let rel = pos - this.bufStart;
    let count = 0;
    const marks = this.marks;
    while (count < capacity && rel + FRAME_HEADER_SIZE <= limit) {
      let len = readU32(b, rel + 4);
      if (len > max) {
        if (len !== MARK_LENGTH || !marks) break;
        len = MARK_SIZE - FRAME_HEADER_SIZE;
      }
      const next = rel + FRAME_HEADER_SIZE + len;
      if (this.bufStart + next > size || next > limit) break;
      if (len === 0 && readU32(b, rel) === 0 && readU32(b, rel + 8) === 0 && readU32(b, rel + 12) === 0) break;
      rels[count] = rel;
      ranges[2 * count] = rel + 4;
      ranges[2 * count + 1] = 12 + len;
      count++;
      rel = next;
    }
    if (count > 0) {
      this.checksum.crc32cRanges(b, ranges, count, this.crcs, this.header!.salt);
      this.batchIndex = 0;
      this.batchCount = count;
      return;
    }
    // The frame at pos could not join a batch: say why, or make room for it.
    rel = pos - this.bufStart;
    const len = readU32(b, rel + 4);
    if (len === 0 && readU32(b, rel) === 0 && readU32(b, rel + 8) === 0 && readU32(b, rel + 12) === 0) {
      // Preallocated or zero-filled space, possibly gigabytes: checked in paced steps.
      this.zeroHeaderAt = pos;
      this.zeroScanAt = pos + FRAME_HEADER_SIZE;
      return this.continueZeroScan();
    }
    if (len === MARK_LENGTH && this.marks) {
      if (pos + MARK_SIZE > size) this.bad(pos, `sync mark runs past the end of the file (${size} bytes)`);
      else this.load(pos, MARK_SIZE);
      return;
    }
    if (len > MAX_PAYLOAD_SIZE) {
      this.bad(pos, `frame length ${len} exceeds the maximum ${MAX_PAYLOAD_SIZE}`);
      return;
    }
    if (pos + FRAME_HEADER_SIZE + len > size) {
      this.bad(pos, `frame of ${len} bytes runs past the end of the file (${size} bytes)`);
      return;
    }
    if (len > max) {
      // Within the format, beyond the caller's limit: if it is the next entry, say so (never
      // a cut); else it is a bad frame like any other. Checked by streaming, not buffering.
      const id = readU64(b, rel + 8);
      if (id === this.nextId && frameCrcMatches(this.file, WAL_FRAME_LAYOUT, pos, len, this.header!.salt, readU32(b, rel), this.checksum)) {
        this.done = true;
        throw new DecodeError(
          `${this.path} @ ${pos}: entry ${id} has a ${len}-byte payload, more than maxPayloadSize ${max}; read it with a larger maxPayloadSize`,
          { entryId: id, file: this.path },
        );
      }
      this.bad(pos, `frame length ${len} exceeds maxPayloadSize ${max} and the frame does not validate`);
      return;
    }
    // Length checked against the maximum and the file: now it may size the buffer.
    this.load(pos, FRAME_HEADER_SIZE + len);
  }

  private continueZeroScan(): void {
    const r = this.scanZeros(this.zeroScanAt, { paced: true });
    if (r >= 0) {
      this.zeroScanAt = r;
      return;
    }
    this.zeroScanAt = -1;
    if (r === ZEROS_TO_END) return this.end();
    // In a recycled file the writer keeps zeros between the log and its earlier life's bytes.
    if (r === NONZERO) this.bad(this.zeroHeaderAt, 'zero frame header followed by nonzero bytes', this.header!.earlierLife);
  }

  private end(): void {
    this.done = true;
  }

  /**
   * A frame failed at `offset`. Non-final segment: damage. Final segment: damage if a witness
   * vouches for it (v2: a later sync mark; v1: a frame ending beyond offset + W), else a torn
   * tail (an error in strict mode), or, for zeros then nonzero bytes in a recycled file
   * (`earlierLife`), the end of this life's bytes. The search may read the rest of the file:
   * with a pacer it runs in steps, resumed by fill().
   */
  private bad(offset: number, reason: string, earlierLife = false): void {
    this.batchIndex = this.batchCount = 0;
    this.done = true;
    refuseIfRecycled(this.file, this.path, this.segmentId, this.nextId, this.checksum);
    if (!this.isFinal) {
      throw new CorruptionError(this.path, offset, `${reason} (in a non-final segment, which the writer had fully synced)`);
    }
    const lastGood = this.nextId - 1;
    // v2: damage when a later sync mark vouches for these bytes; v1: when a frame that
    // validates ends more than the sync window past them.
    const spec = this.searchSpec({
      from: offset + 1, endBeyond: this.marks ? Infinity : offset + this.header!.syncWindow, markAbove: this.marks ? offset : undefined,
      salts: [this.header!.salt], idMin: lastGood + 1, idBase: offset,
    });
    this.startSearch(spec, (found) => this.judgeBad(offset, reason, found, earlierLife));
  }

  /**
   * Runs a witness search, then `conclude`s from its result. With a pacer it stops when a slice
   * is spent (next() pauses, fill() resumes it); until it concludes the scanner is not done.
   */
  private startSearch(spec: FrameSearch, conclude: (found: number) => void): void {
    this.done = false;
    this.pendingSearch = { search: new PacedSearch(spec, this.pacer), conclude };
    this.continueSearch();
  }

  private continueSearch(): void {
    const { search, conclude } = this.pendingSearch!;
    const found = search.run();
    if (found === undefined) return;
    this.pendingSearch = undefined;
    this.done = true;
    conclude(found);
  }

  private judgeBad(offset: number, reason: string, found: number, earlierLife: boolean): void {
    if (found === SEARCH_UNDECIDED) throw new CorruptionError(this.path, offset, `${reason}; could not rule out damage within the search budget`);
    if (found >= 0) {
      const proof = this.marks
        ? `the sync mark at offset ${found} says the segment had been synced past it`
        : `the valid frame at offset ${found} ends more than the sync window (${this.header!.syncWindow} bytes) past it, so these bytes had been synced`;
      throw new CorruptionError(this.path, offset, `${reason}; ${proof}: damage, not a torn write`);
    }
    // No sync mark of this life vouches for what lies past the zeros. With no mark of this life
    // there at all, it is the earlier life the writer keeps behind them: the end. A mark of this
    // life there (its watermark ≤ o) is a write that landed behind one that did not: torn, as in
    // any segment. Frames of this life are not looked for: every byte offset is a candidate, and
    // an earlier life's headers read a byte or two off pass the cheap checks with lengths up to
    // the file's end, so the CRC work grows with the square of the stale bytes.
    if (earlierLife) {
      const spec = this.searchSpec({
        from: offset + 1, endBeyond: Infinity, markAbove: SEGMENT_HEADER_SIZE - 1,
        salts: [this.header!.salt], idMin: this.nextId, idBase: offset,
      });
      this.startSearch(spec, (found) => this.judgeZerosAhead(offset, reason, found));
      return;
    }
    this.tornAt(offset, reason);
  }

  /** After zeros in a recycled file, `found`: the first sync mark of this life past them, if any. */
  private judgeZerosAhead(offset: number, reason: string, found: number): void {
    if (found === SEARCH_NONE) {
      this.tail = 'stale';
      this.validEnd = offset;
      return;
    }
    const why = found >= 0 ? `a sync mark of this life at offset ${found} lies past the zeros` : 'could not rule out a sync mark of this life past the zeros within the search budget';
    this.tornAt(offset, `${reason} (${why})`);
  }

  private tornAt(offset: number, reason: string): void {
    if (this.strict) throw new CorruptionError(this.path, offset, `${reason}: torn write at the end of the log (mode 'bestEffortTail' stops before it)`);
    this.tail = 'torn';
    this.validEnd = offset;
  }

  private searchSpec(q: Omit<FrameSearch, 'layout' | 'file' | 'fileSize' | 'checksum' | 'budget'>): FrameSearch {
    return {
      layout: WAL_FRAME_LAYOUT, file: this.file, fileSize: this.fileSize, checksum: this.checksum, ...q, budget: searchBudget(this.fileSize, q.from),
    };
  }
}
