import type { Directory } from '../directory/directory';
import { NotFoundError } from '../errors';
import type { Codec } from '../wal/codec';
import { FRAME_HEADER_SIZE, WAL_DIR } from '../wal/format';
import { WalReader } from '../wal/reader';
import { listSegments } from '../wal/segment-files';

// The forwarder reads the log (log-match, the backlog scan, a rewind) while the application may
// truncate it: a checkpoint's truncation runs in steps off the event loop and its unlinks on the
// thread pool, so a segment a read listed can be gone when the read opens it. Truncation removes
// only a prefix of the log, the segments the forwarder let go (its veto), so a read that lost a
// segment now before the log's first one is started again on a fresh listing. Any other missing
// file was not a truncation, and its NotFoundError stands. Each retry lost a later segment than
// the one before, so a read is retried at most once per segment.

const SEGMENT_PATH = new RegExp(`^${WAL_DIR}/(\\d+)\\.wal$`);

/** Runs `read` (from scratch each time) until it completes without a segment truncated under it. */
export async function readingUnderTruncation<T>(dir: Directory, read: () => Promise<T>): Promise<T> {
  let lastGone = 0;
  for (;;) {
    try {
      return await read();
    } catch (err) {
      const gone = err instanceof NotFoundError ? segmentIdOf(err.path) : undefined;
      if (gone === undefined || gone <= lastGone || gone >= firstSegmentId(dir)) throw err;
      lastGone = gone;
    }
  }
}

function segmentIdOf(path: string): number | undefined {
  const m = SEGMENT_PATH.exec(path);
  return m === null ? undefined : Number(m[1]);
}

function firstSegmentId(dir: Directory): number {
  return listSegments(dir)[0]?.segmentId ?? Number.MAX_SAFE_INTEGER;
}

/** A byte-length codec: the forwarder's scans need sizes, not payloads. */
const lengthOnly: Codec<number> = { name: 'length', encode: () => new Uint8Array(0), decode: (b) => b.length };

/** Hands `visit` each entry's frame size from entry `from` on (sizes only, no payload), until it returns false. */
export async function frameSizes(dir: Directory, maxPayloadSize: number, from: number, visit: (entryId: number, frameBytes: number) => boolean): Promise<void> {
  const reader = new WalReader(dir, { codec: lengthOnly, maxPayloadSize });
  for await (const r of reader.records({ fromEntryId: from, mode: 'bestEffortTail' })) {
    if (!visit(r.entryId, r.payload + FRAME_HEADER_SIZE)) break;
  }
}
