import type { Checksummer } from '../backend/backend';
import { channels } from '../diagnostics';
import type { Directory } from '../directory/directory';
import { ClosedError, CorruptionError, DecodeError, InvalidArgumentError, NotFoundError } from '../errors';
import { requireDirectory, requireOptionsObject } from '../guards';
import { decodeSegmentHeader, MAX_PAYLOAD_SIZE, WAL_DIR, type SegmentHeader } from './format';
import type { WalObserver } from './observer';
import { deleteNoSyncOffLoop } from '../directory/off-loop';
import { runSteps, runStepsAsync } from '../directory/step-driver';
import { recyclePath } from './recycle-pool';
import { scanSegment, SegmentScanner } from './segment-scan';
import { listSegments, readSegmentPrefix, type SegmentRef } from './segment-files';
import { existsAt } from '../directory/checked-answers';
import { checkedDirectory } from '../directory/foreign';

// Housekeeping on a log: which entry ids each segment holds, and removal of the segments a
// checkpoint has made unnecessary.
//
// Only a prefix of the log is ever removed, and never the final segment (the one a writer
// appends to). Each removal is made durable (directory fsync) before the next one starts: a
// crash may drop any unsynced directory operation independently of the others, and a log that
// lost segment 2 but kept segment 1 would have a gap no reader can accept.

export interface SegmentRange {
  readonly segmentId: number;
  readonly path: string;
  readonly firstEntryId: number;
  /** firstEntryId - 1 when the segment holds no entry. */
  readonly lastEntryId: number;
}

export interface TruncateOptions {
  /**
   * Its beforeTruncate hook may keep a segment, and with it every later one. If the hook throws,
   * the truncation stops there and rethrows (segments already removed stay removed).
   */
  observer?: WalObserver;
  /**
   * The writer of this log whose lock the truncation runs under (the checkpoint publisher's).
   * Checked before each removal: once it is closed its lock may be another writer's, so the
   * truncation stops there with ClosedError (segments already removed stay removed). The async
   * form's steps run off the event loop, and the application may close the writer between two:
   * each step it has started is handed to `finishesBeforeClose`, so close() releases the lock only
   * once that step landed.
   */
  writer?: { readonly closed: boolean; finishesBeforeClose?(work: Promise<unknown>): void };
}

export interface TruncateResult {
  /** Segments removed, oldest first. */
  readonly removed: readonly SegmentRange[];
  /** The segment whose removal the observer refused, if it stopped the truncation. */
  readonly vetoed: SegmentRange | undefined;
}

export interface AsyncTruncateOptions extends TruncateOptions {
  /**
   * How many of the removed segments (the oldest first) to rename to recycle files for
   * WalWriter.recycle instead of deleting them (default 0). Renaming frees no blocks: deleting a
   * 64 MiB segment frees (on ext4 with discard, discards) them all at once, beside the log's commits.
   */
  recycle?: number;
}

export interface AsyncTruncateResult extends TruncateResult {
  /** The recycle files made (wal/recycle-<id>), for WalWriter.recycle; none unless `recycle` was given. */
  readonly recycled: readonly string[];
}

/**
 * A removal that failed only because the segment is gone already: another truncation of this log
 * in the process removed it first. A checkpoint's truncation runs in steps off the event loop,
 * so the application's own truncatePrefix / truncateToRecycle can run between two of them, and
 * the thread pool's unlink can land between another caller's listing and its removal. Only a
 * prefix is ever removed, oldest first, so what is gone is what this removal wanted gone.
 */
function goneAlready(err: unknown): boolean {
  return err instanceof NotFoundError;
}

const SYNC_DIR = 'sync-dir';
/** A step of a truncation (see steps()): the directory fsync, or a segment to remove. */
type TruncationStep = typeof SYNC_DIR | SegmentRange;

interface Truncation extends TruncateResult {
  /** Where each removed segment went: its own path (deleted, truncatePrefix) or its recycle file; none when deleted by the other forms. */
  readonly paths: string[];
}

export class WalMaintenance {
  private readonly dir: Directory;
  private readonly checksum: Checksummer;
  private readonly maxPayloadSize: number;

  constructor(dir: Directory, options: { maxPayloadSize?: number } = {}) {
    requireDirectory(dir, 'new WalMaintenance');
    requireOptionsObject(options, 'new WalMaintenance');
    const max = options.maxPayloadSize ?? MAX_PAYLOAD_SIZE;
    if (!Number.isSafeInteger(max) || max < 0 || max > MAX_PAYLOAD_SIZE) {
      throw new InvalidArgumentError(`maxPayloadSize must be an integer in 0..${MAX_PAYLOAD_SIZE}, not ${String(max)}`);
    }
    this.dir = checkedDirectory(dir);
    this.checksum = dir.checksum;
    this.maxPayloadSize = max;
  }

