// Replays a WAL directory: every segment in id order, every frame checked (CRC, id exactly one
// past the previous, segment sequence), payloads decoded by the codec. Streaming throughout:
// nothing is collected unless the caller asks for an array (replay/replaySync).

import type { Directory } from '../directory/directory';
import { DecodeError, InvalidArgumentError, describe } from '../errors';
import { requireCodec, requireDirectory, requireOptionsObject } from '../guards';
import { unknownNamesOf, type UnknownNames } from '../unknown-names';
import type { Codec } from './codec';
import { followLog, type FollowOptions } from './follow';
import { MAX_PAYLOAD_SIZE } from './format';
import { Pacer, RECORD_WORK, turn } from './pacer';
import { SegmentScanner, type ScanMode } from './segment-scan';
import { checkSegmentSequence, listSegments, readValidSegmentHeader, type SegmentRef } from './segment-files';

export type ReplayMode = ScanMode;

export interface WalRecord<E> {
  readonly entryId: number;
  readonly payload: E;
}

export interface ReplayOptions {
  /** 'strict' (default): any torn or damaged byte is an error. 'bestEffortTail': a torn tail of the final segment ends the log. */
  mode?: ReplayMode;
  /**
   * Only entries with id ≥ fromEntryId are returned. Segments that end before it (known from the
   * next segment's header) are skipped without reading their frames.
   */
  fromEntryId?: number;
}

export interface WalReaderOptions<E> {
  codec: Codec<E>;
  maxPayloadSize?: number;
}

export class WalReader<E> {
  private readonly dir: Directory;
  private readonly codec: Codec<E>;
  private readonly maxPayloadSize: number;

  constructor(dir: Directory, options: WalReaderOptions<E>) {
    requireDirectory(dir, 'new WalReader');
    requireOptionsObject(options, 'new WalReader');
    requireCodec<E>(options.codec, 'new WalReader (options.codec)', 'decode');
    const max = options.maxPayloadSize ?? MAX_PAYLOAD_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > MAX_PAYLOAD_SIZE) {
      throw new InvalidArgumentError(`maxPayloadSize must be an integer in 0..${MAX_PAYLOAD_SIZE}, got ${max}`);
    }
    this.dir = dir;
    this.codec = options.codec;
    this.maxPayloadSize = max;
  }

  replaySync(opts?: ReplayOptions): WalRecord<E>[] {
    const out: WalRecord<E>[] = [];
    const c = this.cursor(opts);
    try {
      while (c.next()) out.push({ entryId: c.entryId, payload: this.decode(c) });
    } finally {
      c.close();
    }
    return out;
  }

  async replay(opts?: ReplayOptions): Promise<WalRecord<E>[]> {
    const out: WalRecord<E>[] = [];
    const c = this.cursor(opts, new Pacer());
    try {
      for (;;) {
        if (c.next()) out.push({ entryId: c.entryId, payload: this.decode(c) });
        else if (c.paused) await turn();
        else break;
      }
    } finally {
      c.close();
    }
    return out;
  }

  /**
   * Streams records one at a time; memory stays bounded by the largest frame. Files are opened on
   * the first next(); breaking out of a for-await loop closes them.
   */
  records(opts?: ReplayOptions): AsyncIterableIterator<WalRecord<E>> {
    this.checkOptions(opts);
    return new RecordStream(() => this.cursor(opts, new Pacer()), (c) => this.decode(c));
  }

  /** The live tail: entries as another process appends them, until options.signal aborts (see follow.ts). */
  follow(options?: FollowOptions): AsyncIterableIterator<WalRecord<E>> {
    return followLog(this.dir, this.codec, this.maxPayloadSize, options);
  }

  /** Number of entries replay would return (frames are verified, payloads are not decoded). */
  entryCountSync(opts?: ReplayOptions): number {
    const c = this.cursor(opts);
    let n = 0;
    try {
      while (c.next()) n++;
    } finally {
      c.close();
    }
    return n;
  }

  async entryCount(opts?: ReplayOptions): Promise<number> {
    const c = this.cursor(opts, new Pacer());
    let n = 0;
    try {
      for (;;) {
        if (c.next()) n++;
        else if (c.paused) await turn();
        else break;
      }
    } finally {
      c.close();
    }
    return n;
  }

  private checkOptions(opts: ReplayOptions | undefined): { mode: ScanMode; from: number } {
    const mode = opts?.mode ?? 'strict';
    if (mode !== 'strict' && mode !== 'bestEffortTail') {
      throw new InvalidArgumentError(`mode must be 'strict' or 'bestEffortTail', got ${JSON.stringify(mode)}`);
    }
    const from = opts?.fromEntryId ?? 1;
    if (!Number.isSafeInteger(from) || from < 1) throw new InvalidArgumentError(`fromEntryId must be an integer ≥ 1, got ${from}`);
    return { mode, from };
  }

  /** `pacer`: for the async forms, which turn the event loop between slices of work (pacer.ts). */
  private cursor(opts: ReplayOptions | undefined, pacer?: Pacer): LogCursor {
    const { mode, from } = this.checkOptions(opts);
    return new LogCursor(this.dir, mode, from, this.maxPayloadSize, pacer, unknownNamesOf(opts));
  }

  private decode(c: LogCursor): E {
    try {
      return this.codec.decode(c.payload());
    } catch (err) {
      throw new DecodeError(`cannot decode entry ${c.entryId} of ${c.path} with codec ${this.codec.name}: ${describe(err)}`, {
        entryId: c.entryId, file: c.path,
      }, { cause: err });
    }
  }
}

