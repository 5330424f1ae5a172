// The single writer of a record log. Records are framed into a buffer (append), written to the
// OS (flush) and made durable (sync). Like the WAL writer it keeps the premise the reader's
// torn-vs-damage rule needs: never more than W bytes written but not fdatasynced (a record
// larger than W is written alone, right after a sync). In a version 2 file (every new one) the
// first bytes written after each fdatasync are a sync mark saying how far that fdatasync reached,
// and closing ends the file with one, so a reader tells bit rot in synced bytes from a torn write
// (scan.ts). Reopening (writer-open.ts) scans the file, cuts a torn tail off (or rewrites a torn header), rewrites
// what no mark vouches for (a failed fdatasync may have left it in the page cache only) and syncs
// before anything is appended; damage is a CorruptionError and the file is left as it is.
// Any failed write or sync poisons the writer.

import type { Directory, DirectoryLock, WritableFile } from '../directory/directory';
import { parentOf } from '../directory/path';
import { channels } from '../diagnostics';
import { ClosedError, InvalidArgumentError, InvalidStateError, PoisonedError } from '../errors';
import { cutBackToSynced } from '../framed/cut-back';
import { encodePayload } from '../framed/encode';
import { requireCodec, requireDirectory, requireOptionsObject } from '../guards';
import { raw, type Codec } from '../wal/codec';
import { DEFAULT_IDLE_MARK_MS, MAX_TIMER_MS } from '../wal/options';
import {
  MAX_RECORD_SIZE, RECORD_FRAME_HEADER_SIZE, RECORD_LOG_HEADER_SIZE, RECORD_LOG_V1, RECORD_MARK_SIZE,
  encodeRecordLogHeader, writeRecordFrame, writeRecordMark,
} from './format';
import { openRecordLogFile, type MarkState } from './writer-open';
import { checkedDirectory } from '../directory/foreign';

export interface RecordLogWriterOptions<R> {
  /** Default: raw (records are Uint8Arrays). */
  codec?: Codec<R>;
  /** W for a new file (an existing file keeps the W in its header). Default 64 MiB. */
  syncWindow?: number;
  /** Bytes buffered before a write to the OS. Default 64 KiB; 0 writes every record at once. */
  bufferSize?: number;
  maxRecordSize?: number;
  /**
   * How long (ms) the writer stays idle after a sync before it writes the sync mark that vouches
   * for it alone (otherwise the next write carries it): until then, bit rot in the records that
   * sync covered reads as a torn tail after a crash. One 16-byte write, not synced. Default 5;
   * 0: never.
   */
  idleMarkMs?: number;
}

