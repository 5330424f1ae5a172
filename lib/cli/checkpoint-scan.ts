import type { Directory } from '../directory/directory';
import { IoError, NotRegularFileError } from '../errors';
import type { UnknownNames } from '../unknown-names';
import { CHECKPOINT_DIR, listCheckpoints, readCheckpointFile } from '../checkpoint/store';
import { sizeOf as checkedSize } from '../directory/read-whole';
import { openReadChecked } from '../directory/checked-answers';

// Every checkpoint file under checkpoints/, each read and checked (magic, version, length, CRC),
// oldest first. Payloads are not decoded: the CLI does not know the application's state codec.

export interface CheckpointReport {
  readonly path: string;
  readonly lastEntryId: number;
  readonly bytes: number;
  readonly ok: boolean;
  /** A file no writer of this format produced (recovery passes over it), not one this version cannot read (recovery refuses the log). */
  readonly damaged: boolean;
  /** The name holds no regular file (a directory, FIFO or link): no checkpoint, which recovery and pruning ignore. Never also damaged. */
  readonly notAFile: boolean;
  readonly offset: number | null;
  readonly reason: string | null;
}

/** `unknown`: where names in checkpoints/ that the package never writes are reported (they are ignored). */
export function scanCheckpoints(dir: Directory, unknown?: UnknownNames): CheckpointReport[] {
  if (!dir.exists(CHECKPOINT_DIR)) return [];
  return listCheckpoints(dir, unknown).map((c) => {
    const read = readCheckpointFile(dir, c.path, c.lastEntryId);
    const bytes = sizeOf(dir, c.path);
    if (read.ok) return { path: c.path, lastEntryId: c.lastEntryId, bytes, ok: true, damaged: false, notAFile: false, offset: null, reason: null };
    const notAFile = read.notAFile === true;
    return { path: c.path, lastEntryId: c.lastEntryId, bytes, ok: false, damaged: read.damaged && !notAFile, notAFile, offset: read.offset, reason: read.reason };
  });
}

/** The file's size; 0 for a name that holds no regular file (a directory: reported as no checkpoint, which recovery ignores). */
function sizeOf(dir: Directory, path: string): number {
  let f;
  try {
    f = openReadChecked(dir, path);
  } catch (err) {
    if (err instanceof NotRegularFileError || (err instanceof IoError && err.errno === 'EISDIR')) return 0;
    throw err;
  }
  try {
    return checkedSize(f);
  } finally {
    f.close();
  }
}
