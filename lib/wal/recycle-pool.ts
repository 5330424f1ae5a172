import { channels } from '../diagnostics';
import type { Directory } from '../directory/directory';
import { InvalidArgumentError } from '../errors';
import { holdsRegularFile, isNotAFile } from '../directory/regular-file';
import { WAL_DIR } from './format';
import { existsAt, listNames, openReadChecked } from '../directory/checked-answers';

// Files of truncated segments, kept to become new segments: overwriting blocks a file already
// owns avoids allocating (and, on ext4, converting unwritten extents) on the write path.
// They live in wal/ as recycle-<old segment id>, a name the reader skips.

const RECYCLE_NAME = /^recycle-([1-9][0-9]*)$/;

export function recyclePath(segmentId: number): string {
  return `${WAL_DIR}/recycle-${segmentId}`;
}

/**
 * The old segment id in a recycle file's name, or undefined for any name recyclePath never
 * gives: `recycle-0`, leading zeros, an id above 2^53 - 1 (planted, or copied from elsewhere).
 * Such a file was never a segment of this log: adopted, the pool would delete it, or overwrite
 * it as a new segment; counted, it would push the next segment id out of range.
 */
export function parseRecycleName(name: string): number | undefined {
  const m = RECYCLE_NAME.exec(name);
  const id = m === null ? undefined : Number(m[1]);
  return id !== undefined && Number.isSafeInteger(id) ? id : undefined;
}

export function isRecycleName(name: string): boolean {
  return parseRecycleName(name) !== undefined;
}

/** The largest old segment id among the recycle files in wal/ (0: none). */
export function highestRecycleId(dir: Directory): number {
  let highest = 0;
  for (const name of listNames(dir, WAL_DIR)) highest = Math.max(highest, parseRecycleName(name) ?? 0);
  return highest;
}

/** InvalidArgumentError unless `path` names a recycle file under wal/ (wal/recycle-<n>). */
export function checkRecyclePath(path: string): void {
  const slash = path.lastIndexOf('/');
  if (path.slice(0, slash) !== WAL_DIR || !isRecycleName(path.slice(slash + 1))) {
    throw new InvalidArgumentError(`${JSON.stringify(path)} is not a recycled segment (wal/recycle-<n>)`);
  }
}

export class RecyclePool {
  private readonly files: string[] = [];

  constructor(private readonly dir: Directory, private readonly capacity: number) {}

  get size(): number {
    return this.files.length;
  }

  /** Keeps `path` for reuse, or deletes it (the oldest kept file when the pool is full). */
  add(path: string): void {
    checkRecyclePath(path);
    if (this.files.includes(path)) return;
    this.files.push(path);
    // Surplus files are garbage, not log: no directory fsync (a crash that brings one back only
    // means the next open deletes it again).
    while (this.files.length > this.capacity) this.discard(this.files.shift() as string);
  }

  /**
   * The next file to reuse as segment `segmentId` that still exists and is a regular file.
   * Anything else under a recycle name (a planted link, a FIFO, a directory) is removed, only the
   * name, and reported: taking it would fail the rotation and poison the writer, or follow the
   * link out of the store.
   *
   * A file named after `segmentId` or a later segment is deleted, not reused. Its stale frames are
   * kept out only by the salt, the CRC of the new header, and that header differs from every one
   * the file held before only while the new id is above theirs. Reused only so, each life of a
   * file has a higher id than the last, and its name (its newest life) bounds them all. A name at
   * or above `segmentId` is left from before the log started again at segment 1 (every segment
   * cut, by `durability repair --force` or by hand): segment 2 given recycle-2 got the header it
   * had, first entry id included when the segments fill alike, and its old frames read as entries.
   */
  take(segmentId: number): string | undefined {
    for (let path = this.files.shift(); path !== undefined; path = this.files.shift()) {
      if (!existsAt(this.dir, path)) continue;
      try {
        openReadChecked(this.dir, path).close();
      } catch (err) {
        if (!isNotAFile(err)) throw err;
        if (this.discard(path) && channels.diagnostic.hasSubscribers) {
          channels.diagnostic.publish({ kind: 'recycle-not-regular', message: `${err.message}: removed it instead of reusing it`, path, error: err });
        }
        continue;
      }
      if (parseRecycleName(path.slice(path.lastIndexOf('/') + 1))! < segmentId) return path;
      this.discard(path);
    }
    return undefined;
  }

  /**
   * Unlinks a name the pool lets go of; false when it holds a directory, which unlink cannot
   * remove (EISDIR on Linux, EPERM elsewhere) and which is not the writer's to remove: left in
   * place and reported, so the writer goes on (the open, or the rotation, would fail otherwise).
   */
  private discard(path: string): boolean {
    try {
      this.dir.deleteNoSync(path);
      return true;
    } catch (err) {
      if (holdsRegularFile(this.dir, path)) throw err;
      if (channels.diagnostic.hasSubscribers) {
        channels.diagnostic.publish({ kind: 'recycle-not-regular', message: `${path} is no recycle file (a directory?): left in place, not reused`, path, error: err });
      }
      return false;
    }
  }

  /** Picks up recycle files a previous writer left behind, oldest segment first. */
  adoptLeftovers(): void {
    const ids = listNames(this.dir, WAL_DIR).map(parseRecycleName).filter((id) => id !== undefined);
    ids.sort((a, b) => a - b);
    for (const id of ids) this.add(recyclePath(id));
  }
}

