// The witness search behind the torn-vs-damage rule of every framed format (docs/FORMAT.md,
// "Telling a torn tail from damage", and the record log's use of it): after a frame fails at
// offset o, is there a frame that proves the bytes at o had been synced, so they are damaged?
// In a WAL v2 segment, a sync mark whose watermark is past o; in a WAL v1 segment or a record
// log, a frame that validates and ends beyond o + W.
//
// Frame boundaries after a bad frame are unknown (its length may be the damaged field), so
// every byte offset is a candidate. Cheap field checks (length fits, end is past the bound,
// id is in the only range a later frame could have) reject almost all of them before any CRC
// is computed, and a CRC budget (searchBudget) caps the work on adversarial input.

import type { Checksummer } from '../backend/backend';
import type { ReadableFile } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { maskCrc, readU32, writeU32 } from './bytes';

export const SEARCH_UNDECIDED = -2;
export const SEARCH_NONE = -1;

/** The work cap of one search, in CRC bytes: a few passes over the bytes searched, plus slack. */
export function searchBudget(fileSize: number, from: number): number {
  return 4 * Math.max(0, fileSize - from) + (1 << 20);
}

/** What a frame of the format looks like to the search. */
export interface FrameLayout {
  /** 8: u32 masked CRC, u32 length (record log); 16: the same, then a u64 entry id (WAL). */
  readonly headerSize: number;
  /** Largest length a witness may have. */
  readonly maxLength: number;
  /** Whether frames carry the u64 id at offset 8 (a witness's id is then ≥ 1 and bounded). */
  readonly ids: boolean;
  /** A sync mark: a frame whose length field is `length`, `size` bytes long, ending in a u64 watermark. */
  readonly mark?: { readonly length: number; readonly size: number };
}

const WINDOW = 1 << 20;
const STREAM = 1 << 16;
const TWO_32 = 0x1_0000_0000;

export interface FrameSearch {
  readonly layout: FrameLayout;
  readonly file: ReadableFile;
  readonly fileSize: number;
  readonly checksum: Checksummer;
  /** First candidate offset. */
  readonly from: number;
  /** An entry frame is a witness when it ends strictly beyond this offset (Infinity: never). */
  readonly endBeyond: number;
  /** A sync mark is a witness when its watermark is above this offset (undefined: never, as in v1). */
  readonly markAbove: number | undefined;
  /** Salts to try (the frame CRC seed); more than one only when the header itself is in doubt. */
  readonly salts: readonly number[];
  /** Smallest id a witness may carry (layouts with ids). */
  readonly idMin: number;
  /**
   * When set, a witness at offset p may carry at most idMin + floor((p - idBase) / headerSize):
   * the frames between idBase and p each take at least a header. When undefined, ids are
   * bounded by 2^53 − 1.
   */
  readonly idBase: number | undefined;
  /** Most CRC bytes to compute before giving up (SEARCH_UNDECIDED); see searchBudget. */
  readonly budget: number;
}

