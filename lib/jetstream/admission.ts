import { BackpressureError, JetStreamError } from '../errors';
import { FRAME_HEADER_SIZE } from '../wal/format';
import type { Backlog } from './backlog';
import type { ResolvedForwarderOptions } from './options';
import type { StreamLink } from './stream-link';

// What the forwarder's observer says to each append before the writer frames it: an entry the
// server could never take is refused (payload-too-large), and past maxUnshippedBytes of entries
// not shipped yet the append is refused (onOverflow 'reject') or an 'overflow' event published once.

/** Headers the client adds to each message, counted against the server's max_payload. */
export const HEADER_ALLOWANCE = 160;

export class ShippingAdmission {
  private overflowing = false;
  /**
   * Bytes admit let through whose onAppend has not come yet: the entries of a batch are all
   * admitted before the first is framed, and the writer reports them as the call ends. Uncounted,
   * a batch of any size passed maxUnshippedBytes. A refused call appends none of the entries it
   * had admitted: admit drops the count when it refuses one, and, for refusals it does not see
   * (a later entry the codec cannot encode), once the synchronous run that admitted them is over.
   */
  private admittedBytes = 0;

  constructor(
    private readonly link: StreamLink,
    private readonly backlog: Backlog,
    private readonly options: ResolvedForwarderOptions,
    private readonly publish: (kind: string, extra: Record<string, unknown>) => void,
  ) {}

  admit(frameBytes: number): void {
    try {
      this.checkAdmission(frameBytes);
    } catch (err) {
      this.admittedBytes = 0;
      throw err;
    }
    if (this.admittedBytes === 0) queueMicrotask(() => { this.admittedBytes = 0; });
    this.admittedBytes += frameBytes;
  }

  private checkAdmission(frameBytes: number): void {
    if (this.link.maxMessage > 0 && frameBytes - FRAME_HEADER_SIZE + HEADER_ALLOWANCE > this.link.maxMessage) {
      throw new JetStreamError('payload-too-large', `entry of ${frameBytes - FRAME_HEADER_SIZE} bytes cannot be shipped: the server takes messages up to ${this.link.maxMessage} bytes (payload + headers)`);
    }
    const limit = this.options.maxUnshippedBytes;
    const unshipped = this.backlog.pendingBytes + this.admittedBytes;
    if (unshipped + frameBytes <= limit) {
      this.overflowing = false;
    } else {
      if (this.options.reject) throw new BackpressureError(unshipped, limit);
      if (!this.overflowing) {
        this.overflowing = true;
        this.publish('overflow', { limit });
      }
    }
  }

  appended(entryId: number, frameBytes: number): void {
    this.admittedBytes = Math.max(0, this.admittedBytes - frameBytes);
    this.backlog.appended(entryId, frameBytes);
  }
}
