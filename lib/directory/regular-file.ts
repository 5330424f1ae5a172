import { IoError, NotRegularFileError } from '../errors';
import type { Directory } from './directory';
import { openReadChecked } from './checked-answers';

// What sits under a name where the store keeps a file. Names a package writer made hold regular
// files; anything else there (a directory, FIFO or link: planted, or left by a bad copy) is
// refused unopened, and the callers that pass over such a name (checkpoint loading and pruning,
// the recycle pool) ask here.

/** The error a directory (or, on FsDirectory, any non-regular file) gives where a file was expected. */
export function isNotAFile(err: unknown): err is NotRegularFileError | IoError {
  return err instanceof NotRegularFileError || (err instanceof IoError && err.errno === 'EISDIR');
}

/** Whether `path` holds a regular file; what else sits there (a directory, a FIFO, a link) is refused unopened. */
export function holdsRegularFile(dir: Directory, path: string): boolean {
  try {
    openReadChecked(dir, path).close();
    return true;
  } catch (err) {
    if (isNotAFile(err)) return false;
    throw err;
  }
}
