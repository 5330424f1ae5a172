import type { DecodeError } from '../errors';
import type { SegmentHeader } from './format';
import type { WalRecord } from './reader';
import type { SegmentRef } from './segment-files';

// Where a follower stands in the segment it reads (follow.ts), and, with durableOnly, what it
// holds back until the log proves it durable.

export interface Position {
  seg: SegmentRef;
  header: SegmentHeader;
  /** Byte offset of the next frame. */
  offset: number;
  /** Id the next frame of this segment must carry. */
  nextId: number;
  /** Offset and stored CRC of the last frame read from this segment (lastAt < 0: none yet). */
  lastAt?: number;
  lastCrc?: number;
  /** durableOnly: where to read again from if the writer cuts its unsynced tail back (see rewind). */
  proven?: Resume;
  /** Right after the last entry frame read from this segment (lastAt may be a sync mark after it; see rewind). */
  lastEntry?: Resume;
  /** durableOnly: the largest watermark of the segment's marks read so far (its bytes before it are durable). */
  vouched?: number;
  /** durableOnly: where the frames passed over while HELD_LIMIT entries were held start (see decodesNext). */
  passedOver?: Resume;
}

/** A place in a segment to read on from: right after the frame at lastAt (with lastCrc), or its first frame. */
export interface Resume {
  offset: number;
  nextId: number;
  lastAt?: number;
  lastCrc?: number;
}

/** durableOnly: an entry read but not yet proven durable, and where its frame lies. */
export interface HeldRecord<E> {
  entryId: number;
  /** The entry, or why it cannot be handed on (thrown once proven, after the entries before it). */
  record: WalRecord<E> | DecodeError;
  /** Its frame's offset and stored CRC. */
  at: number;
  crc: number;
  /** Offset just past its frame: a sync mark with D ≥ end proves it durable. */
  end: number;
}

/** Puts `pos` right after the frame `to` names (or at its segment's first frame). */
export function moveTo(pos: Position, to: Resume): void {
  pos.offset = to.offset;
  pos.nextId = to.nextId;
  pos.lastAt = to.lastAt;
  pos.lastCrc = to.lastCrc;
}
