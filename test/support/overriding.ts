import type { Directory, WritableFile } from '../../lib/directory/directory';

// Test doubles that replace a method or two of a Directory, a file or a FileBackend and pass the
// rest through. A Proxy rather than a copy of the object, so a double keeps up with the interface
// as it grows and reads getters (size, waitsForCommits) live from the object it wraps.

/**
 * `target`, except that each key of `overrides` answers with its value there. Every other method
 * is bound to `target` (called on the Proxy, it could not reach the target's #private fields);
 * every other property is read from `target` at each access.
 */
export function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return overrides[key as keyof T];
      const value: unknown = Reflect.get(t, key, t);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(t) : value;
    },
  });
}

/** `dir`, with every file it creates or opens for appending handed through `wrap` first. */
export function wrappingFiles(dir: Directory, wrap: (file: WritableFile, path: string) => WritableFile): Directory {
  return overriding(dir, {
    create: (path) => wrap(dir.create(path), path),
    openAppend: (path) => wrap(dir.openAppend(path), path),
  });
}
