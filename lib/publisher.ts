// Publishing a checkpoint next to a live WAL, in the order that survives a crash after any
// single filesystem operation:
//   1. sync the WAL: every entry the checkpoint covers is durable in the log first (otherwise a
//      crash could leave a checkpoint ahead of the log, and the writer would reuse its ids);
//   2. write the checkpoint durably (staged, fdatasynced, renamed, directory fsynced);
//   3. optionally append a checkpoint entry to the WAL and sync it;
//   4. truncate the WAL segments covered by the OLDEST retained checkpoint, as far as the
//      writer's observer allows (its beforeTruncate: a forwarder keeps what it has not shipped);
//   5. delete checkpoints beyond the retention count (one directory fsync).
// Between any two steps the directory holds a checkpoint that recovery can use and a WAL that
// continues it, so recovery yields the same state wherever the crash fell.
//
// Why truncate only to the oldest retained checkpoint: if the newest checkpoint is later found
// damaged, recovery falls back to the next one, and the WAL must still hold every entry after
// it. With retain = N, the WAL reaches back to the N-th newest checkpoint, and the initial state
// counts as a checkpoint at entry 0: until N checkpoints exist nothing is truncated. Recovery
// therefore succeeds while at least one retained checkpoint is valid; if all N are damaged it
// fails with RecoveryGapError instead of returning a state with entries missing.
//
// Only checkpoints that verify count toward N: before truncating, the publisher reads (and CRC
// checks) each retained file it has not verified yet, once. Recovery reads checkpoints only from
// the newest down to the first valid one, so a damaged file older than that one, or one a crash
// kept from being pruned (the process that found it damaged is gone), would otherwise count, and
// the WAL would reach back to fewer valid checkpoints than N.

import type { Directory } from './directory/directory';
import { ClosedError, InvalidArgumentError, InvalidStateError, IoError, NotFoundError } from './errors';
import { requireDirectory } from './guards';
import { holdsRegularFile } from './directory/regular-file';
import { channels } from './diagnostics';
import {
  DEFAULT_CHECKPOINT_RETENTION, encodeCheckpointFile, listCheckpoints, planRetention, pruneCheckpointsAsync, publishCheckpointBytesAsync,
  verifyCheckpointFile, type CheckpointFile,
} from './checkpoint/store';
import { notifyCheckpoint, type CheckpointObserver } from './checkpoint/observer';
import { takeCheckpointTurn } from './checkpoint/turns';
import type { Codec } from './wal/codec';
import { WalMaintenance } from './wal/maintenance';
import type { WalWriter } from './wal/writer';
import { checkedDirectory } from './directory/foreign';

export interface CheckpointPublisherOptions<S, E> {
  writer: WalWriter<E>;
  stateCodec: Codec<S>;
  /**
   * Makes the WAL entry that records a checkpoint covering lastEntryId (step 3). Recovery hands
   * it to apply() like any entry, so apply should leave the state unchanged for it. Without this
   * option the WAL holds no trace of checkpoints; recovery finds them by listing checkpoints/ and
   * is equally safe, but readers of the log alone (followers, tools) cannot see them.
   */
  checkpointEntry?: (lastEntryId: number) => E;
  /** Checkpoint files to keep (default 2). The WAL is kept back to the oldest of them. */
  retain?: number;
  /** Remove covered WAL segments (default true): as many as the writer has recycleRoom for are recycled, the rest deleted. */
  truncate?: boolean;
  /** Paths of checkpoint files known to be damaged: they do not count as retained and are pruned. */
  knownDamaged?: Iterable<string>;
  /** Paths of checkpoint files known to verify (recover() passes the one it loaded): not read again before truncating. */
  knownValid?: Iterable<string>;
  observer?: CheckpointObserver;
}

export interface PublishedCheckpoint {
  readonly path: string;
  readonly lastEntryId: number;
  readonly bytes: number;
  /** Id of the checkpoint entry appended to the WAL, if checkpointEntry was given. */
  readonly recordedEntryId: number | undefined;
  /**
   * WAL segments removed: the log was truncated through this entry (segments wholly at or below it
   * removed). When the writer's observer kept a segment, the last entry of the last one removed (0: none).
   */
  readonly truncatedSegments: number;
  /** Of the segments removed, how many became recycle files the writer reuses as new segments (its recycleRoom); the rest were deleted. */
  readonly recycledSegments: number;
  readonly truncatedThrough: number;
  readonly prunedCheckpoints: readonly string[];
}

