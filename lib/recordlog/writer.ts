// The single writer of a record log. Records are framed into a buffer (append), written to the
// OS (flush) and made durable (sync). Like the WAL writer it keeps the premise the reader's
// torn-vs-damage rule needs: never more than W bytes written but not fdatasynced (a record
// larger than W is written alone, right after a sync). Reopening scans the file, cuts a torn
// tail off (or rewrites a torn header) and syncs before anything is appended; damage is a
// CorruptionError and the file is left as it is. Any failed write or sync poisons the writer.

import type { Directory, DirectoryLock, WritableFile } from '../directory/directory';
import { parentOf } from '../directory/path';
import { ClosedError, InvalidArgumentError, PoisonedError } from '../errors';
import { cutBackToSynced } from '../framed/cut-back';
import { encodePayload } from '../framed/encode';
import { requireCodec, requireDirectory, requireOptionsObject } from '../guards';
import { raw, type Codec } from '../wal/codec';
import {
  DEFAULT_RECORD_SYNC_WINDOW, MAX_RECORD_SIZE, RECORD_FRAME_HEADER_SIZE, encodeRecordLogHeader, writeRecordFrame,
} from './format';
import { RecordLogScanner } from './scan';

export interface RecordLogWriterOptions<R> {
  /** Default: raw (records are Uint8Arrays). */
  codec?: Codec<R>;
  /** W for a new file (an existing file keeps the W in its header). Default 64 MiB. */
  syncWindow?: number;
  /** Bytes buffered before a write to the OS. Default 64 KiB; 0 writes every record at once. */
  bufferSize?: number;
  maxRecordSize?: number;
}

