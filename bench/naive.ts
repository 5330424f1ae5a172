// The naive reference of the durable-append benchmark: group commit as one would first write it
// in plain Node. Appends queue their frame; when no batch is in flight, everything queued is
// concatenated, written with fs.promises and fdatasynced, and the whole batch's promises resolve.
// One batch in flight at a time, so appends arriving during a sync wait for the next one.
//
// Frames are 16-byte header + payload (length, entry id, CRC32C from lib/crc32c, the TypeScript
// implementation), the same size as a WAL frame, so both write the same bytes per entry.

import { open, type FileHandle } from 'node:fs/promises';
import { crc32c } from '../lib/crc32c';

const HEADER = 16;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class NaiveLog {
  static async open(file: string): Promise<NaiveLog> {
    return new NaiveLog(await open(file, 'wx'));
  }

  private readonly fh: FileHandle;
  private frames: Buffer[] = [];
  private waiters: Waiter[] = [];
  private inFlight = false;
  private next = 1;
  private position = 0;
  /** Completed write + datasync rounds. */
  batches = 0;

  private constructor(fh: FileHandle) {
    this.fh = fh;
  }

  /** Resolves with the entry's id once it is on stable storage. */
  append(payload: Uint8Array): Promise<number> {
    const id = this.next++;
    const frame = Buffer.allocUnsafe(HEADER + payload.length);
    frame.writeUInt32LE(payload.length, 0);
    frame.writeUInt32LE(crc32c(payload), 4);
    frame.writeDoubleLE(id, 8);
    frame.set(payload, HEADER);
    this.frames.push(frame);
    const done = new Promise<number>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(id), reject });
    });
    if (!this.inFlight) void this.commit();
    return done;
  }

  private async commit(): Promise<void> {
    this.inFlight = true;
    while (this.frames.length > 0) {
      const batch = Buffer.concat(this.frames);
      const waiters = this.waiters;
      this.frames = [];
      this.waiters = [];
      try {
        await this.fh.write(batch, 0, batch.length, this.position);
        await this.fh.datasync();
        this.position += batch.length;
        this.batches++;
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.inFlight = false;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
