import { brokenContract, ignoreLateRejection, shown, thrownBy } from './broken-contract';
import type { Directory, ReadableFile } from './directory';
import { DurabilityError, NotFoundError } from '../errors';

// Answers of a Directory of the caller's own that the package acts on, checked where it asks:
// anything outside the contract (directory.ts) is an IoError EIO (broken-contract.ts), and so is
// an error of its own it throws (thrownBy).

/**
 * dir.list(path), checked: an array of distinct names, each a string that is one entry's name
 * (not empty, not '.' or '..', no '/'), none twice unless it holds U+FFFD (a name readdir could
 * not decode, never one of the package's). Anything else from a Directory of the caller's own is an
 * IoError EIO: a string answered for the array would list as its letters (a log of no segments,
 * recovered as empty), a name twice would read as a duplicated segment (damage), and a Promise
 * or a name that is not a string as a TypeError from deep inside.
 */
export function listNames(dir: Directory, path: string): string[] {
  let names: unknown;
  try {
    names = dir.list(path);
  } catch (err) {
    throw thrownBy(err, path, 'readdir', 'list');
  }
  if (!Array.isArray(names)) {
    ignoreLateRejection(names);
    throw brokenContract(path, 'readdir', `list() answered ${shown(names)}, not an array of names`);
  }
  const seen = new Set<string>();
  for (const name of names as unknown[]) {
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw brokenContract(path, 'readdir', `list() answered ${shown(name)} among its names, not the name of an entry`);
    }
    // readdir decodes a name that is not UTF-8 with U+FFFD for each bad byte, so distinct files
    // on disk ("junk\xfe", "junk\xff") list under one name. No name of the package's holds one.
    if (seen.has(name) && !name.includes(UNDECODABLE)) throw brokenContract(path, 'readdir', `list() answered the name ${JSON.stringify(name)} twice`);
    seen.add(name);
  }
  return names as string[];
}

const UNDECODABLE = '\uFFFD';

/** dir.exists(path), checked: a boolean (an async exists answers a Promise, which is truthy). */
export function existsAt(dir: Directory, path: string): boolean {
  let answer: unknown;
  try {
    answer = dir.exists(path);
  } catch (err) {
    throw thrownBy(err, path, 'stat', 'exists');
  }
  if (typeof answer === 'boolean') return answer;
  ignoreLateRejection(answer);
  throw brokenContract(path, 'stat', `exists() answered ${shown(answer)}, not a boolean`);
}

/**
 * dir.openRead(path), checked: a file with read, size and close. What a Directory of the caller's
 * own throws is typed where the package asks (thrownBy; a Node error with code ENOENT is the
 * NotFoundError FsDirectory throws, which the readers of a log under truncation rely on), and an
 * answer that is no ReadableFile is an IoError EIO, not a TypeError at its first read.
 */
export function openReadChecked(dir: Directory, path: string): ReadableFile {
  let file: unknown;
  try {
    file = dir.openRead(path);
  } catch (err) {
    if (!(err instanceof DurabilityError) && typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT') {
      throw new NotFoundError(path);
    }
    throw thrownBy(err, path, 'open', 'openRead');
  }
  const f = file as Record<string, unknown> | null;
  if (f === null || typeof f !== 'object' || typeof f.read !== 'function' || typeof f.size !== 'function' || typeof f.close !== 'function') {
    ignoreLateRejection(file);
    throw brokenContract(path, 'open', `openRead() answered ${shown(file)}, not a readable file`);
  }
  return file as ReadableFile;
}
