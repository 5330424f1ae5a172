// What the forwarder has not shipped yet, in entries and bytes (frame bytes, as the log holds them).
//
// Each entry's bytes are counted once, by whoever sees it first: the writer's admit/onAppend hook
// (same process), the scan of the backlog at start (entries written before this process), or the
// follower (entries another process appended). `countedThrough` is the highest id counted.
// Lag in seconds comes from (id, first seen) samples, at most one per SAMPLE_MS and at most
// MAX_SAMPLES of them (beyond that, while nothing ships, the oldest ones are the ones that count).

const SAMPLE_MS = 10;
const MAX_SAMPLES = 4096;

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
  /** Age of the oldest entry not acknowledged yet, from when the forwarder first saw it (seconds; 0 when caught up). */
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
  private readonly sampleIds: number[] = [];
  private readonly sampleTimes: number[] = [];

  constructor(shipped: number, private readonly clock: () => number = Date.now) {
    this.shipped = shipped;
    this.lastEntryId = shipped;
    this.countedThrough = shipped;
  }

  /** The writer appended entry `id` (same process). */
  appended(id: number, frameBytes: number): void {
    if (this.firstHooked === undefined) this.firstHooked = id;
    this.see(id, frameBytes);
  }

  /** An entry seen by the scan or the follower; counted unless already counted. */
  see(id: number, frameBytes: number): void {
    if (id > this.countedThrough) {
      // Caught up until now: earlier samples say nothing about this entry.
      if (this.shipped >= this.lastEntryId) this.clearSamples();
      this.sample(id);
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
    this.dropSamples();
  }

  /** The resume point moved forward without shipping (the stream already held those entries). */
  skipTo(id: number): void {
    if (id <= this.shipped) return;
    this.shipped = id;
    if (id > this.lastEntryId) this.lastEntryId = id;
    if (id > this.countedThrough) this.countedThrough = id;
    this.dropSamples();
  }

  /**
   * The stream lost entries after `id` that it had acknowledged (a server that lost its unsynced
   * tail): they are pending again. `frameBytes`: theirs, as the log holds them.
   */
  rewindTo(id: number, frameBytes: number): void {
    if (id >= this.shipped) return;
    this.shipped = id;
    this.pendingBytes += frameBytes;
    this.clearSamples();
    this.sample(id + 1);
  }

  lagSeconds(): number {
    if (this.shipped >= this.lastEntryId || this.sampleIds.length === 0) return 0;
    return Math.max(0, this.clock() - this.sampleTimes[0]) / 1000;
  }

  private clearSamples(): void {
    this.sampleIds.length = 0;
    this.sampleTimes.length = 0;
  }

  private sample(id: number): void {
    const n = this.sampleIds.length;
    const now = this.clock();
    if (n >= MAX_SAMPLES || (n > 0 && now - this.sampleTimes[n - 1] < SAMPLE_MS)) return;
    this.sampleIds.push(id);
    this.sampleTimes.push(now);
  }

  /** Keeps the newest sample at or before the oldest unshipped entry (its time bounds that entry's age from above). */
  private dropSamples(): void {
    const oldest = this.shipped + 1;
    let k = 0;
    while (k + 1 < this.sampleIds.length && this.sampleIds[k + 1] <= oldest) k++;
    if (k > 0) {
      this.sampleIds.splice(0, k);
      this.sampleTimes.splice(0, k);
    }
  }
}
