import type { Directory } from '../directory/directory';
import { CorruptionError, NotFoundError } from '../errors';

// The forwarder's local resume point: the last entry id JetStream acknowledged, as far as this
// machine knows. Written with atomicWrite (old or new content, never a mix), only ever with
// acknowledged ids, so it can lag the stream but never run ahead of it. Plain JSON so that
// `durability inspect` and people can read it; this module loads no NATS code.

export const CURSOR_FILE = 'jetstream-cursor.json';

export interface ForwarderCursor {
  readonly version: 1;
  readonly stream: string;
  readonly subject: string;
  /** Every entry up to this id is stored in the stream (acknowledged). */
  readonly entryId: number;
  /** Stream sequence of that entry's message (0 when none was shipped yet). */
  readonly seq: number;
  /** Milliseconds since the epoch when this was written. */
  readonly updatedAt: number;
}

export function readCursor(dir: Directory, path = CURSOR_FILE): ForwarderCursor | undefined {
  let bytes: Uint8Array;
  try {
    bytes = dir.readFile(path);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CorruptionError(path, 0, `forwarder cursor is not JSON: ${(err as Error).message}`);
  }
  const c = value as Partial<ForwarderCursor> | null;
  if (c === null || typeof c !== 'object' || c.version !== 1 || typeof c.stream !== 'string' || typeof c.subject !== 'string' ||
    !Number.isSafeInteger(c.entryId) || (c.entryId as number) < 0 || !Number.isSafeInteger(c.seq) || (c.seq as number) < 0 ||
    typeof c.updatedAt !== 'number' || !Number.isFinite(new Date(c.updatedAt).getTime())) {
    throw new CorruptionError(path, 0, 'forwarder cursor does not have the expected fields (version 1)');
  }
  return c as ForwarderCursor;
}

export function writeCursor(dir: Directory, cursor: ForwarderCursor, path = CURSOR_FILE): void {
  dir.atomicWrite(path, new TextEncoder().encode(`${JSON.stringify(cursor)}\n`));
}
