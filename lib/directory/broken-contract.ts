import { DurabilityError, IoError, toIoError } from '../errors';

// A Directory, ReadableFile or FileBackend of the caller's own that answers outside its contract
// (directory.ts) is refused where the answer is read, as an IoError EIO that names the call and
// the answer: like a failed read, it is never taken for the end of the log or for damage, so
// nothing is cut for it.

export function brokenContract(path: string, syscall: string, what: string): IoError {
  return new IoError('EIO', syscall, path, {
    message: `${syscall} failed: EIO (${path}): ${what}. The Directory or FileBackend breaks its contract; nothing it answered was used and nothing was cut`,
  });
}

/**
 * What a Directory, ReadableFile or FileBackend of the caller's own threw from `call` where the
 * package asked it (checked-answers.ts, read-whole.ts). A DurabilityError it threw on purpose
 * reaches the caller as it is, and an error with an OS error code as an IoError of that code;
 * anything else (a TypeError from its own code) is an IoError EIO naming the call, with the
 * error as its cause: the caller meets one typed failure whatever the Directory is, and, as for a
 * bad answer, nothing is cut for it.
 */
export function thrownBy(err: unknown, path: string, syscall: string, call: string): unknown {
  if (err instanceof DurabilityError) return err;
  const mapped = toIoError(err, path);
  if (mapped instanceof IoError) return mapped;
  return new IoError('EIO', syscall, path, {
    cause: err,
    message: `${syscall} failed: EIO (${path}): ${call}() threw ${thrownName(err)}. The error is this one's cause; nothing was cut`,
  });
}

/** The thrown value's kind for a message: an Error's own name, without calling its code. */
function thrownName(err: unknown): string {
  if (!(err instanceof Error)) return shown(err);
  const name = Object.getOwnPropertyDescriptor(err, 'name')?.value ?? Object.getPrototypeOf(err)?.constructor?.name;
  const message = Object.getOwnPropertyDescriptor(err, 'message')?.value;
  const kind = typeof name === 'string' ? name : 'an Error';
  return typeof message === 'string' ? `${kind}: ${message.slice(0, 200)}` : kind;
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

/**
 * `v`, what a lock() answered. A Promise is refused, but the lock it brings is still taken when
 * it comes: released then, so the store is not locked out until the process ends. Its rejection,
 * if it comes, is dropped as ignoreLateRejection does.
 */
export function releaseLateLock(v: unknown): unknown {
  if (!isThenable(v)) return v;
  Promise.resolve(v).then((lock: unknown) => {
    const release = (lock as { release?: unknown } | null)?.release;
    if (typeof release === 'function') release.call(lock);
  }).catch(() => undefined);
  return v;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
