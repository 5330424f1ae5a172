import type { Directory } from './directory';
import { parentOf } from './path';

// The steps a checkpoint takes after the entries it covers are durable (write the checkpoint,
// truncate the log, prune old checkpoints), off the event loop where the directory can: an
// ingestion service keeps answering while they run. Unlinking a 64 MiB segment took 9–11 ms
// inside the call on ext4 mounted with discard (bench/RESULTS.md), and a checkpoint's fdatasync
// grows with its state. A Directory without the async forms (memory, simulated, one of the
// user's own) runs the synchronous ones: same steps, same order, same durability.

export function atomicWriteOffLoop(dir: Directory, path: string, data: Uint8Array): Promise<void> {
  if (dir.atomicWriteAsync !== undefined) return dir.atomicWriteAsync(path, data);
  return new Promise((resolve) => {
    dir.atomicWrite(path, data);
    resolve();
  });
}

export function deleteNoSyncOffLoop(dir: Directory, path: string): Promise<void> {
  if (dir.deleteNoSyncAsync !== undefined) return dir.deleteNoSyncAsync(path);
  return new Promise((resolve) => {
    dir.deleteNoSync(path);
    resolve();
  });
}

/** rename + fsync of the destination's parent (and the source's, when another), the fsyncs off the event loop. */
export async function atomicRenameOffLoop(dir: Directory, from: string, to: string): Promise<void> {
  dir.renameNoSync(from, to);
  await dir.syncDirAsync(parentOf(to));
  if (parentOf(from) !== parentOf(to)) await dir.syncDirAsync(parentOf(from));
}
