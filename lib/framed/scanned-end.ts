import type { Directory } from '../directory/directory';
import { readWhole } from '../directory/read-whole';
import { IoError } from '../errors';
import { openReadChecked } from '../directory/checked-answers';

/**
 * Where a writer's scan of its file ended must be the file's end before the open cuts, rewrites
 * or deletes anything there: the scan reads up to what size() says, and a size() below the bytes
 * the file holds (a Directory or FileBackend of the caller's own, an attribute cache out of step)
 * would make acknowledged entries past it look like a torn tail or header. One byte read past it
 * settles it: under the writer's lock nothing appends. Refused (IoError EIO), nothing changed.
 */
export function refuseBytesPastEnd(dir: Directory, path: string, end: number): void {
  const file = openReadChecked(dir, path);
  let past: number;
  try {
    past = readWhole(file, new Uint8Array(1), end);
  } finally {
    file.close();
  }
  if (past === 0) return;
  throw new IoError('EIO', 'pread', path, {
    message: `pread failed: EIO (${path}): its size said it ends at byte ${end}, but it holds bytes past it; nothing was cut. Open it again once its file system reports the size it holds`,
  });
}
