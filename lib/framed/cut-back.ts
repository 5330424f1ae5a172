import type { Directory } from '../directory/directory';

/**
 * Cuts a failed writer's file back to the end of its last completed fdatasync. After a failed
 * write or fdatasync the page cache may show bytes the disk never got (the kernel marks lost
 * pages clean, "fsyncgate"); a writer reopened before a reboot would read them, take them for
 * durable and append after them. The cut is made even at the current size: the failed
 * fdatasync may also have dropped a truncation (a recycled file's stale tail) the cache shows
 * as done. Best effort: the writer is poisoned whatever happens here, and the failure being
 * reported is the one that matters.
 */
export function cutBackToSynced(dir: Directory, path: string, synced: number): void {
  try {
    const file = dir.openAppend(path);
    try {
      if (file.size() >= synced) file.truncate(synced);
    } finally {
      file.close();
    }
  } catch {
    // See above: best effort.
  }
}
