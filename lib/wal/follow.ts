// The live tail of a log: yields entries as another process appends them, across rotations and
// the truncation of segments already read, until an AbortSignal ends it.
//
// With durableOnly, an entry is held back until the log itself proves it durable, so a follower
// in another process never hands on what a power cut could still take: a sync mark whose
// watermark D lies past the entry's frame (a completed fdatasync covered it; docs/FORMAT.md), or
// the next segment's valid header (the writer syncs a segment before it creates the next one).
// A writer that cuts its unsynced tail back then only drops held entries, which are read again.
//
// A frame counts only when it fully validates (CRC under the segment's salt, the next id). At
// the end of the newest segment anything else (a short read, zeros, a bad CRC) is a write in
// progress, not damage: the follower waits and reads again. Once segment n+1 exists, segment n
// is complete (the writer fdatasyncs and trims n before creating n+1), so n is read once more
// and must then end cleanly where n+1 begins; anything else there is a CorruptionError.
//
// Waiting is log-watch.ts with a backoff timer. A look at the log stops once it has done a slice of work (pacer.ts) and the event loop turns
// before the next one, so a backlog never holds the loop. The zeros at the end of a preallocated
// or zero-filled segment are only checked once the next segment exists (by then the writer has
// trimmed them): the newest segment's zero tail, gigabytes maybe, is never read to its end.

import type { Directory, ReadableFile } from '../directory/directory';
import { frameCrcMatches } from '../framed/witness-search';
import { CorruptionError, DecodeError, NotFoundError, describe } from '../errors';
import type { Codec } from './codec';
import {
  FORMAT_VERSION, FRAME_HEADER_SIZE, MARK_LENGTH, MARK_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, WAL_FRAME_LAYOUT, checkSegmentHeader, maskCrc, readU32,
  readU64, segmentPath,
} from './format';
import { FileWindow } from './file-window';
import { CutBackCheck } from './follow-cut-back';
import { FIRST_DELAY_MS, resolveFollowOptions, type FollowOptions } from './follow-options';
import { moveTo, type HeldRecord, type Position } from './follow-position';
import { UnknownNames } from '../unknown-names';
import { headerless, nextSegment, segmentHolding, stillThere } from './follow-segments';
import { LogWatch } from './log-watch';
import { Pacer, RECORD_WORK, turn } from './pacer';
import type { WalRecord } from './reader';
import { sizeOf } from '../directory/read-whole';
import { openReadChecked } from '../directory/checked-answers';

export type { FollowOptions } from './follow-options';

/** Records decoded per look at the log before they are handed out. */
const BATCH = 4096;
/**
 * durableOnly: entries held back at most. Past it, frames are only checked and passed over, to
 * find the mark that releases the held ones, and read again after it: a writer that does not
 * sync for a whole segment (or a v1 segment, which has no marks) must not make the follower
 * hold that segment decoded.
 */
const HELD_LIMIT = BATCH;

/** batch: stopped with a full batch or a spent slice; clean: end of file; pending: bytes that are not (yet) a frame. */
type ReadEnd = 'batch' | 'clean' | 'pending' | 'gone';

export function followLog<E>(dir: Directory, codec: Codec<E>, maxPayloadSize: number, given?: FollowOptions | null): AsyncIterableIterator<WalRecord<E>> {
  // null is no options, as for records() and replay().
  const options = given ?? {};
  const { from, maxDelay, durableOnly } = resolveFollowOptions(options);
  return new Follower(dir, codec, maxPayloadSize, from, options.signal, maxDelay, durableOnly).run();
}

