// Observes what a decoder does with one input, without timers: every CRC byte and every byte
// read is charged to a work budget (exceeding it throws, so a decoder that loops forever fails
// the run instead of hanging it), and every buffer handed to read() is measured, which is how a
// decoder that sized a buffer from an untrusted length field shows up.

import type { Checksummer } from '../../lib/backend/backend';
import type { Directory, ReadableFile } from '../../lib/directory/directory';
import { overriding } from '../support/overriding';

/** Thrown when a decoder does more work than the input can justify: a hang, or work out of proportion. */
export class WorkLimitExceeded extends Error {
  constructor(limit: number) {
    super(`decoder exceeded its work limit of ${limit} units (CRC bytes + read bytes + 64 per call)`);
    this.name = 'WorkLimitExceeded';
  }
}

/** Each call costs this much on top of its bytes, so a loop of empty reads or CRCs is bounded too. */
const CALL_COST = 64;

export class Meter {
  work = 0;
  crcBytes = 0;
  readBytes = 0;
  /** byteLength of the largest ArrayBuffer behind any read() target. */
  largestBuffer = 0;
  private limit = Infinity;

  /** Starts a new decode with a fresh budget. */
  reset(limit: number): void {
    this.work = this.crcBytes = this.readBytes = this.largestBuffer = 0;
    this.limit = limit;
  }

  charge(bytes: number): void {
    this.work += bytes + CALL_COST;
    if (this.work > this.limit) throw new WorkLimitExceeded(this.limit);
  }

  buffer(byteLength: number): void {
    if (byteLength > this.largestBuffer) this.largestBuffer = byteLength;
  }
}

export function meteredChecksummer(inner: Checksummer, meter: Meter): Checksummer {
  return {
    name: inner.name,
    crc32c(data: Uint8Array, crc?: number): number {
      meter.crcBytes += data.length;
      meter.charge(data.length);
      return inner.crc32c(data, crc);
    },
    crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number): void {
      let bytes = 0;
      for (let i = 0; i < count; i++) bytes += ranges[2 * i + 1];
      meter.crcBytes += bytes;
      meter.charge(bytes + CALL_COST * count);
      inner.crc32cRanges(data, ranges, count, out, seed);
    },
  };
}

function meteredFile(inner: ReadableFile, meter: Meter): ReadableFile {
  return {
    get path() {
      return inner.path;
    },
    size: () => inner.size(),
    read(target: Uint8Array, position: number): number {
      meter.buffer(target.buffer.byteLength);
      meter.charge(target.length);
      const n = inner.read(target, position);
      meter.readBytes += n;
      return n;
    },
    close: () => inner.close(),
  };
}

/**
 * `dir` seen through the meter: its checksum, openRead and readFile are observed, everything else
 * passes through (a Proxy, so the wrapper keeps up with the Directory interface as it grows).
 */
export function meteredDirectory(dir: Directory, meter: Meter): Directory {
  const checksum = meteredChecksummer(dir.checksum, meter);
  return overriding(dir, {
    checksum,
    openRead: (path) => meteredFile(dir.openRead(path), meter),
    readFile: (path) => {
      const bytes = dir.readFile(path);
      meter.buffer(bytes.buffer.byteLength);
      meter.charge(bytes.length);
      meter.readBytes += bytes.length;
      return bytes;
    },
  });
}