/** Offset of the first witness frame, SEARCH_NONE, or SEARCH_UNDECIDED when the budget ran out. */
export function findWitnessFrame(s: FrameSearch): number {
  const steps = witnessSearch(s);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** Work between two steps of witnessSearch, in bytes read or checksummed. */
const STEP_WORK = 256 * 1024;

/**
 * findWitnessFrame in steps, for readers that share the event loop (wal/pacer.ts): yields the work
 * done since the previous step (about STEP_WORK, more only for one candidate's CRC) and returns
 * what findWitnessFrame returns.
 */
export function* witnessSearch(s: FrameSearch): Generator<number, number, void> {
  if (nothingFrom(s, s.from)) return SEARCH_NONE;
  return yield* searchFrom(s, s.from, newWindow(s), { budget: s.budget });
}

/**
 * Every witness from s.from on, in order, each looked for from the end of the one before (a
 * witness is taken as a frame boundary): onWitness gets its offset and its header bytes (valid
 * only during the call). Each of those searches is the one findWitnessFrame would make from
 * there, with the budget it would get (searchBudget from there), so what is found is the same;
 * but they share one window that only moves forward, so the file is read about once however many
 * witnesses there are, and s.budget caps their CRC work in total, so a hostile file cannot make
 * the survey quadratic either. Returns SEARCH_NONE when the file was searched to its end, or
 * SEARCH_UNDECIDED when a budget ran out (there may be more witnesses than were reported).
 */
export function surveyWitnesses(s: FrameSearch, onWitness: (offset: number, header: Uint8Array) => void): number {
  const { headerSize, mark } = s.layout;
  const win = newWindow(s);
  let left = s.budget;
  for (let at = s.from; !nothingFrom(s, at); ) {
    const granted = Math.min(searchBudget(s.fileSize, at), left);
    const state = { budget: granted };
    const steps = searchFrom(s, at, win, state);
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    const found = step.value;
    if (found < 0) return found;
    left -= granted - state.budget;
    // A witness's header lies in the window its search ended in.
    const header = win.bytes.subarray(found - win.start, found - win.start + headerSize);
    onWitness(found, header);
    const len = readU32(header, 4);
    at = found + (mark !== undefined && len === mark.length ? mark.size : headerSize + len);
  }
  return SEARCH_NONE;
}

/** Whether no witness can start at or after `from`. */
function nothingFrom(s: FrameSearch, from: number): boolean {
  return from > s.fileSize - s.layout.headerSize || (s.fileSize <= s.endBeyond && s.markAbove === undefined);
}

/** File bytes [start, start + length) as a search loaded them; length 0 when nothing is loaded. */
interface SearchWindow {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  start: number;
  length: number;
}

function newWindow(s: FrameSearch): SearchWindow {
  // A multiple of 4 so the Int32 view covers the whole window. Empty when from is past the end
  // (a survey from where a scan ended, in a file that shrank since): nothing is searched then.
  const bytes = new Uint8Array((Math.max(0, Math.min(WINDOW, s.fileSize - s.from)) + 3) & ~3);
  return { bytes, words: new Int32Array(bytes.buffer), start: s.from, length: 0 };
}

/** The search of witnessSearch from `from` (≥ s.from), starting in `win` when it already holds that offset's header. */
function* searchFrom(s: FrameSearch, from: number, win: SearchWindow, state: { budget: number }): Generator<number, number, void> {
  const hs = s.layout.headerSize;
  const lastStart = s.fileSize - hs;
  const scan = windowScan(s);
  let first = from - win.start;
  if (win.length === 0 || first < 0 || first > win.length - hs) {
    win.start = from;
    win.length = 0;
    first = 0;
  }
  for (;;) {
    const progress = { work: 0 };
    if (win.length === 0) {
      win.length = readAll(s.file, win.bytes, win.start, Math.min(win.bytes.length, s.fileSize - win.start));
      progress.work = win.length;
    }
    const n = win.length;
    const found = yield* scan(s, win, first, Math.min(n - hs, lastStart - win.start), state, progress);
    if (found !== SEARCH_NONE) return found;
    yield progress.work;
    if (n < win.bytes.length || win.start + n >= s.fileSize) break;
    // Overlap by one header so every candidate's header bytes are seen whole in some window.
    win.start += n - hs + 1;
    win.length = 0;
    first = 0;
  }
  return SEARCH_NONE;
}

/**
 * Checks, in order, the window offsets in [first, stop] that may hold a witness: the first
 * witness's file offset (or SEARCH_UNDECIDED), else SEARCH_NONE. Yields the work done each time a
 * step's worth is done; `progress.work` is what it has not yielded.
 */
type WindowScan = (
  s: FrameSearch, win: SearchWindow, first: number, stop: number, state: { budget: number }, progress: { work: number },
) => Generator<number, number, void>;

/**
 * How a search walks a window. Every byte offset is a candidate, but a necessary condition lets
 * most be passed over unlooked at: where only a sync mark can be a witness, its length field;
 * where every id a witness may carry is below 2^32, the four zero bytes of the id's high half
 * after a nonzero low half; otherwise a nonzero byte where the id (or the header) lies. The first
 * two are found with Buffer.indexOf, so an earlier life of 64 MiB behind a recycled segment's
 * zeros is not walked a byte at a time in JS (1 s per search).
 */
function windowScan(s: FrameSearch): WindowScan {
  const { mark, ids, headerSize } = s.layout;
  if (!ids || s.idMin < 1) return nonzeroOffsets;
  if (mark !== undefined && s.markAbove !== undefined && s.fileSize <= s.endBeyond) return markOffsets;
  const idMax = s.idBase === undefined ? Number.MAX_SAFE_INTEGER : s.idMin + Math.floor((s.fileSize - s.idBase) / headerSize);
  return idMax < TWO_32 ? smallIdOffsets : nonzeroOffsets;
}

/** Checks the candidate at r, booking its work in `progress`. */
function check(s: FrameSearch, win: SearchWindow, r: number, state: { budget: number }, progress: { work: number }): number {
  const before = state.budget;
  const found = candidate(s, win.bytes, win.start, win.length, r, state);
  progress.work += before - state.budget;
  return found;
}

const ZERO_WORD = new Uint8Array(4);

/** A window's bytes as a Buffer (a view, no copy), for indexOf. */
function loaded(win: SearchWindow): Buffer {
  return Buffer.from(win.bytes.buffer, win.bytes.byteOffset, win.length);
}

/** Offsets whose length field is a sync mark's. */
function* markOffsets(s: FrameSearch, win: SearchWindow, first: number, stop: number, state: { budget: number }, progress: { work: number }): Generator<number, number, void> {
  const pattern = new Uint8Array(4);
  writeU32(pattern, 0, s.layout.mark!.length);
  const view = loaded(win);
  for (let q = view.indexOf(pattern, first + 4); q !== -1 && q - 4 <= stop; q = view.indexOf(pattern, q + 1)) {
    const found = check(s, win, q - 4, state, progress);
    if (found !== SEARCH_NONE) return found;
    if (progress.work >= STEP_WORK) {
      yield progress.work;
      progress.work = 0;
    }
  }
  return SEARCH_NONE;
}

/**
 * Offsets whose id (bytes 8..16) has a zero high half and a nonzero low half: every id from 1 to
 * 2^32 − 1. Inside a run of zeros (zero-filled space) the low half is zero too, and the rest of
 * the run is passed over a word at a time.
 */
function* smallIdOffsets(s: FrameSearch, win: SearchWindow, first: number, stop: number, state: { budget: number }, progress: { work: number }): Generator<number, number, void> {
  const { bytes, words } = win;
  const view = loaded(win);
  const wholeWords = win.length >> 2;
  for (let q = view.indexOf(ZERO_WORD, first + 12); q !== -1 && q - 12 <= stop;) {
    if (readU32(bytes, q - 4) === 0) {
      // Bytes q-4 .. q+3 are zero, and so is every byte up to the next nonzero word: no offset
      // before it has a nonzero low half.
      let k = (q >> 2) + 1;
      while (k < wholeWords && words[k] === 0) k++;
      q = view.indexOf(ZERO_WORD, Math.max(q + 1, 4 * k - 3));
      continue;
    }
    const found = check(s, win, q - 12, state, progress);
    if (found !== SEARCH_NONE) return found;
    if (progress.work >= STEP_WORK) {
      yield progress.work;
      progress.work = 0;
    }
    // Bytes q..q+3 are zero: the next zero word is at q + 1 when byte q + 4 is zero, else past
    // q + 4. Asking indexOf for each offset of a zero run (small u64 fields: 4 per 8 bytes) made
    // this walk slower than trying every offset.
    q = q + 4 < win.length && bytes[q + 4] === 0 ? q + 1 : view.indexOf(ZERO_WORD, q + 5);
  }
  return SEARCH_NONE;
}

/**
 * Offsets with a nonzero byte where a witness has one: [r + 8, r + 16) with ids (an id ≥ 1), the
 * whole header without (a zero length under a zero CRC is no frame: the CRC of a zero length is
 * not zero). Zero-filled space is passed over a word at a time.
 */
function* nonzeroOffsets(s: FrameSearch, win: SearchWindow, first: number, stop: number, state: { budget: number }, progress: { work: number }): Generator<number, number, void> {
  const nzFrom = s.layout.ids ? 8 : 0;
  const nzTo = s.layout.ids ? 16 : s.layout.headerSize;
  const { words } = win;
  let next = first;
  const lastWord = (stop + nzTo - 1) >> 2;
  for (let k = (first + nzFrom) >> 2; k <= lastWord; k++) {
    if (words[k] === 0) continue;
    const hi = Math.min(4 * k + 3 - nzFrom, stop);
    for (let r = Math.max(next, 4 * k - nzTo + 1); r <= hi; r++) {
      const found = check(s, win, r, state, progress);
      if (found !== SEARCH_NONE) return found;
      if (progress.work >= STEP_WORK) {
        yield progress.work;
        progress.work = 0;
      }
    }
    next = Math.max(next, hi + 1);
  }
  return SEARCH_NONE;
}

/** Checks the candidate at window offset r: SEARCH_NONE, its file offset, or SEARCH_UNDECIDED. */
function candidate(s: FrameSearch, win: Uint8Array, winStart: number, n: number, r: number, state: { budget: number }): number {
  const p = winStart + r;
  const { headerSize, maxLength, ids, mark } = s.layout;
  const len = readU32(win, r + 4);
  let end: number;
  if (mark !== undefined && len === mark.length) {
    end = p + mark.size;
    if (s.markAbove === undefined || end > s.fileSize) return SEARCH_NONE;
    const d = markWatermark(s.file, win, n, r + mark.size - 8, p + mark.size - 8);
    if (d <= s.markAbove || d > p) return SEARCH_NONE;
  } else {
    if (len > maxLength) return SEARCH_NONE;
    end = p + headerSize + len;
    if (end <= s.endBeyond || end > s.fileSize) return SEARCH_NONE;
  }
  const stored = readU32(win, r);
  if (ids) {
    const id = readU32(win, r + 12) * TWO_32 + readU32(win, r + 8);
    if (id < s.idMin) return SEARCH_NONE;
    const idMax = s.idBase === undefined ? Number.MAX_SAFE_INTEGER : s.idMin + Math.floor((p - s.idBase) / headerSize);
    if (id > idMax) return SEARCH_NONE;
  } else if (len === 0 && stored === 0) {
    return SEARCH_NONE;
  }
  for (const salt of s.salts) {
    state.budget -= end - p;
    if (state.budget < 0) return SEARCH_UNDECIDED;
    if (maskCrc(streamCrc(s, win, winStart, n, p + 4, end, salt)) === stored) return p;
  }
  return SEARCH_NONE;
}

/** The u64 watermark at window offset r (file offset p), read from the file where the window ends first. */
function markWatermark(file: ReadableFile, win: Uint8Array, n: number, r: number, p: number): number {
  let b = win;
  let at = r;
  if (r + 8 > n) {
    b = new Uint8Array(8);
    if (readAll(file, b, p, 8) < 8) return -1;
    at = 0;
  }
  return readU32(b, at + 4) * TWO_32 + readU32(b, at);
}

/** Whether the frame at `offset` with payload `length` has the masked CRC `stored` under `salt`; reads it in chunks (no buffer of its size). */
export function frameCrcMatches(
  file: ReadableFile, layout: FrameLayout, offset: number, length: number, salt: number, stored: number, checksum: Checksummer,
): boolean {
  const chunk = new Uint8Array(Math.min(STREAM, layout.headerSize - 4 + length));
  let crc = salt >>> 0;
  const end = offset + layout.headerSize + length;
  for (let off = offset + 4; off < end; ) {
    const want = Math.min(chunk.length, end - off);
    const got = readAll(file, chunk, off, want);
    crc = checksum.crc32c(chunk.subarray(0, got), crc);
    if (got < want) return false;
    off += got;
  }
  return maskCrc(crc) === stored;
}

/** CRC of file bytes [from, end), using what the window already holds and streaming the rest. */
function streamCrc(s: FrameSearch, win: Uint8Array, winStart: number, winLen: number, from: number, end: number, salt: number): number {
  const inWin = Math.min(end, winStart + winLen);
  let crc = s.checksum.crc32c(win.subarray(from - winStart, inWin - winStart), salt);
  if (inWin === end) return crc;
  const chunk = new Uint8Array(Math.min(STREAM, end - inWin));
  for (let off = inWin; off < end; ) {
    const want = Math.min(chunk.length, end - off);
    const got = readAll(s.file, chunk, off, want);
    crc = s.checksum.crc32c(chunk.subarray(0, got), crc);
    if (got < want) break; // file shrank under us; the CRC simply will not match
    off += got;
  }
  return crc;
}

function readAll(file: ReadableFile, target: Uint8Array, position: number, length: number): number {
  return readWhole(file, length === target.length ? target : target.subarray(0, length), position);
}