class Follower<E> {
  private pos: Position | undefined;
  private readonly out: WalRecord<E>[] = [];
  /** durableOnly: entries of the current segment read but not yet proven durable, in id order. */
  private held: HeldRecord<E>[] = [];
  /** An entry that cannot be handed on: thrown once every entry before it was yielded. */
  private failure: DecodeError | undefined;
  /** The next entry to yield. */
  private nextId: number;
  private readonly pacer = new Pacer();
  private readonly window = new FileWindow(this.pacer);
  /** The segment last left because it was removed or replaced (see refuseReplacedLog), until the next one is found. */
  private left: number | undefined;
  /** Every look at the log lists wal/ again: a stray name is reported when first seen. */
  private readonly unknown = new UnknownNames();
  private readonly cutBacks: CutBackCheck<E>;

  constructor(
    private readonly dir: Directory,
    private readonly codec: Codec<E>,
    private readonly maxPayload: number,
    private readonly fromEntryId: number,
    private readonly signal: AbortSignal | undefined,
    private readonly maxDelay: number,
    private readonly durableOnly: boolean,
  ) {
    this.nextId = fromEntryId;
    this.cutBacks = new CutBackCheck<E>(this.window, durableOnly, { held: () => this.held, dropHeld: () => this.dropHeld() });
  }

  async *run(): AsyncGenerator<WalRecord<E>, undefined, undefined> {
    const watch = new LogWatch(this.dir);
    const onAbort = (): void => watch.wake();
    this.signal?.addEventListener('abort', onAbort);
    try {
      let delay = FIRST_DELAY_MS;
      while (!this.aborted()) {
        const progressed = this.poll();
        if (this.out.length > 0) {
          const batch = this.out.splice(0);
          for (const record of batch) {
            if (this.aborted()) return undefined;
            yield record;
          }
        }
        if (this.failure !== undefined) throw this.failure;
        if (progressed) {
          delay = FIRST_DELAY_MS;
          await turn();
          continue;
        }
        await watch.wait(delay);
        delay = Math.min(this.maxDelay, delay * 2);
      }
      return undefined;
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
      watch.close();
    }
  }

  private aborted(): boolean {
    return this.signal?.aborted === true;
  }

  /** One look at the log: decodes what is complete into `out`. True if anything moved. */
  private poll(): boolean {
    this.pacer.reset();
    let moved = false;
    for (;;) {
      if (this.failure !== undefined) return true;
      if (this.pos === undefined) {
        this.pos = segmentHolding(this.dir, this.nextId, this.unknown);
        if (this.pos === undefined) return moved;
        if (this.left !== undefined) this.refuseReplacedLog(this.pos, this.left);
      }
      const pos = this.pos!;
      const before = pos.offset;
      const end = this.readSegment(pos);
      if (pos.offset !== before) moved = true;
      if (end === 'batch') return true;
      if (end === 'gone') {
        this.leaveGone(pos);
        continue;
      }
      // The segment stopped short: complete only if the writer has moved on to the next one.
      const next = nextSegment(this.dir, pos.seg, this.unknown);
      if (next === undefined) return moved;
      let again = this.readSegment(pos, { complete: true });
      if (again === 'batch') return true;
      if (again === 'pending' && this.zerosToEnd(pos)) again = 'clean';
      if (again === 'gone') {
        this.leaveGone(pos);
        continue;
      }
      if (again === 'pending' || next.header.firstEntryId !== pos.nextId) {
        if (!stillThere(this.dir, pos)) {
          this.leaveGone(pos); // replaced or removed since it was read: as for 'gone' above
          continue;
        }
        throw new CorruptionError(pos.seg.path, pos.offset, next.header.firstEntryId !== pos.nextId
          ? `segment ends before entry ${pos.nextId}, but ${next.seg.path} starts at ${next.header.firstEntryId}`
          : `bytes at offset ${pos.offset} are not a frame, though ${next.seg.path} exists (so this segment is complete)`);
      }
      // The next segment's header was written after this segment's last sync: all of it is durable.
      this.release(Infinity);
      pos.vouched = Infinity;
      if (this.readPassedOverAgain(pos)) continue;
      this.pos = { seg: next.seg, header: next.header, offset: SEGMENT_HEADER_SIZE, nextId: next.header.firstEntryId };
      moved = true;
    }
  }

