// After a session fails, the publishes it had in flight are checked against the stream before
// any of them counts: with several in flight, a stranger's message stored among them shifts
// every later one, and counting sequences from the anchor would take it for one of ours.

import type { PubAck } from 'nats';
import { JetStreamError } from '../errors';
import type { EntryNotHeldReason } from './cursor';
import { digestOf, firstNotThisLogs, type MessageDigest } from './log-match';
import type { ResolvedForwarderOptions } from './options';
import { isApiCode } from './nats-errors';
import type { StreamLink } from './stream-link';

/** One publish of the forwarder's window. */
export interface InFlight {
  readonly id: number;
  readonly bytes: number;
  /** The stream sequence this publish stores at when the guard lets it (undefined: not known yet). */
  readonly seq: number | undefined;
  state: 'pending' | 'ok' | 'failed';
  ack?: PubAck;
  error?: unknown;
}

type Placed = MessageDigest & { readonly seq: number };

/** JetStream's err_code for a publish whose Nats-Expected-Last-Sequence was not the stream's last sequence. */
const WRONG_LAST_SEQUENCE = 10071;

/**
 * Ends a session when a publish comes back as a duplicate at the sequence it expected: our own
 * earlier attempt (its acknowledgement lost) or a stranger with our id. Not an error: the resync
 * that follows at once tells which by the bytes (checkWindowStored), and only a stranger is one.
 */
export class DuplicateToCheck extends Error {
  constructor(readonly entryId: number, readonly seq: number) {
    super(`entry ${entryId} came back as a duplicate of the message at sequence ${seq}, where it belongs: counted once that message is found to hold this entry's bytes`);
    this.name = 'DuplicateToCheck';
  }
}

/** The publishes of a failed window the resync counts as ours on the strength of their duplicate acknowledgement. */
export function provenDuplicates(inflight: readonly InFlight[], shipped: number, resumedAt: number): InFlight[] {
  return inflight.filter((f) => f.ack?.duplicate === true && f.ack.seq === f.seq && f.id > shipped && f.id <= resumedAt);
}

/**
 * Each publish of the failed session that did not come back stored (failed, or acknowledged as a
 * duplicate of a message already there) either was not stored, or was stored at the sequence it
 * expected. Any other message there took its place: a later
 * publish of the same window, expecting the sequence after it, was then stored behind it, so
 * the stream lacks this entry for good, and counting sequences from the anchor would take the
 * stranger for it. Asked only of the sequences the stream has reached (`last`). Throws
 * JetStreamError 'stream-subjects' naming the first entry the stream lacks, or
 * 'removed-unchecked' when a message another publish stored at a sequence of ours is gone and
 * its bytes can no longer be compared.
 */
export async function checkWindowStored(
  link: StreamLink, options: ResolvedForwarderOptions, inflight: readonly InFlight[], last: number,
): Promise<void> {
  const ours: Placed[] = [];
  for (const f of inflight) {
    // A duplicate acknowledgement stored nothing: one that came back after the session failed
    // (later in the window than the first) is as unproven as that first one.
    if ((f.state === 'ok' && f.ack?.duplicate !== true) || f.seq === undefined || f.seq > last) continue;
    const message = await link.messageAt(f.seq);
    if (message === undefined) {
      // The stream reached f.seq, so a message was stored there; after a duplicate acknowledgement
      // or a refusal by the sequence guard, not by this publish. Gone now (retention, a purge), it
      // can no longer tell our earlier attempt from a stranger, and counting from the anchor
      // would take it for our entry. (After a timeout it may well be this publish: counted.)
      if (f.ack?.duplicate === true || isApiCode(f.error, WRONG_LAST_SEQUENCE)) {
        await checkOurBytes(options, ours);
        unproven(options, f.id, f.seq, f.ack?.duplicate === true ? 'the stream answered it as a duplicate of a message stored there' : 'another message was stored first (the stream refused it: not the sequence it expected)');
      }
      continue;
    }
    if (message.id === f.id) {
      ours.push({ ...digestOf(f.id, message.payload), seq: f.seq });
      continue;
    }
    await checkOurBytes(options, ours); // an earlier one first
    strangerAt(options.stream, f.seq, f.id, Number.isNaN(message.id) ? 'a message that is no entry of this log' : `entry ${message.id}`);
  }
  await checkOurBytes(options, ours);
}

/** Messages with our ids at our sequences: a stranger may carry our next id, so their bytes must be this log's too. */
async function checkOurBytes(options: ResolvedForwarderOptions, ours: readonly Placed[]): Promise<void> {
  const differs = await firstNotThisLogs(options.dir, options.maxPayloadSize, ours);
  if (differs !== undefined) strangerAt(options.stream, ours.find((m) => m.id === differs)!.seq, differs, `other bytes as entry ${differs}`);
}

/**
 * The window check's verdict that the stream does not hold entry `entryId` (a stranger's message
 * at its sequence: 'stream-subjects'), or cannot show it does (that message removed:
 * 'removed-unchecked'). Our later publishes may be stored behind that message: a start with no
 * window to check would count the entry from the anchor, so the forwarder keeps this in its cursor.
 */
export class EntryNotHeld extends JetStreamError {
  declare readonly reason: EntryNotHeldReason;
  constructor(reason: EntryNotHeldReason, readonly entryId: number, message: string) {
    super(reason, message);
    this.name = 'JetStreamError'; // what users see and match: the class is the forwarder's own
  }
}


function unproven(options: ResolvedForwarderOptions, id: number, seq: number, cause: string): never {
  throw new EntryNotHeld('removed-unchecked', id, `entry ${id} belonged at sequence ${seq} of stream ${options.stream}, where ${cause}; retention or a purge has removed that message since, so whether it held this entry's bytes or a stranger's cannot be proven: entry ${id} does not count as shipped, and shipping stops. If nothing but this forwarder publishes on ${options.subject}, it was an earlier attempt of ours; otherwise ship this log to a new stream. The cursor (${options.cursorPath}) keeps this verdict: the forwarder does not start again until it is moved away`);
}

function strangerAt(stream: string, seq: number, id: number, held: string): never {
  throw new EntryNotHeld('stream-subjects', id, `stream ${stream} holds ${held} at sequence ${seq}, where entry ${id} belonged: someone else stores messages in this stream, and later entries were stored after it, so the stream lacks entry ${id}; shipping stops, and the forwarder cursor keeps this verdict: it does not start again until the cursor is moved away`);
}