const END: IteratorResult<never, undefined> = { value: undefined, done: true };
const SEGMENT_OPEN_WORK = 64 * 1024;

/**
 * A hand-written async iterator: next() does its work synchronously and returns a settled
 * promise, which costs one microtask per record (an async generator costs several). A consumer
 * looping on microtasks alone would never let the event loop turn, so once the cursor's pacer
 * is due next() resolves only after a turn (setImmediate).
 */
class RecordStream<E> implements AsyncIterableIterator<WalRecord<E>> {
  private cursor: LogCursor | undefined;
  private finished = false;

  constructor(private readonly open: () => LogCursor, private readonly decode: (c: LogCursor) => E) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WalRecord<E>, undefined>> {
    if (this.finished) return Promise.resolve(END);
    try {
      const c = (this.cursor ??= this.open());
      if (c.next()) return Promise.resolve({ value: { entryId: c.entryId, payload: this.decode(c) }, done: false });
      if (c.paused) return turn().then(() => this.next());
      this.finish();
      return Promise.resolve(END);
    } catch (err) {
      this.finish();
      return Promise.reject(err);
    }
  }

  return(): Promise<IteratorResult<WalRecord<E>, undefined>> {
    this.finish();
    return Promise.resolve(END);
  }

  private finish(): void {
    this.finished = true;
    this.cursor?.close();
    this.cursor = undefined;
  }
}

/**
 * Walks the frames of all segments in order, enforcing the sequence rules between segments.
 * With a pacer, next() also returns false with `paused` set when a slice of work is spent.
 */
class LogCursor {
  entryId = 0;
  path = '';
  paused = false;
  private readonly segments: SegmentRef[];
  private index = 0;
  private scanner: SegmentScanner | undefined;
  private expectedFirst: number | undefined;

  constructor(
    private readonly dir: Directory,
    private readonly mode: ScanMode,
    private readonly from: number,
    private readonly maxPayloadSize: number,
    private readonly pacer: Pacer | undefined,
    unknown: UnknownNames,
  ) {
    this.segments = listSegments(dir, unknown);
    checkSegmentSequence(this.segments);
  }

  next(): boolean {
    const pacer = this.pacer;
    if (this.paused) {
      this.paused = false;
      pacer?.reset();
    }
    for (;;) {
      const s = this.scanner;
      if (s !== undefined) {
        while (s.next()) {
          pacer?.charge(RECORD_WORK);
          if (s.entryId >= this.from) {
            this.entryId = s.entryId;
            return true;
          }
        }
        if (s.paused) {
          this.paused = true;
          return false;
        }
        this.expectedFirst = s.result().lastEntryId + 1;
        this.scanner = undefined;
        s.close();
      }
      if (this.index >= this.segments.length) return false;
      if (pacer?.due === true) {
        this.paused = true;
        return false;
      }
      const seg = this.segments[this.index++];
      const isFinal = this.index === this.segments.length;
      // Opening a segment and reading its header cost about as much as a small read.
      pacer?.charge(SEGMENT_OPEN_WORK);
      if (!isFinal && this.skippable(seg)) continue;
      this.path = seg.path;
      this.scanner = new SegmentScanner(this.dir, seg, {
        isFinal, mode: this.mode, expectedFirstEntryId: this.expectedFirst, maxPayloadSize: this.maxPayloadSize, pacer,
      });
    }
  }

  payload(): Uint8Array {
    return this.scanner!.payload();
  }

  close(): void {
    this.scanner?.close();
    this.scanner = undefined;
    this.index = this.segments.length;
  }

  /**
   * True when every entry of `seg` is below `from`, judged by the next segment's header; then
   * `seg` is not read (its header is still checked against the sequence).
   */
  private skippable(seg: SegmentRef): boolean {
    if (this.from === 1) return false;
    const next = this.readHeader(this.segments[this.index]);
    if (next === undefined || next.firstEntryId > this.from) return false;
    const own = this.readHeader(seg);
    if (own === undefined) return false; // scan it, so the error names what is wrong
    if (this.expectedFirst !== undefined && own.firstEntryId !== this.expectedFirst) return false;
    if (own.firstEntryId > next.firstEntryId) return false;
    this.expectedFirst = next.firstEntryId;
    return true;
  }

  private readHeader(seg: SegmentRef): { firstEntryId: number } | undefined {
    return readValidSegmentHeader(this.dir, seg);
  }
}