export class RecordLogWriter<R = Uint8Array> {
  /** Opens the log at `path` for appending, creating it if missing and repairing a torn end. */
  static open<R = Uint8Array>(dir: Directory, path: string, options: RecordLogWriterOptions<R> = {}): RecordLogWriter<R> {
    requireDirectory(dir, 'RecordLogWriter.open');
    requireOptionsObject(options, 'RecordLogWriter.open');
    const codec = (options.codec ?? raw) as Codec<R>;
    requireCodec<R>(codec, 'RecordLogWriter.open (options.codec)', 'encode');
    const maxRecordSize = options.maxRecordSize ?? MAX_RECORD_SIZE;
    if (!Number.isInteger(maxRecordSize) || maxRecordSize < 0 || maxRecordSize > MAX_RECORD_SIZE) {
      throw new InvalidArgumentError(`maxRecordSize must be an integer in 0..${MAX_RECORD_SIZE}`);
    }
    const bufferSize = options.bufferSize ?? 64 * 1024;
    if (!Number.isInteger(bufferSize) || bufferSize < 0 || bufferSize > 1 << 30) throw new InvalidArgumentError('bufferSize must be an integer in 0..2^30');
    // Checked before anything is created or locked (a new file's header would check it later).
    if (options.syncWindow !== undefined) encodeRecordLogHeader(options.syncWindow, dir.checksum);
    const parent = parentOf(path);
    if (parent !== '') dir.mkdirp(parent);
    const lock = dir.lock(`${path}.lock`);
    try {
      if (!dir.exists(path)) {
        const header = encodeRecordLogHeader(options.syncWindow ?? DEFAULT_RECORD_SYNC_WINDOW, dir.checksum);
        const file = dir.create(path);
        try {
          file.write(header);
          file.sync();
          dir.syncDir(parent);
        } catch (err) {
          file.close();
          throw err;
        }
        return new RecordLogWriter<R>(dir, path, lock, file, codec, options.syncWindow ?? DEFAULT_RECORD_SYNC_WINDOW, bufferSize, maxRecordSize, 'none');
      }
      const scanner = new RecordLogScanner(dir, path, { mode: 'bestEffortTail', maxRecordSize });
      let scan;
      try {
        while (scanner.next());
        scan = scanner.result();
      } finally {
        scanner.close();
      }
      const file = dir.openAppend(path);
      try {
        let syncWindow = scan.syncWindow;
        let repaired: 'none' | 'tail' | 'header' = 'none';
        if (scan.headerTorn) {
          syncWindow = options.syncWindow ?? DEFAULT_RECORD_SYNC_WINDOW;
          file.truncate(0);
          file.write(encodeRecordLogHeader(syncWindow, dir.checksum));
          repaired = 'header';
        } else if (scan.tail === 'torn' || scan.validEnd < file.size()) {
          file.truncate(scan.validEnd);
          repaired = scan.tail === 'torn' ? 'tail' : 'none';
        }
        // What a previous writer left in the page cache becomes durable now (it may have been
        // killed before its sync), so this writer starts with an empty sync window.
        file.sync();
        dir.syncDir(parent);
        return new RecordLogWriter<R>(dir, path, lock, file, codec, syncWindow, bufferSize, maxRecordSize, repaired);
      } catch (err) {
        file.close();
        throw err;
      }
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
  private failure: unknown;
  private closed = false;
  /** fdatasyncs running off the thread; close() waits for them before it lets go of the file and lock. */
  private readonly inFlight = new Set<Promise<void>>();

  private constructor(
    dir: Directory, path: string, lock: DirectoryLock, file: WritableFile, codec: Codec<R>, syncWindow: number,
    bufferSize: number, maxRecordSize: number, repaired: 'none' | 'tail' | 'header',
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
    this.written = file.offset;
    this.synced = file.offset;
  }

  /** Bytes of the log once buffered records are written. */
  get size(): number {
    return this.written + this.buffered;
  }

  /** Bytes known to be on stable storage. */
  get durableSize(): number {
    return this.synced;
  }

  append(record: R): void {
    this.checkUsable();
    const payload = encodePayload(this.codec, record, 'a record', this.recordLimit);
    const frame = RECORD_FRAME_HEADER_SIZE + payload.length;
    const unsynced = this.written + this.buffered - this.synced;
    if (unsynced > 0 && unsynced + frame > this.syncWindow) this.syncSync();
    if (this.buffered + frame > this.buffer.length) {
      this.writeBuffered();
      if (frame > this.buffer.length) {
        const bytes = new Uint8Array(frame);
        writeRecordFrame(bytes, 0, payload, this.dir.checksum);
        this.writeOut(bytes);
        return;
      }
    }
    this.buffered = writeRecordFrame(this.buffer, this.buffered, payload, this.dir.checksum);
  }

  /** Writes buffered records to the OS (not durable until sync). */
  flushSync(): void {
    this.checkUsable();
    this.writeBuffered();
  }

  async flush(): Promise<void> {
    this.flushSync();
  }

  /** Every record appended so far is durable when this returns. */
  syncSync(): void {
    this.checkUsable();
    this.writeBuffered();
    const upTo = this.written;
    try {
      this.file.sync();
    } catch (err) {
      this.fail(err);
    }
    this.synced = Math.max(this.synced, upTo);
  }

  async sync(): Promise<void> {
    this.checkUsable();
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
  }

  /** Syncs and releases the file and lock; throws PoisonedError (after releasing) if poisoned. */
  closeSync(): void {
    if (this.closed) return;
    try {
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      this.syncSync();
    } finally {
      this.closed = true;
      this.file.close();
      this.lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failure !== undefined) throw new PoisonedError(this.failure);
      await this.sync();
    } finally {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      if (!this.closed) {
        this.closed = true;
        this.file.close();
        this.lock.release();
      }
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
      this.file.write(bytes);
    } catch (err) {
      this.fail(err);
    }
    this.written += bytes.length;
  }

  private checkUsable(): void {
    if (this.closed) throw new ClosedError('RecordLogWriter');
    if (this.failure !== undefined) throw new PoisonedError(this.failure);
  }

  /** Poisons the writer (first failure wins), cuts the file back to its last fdatasync, rethrows. */
  private fail(err: unknown): never {
    if (this.failure === undefined) {
      this.failure = err;
      cutBackToSynced(this.dir, this.path, this.synced);
    }
    throw err;
  }
}