export class RecordLogWriter<R = Uint8Array> {
  /** Opens the log at `path` for appending, creating it if missing and repairing a torn end. */
  static open<R = Uint8Array>(dir: Directory, path: string, options: RecordLogWriterOptions<R> = {}): RecordLogWriter<R> {
    requireDirectory(dir, 'RecordLogWriter.open');
    dir = checkedDirectory(dir);
    requireOptionsObject(options, 'RecordLogWriter.open');
    const codec = (options.codec ?? raw) as Codec<R>;
    requireCodec<R>(codec, 'RecordLogWriter.open (options.codec)', 'encode');
    const maxRecordSize = options.maxRecordSize ?? MAX_RECORD_SIZE;
    if (!Number.isInteger(maxRecordSize) || maxRecordSize < 0 || maxRecordSize > MAX_RECORD_SIZE) {
      throw new InvalidArgumentError(`maxRecordSize must be an integer in 0..${MAX_RECORD_SIZE}`);
    }
    const bufferSize = options.bufferSize ?? 64 * 1024;
    if (!Number.isInteger(bufferSize) || bufferSize < 0 || bufferSize > 1 << 30) throw new InvalidArgumentError('bufferSize must be an integer in 0..2^30');
    const idleMarkMs = options.idleMarkMs ?? DEFAULT_IDLE_MARK_MS;
    if (!Number.isInteger(idleMarkMs) || idleMarkMs < 0 || idleMarkMs > MAX_TIMER_MS) throw new InvalidArgumentError(`idleMarkMs must be an integer in 0..${MAX_TIMER_MS}`);
    // Checked before anything is created or locked (a new file's header would check it later).
    if (options.syncWindow !== undefined) encodeRecordLogHeader(options.syncWindow, dir.checksum);
    const parent = parentOf(path);
    if (parent !== '') dir.mkdirp(parent);
    const lock = dir.lock(`${path}.lock`);
    try {
      const opened = openRecordLogFile(dir, path, options.syncWindow);
      return new RecordLogWriter<R>(dir, path, lock, opened.file, codec, opened.syncWindow, bufferSize, maxRecordSize, idleMarkMs, opened.repaired, opened.marks, opened.end);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  readonly path: string;
  /** What reopening repaired: a torn tail cut off, a torn header rewritten, or nothing. */
  readonly repaired: 'none' | 'tail' | 'header';
  private readonly dir: Directory;
  private readonly lock: DirectoryLock;
  private readonly file: WritableFile;
  private readonly codec: Codec<R>;
  private readonly syncWindow: number;
  private readonly recordLimit: { readonly max: number; readonly name: string };
  private buffer: Uint8Array;
  private buffered = 0;
  private written: number;
  private synced: number;
  /** Version 2: sync marks are written. */
  private readonly marks: boolean;
  /** The largest watermark a sync mark in the file carries: a mark is due once `synced` passes it. */
  private markedTo: number;
  /** Offset just past the last sync mark in the file (the header's end: none); bytes after it call for a closing mark. */
  private markedEnd: number;
  private failure: unknown;
  /** Armed after each sync (see markWhileIdle). */
  private idleMark: NodeJS.Timeout | undefined;
  /** An idle mark found no room (reported once). */
  private idleMarkSkipped = false;
  private closed = false;
  /** close() under way: appends, flushes and syncs are refused from its start, so none is left behind in the buffer. */
  private closing: Promise<void> | undefined;
  /** fdatasyncs running off the thread; close() waits for them before it lets go of the file and lock. */
  private readonly inFlight = new Set<Promise<void>>();

  private constructor(
    dir: Directory, path: string, lock: DirectoryLock, file: WritableFile, codec: Codec<R>, syncWindow: number,
    bufferSize: number, maxRecordSize: number, private readonly idleMarkMs: number, repaired: 'none' | 'tail' | 'header',
    marks: MarkState, end: number,
  ) {
    this.dir = dir;
    this.path = path;
    this.lock = lock;
    this.file = file;
    this.codec = codec;
    this.syncWindow = syncWindow;
    this.recordLimit = { max: maxRecordSize, name: 'maxRecordSize' };
    this.buffer = new Uint8Array(bufferSize);
    this.repaired = repaired;
    // Where the log ends as this writer found or made it, not the file's offset: every write goes
    // to a position the writer tracks itself (as the WAL's), so a WritableFile of the caller's own
    // whose offset does not start at the file's end cannot put records over the header.
    this.written = end;
    this.synced = end;
    this.marks = marks.version !== RECORD_LOG_V1;
    // The header needs no mark: it is synced before any frame, and a torn one is told apart by its own rule.
    this.markedTo = Math.max(RECORD_LOG_HEADER_SIZE, marks.watermark);
    this.markedEnd = Math.max(RECORD_LOG_HEADER_SIZE, marks.markedEnd);
  }

  /** Bytes of the log once buffered records are written. */
  get size(): number {
    return this.written + this.buffered;
  }

  /** Bytes known to be on stable storage. */
  get durableSize(): number {
    return this.synced;
  }

  /** Frames a record; one that would take the unsynced bytes past W first syncs, so InvalidStateError while a sync() runs (see syncSync). */
  append(record: R): void {
    this.checkUsable();
    const payload = encodePayload(this.codec, record, 'a record', this.recordLimit);
    const frame = RECORD_FRAME_HEADER_SIZE + payload.length;
    const unsynced = this.written + this.buffered - this.synced;
    if (unsynced > 0 && unsynced + this.markBytes() + frame > this.syncWindow) {
      this.refuseWhileSyncing('append', 'this record fills the sync window, so a sync must come first; await sync() before appending it');
      this.syncWritten();
    }
    // A mark due goes right before the record, in the same write (see markBytes).
    const mark = this.markBytes();
    if (this.buffered + mark + frame > this.buffer.length) {
      this.writeBuffered();
      if (mark + frame > this.buffer.length) {
        const bytes = new Uint8Array(mark + frame);
        writeRecordFrame(bytes, this.placeMark(bytes, 0), payload, this.dir.checksum);
        this.writeOut(bytes);
        return;
      }
    }
    this.buffered = writeRecordFrame(this.buffer, this.placeMark(this.buffer, this.buffered), payload, this.dir.checksum);
  }

  /** Writes buffered records to the OS (not durable until sync). */
  flushSync(): void {
    this.checkUsable();
    this.writeBuffered();
  }

  async flush(): Promise<void> {
    this.flushSync();
  }

  /**
   * Every record appended so far is durable when this returns. InvalidStateError while a sync()
   * is running: its fdatasync cannot be waited for here, and one racing it could return 0 while
   * that one gets the writeback error (see refuseWhileSyncing).
   */
  syncSync(): void {
    this.checkUsable();
    this.refuseWhileSyncing('syncSync', 'await sync() instead');
    this.syncWritten();
  }

  async sync(): Promise<void> {
    this.checkUsable();
    await this.syncWrittenAsync();
  }

  private syncWritten(): void {
    this.writeBuffered();
    const upTo = this.written;
    try {
      this.file.sync();
    } catch (err) {
      this.fail(err);
    }
    this.synced = Math.max(this.synced, upTo);
    this.armIdleMark();
  }

  private async syncWrittenAsync(): Promise<void> {
    this.writeBuffered();
    const upTo = this.written;
    const syncing = this.file.syncAsync();
    this.inFlight.add(syncing);
    try {
      await syncing;
    } catch (err) {
      this.fail(err);
    } finally {
      this.inFlight.delete(syncing);
    }
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
    this.synced = Math.max(this.synced, upTo);
    this.armIdleMark();
  }

  /** After a sync (version 2): once the writer has been idle idleMarkMs, markWhileIdle. */
  private armIdleMark(): void {
    if (!this.marks || this.idleMarkMs === 0) return;
    clearTimeout(this.idleMark);
    this.idleMark = setTimeout(() => this.markWhileIdle(), this.idleMarkMs);
    this.idleMark.unref();
  }

  /**
   * The mark vouching for a sync is written by the next write, which a writer that stays idle
   * never makes: records it synced then had no mark proving it, and if it was killed or the
   * machine lost power, bit rot in them read as a torn tail that the next open cut off. Idle
   * since its last sync (nothing buffered or written after it), the writer writes that mark alone,
   * as the WAL writer does (idleMarkMs). Not synced: lost in a crash, it is a torn tail of 16
   * bytes. The records are durable whatever happens to it, and no caller waits for it: no room
   * (ENOSPC, EDQUOT, EFBIG) leaves it to the next write with one diagnostic; another failure
   * poisons the writer (cut back to its last sync, as any failure), and the next call throws.
   */
  private markWhileIdle(): void {
    this.idleMark = undefined;
    if (this.closed || this.closing !== undefined || this.failure !== undefined || this.inFlight.size > 0) return;
    if (this.buffered > 0 || this.written !== this.synced || this.synced <= this.markedEnd) return;
    const bytes = new Uint8Array(RECORD_MARK_SIZE);
    writeRecordMark(bytes, 0, this.synced, this.dir.checksum);
    try {
      if (this.file.writeAtWhereRoom === undefined) this.file.writeAt(bytes, this.written);
      else if (!this.file.writeAtWhereRoom(bytes, this.written)) {
        this.noRoomForIdleMark();
        return;
      }
    } catch (err) {
      this.failure = err;
      cutBackToSynced(this.dir, this.path, this.synced);
      return;
    }
    this.markedTo = this.synced;
    this.written += RECORD_MARK_SIZE;
    this.markedEnd = this.written;
  }

  private noRoomForIdleMark(): void {
    if (this.idleMarkSkipped) return;
    this.idleMarkSkipped = true;
    channels.diagnostic.publish({
      kind: 'idle-mark-skipped',
      message: `no room for an idle writer's sync mark in ${this.path}: left to the next write (until then bit rot in the records last synced reads as a torn tail)`,
      path: this.path,
    });
  }

  /**
   * Syncs and releases the file and lock; throws PoisonedError (after releasing) if poisoned.
   * InvalidStateError (the writer stays open) while a sync() is running, as syncSync.
   */
  closeSync(): void {
    if (this.closed) return;
    if (this.closing !== undefined) throw new InvalidStateError('close() is already in progress');
    if (this.failure === undefined) this.refuseWhileSyncing('closeSync', 'await it first, or use close()');
    try {
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      this.syncWritten();
      if (this.closingMarkDue()) {
        this.writeClosingMark();
        this.syncWritten();
      }
    } finally {
      this.closed = true;
      this.release();
    }
  }

  /**
   * closeSync with the fdatasyncs off the thread. From the call on, append, flush and sync throw
   * ClosedError (a record taken while closing could land after the last sync and be dropped);
   * a second call gets the same promise.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing ??= this.closeAsync();
    return this.closing;
  }

  private async closeAsync(): Promise<void> {
    try {
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      await this.syncWrittenAsync();
      if (this.closingMarkDue()) {
        this.writeClosingMark();
        await this.syncWrittenAsync();
      }
    } finally {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      this.closed = true;
      this.release();
    }
  }

  /**
   * A synchronous fdatasync must not race the one a sync() runs off the thread: the kernel reports
   * a writeback error to one of them only, so ours could return 0 for records that were lost.
   * It cannot wait for it either: refused, before anything is written, and the writer stays usable.
   */
  private refuseWhileSyncing(call: string, instead: string): void {
    if (this.inFlight.size === 0) return;
    throw new InvalidStateError(`${call}() cannot wait for the sync() in flight: ${instead}`);
  }

  /**
   * RECORD_MARK_SIZE when the next bytes written must start with a sync mark: in a version 2 file,
   * the first write after an fdatasync that went past the last mark's watermark. It vouches for
   * the synced bytes, so a reader can call damage there damage even when no later record is.
   */
  private markBytes(): number {
    return this.marks && this.synced > this.markedTo ? RECORD_MARK_SIZE : 0;
  }

  /** Lays out the mark due (if any) at target[offset..] and returns where the next frame goes. */
  private placeMark(target: Uint8Array, offset: number): number {
    if (this.markBytes() === 0) return offset;
    const end = writeRecordMark(target, offset, this.synced, this.dir.checksum);
    this.markedTo = this.synced;
    // Both targets are written at `written`: the buffer holds what follows it, and a record too
    // large for the buffer goes out alone once the buffer was written.
    this.markedEnd = this.written + end;
    return end;
  }

  /** Records were written after the last mark: closing (everything synced) ends the file with a mark vouching for all of it. */
  private closingMarkDue(): boolean {
    return this.marks && this.written > this.markedEnd;
  }

  private writeClosingMark(): void {
    const bytes = new Uint8Array(RECORD_MARK_SIZE);
    writeRecordMark(bytes, 0, this.synced, this.dir.checksum);
    this.markedTo = this.synced;
    this.writeOut(bytes);
    this.markedEnd = this.written;
  }

  /** Lets go of the file and the lock; a failed close (close(2) can report EIO) still releases the lock. */
  private release(): void {
    clearTimeout(this.idleMark);
    try {
      this.file.close();
    } finally {
      this.lock.release();
    }
  }

  private writeBuffered(): void {
    if (this.buffered === 0) return;
    const n = this.buffered;
    this.buffered = 0;
    this.writeOut(this.buffer.subarray(0, n));
  }

  private writeOut(bytes: Uint8Array): void {
    try {
      this.file.writeAt(bytes, this.written);
    } catch (err) {
      this.fail(err);
    }
    this.written += bytes.length;
  }

  private checkUsable(): void {
    if (this.closed || this.closing !== undefined) throw new ClosedError('RecordLogWriter');
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
  }

  /**
   * Poisons the writer (first failure wins), cuts the file back to its last fdatasync, rethrows.
   * Not once closed: a sync that fails after closeSync let go of the lock (one still running off
   * the thread) would cut the file under the next writer, through its acknowledged records.
   */
  private fail(err: unknown): never {
    if (this.failure === undefined) {
      this.failure = err;
      if (!this.closed) cutBackToSynced(this.dir, this.path, this.synced);
    }
    throw err;
  }
}
