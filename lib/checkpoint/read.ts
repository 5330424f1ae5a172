// Reading a checkpoint file back (docs/FORMAT.md, "Checkpoint file"): whole, for recovery, which
// decodes the state; or in slices, for the publisher, which only asks whether an older retained
// checkpoint would still serve as a fallback, with the event loop free between slices and one
// slice of memory instead of a copy of the whole state.

import type { Directory, ReadableFile } from '../directory/directory';
import { IoError, NotRegularFileError } from '../errors';
import { requireDirectory } from '../guards';
import { readWhole, sizeOf } from '../directory/read-whole';
import { maskCrc } from '../framed/bytes';
import {
  CHECKPOINT_HEADER_SIZE, CHECKPOINT_VERSION, MAX_CHECKPOINT_PAYLOAD, checkCheckpointHeader, checkpointCrc, type CheckpointHeader,
} from './format';
import { openReadChecked } from '../directory/checked-answers';

export type CheckpointRead =
  | { readonly ok: true; readonly lastEntryId: number; readonly payload: Uint8Array }
  /**
   * damaged: bytes no writer of this format produced (skip it). unsupported: a valid file this
   * reader cannot use (stop). notAFile: the name holds no regular file at all (a directory, FIFO
   * or link), so no checkpoint: damaged too, for callers that only ask that.
   */
  | { readonly ok: false; readonly damaged: boolean; readonly notAFile?: boolean; readonly offset: number; readonly reason: string };

/** A CheckpointRead without the payload. */
export type CheckpointVerdict = { readonly ok: true; readonly lastEntryId: number } | Extract<CheckpointRead, { ok: false }>;

type Failure = Extract<CheckpointRead, { ok: false }>;

/** Bytes verifyCheckpointFile reads between two turns of the event loop. */
const VERIFY_SLICE = 1 << 20;

/**
 * Reads and verifies one checkpoint file. Memory: the header, then the payload once its length
 * is known to match the file size and the format's maximum.
 */
export function readCheckpointFile(dir: Directory, path: string, expectedLastEntryId?: number): CheckpointRead {
  requireDirectory(dir, 'readCheckpointFile');
  try {
    return readCheckpointBytes(dir, path, expectedLastEntryId);
  } catch (err) {
    return notAFileOr(err);
  }
}

/**
 * readCheckpointFile's verdict on the file, its payload read and checked in slices with a turn of
 * the event loop between them: a publisher verifying an older retained checkpoint (up to 256 MiB)
 * stopped the service for the whole read and CRC.
 */
export async function verifyCheckpointFile(dir: Directory, path: string, expectedLastEntryId?: number): Promise<CheckpointVerdict> {
  let file: ReadableFile;
  try {
    file = openReadChecked(dir, path);
  } catch (err) {
    return notAFileOr(err);
  }
  try {
    const opened = openedHeader(file);
    if (!('header' in opened)) return opened;
    const { head, header } = opened;
    const slice = new Uint8Array(Math.min(VERIFY_SLICE, header.payloadLength));
    let crc = dir.checksum.crc32c(head.subarray(0, 24), 0);
    for (let at = 0; at < header.payloadLength;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const want = slice.subarray(0, Math.min(slice.length, header.payloadLength - at));
      const n = readWhole(file, want, CHECKPOINT_HEADER_SIZE + at);
      if (n !== want.length) return damaged(CHECKPOINT_HEADER_SIZE + at + n, 'file shrank while being read');
      crc = dir.checksum.crc32c(want, crc);
      at += n;
    }
    return verified(header, crc, expectedLastEntryId) ?? { ok: true, lastEntryId: header.lastEntryId };
  } finally {
    file.close();
  }
}

function readCheckpointBytes(dir: Directory, path: string, expectedLastEntryId: number | undefined): CheckpointRead {
  const file = openReadChecked(dir, path);
  try {
    const opened = openedHeader(file);
    if (!('header' in opened)) return opened;
    const { head, header } = opened;
    const payload = new Uint8Array(header.payloadLength);
    const n = payload.length === 0 ? 0 : readWhole(file, payload, CHECKPOINT_HEADER_SIZE);
    if (n !== payload.length) return damaged(CHECKPOINT_HEADER_SIZE + n, 'file shrank while being read');
    const crc = checkpointCrc(head.subarray(0, 24), payload, dir.checksum);
    return verified(header, crc, expectedLastEntryId) ?? { ok: true, lastEntryId: header.lastEntryId, payload };
  } finally {
    file.close();
  }
}

/** The header, read and checked against the format's maximum and the file's size, before any payload is read or allocated. */
function openedHeader(file: ReadableFile): { head: Uint8Array; header: CheckpointHeader } | Failure {
  const size = sizeOf(file);
  const head = new Uint8Array(CHECKPOINT_HEADER_SIZE);
  const check = checkCheckpointHeader(head.subarray(0, readWhole(file, head, 0)));
  if (check.kind !== 'ok') return damaged(check.offset, check.reason);
  const h = check.header;
  if (h.payloadLength < 0 || h.payloadLength > MAX_CHECKPOINT_PAYLOAD) return damaged(16, `payload length exceeds the ${MAX_CHECKPOINT_PAYLOAD}-byte maximum`);
  if (CHECKPOINT_HEADER_SIZE + h.payloadLength !== size) {
    return damaged(16, `payload length ${h.payloadLength} does not match the file size ${size}`);
  }
  return { head, header: h };
}

/** The failure, if any, of a file whose header and payload gave `crc` (the CRC of the header's first 24 bytes and the payload). */
function verified(h: CheckpointHeader, crc: number, expectedLastEntryId: number | undefined): Failure | undefined {
  if (maskCrc(crc) !== h.storedCrc) return damaged(24, 'CRC mismatch');
  // The CRC holds: these are bytes a writer produced on purpose.
  if (h.version !== CHECKPOINT_VERSION) return unsupported(4, `unsupported checkpoint version ${h.version} (this reader knows ${CHECKPOINT_VERSION})`);
  if (h.flags !== 0) return unsupported(6, `nonzero checkpoint flags 0x${h.flags.toString(16)}`);
  if (h.lastEntryId < 0) return unsupported(8, 'last entry id above 2^53 - 1');
  if (expectedLastEntryId !== undefined && h.lastEntryId !== expectedLastEntryId) {
    return damaged(8, `header says last entry ${h.lastEntryId}, the file name says ${expectedLastEntryId}`);
  }
  return undefined;
}

/**
 * Something other than a regular file under a checkpoint's name (a directory, a FIFO, a link:
 * refused unopened, without blocking) holds no checkpoint bytes, and was not put there by a
 * writer (which only ever renames regular files into place). Any other error is rethrown.
 */
function notAFileOr(err: unknown): Failure {
  if (err instanceof NotRegularFileError) return notAFile(`a ${err.fileType}, not a checkpoint file`);
  if (err instanceof IoError && err.errno === 'EISDIR') return notAFile('a directory, not a checkpoint file');
  throw err;
}

function damaged(offset: number, reason: string): Failure {
  return { ok: false, damaged: true, offset, reason };
}

function notAFile(reason: string): Failure {
  return { ok: false, damaged: true, notAFile: true, offset: 0, reason };
}

function unsupported(offset: number, reason: string): Failure {
  return { ok: false, damaged: false, offset, reason };
}
