import type { ReadableFile } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { readU32 } from './format';
import type { Pacer } from './pacer';

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

// A window of a file's bytes for a reader that walks a segment frame by frame and looks back at
// frames it read before: reads go a chunk at a time (a backlog is read in big reads), and every
// byte read is charged to the reader's pacer.
export class FileWindow {
  /** The bytes held; those of the file from `start` on, `length` of them. */
  bytes = new Uint8Array(64 * 1024);
  start = 0;
  private length = 0;

  constructor(private readonly pacer: Pacer) {}

  /** Forgets what it holds (another file, or the same one changed). */
  reset(): void {
    this.length = 0;
  }

  /** Makes the window hold file bytes [pos, pos + need) where the file has them; returns the bytes held from pos. */
  load(f: ReadableFile, size: number, pos: number, need: number): number {
    const rel = pos - this.start;
    if (this.length > 0 && rel >= 0 && rel + need <= this.length) return this.length - rel;
    // More than a chunk only for one frame whose length was checked against the maximum and the file size.
    const want = Math.min(Math.max(need, CHUNK), size - pos);
    if (want > this.bytes.length) this.bytes = new Uint8Array(Math.max(want, Math.min(CHUNK, this.bytes.length * 2)));
    const got = want > 0 ? readWhole(f, this.bytes.subarray(0, want), pos) : 0;
    this.pacer.charge(got);
    this.start = pos;
    this.length = got;
    return got;
  }

  /** True if no frame is named (at undefined) or the frame at `at` still has the stored CRC `crc`. */
  frameStillThere(f: ReadableFile, size: number, at: number | undefined, crc: number | undefined): boolean {
    return at === undefined || (this.load(f, size, at, 4) >= 4 && readU32(this.bytes, at - this.start) === crc);
  }

  /** Whether every byte of the file from `from` to its end is zero. */
  zerosFrom(f: ReadableFile, size: number, from: number): boolean {
    for (let off = from; off < size;) {
      const held = Math.min(this.load(f, size, off, 1), ZEROS.length);
      if (held === 0) return true;
      const rel = off - this.start;
      if (Buffer.compare(Buffer.from(this.bytes.buffer, this.bytes.byteOffset + rel, held), ZEROS.subarray(0, held)) !== 0) return false;
      off += held;
    }
    return true;
  }
}
