import { JetStreamError } from '../errors';
import { keptVerdict, readCursor, writeCursor, type ForwarderCursor, type KeptVerdict } from './cursor';
import type { ResolvedForwarderOptions } from './options';

// The forwarder's cursor file as it keeps it: read (and checked to be this stream's) at
// construction, written at most every cursorIntervalMs as shipping moves on, at once when asked.
// A failed write is reported, not fatal: the stream stays the resume point, and a stale cursor
// only matters after the stream's retention removed messages.

export class CursorKeeper {
  /** The entry id the cursor file names (0: none). */
  entryId: number;
  /** When the cursor file was written (undefined: there is none). */
  at: number | undefined;
  /** The `created` stamp of the stream the file was written against (undefined: none, or a cursor that predates it). */
  streamCreated: string | undefined;
  /** The entry the forwarder stopped over, and why (undefined: none): no start until the file is moved away. */
  verdict: KeptVerdict | undefined;
  /**
   * The verdict's write failed: every later write carries it, even at an entry the file already
   * names. Written without it, the file would let the next start count the entry.
   */
  private verdictUnwritten = false;
  /** What the file held at construction. */
  readonly found: ForwarderCursor | undefined;
  private writtenAt = 0;

  constructor(private readonly options: ResolvedForwarderOptions, private readonly failed: (err: unknown) => void) {
    const cursor = readCursor(options.dir, options.cursorPath);
    if (cursor !== undefined && (cursor.stream !== options.stream || cursor.subject !== options.subject)) {
      throw new JetStreamError('stream-subjects', `${options.cursorPath} belongs to stream ${cursor.stream} subject ${cursor.subject}, not ${options.stream} ${options.subject}; move it away to ship this log elsewhere`);
    }
    this.found = cursor;
    this.entryId = cursor?.entryId ?? 0;
    this.at = cursor?.updatedAt;
    this.streamCreated = cursor?.streamCreated;
    this.verdict = keptVerdict(cursor);
  }

  /** Writes `shipped` (`seq`: its stream sequence, 0 unknown) when past the file's entry and, unless `force`, the interval has passed. */
  save(shipped: number, seq: number, streamCreated: string | undefined, force: boolean): void {
    if (!this.verdictUnwritten && (shipped <= this.entryId || (!force && Date.now() - this.writtenAt < this.options.cursorIntervalMs))) return;
    this.write(shipped, seq, streamCreated);
  }

  /**
   * `seq`: the stream sequence of `entryId`'s message (0: unknown); `streamCreated`: that stream's
   * `created` stamp; `verdict`: see ForwarderCursor's unprovenEntryId; once known, every later write carries it.
   */
  write(entryId: number, seq: number, streamCreated: string | undefined, verdict = this.verdict): void {
    const now = Date.now();
    this.verdict = verdict;
    const cursor: ForwarderCursor = {
      version: verdict === undefined ? 1 : 2, stream: this.options.stream, subject: this.options.subject, entryId, seq, updatedAt: now, streamCreated,
      unprovenEntryId: verdict?.entryId, unprovenReason: verdict?.reason,
    };
    try {
      writeCursor(this.options.dir, cursor, this.options.cursorPath);
      this.entryId = cursor.entryId;
      this.at = now;
      this.streamCreated = streamCreated;
      this.verdictUnwritten = false;
      this.writtenAt = now;
    } catch (err) {
      if (verdict !== undefined) this.verdictUnwritten = true;
      this.failed(err);
    }
  }
}

/** Why start() refuses a cursor that keeps the window check's verdict. */
export function keptVerdictError(verdict: KeptVerdict, o: ResolvedForwarderOptions): JetStreamError {
  const id = verdict.entryId;
  if (verdict.reason === 'stream-subjects') {
    return new JetStreamError('stream-subjects', `${o.cursorPath} says another publisher's message took the sequence of entry ${id} in stream ${o.stream}, and later entries of this log were stored behind it: the stream lacks entry ${id} for good, and counting from the stream would take it as shipped. Ship this log to a new stream (and move the cursor away)`);
  }
  return new JetStreamError('removed-unchecked', `${o.cursorPath} says another publish's message took the sequence of entry ${id} in stream ${o.stream} and was removed before its bytes could be compared: nothing in the stream can prove it held this entry: counting from the stream would take it as shipped. If nothing but this forwarder publishes on ${o.subject} (it was an earlier attempt of ours), move the cursor away to count it; otherwise ship this log to a new stream (and move the cursor away)`);
}
