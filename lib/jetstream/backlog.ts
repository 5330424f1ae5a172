// What the forwarder has not shipped yet, in entries and bytes (frame bytes, as the log holds them).
//
// Each entry's bytes are counted once, by whoever sees it first: the writer's admit/onAppend hook
// (same process), the scan of the backlog at start (entries written before this process), or the
// follower (entries another process appended). `countedThrough` is the highest id counted.

export interface ForwarderStats {
  /** Every entry up to this id is stored in the stream. */
  readonly shippedEntryId: number;
  /** Entries / frame bytes acknowledged by JetStream since start. */
  readonly shippedEntries: number;
  readonly shippedBytes: number;
  /** Entries / frame bytes in the log not acknowledged yet (lagEntries = pendingEntries). */
  readonly pendingEntries: number;
  readonly pendingBytes: number;
  readonly lagEntries: number;
  /** Seconds since the forwarder was last caught up (0 when it is). */
  readonly lagSeconds: number;
  /** Highest entry id the forwarder knows the log holds. */
  readonly lastEntryId: number;
  readonly inFlight: number;
  readonly reconnects: number;
  readonly errors: number;
  readonly connected: boolean;
}

export class Backlog {
  shipped: number;
  lastEntryId: number;
  pendingBytes = 0;
  countedThrough = 0;
  /** First id the writer's hook reported; the start-up scan stops there. */
  firstHooked: number | undefined;
  shippedEntries = 0;
  shippedBytes = 0;
  private caughtUpAt: number;

  constructor(shipped: number, private readonly clock: () => number = Date.now) {
    this.shipped = shipped;
    this.lastEntryId = shipped;
    this.countedThrough = shipped;
    this.caughtUpAt = clock();
  }

  /** The writer appended entry `id` (same process). */
  appended(id: number, frameBytes: number): void {
    if (this.firstHooked === undefined) this.firstHooked = id;
    this.see(id, frameBytes);
  }

  /** An entry seen by the scan or the follower; counted unless already counted. */
  see(id: number, frameBytes: number): void {
    if (id > this.countedThrough) {
      if (this.shipped >= this.lastEntryId) this.caughtUpAt = this.clock();
      this.pendingBytes += frameBytes;
      this.countedThrough = id;
    }
    if (id > this.lastEntryId) this.lastEntryId = id;
  }

  /** JetStream acknowledged entry `id` (the next one in order). */
  acked(id: number, frameBytes: number): void {
    this.shipped = id;
    this.shippedEntries++;
    this.shippedBytes += frameBytes;
    this.pendingBytes = Math.max(0, this.pendingBytes - frameBytes);
    if (id > this.lastEntryId) this.lastEntryId = id;
    if (id >= this.lastEntryId) this.caughtUpAt = this.clock();
  }

  /** The resume point moved forward without shipping (the stream already held those entries). */
  skipTo(id: number): void {
    if (id <= this.shipped) return;
    this.shipped = id;
    if (id > this.lastEntryId) this.lastEntryId = id;
    if (id > this.countedThrough) this.countedThrough = id;
  }

  lagSeconds(): number {
    return this.shipped >= this.lastEntryId ? 0 : (this.clock() - this.caughtUpAt) / 1000;
  }
}
