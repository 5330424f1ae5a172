// Where a forwarder continues, from what the stream says and what it last saw acknowledged.
//
// The anchor is an entry id and the sequence the stream acknowledged for it (the cursor's at
// start). Every message after the anchor is the next entry (the sequence guard, forwarder.ts),
// so the stream's last sequence counts what was shipped even when retention removed the newest
// messages. A last sequence below the anchor's means the stream lost messages it had
// acknowledged (a server that lost its unsynced tail): shipping goes back to what it still holds.
// A stream created after the anchor was deleted and recreated: the anchor says nothing about it.

export interface ResumePoint {
  /** Last entry the stream holds (or the cursor, when the stream says nothing). */
  readonly entryId: number;
  /** That entry's stream sequence (0: unknown). */
  readonly seq: number;
}

/** An entry id and the stream sequence the stream acknowledged for it, and when that was learned (ms since the epoch). */
export interface Anchor extends ResumePoint {
  readonly at: number;
}

export interface StreamState {
  /** The stream's last sequence (0: it never stored anything). */
  readonly last: number;
  /** The subject's last message as an entry, if any is left. */
  readonly tail: ResumePoint | undefined;
  /** When the stream was created (ms since the epoch; NaN when unknown). */
  readonly created: number;
}

/**
 * `cursorEntry`: the cursor file's entry, the fallback when the stream says nothing; `cursorAt`:
 * when it was written (ms since the epoch; undefined: unknown), which tells, without an anchor,
 * whether the stream was created since.
 */
export function resumePoint(stream: StreamState, anchor: Anchor | undefined, cursorEntry: number, cursorAt?: number): ResumePoint {
  const { last, tail } = stream;
  if (anchor !== undefined && last < anchor.seq && !(stream.created > anchor.at)) {
    // The stream lost messages it had acknowledged: ship again after what it still holds.
    return tail ?? { entryId: 0, seq: 0 };
  }
  if (anchor !== undefined && last >= anchor.seq && (tail === undefined || anchor.entryId + (tail.seq - anchor.seq) === tail.entryId)) {
    // Every sequence after the anchor was the next entry, so the last sequence counts them,
    // the last message included, or not (retention removed the newest messages).
    return { entryId: anchor.entryId + (last - anchor.seq), seq: last };
  }
  // Nothing to count from (no anchor, a recreated stream, or one the stream contradicts): the
  // last message, or the cursor when retention removed it (do not send those again). A stream
  // the anchor predates whose last message is at its last sequence removed nothing after it, so
  // an anchor it contradicts is wrong (a damaged cursor): entries past that message were never
  // stored, and skipping to the cursor would leave them out of the stream for good.
  const since = anchor?.at ?? cursorAt;
  const notRecreated = since !== undefined && !(stream.created > since);
  if (tail !== undefined && (tail.entryId >= cursorEntry || (notRecreated && tail.seq === last))) return tail;
  return { entryId: cursorEntry, seq: 0 };
}
