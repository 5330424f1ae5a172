// Recovery: the newest valid checkpoint (or the initial state), then every WAL entry after it,
// streamed through apply(). Optionally opens the writer positioned after the last entry, with a
// checkpoint publisher bound to it.
//
// Gaps are errors, never silent: the WAL must start at or before the entry after the
// checkpoint, and when newer checkpoints were skipped as damaged the WAL must reach at least as
// far as they claimed (else the entries between are provably gone: RecoveryGapError).

import { DEFAULT_CHECKPOINT_RETENTION, loadLatestCheckpoint } from './checkpoint/store';
import type { CheckpointObserver, SkippedCheckpoint } from './checkpoint/observer';
import type { Directory } from './directory/directory';
import { InvalidArgumentError, InvalidStateError, RecoveryGapError } from './errors';
import { requireCodec, requireDirectory } from './guards';
import { UnknownNames, carryingUnknownNames } from './unknown-names';
import { CheckpointPublisher, type PublishedCheckpoint } from './publisher';
import type { Codec } from './wal/codec';
import { DEFAULT_SYNC_WINDOW, encodeSegmentHeader, LOCK_FILE, segmentPath, WAL_DIR } from './wal/format';
import { WalMaintenance } from './wal/maintenance';
import type { WalObserver } from './wal/observer';
import { resolveWriterOptions, type WalWriterOptions } from './wal/options';
import { WalReader, type ReplayMode, type WalRecord } from './wal/reader';
import { highestRecycleId } from './wal/recycle-pool';
import { listSegments, readValidSegmentHeader, type SegmentRef } from './wal/segment-files';
import { scanSegment } from './wal/segment-scan';
import { WalWriter } from './wal/writer';
import { MAX_ENTRY_ID } from './wal/writer-state';
import { checkedDirectory } from './directory/foreign';

export type RecoverWriterOptions<E> = Omit<WalWriterOptions<E>, 'codec'>;

export interface RecoverOptions<S, E> {
  dir: Directory;
  /** Codec of the WAL entries. */
  codec: Codec<E>;
  /** Codec of the checkpointed state. */
  stateCodec: Codec<S>;
  /** The state before entry 1, used when there is no checkpoint. apply may mutate it. */
  initial: S;
  /** Returns the state after `record` (it may mutate and return `state`). May be async. */
  apply: (state: S, record: WalRecord<E>) => S | Promise<S>;
  /**
   * 'bestEffortTail' (default): a torn write at the end of the log (a crash mid-append) ends it.
   * 'strict': any torn byte is a CorruptionError. Damage is an error in both.
   */
  mode?: ReplayMode;
  /** Open a WalWriter after the last entry (true, or writer options without the codec). */
  writer?: boolean | RecoverWriterOptions<E>;
  /** Passed to the publisher: the WAL entry recording a checkpoint (see CheckpointPublisherOptions). */
  checkpointEntry?: (lastEntryId: number) => E;
  /** Checkpoints the publisher keeps (default 2). */
  retain?: number;
  observer?: CheckpointObserver;
  maxPayloadSize?: number;
}

export interface Recovery<S> {
  readonly state: S;
  /** The last entry the state reflects (the checkpoint's when the WAL holds nothing after it). */
  readonly lastEntryId: number;
  /** Last entry id of the checkpoint recovery started from (0: the initial state). */
  readonly checkpointEntryId: number;
  readonly checkpointPath: string | undefined;
  /** WAL entries passed to apply. */
  readonly replayed: number;
  /** Newer checkpoint files passed over as damaged (also reported to the observer and diagnostics). */
  readonly skippedCheckpoints: readonly SkippedCheckpoint[];
}

