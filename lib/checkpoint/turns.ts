import { realpathSync } from 'node:fs';
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

/** The newest turn under each key (see keysOf); a turn is set under every key of its directory. */
const turns = new Map<unknown, Promise<unknown>>();

/**
 * The keys of a store's turns, two Directory objects of one store sharing at least one: its
 * checkpoints/ path as the object names it, and the same under the root's real path (symbolic
 * links resolved now: FsDirectory.realRoot, or the real path of the parent of what filePath gives
 * for a Directory of the application's own). The path as named alone misses one store reached
 * through a link and through its target; the real path alone misses one path whose link was
 * re-pointed between two asks, or a wrapper keyed by the path it was given. Where the directory
 * has no path (memory), the object itself.
 */
function keysOf(dir: Directory): unknown[] {
  const named = dir.filePath(CHECKPOINT_DIR);
  if (named === undefined) return [dir];
  const real = dir instanceof FsDirectory ? nodePath.join(dir.realRoot, CHECKPOINT_DIR) : realParentOf(named);
  return real === undefined || real === named ? [named] : [named, real];
}

function realParentOf(path: string): string | undefined {
  try {
    return nodePath.join(realpathSync(nodePath.dirname(path)), nodePath.basename(path));
  } catch {
    return undefined; // not a path of this machine's file system, or not there (yet)
  }
}

/** Runs `publish` once every publish of `dir` asked for before it has settled. */
export function takeCheckpointTurn<T>(dir: Directory, publish: () => Promise<T>): Promise<T> {
  const keys = keysOf(dir);
  const earlier: Promise<unknown>[] = [];
  for (const key of keys) {
    const turn = turns.get(key);
    if (turn !== undefined) earlier.push(turn);
  }
  // Turns never reject (see tail), so this waits for every one of them.
  const before = earlier.length === 0 ? Promise.resolve() : Promise.all(earlier);
  // The turn ends before the caller hears of the outcome: whoever awaited it may publish again.
  const run = before.then(publish).finally(() => {
    for (const key of keys) if (turns.get(key) === tail) turns.delete(key);
  });
  const tail: Promise<unknown> = run.then(() => undefined, () => undefined);
  for (const key of keys) turns.set(key, tail);
  return run;
}

/** InvalidStateError while a publish of `dir` is under way (a synchronous writeCheckpoint would write the staging name under it). */
export function refuseWhilePublishing(dir: Directory, what: string): void {
  if (keysOf(dir).some((key) => turns.has(key))) {
    throw new InvalidStateError(`${what}: a checkpoint of this directory is being published (${CHECKPOINT_PENDING} is in use); await it first`);
  }
}