export class CheckpointPublisher<S, E> {
  private readonly dir: Directory;
  private readonly writer: WalWriter<E>;
  private readonly stateCodec: Codec<S>;
  private readonly checkpointEntry: ((lastEntryId: number) => E) | undefined;
  private readonly retain: number;
  private readonly truncate: boolean;
  private readonly damaged: Set<string>;
  /** Checkpoint files read back whole with a valid CRC (or written by this publisher). */
  private readonly verified: Set<string>;
  /**
   * Checkpoint files whose read-back failed with an IoError (or found them gone) during the
   * current publish: not counted, not pruned either (the bytes may be fine), read again next publish.
   */
  private readonly unreadable = new Set<string>();
  private readonly observer: CheckpointObserver | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** checkpoints/ was made durable by this publisher (its mkdirp fsyncs on the calling thread). */
  private dirMade = false;

  constructor(dir: Directory, options: CheckpointPublisherOptions<S, E>) {
    requireDirectory(dir, 'new CheckpointPublisher');
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('CheckpointPublisher options are required');
    if (options.writer === undefined) throw new InvalidArgumentError('CheckpointPublisher needs the WalWriter of the log');
    if (options.stateCodec === undefined || typeof options.stateCodec.encode !== 'function') throw new InvalidArgumentError('CheckpointPublisher needs a stateCodec');
    if (options.checkpointEntry !== undefined && typeof options.checkpointEntry !== 'function') throw new InvalidArgumentError('checkpointEntry must be a function');
    const retain = options.retain ?? DEFAULT_CHECKPOINT_RETENTION;
    if (!Number.isSafeInteger(retain) || retain < 1) throw new InvalidArgumentError(`retain must be an integer ≥ 1, got ${String(retain)}`);
    this.dir = checkedDirectory(dir);
    this.writer = options.writer;
    this.stateCodec = options.stateCodec;
    this.checkpointEntry = options.checkpointEntry;
    this.retain = retain;
    this.truncate = options.truncate ?? true;
    this.damaged = new Set(options.knownDamaged ?? []);
    this.verified = new Set(options.knownValid ?? []);
    this.observer = options.observer;
  }

