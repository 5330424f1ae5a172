import type { Directory } from '../directory/directory';
import { describe } from '../errors';
import { keptVerdict, readCursor, type KeptVerdict } from '../jetstream/cursor';

export interface ForwarderPosition {
  stream?: string;
  subject?: string;
  entryId?: number;
  seq?: number;
  updatedAt?: number;
  /** The entry the forwarder stopped over, and why (stream-subjects, removed-unchecked): it will not start until the cursor is moved away. */
  unprovenEntryId?: number;
  unprovenReason?: KeptVerdict['reason'];
  /** Entries of the log past the cursor (the cursor may lag the stream by its write interval). */
  unshippedEntries?: number;
  /** The cursor file exists but does not read. */
  error?: string;
}

/** The JetStream forwarder's cursor, when one is kept in this directory (reads no NATS code). */
export function forwarderPosition(dir: Directory, lastEntryId: number): ForwarderPosition | undefined {
  try {
    const c = readCursor(dir);
    if (c === undefined) return undefined;
    return { stream: c.stream, subject: c.subject, entryId: c.entryId, seq: c.seq, updatedAt: c.updatedAt, unprovenEntryId: c.unprovenEntryId, unprovenReason: keptVerdict(c)?.reason, unshippedEntries: Math.max(0, lastEntryId - c.entryId) };
  } catch (err) {
    return { error: `cursor unreadable: ${describe(err)}` };
  }
}