export interface RecoveredLog<S, E> extends Recovery<S> {
  readonly writer: WalWriter<E>;
  readonly publisher: CheckpointPublisher<S, E>;
  /** Publishes `state` as the checkpoint of writer.lastEntryId (see CheckpointPublisher.checkpoint). */
  checkpoint(state: S): Promise<PublishedCheckpoint>;
  /** Closes the writer (flushes, syncs, releases the lock). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function recover<S, E>(options: RecoverOptions<S, E> & { writer: true | RecoverWriterOptions<E> }): Promise<RecoveredLog<S, E>>;
export function recover<S, E>(options: RecoverOptions<S, E>): Promise<Recovery<S> | RecoveredLog<S, E>>;
export async function recover<S, E>(options: RecoverOptions<S, E>): Promise<Recovery<S> | RecoveredLog<S, E>> {
  const { codec, stateCodec, apply } = checkOptions(options);
  const dir = checkedDirectory(options.dir);
  // Everything the writer and publisher would reject is rejected here, before any file is
  // opened or locked: a failed call leaves nothing behind.
  const writerOptions = checkWriterOptions(options);
  const retain = options.retain ?? DEFAULT_CHECKPOINT_RETENTION;
  if (!Number.isSafeInteger(retain) || retain < 1) throw new InvalidArgumentError(`retain must be an integer ≥ 1, got ${String(retain)}`);
  const mode = options.mode ?? 'bestEffortTail';
  // One open: each stray name is reported once, though the checkpoint load, the replay and the
  // writer each list what they read.
  const unknown = new UnknownNames();
  const loaded = loadLatestCheckpoint(dir, carryingUnknownNames({ codec: stateCodec, observer: options.observer }, unknown));
  const base = loaded.checkpoint?.lastEntryId ?? 0;
  let state = loaded.checkpoint === undefined ? options.initial : loaded.checkpoint.state;

  const first = firstWalEntryId(dir);
  if (first !== undefined && first > base + 1) {
    throw new RecoveryGapError(base + 1, first, `the WAL was truncated past ${describeBase(loaded.checkpoint?.path, base)}`);
  }

  const reader = new WalReader<E>(dir, { codec, maxPayloadSize: options.maxPayloadSize });
  let lastEntryId = base;
  let replayed = 0;
  // A checkpoint of the last id a log can have leaves nothing to replay (and no id to ask for).
  const replay = base < MAX_ENTRY_ID ? reader.records(carryingUnknownNames({ mode, fromEntryId: base + 1 }, unknown)) : [];
  for await (const record of replay) {
    const next = apply(state, record);
    state = isPromise(next) ? await next : next;
    lastEntryId = record.entryId;
    replayed++;
  }

  // Skipped checkpoints claimed entries up to their names' ids: the log must still hold them.
  let claimed: SkippedCheckpoint | undefined;
  for (const s of loaded.skipped) if (claimed === undefined || s.claimedLastEntryId > claimed.claimedLastEntryId) claimed = s;
  if (claimed !== undefined && claimed.claimedLastEntryId > lastEntryId) {
    throw new RecoveryGapError(lastEntryId + 1, undefined, `${claimed.path} is damaged and claimed entries through ${claimed.claimedLastEntryId}, but the WAL ends at ${lastEntryId}`);
  }

  const recovery: Recovery<S> = {
    state, lastEntryId, checkpointEntryId: base, checkpointPath: loaded.checkpoint?.path, replayed, skippedCheckpoints: loaded.skipped,
  };
  if (writerOptions === undefined) return recovery;

  const writer = openWriterAfter(dir, carryingUnknownNames(writerOptions, unknown), base, lastEntryId);
  let publisher: CheckpointPublisher<S, E>;
  try {
    publisher = new CheckpointPublisher<S, E>(dir, {
      writer, stateCodec, checkpointEntry: options.checkpointEntry, retain,
      knownDamaged: loaded.skipped.map((s) => s.path), knownValid: loaded.checkpoint === undefined ? [] : [loaded.checkpoint.path],
      observer: options.observer,
    });
  } catch (err) {
    writer.closeSync();
    throw err;
  }
  return {
    ...recovery,
    writer,
    publisher,
    checkpoint: (s: S) => publisher.checkpoint(s),
    // A checkpoint still running goes on unlinking and fsyncing in steps (off the event loop):
    // it ends before the lock is let go, so none of it happens under another writer.
    close: () => publisher.settled().then(() => writer.close()),
    [Symbol.asyncDispose]: () => publisher.settled().then(() => writer.close()),
  };
}

function checkOptions<S, E>(o: RecoverOptions<S, E>): RecoverOptions<S, E> {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('recover needs options { dir, codec, stateCodec, initial, apply }');
  requireDirectory(o.dir, 'recover (options.dir)');
  for (const k of ['codec', 'stateCodec'] as const) requireCodec(o[k], `recover (options.${k})`);
  if (typeof o.apply !== 'function') throw new InvalidArgumentError('recover needs apply(state, record)');
  if (o.mode !== undefined && o.mode !== 'strict' && o.mode !== 'bestEffortTail') throw new InvalidArgumentError(`mode must be 'strict' or 'bestEffortTail', got ${String(o.mode)}`);
  if (o.checkpointEntry !== undefined && typeof o.checkpointEntry !== 'function') throw new InvalidArgumentError('checkpointEntry must be a function');
  return o;
}

/** The writer's options (undefined: no writer), checked as WalWriter.open would check them. */
function checkWriterOptions<S, E>(o: RecoverOptions<S, E>): WalWriterOptions<E> | undefined {
  const w = o.writer;
  if (w === undefined || w === false) return undefined;
  if (w !== true && (w === null || typeof w !== 'object')) {
    throw new InvalidArgumentError(`writer must be a boolean or WalWriter options without the codec, got ${String(w)}`);
  }
  const options: WalWriterOptions<E> = { ...(w === true ? {} : w), codec: o.codec };
  resolveWriterOptions(options);
  return options;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function describeBase(path: string | undefined, base: number): string {
  return path === undefined ? 'the initial state (no checkpoint holds entries 1..)' : `the newest valid checkpoint ${path} (entries through ${base})`;
}

/** First entry id of the log from the first segment's header; undefined when unknown (no segments, or a torn header the reader will judge). */
function firstWalEntryId(dir: Directory): number | undefined {
  const segments = listSegments(dir);
  if (segments.length === 0) return undefined;
  return readValidSegmentHeader(dir, segments[0])?.firstEntryId;
}

/**
 * Opens the writer so its next id is lastEntryId + 1. The usual case is a plain resume. When the
 * log holds nothing after the checkpoint (no segments, or its last entry is below the
 * checkpoint's), the writer would reuse ids the checkpoint already covers, so the log is
 * restarted at base + 1: its segments hold only covered entries and are deleted, oldest first.
 */
function openWriterAfter<E>(dir: Directory, options: WalWriterOptions<E>, base: number, lastEntryId: number): WalWriter<E> {
  if (base > 0 && lastEntryId === base && !continuable(dir)) restartLog(dir, base, options);
  let writer = WalWriter.open(dir, options);
  if (writer.lastEntryId < base && lastEntryId === base) {
    writer.closeSync();
    restartLog(dir, base, options);
    writer = WalWriter.resume(dir, options);
  }
  if (writer.lastEntryId !== lastEntryId) {
    const found = writer.lastEntryId;
    writer.closeSync();
    throw new InvalidStateError(`the log changed during recovery: replay ended at entry ${lastEntryId}, the writer found ${found} (another writer?)`);
  }
  return writer;
}

/**
 * False when the writer could not resume the log: no segments, or a single one whose header is
 * torn (replay found nothing in it; the writer cannot tell its first id once earlier segments
 * were truncated away).
 */
function continuable(dir: Directory): boolean {
  const n = listSegments(dir).length;
  return n > 1 || (n === 1 && firstWalEntryId(dir) !== undefined);
}

/**
 * Under the WAL lock: removes every segment (oldest first, each removal durable), then creates an
 * empty one starting at base + 1. The decision to restart was taken without the lock, so it is
 * taken again under it: another writer (a second recover) may have locked the log in between and
 * appended entries after base, which must not be deleted. The log is then left alone, and the
 * writer opened next finds it changed. The writer's observer may keep the segments (see
 * askBeforeRestart): then nothing is removed and the restart throws.
 */
function restartLog(dir: Directory, base: number, { syncWindow, observer }: Pick<WalWriterOptions<unknown>, 'syncWindow' | 'observer'>): void {
  if (base >= MAX_ENTRY_ID) throw new InvalidStateError('the checkpoint covers entry 2^53 - 1, the last id a log can have: no writer can continue after it');
  dir.mkdirp(WAL_DIR);
  const lock = dir.lock(LOCK_FILE);
  try {
    const segments = listSegments(dir);
    if (!holdsNothingAfter(dir, segments, base)) return;
    askBeforeRestart(dir, observer, base);
    // Above every id used before, recycle files' included: a recycle file named after the new
    // segment would later be renamed over, or over it (WalMaintenance.truncateToRecycle).
    // Chosen (and its header encoded, which checks the id) before anything is deleted, so a
    // restart that cannot be made leaves the log as it was.
    const segmentId = Math.max(segments.length === 0 ? 0 : segments[segments.length - 1].segmentId, highestRecycleId(dir)) + 1;
    if (segmentId > MAX_ENTRY_ID) {
      throw new InvalidStateError(`cannot restart the log: a segment or recycle file in ${WAL_DIR}/ already uses the last segment id (2^53 - 1)`);
    }
    const { bytes } = encodeSegmentHeader({ segmentId, firstEntryId: base + 1, syncWindow: syncWindow ?? DEFAULT_SYNC_WINDOW }, dir.checksum);
    for (const s of segments) dir.delete(s.path);
    const f = dir.create(segmentPath(segmentId));
    try {
      f.write(bytes);
      f.sync();
    } finally {
      f.close();
    }
    dir.syncDir(WAL_DIR);
  } finally {
    lock.release();
  }
}

/**
 * The restart deletes every segment, so the writer's observer is asked first about each one that
 * holds entries, as every truncation asks it (WalWriter.observer): a JetStream forwarder keeps the
 * entries it has not shipped, which the checkpoint covers but the stream does not hold. A kept
 * segment stops the restart before anything is deleted: a log restarted after the checkpoint
 * cannot also keep older entries (the ids between would be a gap no reader accepts).
 */
function askBeforeRestart(dir: Directory, observer: WalObserver | undefined, base: number): void {
  const hook = observer?.beforeTruncate;
  if (hook === undefined) return;
  for (const range of new WalMaintenance(dir).segmentRanges()) {
    if (range.lastEntryId < range.firstEntryId) continue; // no entry to keep
    const info = { segmentId: range.segmentId, path: range.path, firstEntryId: range.firstEntryId, lastEntryId: range.lastEntryId };
    if (hook.call(observer, info) === false) {
      throw new InvalidStateError(
        `the log ends before the checkpoint's entry ${base}, so the writer must restart it after the checkpoint, deleting every ` +
        `segment; the writer's observer keeps ${range.path} (entries ${range.firstEntryId}..${range.lastEntryId}): ` +
        'let it take them first (a JetStream forwarder shipping this directory), or recover without it to discard them',
      );
    }
  }
}

/**
 * Whether the log holds no entry after `base` that a writer could continue from, as the writer
 * would see it: no segments, a lone segment with a torn header, or a last entry below base.
 */
function holdsNothingAfter(dir: Directory, segments: readonly SegmentRef[], base: number): boolean {
  if (segments.length === 0) return true;
  const final = scanSegment(dir, segments[segments.length - 1], { isFinal: true, mode: 'bestEffortTail' });
  if (final.header !== undefined) return final.lastEntryId < base;
  if (segments.length === 1) return true;
  // A torn final header: the writer continues after the previous segment.
  return scanSegment(dir, segments[segments.length - 2], { isFinal: false, mode: 'strict' }).lastEntryId < base;
}
