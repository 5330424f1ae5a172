// Directory listing and existence probes over node:fs, shared by both backends: these are
// metadata reads that never sit on the durable-write path, so the native backend does not
// need its own syscalls for them.

import fs from 'node:fs';
import { toIoError } from '../errors';

export function readDirectory(path: string): string[] {
  try {
    return fs.readdirSync(path);
  } catch (err) {
    throw toIoError(err, path);
  }
}

/** False only when the path (or a parent) does not exist; other failures (EACCES) throw. */
export function pathExists(path: string): boolean {
  try {
    fs.statSync(path);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw toIoError(err, path);
  }
}
