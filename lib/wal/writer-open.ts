import type { Directory } from '../directory/directory';
import { AlreadyExistsError, NotFoundError } from '../errors';
import { unknownNamesOf } from '../unknown-names';
import type { ActiveSegment } from './active-segment';
import { createSegment } from './segment-create';
import { LOCK_FILE, WAL_DIR } from './format';
import { resolveWriterOptions, type WalWriterOptions } from './options';
import { RecyclePool } from './recycle-pool';
import { resumeTail, type ResumedTail } from './resume';
import { listSegments } from './segment-files';
import { WriterState } from './writer-state';

export type OpenMode = 'open' | 'create' | 'resume';

/**
 * Takes the log's lock and finds, repairs or creates the segment to append to. Everything this
 * opens is closed again if it fails: a failed open leaves no descriptor and no lock.
 */
export function openWriterState<E>(dir: Directory, options: WalWriterOptions<E>, mode: OpenMode): WriterState<E> {
  const opts = resolveWriterOptions(options);
  const unknown = unknownNamesOf(options);
  // Also when wal/ exists: mkdirp fsyncs the root then too (an earlier fsync may have failed).
  dir.mkdirp(WAL_DIR);
  const lock = dir.lock(LOCK_FILE);
  let segment: ActiveSegment | undefined;
  try {
    const checksum = dir.checksum;
    const now = opts.clock();
    let tail: ResumedTail | undefined;
    if (mode === 'create') {
      const existing = listSegments(dir, unknown).length;
      if (existing > 0) throw new AlreadyExistsError(WAL_DIR, `it holds ${existing} segment(s); use WalWriter.resume or WalWriter.open`);
    } else {
      tail = resumeTail(dir, checksum, { syncWindow: opts.syncWindow, preallocate: opts.preallocate, now }, unknown);
      if (tail === undefined && mode === 'resume') throw new NotFoundError(`${WAL_DIR}/*.wal (no log to resume)`);
    }
    segment = tail?.segment;
    const pool = new RecyclePool(dir, opts.recycleCapacity);
    pool.adoptLeftovers();
    if (tail === undefined) {
      const created = createSegment(dir, {
        segmentId: 1, firstEntryId: 1, syncWindow: opts.syncWindow, createdAt: now, preallocate: opts.preallocate, zeroFill: opts.zeroFill,
      }, checksum);
      segment = created.segment;
      return new WriterState<E>(dir, lock, opts, checksum, pool, created.segment, 1, { preallocationWorks: !created.preallocationFailed, entryDurable: false });
    }
    // The previous writer may have died before making the final segment's entry durable; after
    // this fsync (and the fdatasync resumeTail did) every entry found in the log is durable.
    dir.syncDir(WAL_DIR);
    return new WriterState<E>(dir, lock, opts, checksum, pool, tail.segment, tail.nextEntryId, { preallocationWorks: !tail.preallocationFailed, entryDurable: true });
  } catch (err) {
    try {
      segment?.close();
    } finally {
      lock.release();
    }
    throw err;
  }
}
