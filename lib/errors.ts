// Every error the package throws on purpose is a DurabilityError with a stable `code`.
// Callers branch on `code` (or instanceof); messages are for people and may change.

import os from 'node:os';

export type DurabilityErrorCode =
  | 'DURABILITY_IO'
  | 'DURABILITY_CORRUPTION'
  | 'DURABILITY_LOCKED'
  | 'DURABILITY_POISONED'
  | 'DURABILITY_CLOSED'
  | 'DURABILITY_INVALID_PATH'
  | 'DURABILITY_INVALID_ARGUMENT'
  | 'DURABILITY_INVALID_STATE'
  | 'DURABILITY_ENCODE'
  | 'DURABILITY_DECODE'
  | 'DURABILITY_NOT_FOUND'
  | 'DURABILITY_EXISTS'
  | 'DURABILITY_RECOVERY_GAP'
  | 'DURABILITY_NOT_REGULAR_FILE'
  | 'DURABILITY_BACKPRESSURE'
  | 'DURABILITY_JETSTREAM';

export class DurabilityError extends Error {
  readonly code: DurabilityErrorCode;
  constructor(code: DurabilityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An operating-system call failed. `errno` is the symbolic code (EIO, ENOSPC, ...). */
export class IoError extends DurabilityError {
  readonly errno: string;
  readonly syscall: string;
  readonly path: string | undefined;
  constructor(errno: string, syscall: string, path: string | undefined, options?: { cause?: unknown; message?: string }) {
    super('DURABILITY_IO', options?.message ?? `${syscall} failed: ${errno}${path === undefined ? '' : ` (${path})`}`, options);
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

/** Bytes on disk do not match the format. Names the file and byte offset where the damage starts. */
export class CorruptionError extends DurabilityError {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  constructor(file: string, offset: number, reason: string, options?: { cause?: unknown }) {
    super('DURABILITY_CORRUPTION', `${file} @ ${offset}: ${reason}`, options);
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/** Another writer (in this process, a worker, or another process) holds the lock. */
export class LockedError extends DurabilityError {
  readonly path: string;
  constructor(path: string, detail?: string) {
    super('DURABILITY_LOCKED', `${path} is locked by another writer${detail ? ` (${detail})` : ''}`);
    this.path = path;
  }
}

/** A write, rotation or sync failed earlier; nothing written since can be trusted as durable. */
export class PoisonedError extends DurabilityError {
  constructor(cause: unknown) {
    super('DURABILITY_POISONED', `writer is poisoned by an earlier failure: ${describe(cause)}`, { cause });
  }
}

export class ClosedError extends DurabilityError {
  constructor(what: string) {
    super('DURABILITY_CLOSED', `${what} is closed`);
  }
}

/** A relative path that would leave the directory's root, or is otherwise not a valid store path. */
export class InvalidPathError extends DurabilityError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super('DURABILITY_INVALID_PATH', `invalid path ${JSON.stringify(path)}: ${reason}`);
    this.path = path;
  }
}

/**
 * Something other than a regular file (a symbolic link, directory, FIFO, socket or device) sits
 * where the store keeps a file. Refused before any byte is read or written: a link could lead
 * outside the root, and a FIFO or device could block the calling thread forever.
 */
export class NotRegularFileError extends DurabilityError {
  readonly path: string;
  /** 'symbolic link', 'directory', 'FIFO', 'socket', 'character device', 'block device' or 'unknown'. */
  readonly fileType: string;
  /** `detail`: why the store needs a file under that name and what to do about it. */
  constructor(path: string, fileType: string, detail?: string, options?: { cause?: unknown }) {
    super('DURABILITY_NOT_REGULAR_FILE', `${path} is a ${fileType}, not a regular file; the store keeps only regular files there${detail ? ` (${detail})` : ''}`, options);
    this.path = path;
    this.fileType = fileType;
  }
}

export class InvalidArgumentError extends DurabilityError {
  constructor(message: string) {
    super('DURABILITY_INVALID_ARGUMENT', message);
  }
}

export class InvalidStateError extends DurabilityError {
  constructor(message: string) {
    super('DURABILITY_INVALID_STATE', message);
  }
}

export class NotFoundError extends DurabilityError {
  readonly path: string;
  constructor(path: string, detail?: string) {
    super('DURABILITY_NOT_FOUND', `${path} does not exist${detail ? ` (${detail})` : ''}`);
    this.path = path;
  }
}

export class AlreadyExistsError extends DurabilityError {
  readonly path: string;
  constructor(path: string, detail?: string) {
    super('DURABILITY_EXISTS', `${path} already exists${detail ? ` (${detail})` : ''}`);
    this.path = path;
  }
}

export class EncodeError extends DurabilityError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DURABILITY_ENCODE', message, options);
  }
}

export class DecodeError extends DurabilityError {
  readonly entryId: number | undefined;
  readonly file: string | undefined;
  constructor(message: string, where: { entryId?: number; file?: string }, options?: { cause?: unknown }) {
    super('DURABILITY_DECODE', message, options);
    this.entryId = where.entryId;
    this.file = where.file;
  }
}

/**
 * Recovery (or a follower) needs entry `expectedEntryId` next, but the log no longer holds it:
 * the WAL was truncated past the checkpoint being recovered from, or a damaged newer checkpoint
 * covered entries the WAL does not hold. Never a silently missing range.
 */
export class RecoveryGapError extends DurabilityError {
  /** The first entry id that is missing. */
  readonly expectedEntryId: number;
  /** The id the log continues with after the gap, or undefined when it holds none past it. */
  readonly foundEntryId: number | undefined;
  constructor(expectedEntryId: number, foundEntryId: number | undefined, detail: string) {
    super('DURABILITY_RECOVERY_GAP', `entries from ${expectedEntryId} are missing${foundEntryId === undefined ? '' : ` (the log continues at ${foundEntryId})`}: ${detail}`);
    this.expectedEntryId = expectedEntryId;
    this.foundEntryId = foundEntryId;
  }
}

/**
 * A forwarder (durability/jetstream) has more unshipped bytes in the log than its bound and was
 * told to refuse new writes: the append was refused before it took an id, the log is untouched.
 */
export class BackpressureError extends DurabilityError {
  readonly unshippedBytes: number;
  readonly limit: number;
  constructor(unshippedBytes: number, limit: number) {
    super('DURABILITY_BACKPRESSURE', `${unshippedBytes} bytes of the log are not shipped yet (bound ${limit}): write refused until the forwarder catches up`);
    this.unshippedBytes = unshippedBytes;
    this.limit = limit;
  }
}

/**
 * 'unreachable' and 'publish-refused' (the server answered but did not store a message: a stream
 * limit, or a de-duplication window that remembers an id the stream no longer holds) are retried;
 * the others stop the forwarder.
 */
export type JetStreamErrorReason = 'unreachable' | 'publish-refused' | 'stream-not-found' | 'stream-subjects' | 'stream-config' | 'payload-too-large' | 'client-missing' | 'log-mismatch' | 'removed-unchecked';

/** The JetStream forwarder cannot do its job as configured; `reason` says which check failed. */
export class JetStreamError extends DurabilityError {
  readonly reason: JetStreamErrorReason;
  constructor(reason: JetStreamErrorReason, message: string, options?: { cause?: unknown }) {
    super('DURABILITY_JETSTREAM', message, options);
    this.reason = reason;
  }
}

export function describe(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}

/** The symbolic name of each errno number of this platform (the first listed where two share one). */
const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(os.constants.errno)) if (!names.has(value)) names.set(value, name);
  return names;
})();