  /**
   * The segment being read was removed or replaced. Held entries are durable if the writer moved
   * on to the next segment right after them (it syncs a segment before creating the next);
   * otherwise they are dropped and looked for again, so none is skipped unseen.
   */
  private leaveGone(pos: Position): void {
    if (this.held.length > 0) {
      if (nextSegment(this.dir, pos.seg, this.unknown)?.header.firstEntryId === pos.nextId) this.release(Infinity);
      else this.dropHeld();
    }
    this.left = pos.seg.segmentId;
    this.pos = undefined;
  }

  /**
   * After the segment `left` went away, the segment found to hold the next entry may hold entries
   * before it only if it is one the follower could have read them from: a segment before `left`,
   * when a poisoned writer cut `left` back to less than a header (a segment created but never
   * synced, which the next writer creates again). Anything else is a log started again under the
   * follower (its segments removed, or cut by repair --force, and a new log written from entry
   * 1): the entries it finds after the ones it yielded are not their continuation.
   */
  private refuseReplacedLog(found: Position, left: number): void {
    const firstId = found.header.firstEntryId;
    if (firstId === this.nextId || (found.seg.segmentId < left && headerless(this.dir, left, this.unknown))) {
      this.left = undefined;
      return;
    }
    this.pos = undefined;
    throw new CorruptionError(found.seg.path, 0, `the log was replaced under the follower: this segment holds entries from ${firstId}, before entry ${this.nextId} it expects next, yet it is not the segment it read them from (${segmentPath(left)} was removed or rewritten): the log was started again (its segments removed, or cut by repair --force)`);
  }

  /** durableOnly: hands on the held entries whose frames end at or before `upTo` (up to one that cannot be). */
  private release(upTo: number): void {
    let n = 0;
    while (n < this.held.length && this.held[n].end <= upTo) n++;
    if (n === 0) return;
    const last = this.held[n - 1];
    for (let i = 0; i < n; i++) {
      const record = this.held[i].record;
      if (record instanceof DecodeError) {
        this.failure = record;
        this.held = [];
        return;
      }
      this.out.push(record);
    }
    this.held = n === this.held.length ? [] : this.held.slice(n);
    if (this.pos !== undefined) {
      this.pos.proven = { offset: last.end, nextId: last.entryId + 1, lastAt: last.at, lastCrc: last.crc };
    }
  }

  /**
   * An entry that cannot be handed on (over maxPayloadSize, or its codec refuses it). It is
   * reported after the entries before it; with durableOnly also only once it is proven durable, as
   * a cut-back may still replace it. Returns whether reading goes on: durableOnly looks on for the
   * mark that proves it (the frames after it are not decoded: they will never be handed on).
   */
  private unreadable(error: DecodeError, pos: Position, entryId: number, at: number, crc: number, end: number): boolean {
    if (!this.durableOnly) {
      this.failure = error;
      return false;
    }
    this.hold(pos, { entryId, record: error, at, crc, end });
    return true;
  }

  /** durableOnly: holds an entry just read, released at once if a mark already read lies past its frame. */
  private hold(pos: Position, entry: HeldRecord<E>): void {
    this.held.push(entry);
    if (entry.end <= (pos.vouched ?? SEGMENT_HEADER_SIZE)) this.release(entry.end);
  }

  /**
   * Whether the next entry is to be decoded now. durableOnly: not after an entry that cannot be
   * handed on (nothing after it will be), and not while HELD_LIMIT entries are held: the frames
   * are then passed over, from `passedOver` on, and read again once the held ones are released.
   */
  private decodesNext(pos: Position): boolean {
    if (this.held.length === 0) return pos.passedOver === undefined;
    const last = this.held[this.held.length - 1];
    if (last.record instanceof DecodeError || pos.passedOver !== undefined) return false;
    if (this.held.length < HELD_LIMIT) return true;
    pos.passedOver = { offset: last.end, nextId: last.entryId + 1, lastAt: last.at, lastCrc: last.crc };
    return false;
  }

