import type { Checksummer, FileBackend } from './backend/backend';
import type { Directory } from './directory/directory';
import { InvalidArgumentError } from './errors';
import type { Codec } from './wal/codec';

// Shape checks for the arguments of public entry points. TypeScript types vanish at run time:
// a JavaScript caller (or an `as any`) that passes a path where a Directory belongs must get a
// typed error naming the call and what it expected, not a TypeError from deep inside.

const DIRECTORY_METHODS = ['list', 'openRead', 'create', 'openAppend', 'lock', 'mkdirp', 'syncDir'] as const;

export function isDirectory(dir: unknown): dir is Directory {
  const d = dir as Record<string, unknown> | null;
  return d !== null && typeof d === 'object' && DIRECTORY_METHODS.every((m) => typeof d[m] === 'function');
}

export function requireDirectory(dir: unknown, caller: string): asserts dir is Directory {
  if (!isDirectory(dir)) {
    throw new InvalidArgumentError(`${caller} needs a Directory (FsDirectory, MemoryDirectory, ...) as its first argument, not ${typeName(dir)}`);
  }
}

/** `uses`: the codec methods the caller needs. */
export function requireCodec<E>(codec: unknown, caller: string, uses: 'encode' | 'decode' | 'both' = 'both'): asserts codec is Codec<E> {
  const c = codec as Record<string, unknown> | null;
  const ok = c !== null && typeof c === 'object'
    && (uses === 'decode' || typeof c.encode === 'function')
    && (uses === 'encode' || typeof c.decode === 'function');
  if (!ok) throw new InvalidArgumentError(`${caller} needs a codec: a Codec object { name, encode(entry), decode(bytes) }, not ${typeName(codec)}`);
}

const BACKEND_METHODS = ['open', 'close', 'pread', 'pwrite', 'pwritev', 'fdatasync', 'commitAsync', 'fileSize', 'readdir', 'tryLock', 'crc32c'] as const;

export function requireBackend(backend: unknown, caller: string): asserts backend is FileBackend {
  const b = backend as Record<string, unknown> | null;
  if (b === null || typeof b !== 'object' || BACKEND_METHODS.some((m) => typeof b[m] !== 'function')) {
    throw new InvalidArgumentError(`${caller}: backend must be a FileBackend (nativeBackend(), tsBackend() or backendByName(name)), not ${typeName(backend)}`);
  }
}

export function requireChecksummer(checksum: unknown, caller: string): asserts checksum is Checksummer {
  const c = checksum as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object' || typeof c.crc32c !== 'function' || typeof c.crc32cRanges !== 'function') {
    throw new InvalidArgumentError(`${caller}: checksum must be a Checksummer { crc32c, crc32cRanges } (a backend's, e.g. tsBackend()), not ${typeName(checksum)}`);
  }
}

export function requireOptionsObject(options: unknown, caller: string): asserts options is object {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`${caller} options must be an object, not ${typeName(options)}`);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : `an object with keys [${Object.keys(v).slice(0, 6).join(', ')}]`;
  return `${typeof v} ${String(v)}`;
}
