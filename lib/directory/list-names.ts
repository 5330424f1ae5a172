import { brokenContract, ignoreLateRejection, shown } from './broken-contract';
import type { Directory } from './directory';

/**
 * dir.list(path), checked: an array of distinct names, each a string that is one entry's name
 * (not empty, not '.' or '..', no '/'). Anything else from a Directory of the caller's own is an
 * IoError EIO: a string answered for the array would list as its letters (a log of no segments,
 * recovered as empty), a name twice would read as a duplicated segment (damage), and a Promise
 * or a name that is not a string as a TypeError from deep inside.
 */
export function listNames(dir: Directory, path: string): string[] {
  const names: unknown = dir.list(path);
  if (!Array.isArray(names)) {
    ignoreLateRejection(names);
    throw brokenContract(path, 'readdir', `list() answered ${shown(names)}, not an array of names`);
  }
  const seen = new Set<string>();
  for (const name of names as unknown[]) {
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw brokenContract(path, 'readdir', `list() answered ${shown(name)} among its names, not the name of an entry`);
    }
    if (seen.has(name)) throw brokenContract(path, 'readdir', `list() answered the name ${JSON.stringify(name)} twice`);
    seen.add(name);
  }
  return names as string[];
}
