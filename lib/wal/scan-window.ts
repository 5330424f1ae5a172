// The read buffer shared by the frame scanners (WAL segments, record logs): a window over a
// file that holds a chunk at a time and grows only to hold one frame, so memory is bounded by
// the largest legal frame, not by the file. A base class rather than a member object because
// the scanners' per-frame paths read buf/bufStart directly.

import type { ReadableFile } from '../directory/directory';
import { readWhole, sizeOf } from '../directory/read-whole';
import type { Pacer } from './pacer';

export const SCAN_CHUNK = 1 << 20;
/** scanZeros: every byte to the end of the file is zero / a byte is not. */
export const ZEROS_TO_END = -1;
export const NONZERO = -2;
const ZEROS = Buffer.alloc(SCAN_CHUNK);
const PACED_ZERO_READ = 256 * 1024;

export abstract class ScanWindow {
  protected readonly file: ReadableFile;
  /** Header + largest payload the scanner accepts: the buffer never grows past it (nor past the file). */
  private readonly maxFrame: number;
  /** Shrinks when the file turns out shorter than size() said (it shrank while we read). */
  protected fileSize: number;
  protected buf: Uint8Array;
  protected bufStart = 0;
  protected bufLen = 0;
  /** Set by async readers: bytes read are charged to it, and long scans stop when it is due. */
  protected pacer: Pacer | undefined = undefined;

  /** Takes ownership of `file`: closes it if the window cannot be set up. */
  protected constructor(file: ReadableFile, minBuffer: number, maxFrame: number) {
    this.file = file;
    this.maxFrame = maxFrame;
    try {
      this.fileSize = sizeOf(file);
      this.buf = new Uint8Array(Math.max(minBuffer, Math.min(SCAN_CHUNK, this.fileSize)));
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * Makes the buffer hold file bytes [pos, pos + need) (fewer only at end of file), growing to
   * `need` if the buffer is smaller; returns the bytes held from pos. Callers check a frame's
   * length against the maximum and the file before passing it as `need`. Reads at most
   * max(need, `most`) bytes beyond what is kept.
   */
  protected load(pos: number, need: number, most = Infinity): number {
    const rel = pos - this.bufStart;
    if (rel >= 0 && rel + need <= this.bufLen) return this.bufLen - rel;
    if (need > this.buf.length) {
      // Doubling amortizes a run of growing frames, but never past the largest legal frame:
      // the buffer stays within max(SCAN_CHUNK, maxFrame) whatever follows in the file.
      const cap = Math.min(this.fileSize - pos, Math.max(need, this.maxFrame));
      this.buf = new Uint8Array(Math.min(Math.max(need, this.buf.length * 2), cap));
      this.bufLen = 0;
    }
    const b = this.buf;
    // Keep what is already loaded past pos, then read the rest.
    let kept = 0;
    if (rel >= 0 && rel < this.bufLen) {
      kept = this.bufLen - rel;
      b.copyWithin(0, rel, this.bufLen);
    }
    const want = Math.min(b.length, this.fileSize - pos, kept + Math.max(need, most)) - kept;
    const got = want > 0 ? readWhole(this.file, b.subarray(kept, kept + want), pos + kept) : 0;
    this.pacer?.charge(got);
    this.bufStart = pos;
    this.bufLen = kept + got;
    // A file that shrank while we read ends where the bytes end.
    if (got < want) this.fileSize = pos + this.bufLen;
    return this.bufLen;
  }

  /** True when every byte from `pos` to the end of the file is zero (preallocated, never written). */
  protected zeroFrom(pos: number): boolean {
    let at = pos;
    for (;;) {
      const r = this.scanZeros(at, { paced: false });
      if (r < 0) return r === ZEROS_TO_END;
      at = r;
    }
  }

  /**
   * Looks for a nonzero byte from `pos` on: ZEROS_TO_END, NONZERO, or, when `paced` and the
   * pacer is due, the offset to resume from (the caller lets the event loop turn first).
   */
  protected scanZeros(pos: number, { paced }: { paced: boolean }): number {
    for (let off = pos; off < this.fileSize; ) {
      if (paced && off !== pos && this.pacer?.due === true) return off;
      const rel = off - this.bufStart;
      if (rel < 0 || rel >= this.bufLen) {
        // Paced: small reads, as reading a sparse file's holes costs the kernel ~2 ms per MiB.
        this.load(off, 1, paced ? PACED_ZERO_READ : Infinity);
        continue;
      }
      if (!allZero(this.buf, rel, this.bufLen)) return NONZERO;
      off = this.bufStart + this.bufLen;
    }
    return ZEROS_TO_END;
  }
}

/** Whether b[from..to) is all zero: memcmp against zeros, a chunk at a time (preallocated tails are long). */
function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - i);
    if (Buffer.compare(Buffer.from(b.buffer, b.byteOffset + i, n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}
