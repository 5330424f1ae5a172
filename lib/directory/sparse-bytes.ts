// File content for the in-memory directories, stored as 4 KiB pages that exist only once written.
// A 64 MiB preallocation or a write far past the end costs a length change, not 64 MiB of zeros.
// Invariant: every byte at or beyond `length` reads as zero (truncate clears them), so growing
// the file again never resurrects old bytes.

const PAGE = 4096;

export class SparseBytes {
  private pages = new Map<number, Uint8Array>();
  private len = 0;

  get length(): number {
    return this.len;
  }

  write(position: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const at = position + done;
      const index = Math.floor(at / PAGE);
      const within = at - index * PAGE;
      const n = Math.min(PAGE - within, data.length - done);
      let page = this.pages.get(index);
      if (page === undefined) {
        page = new Uint8Array(PAGE);
        this.pages.set(index, page);
      }
      page.set(data.subarray(done, done + n), within);
      done += n;
    }
    if (position + data.length > this.len) this.len = position + data.length;
  }

  /** Copies bytes at `position` into target; returns how many (short only at the end). */
  read(target: Uint8Array, position: number): number {
    if (position >= this.len) return 0;
    const total = Math.min(target.length, this.len - position);
    let done = 0;
    while (done < total) {
      const at = position + done;
      const index = Math.floor(at / PAGE);
      const within = at - index * PAGE;
      const n = Math.min(PAGE - within, total - done);
      const page = this.pages.get(index);
      if (page === undefined) target.fill(0, done, done + n);
      else target.set(page.subarray(within, within + n), done);
      done += n;
    }
    return total;
  }

  /** Shrinks (dropping bytes) or grows (with zeros). */
  setLength(length: number): void {
    if (length < this.len) {
      const firstGone = Math.ceil(length / PAGE);
      for (const index of [...this.pages.keys()]) if (index >= firstGone) this.pages.delete(index);
      this.pages.get(Math.floor(length / PAGE))?.fill(0, length % PAGE);
    }
    this.len = length;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    this.read(out, 0);
    return out;
  }

  clone(): SparseBytes {
    const copy = new SparseBytes();
    copy.len = this.len;
    for (const [index, page] of this.pages) copy.pages.set(index, page.slice());
    return copy;
  }
}
