import type { Directory } from '../directory/directory';
import { WAL_DIR } from '../wal/format';
import { CliError } from './io';

/** Fails with a usage error when the directory holds no log at all (no wal/ subdirectory). */
export function requireLog(dir: Directory, dirPath: string): void {
  if (dir.exists(WAL_DIR)) return;
  // A wal/ linked to a directory that is missing (a disk not mounted) is not "no log": listing it
  // throws the NotFoundError that names the link (FsDirectory).
  dir.list(WAL_DIR);
  throw new CliError(`${dirPath} holds no log (no ${WAL_DIR}/ directory)`);
}