  /**
   * Checkpoints `state`, which must reflect every entry appended so far (writer.lastEntryId) and
   * nothing else. The state is encoded before this returns its promise, so the caller may go on
   * changing it and appending. Calls are published one after another, in call order.
   */
  checkpoint(state: S): Promise<PublishedCheckpoint> {
    const lastEntryId = this.writer.lastEntryId;
    let bytes: Uint8Array;
    try {
      bytes = encodeCheckpointFile(lastEntryId, state, this.stateCodec, this.dir);
    } catch (err) {
      return Promise.reject(err);
    }
    // Publishers of one directory take turns (lib/checkpoint/turns.ts), so this one's own calls
    // run in call order too; `queue` follows the last of them for settled().
    const run = takeCheckpointTurn(this.dir, () => this.publish(lastEntryId, bytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async publish(lastEntryId: number, bytes: Uint8Array): Promise<PublishedCheckpoint> {
    this.unreadable.clear();
    // Ahead of the log: a checkpoint of another history. Only ahead of this checkpoint, it may be
    // one another publisher of this writer made meanwhile (the retention keeps the newest). A name
    // holding no regular file (a directory planted there) is no checkpoint of any history.
    const logEnd = this.writer.lastEntryId;
    const ahead = listCheckpoints(this.dir).filter((f) => f.lastEntryId > logEnd && !this.damaged.has(f.path) && holdsRegularFile(this.dir, f.path));
    if (ahead.length > 0) {
      throw new InvalidStateError(`${ahead[ahead.length - 1].path} covers more entries than this log's ${logEnd}: it belongs to another history`);
    }
    await this.writer.sync();
    this.requireWriterOpen('before its checkpoint was written');
    // The steps below run off the event loop where the directory can (lib/directory/off-loop.ts):
    // an ingestion service keeps acknowledging appends while a checkpoint is written, the log
    // truncated and old checkpoints pruned. Failed, checkpoints/ is made again next time (it may
    // be what went missing).
    let written;
    try {
      written = await publishCheckpointBytesAsync(
        this.dir, lastEntryId, bytes, this.observer, !this.dirMade, () => this.requireWriterOpen('with its file staged, before it took its name'),
      );
      this.dirMade = true;
    } catch (err) {
      this.dirMade = false;
      throw err;
    }
    this.damaged.delete(written.path);
    this.verified.add(written.path);
    let recordedEntryId: number | undefined;
    let truncatedSegments = 0;
    let recycledSegments = 0;
    let truncatedThrough = 0;
    try {
      if (this.checkpointEntry !== undefined) {
        recordedEntryId = this.writer.append(this.checkpointEntry(lastEntryId));
        await this.writer.sync();
      }
      this.requireWriterOpen(`after ${written.path} was published, before the log was truncated`);
      if (this.truncate) {
        const point = await this.truncationPoint();
        this.requireWriterOpen(`after ${written.path} was published, while older checkpoints were read back`);
        if (point > 0) {
          // The writer's observer may keep segments (a forwarder that has not shipped them yet).
          // As many as the writer has room for become recycle files, its next segments: a rename
          // frees no blocks, where deleting a segment frees all of its blocks beside the log's
          // commits (bench/RESULTS.md), and the writer then writes over blocks its files own.
          const { removed, vetoed, recycled } = await new WalMaintenance(this.dir).truncatePrefixAsync(point, {
            observer: this.writer.observer, writer: this.writer, recycle: this.writer.recycleRoom,
          });
          // Closed or poisoned meanwhile: the files stay in wal/ for the log's next writer to adopt.
          if (recycled.length > 0 && this.writer.recycleRoom > 0) this.writer.recycle(recycled);
          recycledSegments = recycled.length;
          truncatedSegments = removed.length;
          // Vetoed: the log still holds everything after the last segment removed.
          truncatedThrough = vetoed === undefined ? point : truncatedSegments > 0 ? removed[truncatedSegments - 1].lastEntryId : 0;
          if (truncatedSegments > 0) notifyCheckpoint(this.observer, 'onTruncated', { uptoEntryId: truncatedThrough, segments: truncatedSegments });
        }
      }
    } catch (err) {
      // The new checkpoint is durable, so retention still holds: otherwise every publish failing
      // after this point (a forwarder's admit refusing the checkpoint entry while NATS is down)
      // left one more checkpoint file behind. Pruning is safe whatever failed: the WAL was
      // truncated (if at all) no further than the oldest checkpoint pruning keeps.
      try {
        if (!this.writer.closed) await this.prune();
      } catch {
        // The first failure is the one to report; the next publish prunes again.
      }
      throw err;
    }
    this.requireWriterOpen(`after ${written.path} was published, before old checkpoints were pruned`);
    const prunedCheckpoints = await this.prune();
    return { ...written, recordedEntryId, truncatedSegments, recycledSegments, truncatedThrough, prunedCheckpoints };
  }

  /**
   * A publish runs in steps off the event loop, and the log's writer may be closed between two of
   * them (a checkpoint asked while log.close() runs, a writer.close() of the application's). Closed,
   * it holds the lock no more: another writer may be the log's by the next step, and this
   * publisher's writes, unlinks and pruning would run under it.
   */
  private requireWriterOpen(where: string): void {
    if (this.writer.closed) throw new ClosedError(`the WalWriter of this checkpoint (which stopped ${where})`);
  }

  /** Resolves once every checkpoint asked for so far has settled (fulfilled or not). */
  settled(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  private async prune(): Promise<string[]> {
    const pruned = await pruneCheckpointsAsync(this.dir, this.retain, { exclude: this.damaged, unsure: this.unreadable, observer: this.observer });
    for (const p of pruned) {
      this.damaged.delete(p);
      this.verified.delete(p);
    }
    return pruned;
  }

  /**
   * Last entry id of the oldest checkpoint pruning will keep; 0 while fewer than `retain` valid
   * ones exist. Each file counted is verified first (once per publisher): a damaged one joins
   * `damaged`, so it is neither counted nor kept, and an older valid one takes its place; an
   * unreadable one joins `unreadable`: not counted either, but kept.
   */
  private async truncationPoint(): Promise<number> {
    for (;;) {
      const { keep } = planRetention(this.dir, this.retain, this.damaged, this.unreadable);
      if (keep.length < this.retain) return 0;
      const unverified = keep.find((f) => !this.verified.has(f.path));
      if (unverified === undefined) return keep[0].lastEntryId;
      await this.verify(unverified);
    }
  }

  /** Reads the file back in slices, the event loop free between them (verifyCheckpointFile). */
  private async verify(f: CheckpointFile): Promise<void> {
    let problem: string;
    let into = this.damaged;
    try {
      const read = await verifyCheckpointFile(this.dir, f.path, f.lastEntryId);
      // Unsupported (a valid CRC, another version) is a checkpoint, just not this reader's.
      if (read.ok || !read.damaged) {
        this.verified.add(f.path);
        return;
      }
      problem = `is damaged @ ${read.offset}: ${read.reason}`;
    } catch (err) {
      // A file that cannot be read back now is no fallback we can count on. Counted, it would let
      // the WAL be truncated to it; failing the publish instead would fail every publish after
      // this one. Nothing says its bytes are bad, though (EIO for a while, a network file system
      // reconnecting): pruned, a good fallback would be gone for a read that failed.
      if (err instanceof NotFoundError) {
        // Removed since it was listed (an operator, a tool): nothing to count or to keep.
        this.unreadable.add(f.path);
        return;
      }
      if (!(err instanceof IoError)) throw err;
      problem = `cannot be read: ${err.message}; not counted toward retention, kept and read again next time`;
      into = this.unreadable;
    }
    into.add(f.path);
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({
        kind: 'checkpoint-damaged', path: f.path,
        message: into === this.damaged ? `retained checkpoint ${f.path} ${problem}; not counted toward retention, pruned` : `retained checkpoint ${f.path} ${problem}`,
      });
    }
  }
}
