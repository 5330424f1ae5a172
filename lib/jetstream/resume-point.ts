// Where a forwarder continues, from what the stream says and what it last saw acknowledged.
//
// The anchor is an entry id and the sequence the stream acknowledged for it (the cursor's at
// start). Every message after the anchor is the next entry (the sequence guard, forwarder.ts),
// so the stream's last sequence counts what was shipped even when retention removed the newest
// messages. A last sequence below the anchor's means the stream lost messages it had
// acknowledged (a server that lost its unsynced tail): shipping goes back to what it still holds.
// A stream created after the anchor was deleted and recreated: the anchor says nothing about it,
// neither that it lost messages nor that its sequences past the anchor's are our entries.
// That is told by the stream's own `created` stamp, remembered with the anchor (and the cursor),
// not by comparing the server's clock with this machine's: a server clock ahead made a stream
// that lost acknowledged messages look recreated (they were then counted shipped, and never sent
// again), and one behind made a recreated stream look like one that lost them (shipped again).

export interface ResumePoint {
  /** Last entry the stream holds (or the cursor, when the stream says nothing). */
  readonly entryId: number;
  /** That entry's stream sequence (0: unknown). */
  readonly seq: number;
}

/** What is known of the stream that last acknowledged something, for telling whether the stream is still that one. */
export interface StreamSeen {
  /** When (ms since the epoch, this machine's clock; undefined: unknown). */
  readonly at?: number;
  /** That stream's `created` stamp, verbatim (undefined: a cursor written before it was remembered). */
  readonly streamCreated?: string;
}

/** An entry id and the stream sequence the stream acknowledged for it, and when that was learned. */
export interface Anchor extends ResumePoint, StreamSeen {
  readonly at: number;
}

export interface StreamState {
  /** The stream's last sequence (0: it never stored anything). */
  readonly last: number;
  /** The subject's last message as an entry, if any is left. */
  readonly tail: ResumePoint | undefined;
  /** When the stream was created (ms since the epoch by the server's clock; NaN when unknown). */
  readonly created: number;
  /** The server's `created` stamp, verbatim: it names this incarnation of the stream. */
  readonly createdStamp?: string;
}

/**
 * Whether `stream` was created after `seen`: its stamp against the one remembered, like with
 * like. Only a cursor from before the stamp was remembered falls back to its write time against
 * the server's clock. undefined: cannot tell.
 */
function recreatedSince(stream: StreamState, seen: StreamSeen | undefined): boolean | undefined {
  if (seen?.streamCreated !== undefined && stream.createdStamp !== undefined) return stream.createdStamp !== seen.streamCreated;
  if (seen?.at === undefined) return undefined;
  return stream.created > seen.at;
}

/**
 * `cursorEntry`: the cursor file's entry, the fallback when the stream says nothing; `cursorAt`
 * and `cursorStreamCreated`: when it was written and the stamp of the stream it was written
 * against (undefined: unknown), which tell, without an anchor, whether the stream was created since.
 */
export function resumePoint(stream: StreamState, anchor: Anchor | undefined, cursorEntry: number, cursorAt?: number, cursorStreamCreated?: string): ResumePoint {
  const { last, tail } = stream;
  if (anchor !== undefined && last < anchor.seq && recreatedSince(stream, anchor) !== true) {
    // The stream lost messages it had acknowledged: ship again after what it still holds.
    return tail ?? { entryId: 0, seq: 0 };
  }
  if (anchor !== undefined && last >= anchor.seq && recreatedSince(stream, anchor) !== true &&
    (tail === undefined || anchor.entryId + (tail.seq - anchor.seq) === tail.entryId)) {
    // Every sequence after the anchor was the next entry, so the last sequence counts them,
    // the last message included, or not (retention removed the newest messages). Only in the
    // stream that acknowledged the anchor: a recreated one numbers a stranger's messages from 1
    // too, and counting would take them for ours.
    return { entryId: anchor.entryId + (last - anchor.seq), seq: last };
  }
  // Nothing to count from (no anchor, a recreated stream, or one the stream contradicts): the
  // last message, or the cursor when retention removed it (do not send those again). A stream
  // the anchor predates whose last message is at its last sequence removed nothing after it, so
  // an anchor it contradicts is wrong (a damaged cursor): entries past that message were never
  // stored, and skipping to the cursor would leave them out of the stream for good.
  const notRecreated = recreatedSince(stream, anchor ?? { at: cursorAt, streamCreated: cursorStreamCreated }) === false;
  if (tail !== undefined && (tail.entryId >= cursorEntry || (notRecreated && tail.seq === last))) return tail;
  return { entryId: cursorEntry, seq: 0 };
}