  /**
   * durableOnly: once the held entries are released, goes back to the first frame passed over
   * (see decodesNext); frames that a mark read since vouches for are released as they are read.
   */
  private readPassedOverAgain(pos: Position): boolean {
    const back = pos.passedOver;
    if (back === undefined || this.held.length > 0) return false;
    pos.passedOver = undefined;
    moveTo(pos, back);
    return true;
  }

  /** durableOnly: forgets the held entries; the next look reads them again from the log. */
  private dropHeld(): void {
    if (this.held.length === 0) return;
    // Held first may be an entry before fromEntryId that cannot be handed on (still reported).
    this.nextId = Math.max(this.fromEntryId, this.held[0].entryId);
    this.held = [];
  }

  /**
   * Reads good frames of the segment from pos.offset. 'batch': stopped with a full batch;
   * 'clean': end of file or zeros; 'pending': bytes that are not (yet) a frame; 'gone': the file
   * was removed or replaced (a recycled file has a new header). `complete`: the next segment
   * exists, so every held entry is released after this read: their frames are checked first.
   */
  private readSegment(pos: Position, { complete = false }: { complete?: boolean } = {}): ReadEnd {
    let f: ReadableFile;
    try {
      f = openReadChecked(this.dir, pos.seg.path);
    } catch (err) {
      if (err instanceof NotFoundError) return 'gone';
      throw err;
    }
    try {
      const size = sizeOf(f);
      const w = this.window;
      w.reset();
      if (w.load(f, size, 0, SEGMENT_HEADER_SIZE) < SEGMENT_HEADER_SIZE) return 'gone';
      const check = checkSegmentHeader(w.bytes.subarray(0, SEGMENT_HEADER_SIZE), this.dir.checksum, pos.seg.segmentId);
      if (check.kind !== 'ok' || check.header.salt !== pos.header.salt) return 'gone';
      this.cutBacks.verify(f, size, pos);
      if (complete && !this.cutBacks.heldStillThere(f, size, Infinity)) this.cutBacks.cutBack(f, size, pos, 'a frame it holds back is no longer the one read');
      const salt = pos.header.salt;
      let read = 0;
      for (;;) {
        const at = pos.offset;
        if (at === size) return 'clean';
        if (w.load(f, size, at, FRAME_HEADER_SIZE) < FRAME_HEADER_SIZE) return 'pending';
        let rel = at - w.start;
        let len = readU32(w.bytes, rel + 4);
        // A sync mark (v2) is read as a frame with an 8-byte body, then stepped over.
        const mark = len === MARK_LENGTH && pos.header.version >= FORMAT_VERSION;
        if (mark) len = MARK_SIZE - FRAME_HEADER_SIZE;
        if (len > MAX_PAYLOAD_SIZE || at + FRAME_HEADER_SIZE + len > size) return 'pending';
        if (len > this.maxPayload) {
          // A whole, valid next entry beyond the caller's limit is an error to report, as the
          // reader does; waiting for it to become something else would wait forever.
          if (readU64(w.bytes, rel + 8) !== pos.nextId) return 'pending';
          const crc = readU32(w.bytes, rel);
          if (!frameCrcMatches(f, WAL_FRAME_LAYOUT, at, len, salt, crc, this.dir.checksum)) return 'pending';
          const id = pos.nextId;
          const end = at + FRAME_HEADER_SIZE + len;
          const error = new DecodeError(
            `${pos.seg.path} @ ${at}: entry ${id} has a ${len}-byte payload, more than maxPayloadSize ${this.maxPayload}; follow with a larger maxPayloadSize`,
            { entryId: id, file: pos.seg.path },
          );
          if (this.decodesNext(pos) && !this.unreadable(error, pos, id, at, crc, end)) return 'batch';
          pos.lastAt = at;
          pos.lastCrc = crc;
          pos.nextId = id + 1;
          pos.offset = end;
          pos.lastEntry = { offset: end, nextId: id + 1, lastAt: at, lastCrc: crc };
          if (id >= this.nextId) this.nextId = id + 1;
          this.pacer.charge(RECORD_WORK + len);
          // A mark already read may have proven it at once (hold): then nothing after it is read.
          if (this.failure !== undefined || ++read >= BATCH || this.pacer.due) return 'batch';
          continue;
        }
        w.load(f, size, at, FRAME_HEADER_SIZE + len);
        rel = at - w.start;
        const b = w.bytes;
        if (maskCrc(this.dir.checksum.crc32c(b.subarray(rel + 4, rel + FRAME_HEADER_SIZE + len), salt)) !== readU32(b, rel)) return 'pending';
        const id = readU64(b, rel + 8);
        if (id !== pos.nextId) return 'pending';
        if (mark) {
          // A mark vouches for [0, D) of its segment, and D lies before the mark (docs/FORMAT.md).
          const watermark = readU64(b, rel + FRAME_HEADER_SIZE);
          if (watermark < SEGMENT_HEADER_SIZE || watermark > at) return 'pending';
          const markCrc = readU32(b, rel);
          if (this.durableOnly && !this.cutBacks.heldStillThere(f, size, watermark)) {
            // The mark vouches for the bytes now before D, not for the frames read there earlier.
            this.cutBacks.cutBack(f, size, pos, `a frame it holds back before offset ${watermark} is no longer the one read`);
            continue;
          }
          pos.lastAt = at;
          pos.lastCrc = markCrc;
          pos.offset = at + MARK_SIZE;
          if (this.durableOnly) {
            pos.vouched = Math.max(pos.vouched ?? SEGMENT_HEADER_SIZE, watermark);
            this.release(watermark);
            if (this.held.length === 0) this.readPassedOverAgain(pos);
          }
          if (this.failure !== undefined) return 'batch';
          continue;
        }
        pos.lastAt = at;
        pos.lastCrc = readU32(b, rel);
        const end = at + FRAME_HEADER_SIZE + len;
        if (id >= this.nextId && this.decodesNext(pos)) {
          const payload = b.subarray(rel + FRAME_HEADER_SIZE, end - w.start);
          const decoded = this.decode(payload, id, pos.seg.path);
          if (decoded instanceof DecodeError) {
            if (!this.unreadable(decoded, pos, id, at, pos.lastCrc, end)) return 'batch'; // the entries before it first
          } else {
            const record = { entryId: id, payload: decoded.value };
            if (this.durableOnly) this.hold(pos, { entryId: id, record, at, crc: pos.lastCrc, end });
            else this.out.push(record);
          }
          this.nextId = id + 1;
        }
        pos.nextId = id + 1;
        pos.offset = end;
        pos.lastEntry = { offset: end, nextId: id + 1, lastAt: at, lastCrc: pos.lastCrc };
        this.pacer.charge(RECORD_WORK);
        if (this.failure !== undefined || this.out.length >= BATCH || ++read >= BATCH || this.pacer.due) return 'batch';
      }
    } finally {
      f.close();
    }
  }

  /** The decoded payload, or the DecodeError to report (after the entries before it: see unreadable). */
  private decode(payload: Uint8Array, entryId: number, file: string): { value: E } | DecodeError {
    try {
      return { value: this.codec.decode(payload) };
    } catch (err) {
      return new DecodeError(`cannot decode entry ${entryId} of ${file} with codec ${this.codec.name}: ${describe(err)}`, { entryId, file }, { cause: err });
    }
  }

  /**
   * Every byte of the (complete) segment from pos.offset to its end is zero: preallocated space a
   * crash kept from being trimmed. Asked only once the next segment exists.
   */
  private zerosToEnd(pos: Position): boolean {
    let f: ReadableFile;
    try {
      f = openReadChecked(this.dir, pos.seg.path);
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
    try {
      return this.window.zerosFrom(f, sizeOf(f), pos.offset);
    } finally {
      f.close();
    }
  }
}
