import type { Directory, ReadableFile } from '../directory/directory';
import { readWhole, sizeOf } from '../directory/read-whole';
import { CorruptionError, EncodeError, NotFoundError } from '../errors';
import { requireDirectory } from '../guards';
import { openReadChecked } from '../directory/checked-answers';

// The forwarder's local resume point: the last entry id JetStream acknowledged, as far as this
// machine knows. Written with atomicWrite (old or new content, never a mix), only ever with
// acknowledged ids, so it can lag the stream but never run ahead of it. Plain JSON so that
// `durability inspect` and people can read it; this module loads no NATS code.

export const CURSOR_FILE = 'jetstream-cursor.json';

/**
 * Longest stream or subject name the forwarder takes: a NATS server's default max_control_line
 * (4 KiB) already refuses longer subjects in every PUB.
 */
export const MAX_CURSOR_NAME_LENGTH = 4096;
/** Longest stream `created` stamp a cursor keeps (an RFC 3339 time with nanoseconds takes 30-odd characters). */
export const MAX_CURSOR_STAMP_LENGTH = 64;
/**
 * Largest cursor file: both names at their longest, the stamp, each character escaped by JSON.stringify
 * (6 bytes), plus the numbers. A larger file is no cursor, and is refused before it is read.
 */
export const MAX_CURSOR_SIZE = 64 * 1024;

/**
 * 1: an ordinary cursor; 2: one that keeps a verdict (unprovenEntryId). Earlier releases read
 * version 1 alone and ignore fields they do not know: a verdict in a version 1 cursor would be
 * dropped by one (it would start and count the entry), while version 2 is a CorruptionError to it.
 */
export type CursorVersion = 1 | 2;

export interface ForwarderCursor {
  readonly version: CursorVersion;
  readonly stream: string;
  readonly subject: string;
  /** Every entry up to this id is stored in the stream (acknowledged). */
  readonly entryId: number;
  /** Stream sequence of that entry's message (0 when none was shipped yet). */
  readonly seq: number;
  /** Milliseconds since the epoch when this was written. */
  readonly updatedAt: number;
  /**
   * The stream's `created` stamp as the server reported it when this was written (absent in
   * cursors of earlier versions): a stream with another stamp was deleted and created again.
   */
  readonly streamCreated?: string;
  /**
   * Set when the forwarder stopped because another publish's message took this entry's sequence:
   * a stranger's (unprovenReason 'stream-subjects') or one removed before its bytes could be
   * compared ('removed-unchecked', also when unprovenReason is absent). Later entries may be stored
   * behind it, so a forwarder refuses to start while it is there: counting from the stream would
   * take the entry as shipped.
   */
  readonly unprovenEntryId?: number;
  readonly unprovenReason?: EntryNotHeldReason;
}

/** Why the window check found the stream without an entry (JetStreamError reasons). */
export type EntryNotHeldReason = 'stream-subjects' | 'removed-unchecked';

/** The verdict a cursor keeps: the entry the stream lacks (or cannot show), and why. */
export interface KeptVerdict {
  readonly entryId: number;
  readonly reason: EntryNotHeldReason;
}

/** The verdict `cursor` keeps, if any. */
export function keptVerdict(cursor: ForwarderCursor | undefined): KeptVerdict | undefined {
  if (cursor?.unprovenEntryId === undefined) return undefined;
  return { entryId: cursor.unprovenEntryId, reason: cursor.unprovenReason ?? 'removed-unchecked' };
}

export function readCursor(dir: Directory, path = CURSOR_FILE): ForwarderCursor | undefined {
  requireDirectory(dir, 'readCursor');
  let file: ReadableFile;
  try {
    file = openReadChecked(dir, path);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  let bytes: Uint8Array;
  try {
    const size = sizeOf(file);
    if (size > MAX_CURSOR_SIZE) throw new CorruptionError(path, MAX_CURSOR_SIZE, `forwarder cursor is ${size} bytes, more than a cursor takes (${MAX_CURSOR_SIZE})`);
    bytes = new Uint8Array(size);
    bytes = bytes.subarray(0, readWhole(file, bytes, 0));
  } finally {
    file.close();
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CorruptionError(path, 0, `forwarder cursor is not JSON: ${(err as Error).message}`);
  }
  const c = value as Partial<ForwarderCursor> | null;
  // Version 1 with a verdict: written by unreleased builds before version 2; read, not written.
  if (c === null || typeof c !== 'object' || (c.version !== 1 && !(c.version === 2 && c.unprovenEntryId !== undefined)) || typeof c.stream !== 'string' || typeof c.subject !== 'string' ||
    !Number.isSafeInteger(c.entryId) || (c.entryId as number) < 0 || !Number.isSafeInteger(c.seq) || (c.seq as number) < 0 ||
    typeof c.updatedAt !== 'number' || !Number.isFinite(new Date(c.updatedAt).getTime()) ||
    (c.streamCreated !== undefined && (typeof c.streamCreated !== 'string' || c.streamCreated.length > MAX_CURSOR_STAMP_LENGTH)) ||
    (c.unprovenEntryId !== undefined && (!Number.isSafeInteger(c.unprovenEntryId) || c.unprovenEntryId < 1)) ||
    (c.unprovenReason !== undefined && (c.unprovenEntryId === undefined || (c.unprovenReason !== 'stream-subjects' && c.unprovenReason !== 'removed-unchecked')))) {
    throw new CorruptionError(path, 0, 'forwarder cursor does not have the expected fields (version 1, or 2 with unprovenEntryId)');
  }
  return c as ForwarderCursor;
}

export function writeCursor(dir: Directory, cursor: ForwarderCursor, path = CURSOR_FILE): void {
  const bytes = new TextEncoder().encode(`${JSON.stringify(cursor)}\n`);
  if (bytes.length > MAX_CURSOR_SIZE) throw new EncodeError(`forwarder cursor of ${bytes.length} bytes exceeds ${MAX_CURSOR_SIZE}`);
  dir.atomicWrite(path, bytes);
}