  /**
   * Entry-id range of every segment, oldest first. Earlier segments are bounded by the next
   * segment's header; the final one is scanned (a torn tail ends it, as in 'bestEffortTail').
   */
  segmentRanges(): SegmentRange[] {
    const segments = listSegments(this.dir);
    if (segments.length === 0) return [];
    const ranges = this.closedRanges(segments);
    const final = segments[segments.length - 1];
    const previous = ranges.length > 0 ? ranges[ranges.length - 1] : undefined;
    const scan = scanSegment(this.dir, final, {
      isFinal: true, mode: 'bestEffortTail', maxPayloadSize: this.maxPayloadSize,
      expectedFirstEntryId: previous === undefined ? undefined : previous.lastEntryId + 1,
    });
    ranges.push({ segmentId: final.segmentId, path: final.path, firstEntryId: scan.firstEntryId, lastEntryId: scan.lastEntryId });
    return ranges;
  }

  /** Deletes the oldest segments whose entries are all ≤ lastEntryId (never the final segment). */
  truncatePrefix(lastEntryId: number, options: TruncateOptions = {}): TruncateResult {
    const { removed, vetoed } = runSteps(this.steps(lastEntryId, options), (step) => {
      if (step === SYNC_DIR) return this.dir.syncDir(WAL_DIR);
      this.dir.delete(step.path);
      return step.path;
    });
    return { removed, vetoed };
  }

  /**
   * truncatePrefix with its unlinks and directory fsyncs off the event loop where the directory
   * can (lib/directory/off-loop.ts): unlinking a large segment frees its blocks inside the call.
   * Same steps in the same order; the segment headers it reads to find the ranges are read here.
   */
  async truncatePrefixAsync(lastEntryId: number, options: AsyncTruncateOptions = {}): Promise<AsyncTruncateResult> {
    const recycle = options.recycle ?? 0;
    if (!Number.isSafeInteger(recycle) || recycle < 0) throw new InvalidArgumentError(`recycle must be a non-negative integer, not ${String(recycle)}`);
    let room = recycle;
    const run = async (step: typeof SYNC_DIR | SegmentRange): Promise<string | undefined | void> => {
      if (step === SYNC_DIR) return this.dir.syncDirAsync(WAL_DIR);
      const to = recyclePath(step.segmentId);
      // As truncateToRecycle: never over a recycle file already there (a segment id used twice).
      if (room > 0 && !existsAt(this.dir, to)) {
        this.dir.renameNoSync(step.path, to);
        room--;
        await this.dir.syncDirAsync(WAL_DIR);
        return to;
      }
      await deleteNoSyncOffLoop(this.dir, step.path);
      await this.dir.syncDirAsync(WAL_DIR);
      return undefined;
    };
    const { removed, vetoed, paths } = await runStepsAsync(this.steps(lastEntryId, options), (step) => {
      const work = run(step);
      // The writer may be closed by what the step itself set off (an unlink's callback): it must
      // still not release the lock before this step's unlink or rename has landed.
      options.writer?.finishesBeforeClose?.(work);
      return work;
    });
    return { removed, vetoed, recycled: paths };
  }

  /**
   * Like truncatePrefix, but renames the covered segments to recycle files (wal/recycle-<id>)
   * and returns their paths, for WalWriter.recycle to reuse as new segments.
   */
  truncateToRecycle(lastEntryId: number, options: TruncateOptions = {}): string[] {
    return runSteps(this.steps(lastEntryId, options), (step) => {
      if (step === SYNC_DIR) return this.dir.syncDir(WAL_DIR);
      const to = recyclePath(step.segmentId);
      // Never over a recycle file already there (a segment id used twice, after a log restarted
      // at segment 1): a writer may be making that very file its next segment.
      if (existsAt(this.dir, to)) {
        this.dir.delete(step.path);
        return undefined;
      }
      this.dir.atomicRename(step.path, to);
      return to;
    }).paths;
  }

  /**
   * The removal of the covered segments as steps for a driver to run (lib/directory/step-driver.ts):
   * the directory fsync before the first removal (SYNC_DIR), then each segment to remove, oldest
   * first, made durable before the driver asks for the next step. The driver sends back where the
   * segment went (its own path when deleted, its recycle path, undefined when deleted instead of
   * recycled); a step's failure, thrown here, ends the truncation with the removals before it done,
   * but for a segment found gone already (goneAlready), which counts as removed.
   */
  private *steps(lastEntryId: number, options: TruncateOptions): Generator<TruncationStep, Truncation, string | undefined | void> {
    if (!Number.isSafeInteger(lastEntryId) || lastEntryId < 0) {
      throw new InvalidArgumentError(`lastEntryId must be a non-negative integer, not ${String(lastEntryId)}`);
    }
    const removed: SegmentRange[] = [];
    const paths: string[] = [];
    let vetoed: SegmentRange | undefined;
    const { segments, ranges } = this.closedRangesNow();
    // A final segment that holds no entry yet may be being created: until its header is on disk,
    // the segment before it carries the log's ids, so it stays. Removed, a power cut could leave
    // the new segment alone with a torn header, whose first id is lost.
    const keepLast = segments.length > 1 && !this.holdsAnEntry(segments[segments.length - 1]);
    for (const range of ranges) {
      if (range.lastEntryId > lastEntryId) break;
      if (keepLast && range === ranges[ranges.length - 1]) break;
      const hook = options.observer?.beforeTruncate;
      if (hook !== undefined) {
        const info = { segmentId: range.segmentId, path: range.path, firstEntryId: range.firstEntryId, lastEntryId: range.lastEntryId };
        if (hook.call(options.observer, info) === false) {
          vetoed = range;
          if (channels.truncate.hasSubscribers) channels.truncate.publish({ ...info, action: 'vetoed' });
          break;
        }
      }
      // The segments that stay must be durable entries before any segment goes: a crash may
      // persist an unlink or rename and drop an older unsynced create (the writer's newest
      // segment), leaving a log that restarts at an id a checkpoint already covered.
      if (removed.length === 0) yield SYNC_DIR;
      if (options.writer?.closed === true) throw new ClosedError(`the WalWriter of this truncation (which stopped before removing ${range.path})`);
      let to: string | undefined;
      try {
        to = (yield range) ?? undefined;
      } catch (err) {
        if (!goneAlready(err)) throw err;
        // Removed by the other caller, whose directory fsync may not have run yet: this one's
        // next removal must not become durable before it.
        yield SYNC_DIR;
      }
      if (to !== undefined) paths.push(to);
      removed.push(range);
      if (channels.truncate.hasSubscribers) channels.truncate.publish({ ...range, action: 'removed', to });
    }
    return { removed, vetoed, paths };
  }