/**
 * One name per errno on both backends. The native core names errno 95 on Linux EOPNOTSUPP
 * (glibc's name) and libuv names it ENOTSUP; callers that match on these still accept both.
 * Where the two are different errnos (macOS, Windows) each keeps its own name.
 */
function errnoName(code: string): string {
  return code === 'EOPNOTSUPP' && os.constants.errno.EOPNOTSUPP === os.constants.errno.ENOTSUP ? 'ENOTSUP' : code;
}

/**
 * libuv has no name for some errnos (EDQUOT, ESTALE, ENOLCK, ...): node:fs then sets `code` to
 * "Unknown system error -122" and keeps the number, negated, in `errno`. Its name comes from
 * os.constants.errno; a number this platform cannot name (on Windows libuv's own codes, which
 * os.constants.errno does not list) is EUNKNOWN, as the native core calls it.
 */
function nameOfNumber(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? 'EUNKNOWN';
}

/**
 * Maps an error thrown by node:fs or the native binding (both carry `code` and `syscall`; node:fs
 * a numeric `errno` too) to an IoError; anything else is returned unchanged.
 */
export function toIoError(err: unknown, fallbackPath?: string): unknown {
  if (err instanceof DurabilityError) return err;
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown } | null;
  if (!e || typeof e.code !== 'string') return err;
  let name: string;
  if (/^E[A-Z0-9]+$/.test(e.code)) name = e.code;
  else if (Number.isSafeInteger(e.errno) && typeof e.syscall === 'string') name = nameOfNumber(e.errno as number);
  else return err;
  const errno = errnoName(name);
  const path = typeof e.path === 'string' ? e.path : fallbackPath;
  return new IoError(errno, typeof e.syscall === 'string' ? e.syscall : 'unknown', path, { cause: err });
}
