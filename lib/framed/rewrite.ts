import type { Directory, WritableFile } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { openReadChecked } from '../directory/checked-answers';

const REWRITE_CHUNK = 1 << 20;

/**
 * Writes bytes [from, to) of the file at `path` back over themselves through `file`, so the next
 * fdatasync carries them whatever the page cache thought. After a failed fdatasync the kernel can
 * mark pages clean that the disk never got ("fsyncgate"); a writer resuming in the same boot would
 * read them, sync nothing, and trust them. Rewriting dirties them again.
 */
export function rewriteInPlace(dir: Directory, path: string, file: WritableFile, from: number, to: number): void {
  if (from >= to) return;
  const source = openReadChecked(dir, path);
  try {
    const chunk = new Uint8Array(Math.min(REWRITE_CHUNK, to - from));
    for (let at = from; at < to; ) {
      const got = readWhole(source, chunk.subarray(0, Math.min(chunk.length, to - at)), at);
      if (got === 0) break;
      file.writeAt(chunk.subarray(0, got), at);
      at += got;
    }
  } finally {
    source.close();
  }
}
