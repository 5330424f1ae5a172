import type { ReadableFile } from '../directory/directory';
import { CorruptionError } from '../errors';
import type { FileWindow } from './file-window';
import { SEGMENT_HEADER_SIZE } from './format';
import { moveTo, type HeldRecord, type Position, type Resume } from './follow-position';

// A follower's check that what it read is still in the log (follow.ts): a writer whose fdatasync
// failed cuts its file back to what was synced, and the next writer appends after the cut. What
// the follower does then: reads on where nothing it handed on was lost, rewinds to what the log
// proved durable (durableOnly), or stops with a CorruptionError.

/** The follower's held-back entries (durableOnly), which a rewind drops to read them again. */
export interface Holding<E> {
  held(): readonly HeldRecord<E>[];
  dropHeld(): void;
}

export class CutBackCheck<E> {
  constructor(private readonly window: FileWindow, private readonly durableOnly: boolean, private readonly holding: Holding<E>) {}

  /**
   * The bytes already read must still be there. A writer poisoned by a failed fdatasync cuts its
   * file back to what was synced, and the next writer reuses those ids: frames this follower read
   * from the page cache and yielded are then gone, or others stand in their place. Going on would
   * splice two histories (or wait for ever on bytes that are no longer a frame boundary).
   */
  verify(f: ReadableFile, size: number, pos: Position): void {
    if (size < pos.offset) this.cutBack(f, size, pos, `the segment is now ${size} bytes`);
    else if (!this.window.frameStillThere(f, size, pos.lastAt, pos.lastCrc)) this.cutBack(f, size, pos, `the frame at offset ${pos.lastAt} is no longer the one read`);
  }

  /** The log was cut back under the follower (`now` says how it shows): rewinds (durableOnly), else throws. */
  cutBack(f: ReadableFile, size: number, pos: Position, now: string): void {
    if (this.rewind(f, size, pos)) return;
    throw new CorruptionError(pos.seg.path, Math.min(size, pos.lastAt ?? pos.offset),
      `the log was cut back under the follower (${now}): entries up to ${pos.nextId - 1} it read from this segment may no longer be in the log, as a writer whose fdatasync failed drops what it had not synced`);
  }

  /**
   * durableOnly: whether every held frame ending at or before `upTo` still has the CRC it was read
   * with. Checking the last frame read is not enough: a writer that cut its tail back may have
   * written other frames of the same sizes, the last one identical (frame CRCs are not chained).
   */
  heldStillThere(f: ReadableFile, size: number, upTo: number): boolean {
    for (const h of this.holding.held()) {
      if (h.end > upTo) break;
      if (!this.window.frameStillThere(f, size, h.at, h.crc)) return false;
    }
    return true;
  }

  /**
   * After a cut-back: if everything handed on from this segment is still there, reads on from the
   * last entry handed on. durableOnly: as it must be (it was proven durable); the held entries are
   * dropped. Without it: the cut took only what followed that entry (the sync mark an idle writer
   * wrote after its last sync, and nothing synced), so no entry it yielded is gone. False when the
   * cut reaches below it: entries it handed on are gone (durableOnly: durable ones).
   */
  private rewind(f: ReadableFile, size: number, pos: Position): boolean {
    if (!this.durableOnly) return this.readOnAfter(f, size, pos, pos.lastEntry ?? { offset: SEGMENT_HEADER_SIZE, nextId: pos.header.firstEntryId });
    const to = pos.proven ?? { offset: SEGMENT_HEADER_SIZE, nextId: pos.header.firstEntryId };
    if (size < to.offset || !this.window.frameStillThere(f, size, to.lastAt, to.lastCrc)) return false;
    this.holding.dropHeld();
    pos.passedOver = undefined;
    moveTo(pos, to);
    return true;
  }

  /** Without durableOnly: moves `pos` right after the last entry read (`to`; none: the first frame) if that frame is still there. */
  private readOnAfter(f: ReadableFile, size: number, pos: Position, to: Resume): boolean {
    if (size < to.offset || !this.window.frameStillThere(f, size, to.lastAt, to.lastCrc)) return false;
    moveTo(pos, to);
    return true;
  }
}
