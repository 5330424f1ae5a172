import { IoError } from '../errors';

// A Directory, ReadableFile or FileBackend of the caller's own that answers outside its contract
// (directory.ts) is refused where the answer is read, as an IoError EIO that names the call and
// the answer: like a failed read, it is never taken for the end of the log or for damage, so
// nothing is cut for it.

export function brokenContract(path: string, syscall: string, what: string): IoError {
  return new IoError('EIO', syscall, path, {
    message: `${syscall} failed: EIO (${path}): ${what}. The Directory or FileBackend breaks its contract; nothing it answered was used and nothing was cut`,
  });
}

/** An answer for a message: short, and never one that runs user code (no toString of objects). */
export function shown(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 20))}`;
  if (isThenable(v)) return 'a Promise (the call is synchronous)';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  return typeof v === 'symbol' ? 'a symbol' : String(v);
}

/** A Promise answered where a value belongs: its rejection, if it comes, must not end the process as unhandled. */
export function ignoreLateRejection(v: unknown): void {
  if (isThenable(v)) Promise.resolve(v).catch(() => undefined);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
