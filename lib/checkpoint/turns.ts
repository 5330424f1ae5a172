import nodePath from 'node:path';
import type { Directory } from '../directory/directory';
import { FsDirectory } from '../directory/fs';
import { InvalidStateError } from '../errors';
import { CHECKPOINT_DIR, CHECKPOINT_PENDING } from './names';

// Checkpoints of one directory are published one at a time in this process, whichever publisher
// asked. Publishing runs in steps off the event loop (lib/directory/off-loop.ts), and two
// publishes interleaved would write the one staging name (checkpoints/pending) over each other
// between a write and its rename, so a checkpoint could be renamed to another's name, and race
// each other's unlinks of the same segments and old checkpoints. Other processes cannot publish:
// they do not hold the log's lock.

const turns = new Map<unknown, Promise<unknown>>();

/**
 * The same key for every Directory object of one store: its checkpoints/ path where it has one,
 * under the root's real path for an FsDirectory (the store opened through a link to its root is
 * the same store).
 */
function keyOf(dir: Directory): unknown {
  if (dir instanceof FsDirectory) return nodePath.join(dir.realRoot, CHECKPOINT_DIR);
  return dir.filePath(CHECKPOINT_DIR) ?? dir;
}

/** Runs `publish` once every publish of `dir` asked for before it has settled. */
export function takeCheckpointTurn<T>(dir: Directory, publish: () => Promise<T>): Promise<T> {
  const key = keyOf(dir);
  // The turn ends before the caller hears of the outcome: whoever awaited it may publish again.
  const run = (turns.get(key) ?? Promise.resolve()).then(publish).finally(() => {
    if (turns.get(key) === tail) turns.delete(key);
  });
  const tail: Promise<unknown> = run.then(() => undefined, () => undefined);
  turns.set(key, tail);
  return run;
}

/** InvalidStateError while a publish of `dir` is under way (a synchronous writeCheckpoint would write the staging name under it). */
export function refuseWhilePublishing(dir: Directory, what: string): void {
  if (turns.has(keyOf(dir))) {
    throw new InvalidStateError(`${what}: a checkpoint of this directory is being published (${CHECKPOINT_PENDING} is in use); await it first`);
  }
}