  /**
   * The segments listed and closedRanges of them. A segment gone between the listing and the read
   * of its header was removed by another truncation (goneAlready: the thread pool's unlink of a
   * checkpoint's truncation can land there): listed again, as often as segments were listed.
   */
  private closedRangesNow(): { segments: SegmentRef[]; ranges: SegmentRange[] } {
    let segments = listSegments(this.dir);
    for (let retries = segments.length; ; retries--) {
      try {
        return { segments, ranges: this.closedRanges(segments) };
      } catch (err) {
        if (!goneAlready(err) || retries === 0) throw err;
        const listed = segments;
        segments = listSegments(this.dir);
        const gone = listed.find((seg) => seg.path === (err as NotFoundError).path);
        if (gone === undefined || segments.some((seg) => seg.path === gone.path)) throw err;
      }
    }
  }

  /** Ranges of every segment but the final one, from headers alone. */
  private closedRanges(segments: readonly SegmentRef[]): SegmentRange[] {
    const headers: SegmentHeader[] = [];
    for (let i = 0; i < segments.length - 1; i++) headers.push(this.readHeader(segments[i]));
    const ranges: SegmentRange[] = [];
    for (let i = 0; i < headers.length; i++) {
      const seg = segments[i];
      const next = segments[i + 1];
      if (next.segmentId !== seg.segmentId + 1) {
        throw new CorruptionError(next.path, 0, `segment id gap: ${next.segmentId} follows ${seg.segmentId}`);
      }
      const nextFirst = i + 1 < headers.length ? headers[i + 1].firstEntryId : this.finalFirstEntryId(next, seg, headers[i]);
      if (nextFirst < headers[i].firstEntryId) {
        throw new CorruptionError(next.path, 16, `first entry id ${nextFirst} is below the previous segment's ${headers[i].firstEntryId}`);
      }
      ranges.push({ segmentId: seg.segmentId, path: seg.path, firstEntryId: headers[i].firstEntryId, lastEntryId: nextFirst - 1 });
    }
    return ranges;
  }

  /** First entry id of the final segment; when its header is torn, one past the previous segment's last frame. */
  private finalFirstEntryId(final: SegmentRef, previous: SegmentRef, previousHeader: SegmentHeader): number {
    const bytes = readSegmentPrefix(this.dir, final);
    try {
      return decodeSegmentHeader(bytes, final.path, this.checksum, final.segmentId).firstEntryId;
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
    }
    const scan = scanSegment(this.dir, previous, {
      isFinal: false, mode: 'strict', maxPayloadSize: this.maxPayloadSize, expectedFirstEntryId: previousHeader.firstEntryId,
    });
    return scan.lastEntryId + 1;
  }

  /**
   * Whether one of the segment's frames validates. That proves its header is on disk: frames are
   * written only after the header's fdatasync returned (rule A). A readable header proves nothing:
   * between its write and its fdatasync (two steps of a commit) the page cache shows it.
   */
  private holdsAnEntry(seg: SegmentRef): boolean {
    let scanner: SegmentScanner | undefined;
    try {
      scanner = new SegmentScanner(this.dir, seg, { isFinal: true, mode: 'bestEffortTail', maxPayloadSize: MAX_PAYLOAD_SIZE });
      return scanner.next();
    } catch (err) {
      // Damage is for a reader to report; here it only means no proof, so the segment before stays.
      if (err instanceof CorruptionError || err instanceof DecodeError) return false;
      throw err;
    } finally {
      scanner?.close();
    }
  }

  private readHeader(seg: SegmentRef): SegmentHeader {
    return decodeSegmentHeader(readSegmentPrefix(this.dir, seg), seg.path, this.checksum, seg.segmentId);
  }
}
