import { InvalidPathError } from '../errors';

// Store paths are relative and '/'-separated. Anything that could name a file outside the root
// (absolute, '..', a backslash that Windows would treat as a separator, NUL) is refused here,
// once, so no Directory implementation has to think about it again.
export function normalizePath(path: string, options: { allowRoot?: boolean } = {}): string {
  if (typeof path !== 'string') throw new InvalidPathError(String(path), 'not a string');
  if (path.includes('\0')) throw new InvalidPathError(path, 'contains NUL');
  if (path.includes('\\')) throw new InvalidPathError(path, 'contains a backslash');
  if (path.startsWith('/')) throw new InvalidPathError(path, 'absolute paths are not allowed');
  if (/^[A-Za-z]:/.test(path)) throw new InvalidPathError(path, 'drive paths are not allowed');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (p === '..') throw new InvalidPathError(path, "'..' would leave the directory root");
  }
  if (parts.length === 0 && !options.allowRoot) throw new InvalidPathError(path, 'names the root, not a file');
  return parts.join('/');
}

/** Parent of a normalized path ('' for entries in the root). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
