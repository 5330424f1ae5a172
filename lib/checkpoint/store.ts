// Checkpoint files on a Directory: checkpoints/<20-digit last entry id>.ckpt. The name orders
// them (the newest covers the most entries), the header inside is authoritative and must agree.
//
// A checkpoint is staged as checkpoints/pending by atomicWrite (temp, fdatasync, rename, dir
// fsync) and then renamed to its final name (rename, dir fsync). The fixed staging name bounds
// the debris a crash can leave: atomicWrite removes the temp files of earlier attempts at the
// same path, and `pending` is overwritten by the next checkpoint (loading ignores it).

import { channels } from '../diagnostics';
import type { Directory } from '../directory/directory';
import { CorruptionError, DecodeError, EncodeError, InvalidArgumentError, IoError, NotFoundError, NotRegularFileError, describe } from '../errors';
import { holdsRegularFile } from '../directory/regular-file';
import { atomicRenameOffLoop, atomicWriteOffLoop, deleteNoSyncOffLoop } from '../directory/off-loop';
import { runSteps, runStepsAsync } from '../directory/step-driver';
import { unknownNamesOf, type UnknownNames } from '../unknown-names';
import { requireCodec, requireDirectory, requireOptionsObject } from '../guards';
import type { Codec } from '../wal/codec';
import { encodeCheckpoint } from './format';
import { CHECKPOINT_DIR, CHECKPOINT_PENDING, PENDING_NAME } from './names';
import { notifyCheckpoint, type CheckpointObserver, type SkippedCheckpoint, type WrittenCheckpoint } from './observer';
import { refuseWhilePublishing } from './turns';
import { readCheckpointFile } from './read';

export { readCheckpointFile, verifyCheckpointFile, type CheckpointRead, type CheckpointVerdict } from './read';
import { listNames, openReadChecked } from '../directory/checked-answers';
import { checkedDirectory } from '../directory/foreign';

export { CHECKPOINT_DIR, CHECKPOINT_PENDING };
export const DEFAULT_CHECKPOINT_RETENTION = 2;

const NAME = /^([0-9]{1,20})\.ckpt$/;

export function checkpointFileName(lastEntryId: number): string {
  if (!Number.isSafeInteger(lastEntryId) || lastEntryId < 0) throw new InvalidArgumentError(`lastEntryId must be an integer ≥ 0, got ${lastEntryId}`);
  return `${String(lastEntryId).padStart(20, '0')}.ckpt`;
}

export function checkpointPath(lastEntryId: number): string {
  return `${CHECKPOINT_DIR}/${checkpointFileName(lastEntryId)}`;
}

/** The last entry id in `<digits>.ckpt`, or undefined for any other name. */
export function parseCheckpointFileName(name: string): number | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const id = Number(m[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}

export interface CheckpointFile {
  readonly path: string;
  readonly lastEntryId: number;
}

/**
 * Checkpoint files, oldest (fewest entries) first. Other names in checkpoints/ are not
 * checkpoints: `pending` is the publisher's staging name, any other is someone else's, ignored,
 * and reported to `unknown` when given (lib/unknown-names.ts).
 */
export function listCheckpoints(dir: Directory, unknown?: UnknownNames): CheckpointFile[] {
  requireDirectory(dir, 'listCheckpoints');
  const out: CheckpointFile[] = [];
  for (const name of listNames(dir, CHECKPOINT_DIR)) {
    const id = parseCheckpointFileName(name);
    if (id !== undefined) out.push({ path: `${CHECKPOINT_DIR}/${name}`, lastEntryId: id });
    else if (name !== PENDING_NAME) unknown?.report(`${CHECKPOINT_DIR}/${name}`);
  }
  // Unpadded and padded spellings of one id both parse: order them stably, newest name last.
  out.sort((a, b) => a.lastEntryId - b.lastEntryId || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

export interface LoadedCheckpoint<S> {
  readonly path: string;
  readonly lastEntryId: number;
  readonly state: S;
}

export interface LoadCheckpointResult<S> {
  /** The newest valid checkpoint, or undefined when there is none. */
  readonly checkpoint: LoadedCheckpoint<S> | undefined;
  /** Every newer file passed over as damaged, newest first (names holding no regular file are no checkpoints, and not listed). */
  readonly skipped: readonly SkippedCheckpoint[];
}

export interface LoadCheckpointOptions<S> {
  codec: Codec<S>;
  observer?: CheckpointObserver;
}

/**
 * The newest checkpoint whose bytes verify. Damaged newer files are skipped and reported (in
 * the result, to the observer and as 'checkpoint-damaged' diagnostics); a damaged payload is
 * never decoded. A name that holds no regular file (a directory, FIFO or link planted there) is
 * no checkpoint, as for pruning: passed over with a 'checkpoint-not-a-file' diagnostic and not
 * listed as skipped, since its name claims nothing (recovery would otherwise demand that the WAL
 * reach the id in that name, and fail for a planted name above the log's end). A file with a valid CRC that this reader cannot use (another format version)
 * is a CorruptionError, not a skip: falling back past it would silently roll the state back.
 * A codec that cannot decode a verified payload is a DecodeError (a codec mismatch, not damage).
 */
export function loadLatestCheckpoint<S>(dir: Directory, options: LoadCheckpointOptions<S>): LoadCheckpointResult<S> {
  requireDirectory(dir, 'loadLatestCheckpoint');
  requireOptionsObject(options, 'loadLatestCheckpoint');
  const codec = options.codec;
  requireCodec<S>(codec, 'loadLatestCheckpoint (options.codec)', 'decode');
  const files = listCheckpoints(dir, unknownNamesOf(options));
  const skipped: SkippedCheckpoint[] = [];
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i];
    const read = readCheckpointFile(dir, f.path, f.lastEntryId);
    if (!read.ok) {
      if (!read.damaged) throw new CorruptionError(f.path, read.offset, read.reason);
      if (read.notAFile === true) {
        reportNotAFile(f.path);
        continue;
      }
      const skip: SkippedCheckpoint = { path: f.path, claimedLastEntryId: f.lastEntryId, offset: read.offset, reason: read.reason };
      skipped.push(skip);
      if (channels.diagnostic.hasSubscribers) {
        channels.diagnostic.publish({ kind: 'checkpoint-damaged', message: `skipped damaged checkpoint ${f.path} @ ${read.offset}: ${read.reason}`, path: f.path });
      }
      notifyCheckpoint(options.observer, 'onSkipped', skip);
      continue;
    }
    let state: S;
    try {
      state = codec.decode(read.payload);
    } catch (err) {
      throw new DecodeError(`cannot decode checkpoint ${f.path} with codec ${codec.name}: ${describe(err)}`, { file: f.path }, { cause: err });
    }
    return { checkpoint: { path: f.path, lastEntryId: read.lastEntryId, state }, skipped };
  }
  return { checkpoint: undefined, skipped };
}

export interface WriteCheckpointOptions<S> {
  codec: Codec<S>;
  observer?: CheckpointObserver;
}

/**
 * Encodes `state` (which must reflect exactly the entries up to lastEntryId) and publishes it as
 * the checkpoint for lastEntryId, durably: when this returns, the file and its name are on
 * stable storage. A checkpoint of the same id is replaced atomically.
 */
export function writeCheckpoint<S>(dir: Directory, lastEntryId: number, state: S, options: WriteCheckpointOptions<S>): WrittenCheckpoint {
  requireDirectory(dir, 'writeCheckpoint');
  dir = checkedDirectory(dir);
  requireOptionsObject(options, 'writeCheckpoint');
  refuseWhilePublishing(dir, 'writeCheckpoint');
  const bytes = encodeCheckpointFile(lastEntryId, state, options.codec, dir);
  return publishCheckpointBytes(dir, lastEntryId, bytes, options.observer);
}

/** Encodes without touching the directory (the publisher encodes before it awaits anything). */
export function encodeCheckpointFile<S>(lastEntryId: number, state: S, codec: Codec<S>, dir: Directory): Uint8Array {
  if (codec === undefined || typeof codec.encode !== 'function') throw new InvalidArgumentError('a checkpoint needs a state codec');
  const path = checkpointPath(lastEntryId);
  let payload: unknown;
  try {
    payload = codec.encode(state);
  } catch (err) {
    throw new EncodeError(`codec ${codec.name} could not encode the state for ${path}: ${describe(err)}`, { cause: err });
  }
  if (!(payload instanceof Uint8Array)) throw new EncodeError(`codec ${codec.name} returned ${typeof payload}, not a Uint8Array`);
  return encodeCheckpoint(lastEntryId, payload, dir.checksum);
}

export function publishCheckpointBytes(dir: Directory, lastEntryId: number, bytes: Uint8Array, observer?: CheckpointObserver): WrittenCheckpoint {
  const path = checkpointPath(lastEntryId);
  dir.mkdirp(CHECKPOINT_DIR);
  try {
    dir.atomicWrite(CHECKPOINT_PENDING, bytes);
  } catch (err) {
    throw stagingRefused(dir, err);
  }
  dir.atomicRename(CHECKPOINT_PENDING, path);
  return written(path, lastEntryId, bytes, observer);
}

/**
 * publishCheckpointBytes with its write, fdatasync and directory fsyncs off the event loop where
 * the directory can (lib/directory/off-loop.ts). `makeDir`: false when this caller already made
 * checkpoints/ durable (its mkdirp fsyncs every parent on the calling thread). `beforeRename`
 * may throw to leave the staged file unnamed (the caller's writer closed while it was written).
 */
export async function publishCheckpointBytesAsync(
  dir: Directory, lastEntryId: number, bytes: Uint8Array, observer: CheckpointObserver | undefined, makeDir: boolean,
  beforeRename?: () => void,
): Promise<WrittenCheckpoint> {
  const path = checkpointPath(lastEntryId);
  if (makeDir) dir.mkdirp(CHECKPOINT_DIR);
  try {
    await atomicWriteOffLoop(dir, CHECKPOINT_PENDING, bytes);
  } catch (err) {
    throw stagingRefused(dir, err);
  }
  beforeRename?.();
  await atomicRenameOffLoop(dir, CHECKPOINT_PENDING, path);
  return written(path, lastEntryId, bytes, observer);
}

function written(path: string, lastEntryId: number, bytes: Uint8Array, observer: CheckpointObserver | undefined): WrittenCheckpoint {
  const info: WrittenCheckpoint = { path, lastEntryId, bytes: bytes.length };
  notifyCheckpoint(observer, 'onWritten', info);
  return info;
}

/**
 * The error for a failed write of the staging name: when something other than a regular file sits
 * there (a directory: the rename over it fails, with EISDIR on Linux and EPERM on Windows, so the
 * name is asked rather than the errno read), every checkpoint would fail the same way until it is
 * removed, and the package does not remove what it did not make. Any other failure as it came.
 */
function stagingRefused(dir: Directory, err: unknown): unknown {
  let fileType: string;
  try {
    openReadChecked(dir, CHECKPOINT_PENDING).close();
    return err;
  } catch (held) {
    if (held instanceof NotRegularFileError) fileType = held.fileType;
    else if (held instanceof IoError && held.errno === 'EISDIR') fileType = 'directory';
    else return err;
  }
  const detail = 'it is the staging name of every checkpoint, written there and then renamed to its own name: remove it or move it away, and publish again';
  return new NotRegularFileError(CHECKPOINT_PENDING, fileType, detail, { cause: err });
}

export interface RetentionPlan {
  /** The checkpoints kept, oldest first (at most `retain`). */
  readonly keep: readonly CheckpointFile[];
  /** The files to delete, newest first. */
  readonly remove: readonly CheckpointFile[];
  /** Names that hold no file (a directory planted there): neither kept nor deleted. */
  readonly notFiles: readonly CheckpointFile[];
  /** Files in `unsure` newer than the oldest kept: not counted, not deleted either. */
  readonly unsure: readonly CheckpointFile[];
}

/**
 * Which checkpoint files pruning keeps: the `retain` newest regular files not listed in `exclude`
 * (files known to be damaged). A name holding no regular file is no checkpoint, so it takes no
 * place among those kept: counted, it would let the publisher truncate the WAL back to it,
 * leaving fewer checkpoints to fall back on than `retain` promises.
 */
export function planRetention(dir: Directory, retain: number, exclude?: ReadonlySet<string>, unsure?: ReadonlySet<string>): RetentionPlan {
  if (!Number.isSafeInteger(retain) || retain < 1) throw new InvalidArgumentError(`retain must be an integer ≥ 1, got ${retain}`);
  const files = listCheckpoints(dir);
  const keep: CheckpointFile[] = [];
  const remove: CheckpointFile[] = [];
  const notFiles: CheckpointFile[] = [];
  const unsureKept: CheckpointFile[] = [];
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i];
    if (keep.length >= retain || exclude?.has(f.path) === true) remove.push(f);
    else if (unsure?.has(f.path) === true) unsureKept.push(f);
    else {
      const held = heldAt(dir, f.path);
      if (held === 'file') keep.unshift(f);
      else if (held === 'other') notFiles.push(f);
    }
  }
  return { keep, remove, notFiles, unsure: unsureKept };
}

/**
 * What a listed name holds by the time it is opened: gone is no file to keep or delete (an
 * operator, a tool or the application's own pruning removed it after the listing).
 */
function heldAt(dir: Directory, path: string): 'file' | 'other' | 'gone' {
  try {
    return holdsRegularFile(dir, path) ? 'file' : 'other';
  } catch (err) {
    if (err instanceof NotFoundError) return 'gone';
    throw err;
  }
}

/**
 * Keeps the `retain` newest checkpoint files not listed in `exclude` (files known to be damaged)
 * and deletes every other one, then fsyncs the directory once. Returns the deleted paths.
 * A name that holds a directory is left alone and reported ('checkpoint-not-a-file'
 * diagnostic): it is not this package's to remove, and pruning is housekeeping after a checkpoint
 * was already published, which must not fail for it.
 */
export function pruneCheckpoints(dir: Directory, retain: number, options: PruneOptions = {}): string[] {
  requireDirectory(dir, 'pruneCheckpoints');
  dir = checkedDirectory(dir);
  return runSteps(pruningSteps(dir, retain, options), (step) => (step === SYNC_CHECKPOINT_DIR ? dir.syncDir(CHECKPOINT_DIR) : dir.deleteNoSync(step)));
}

/** pruneCheckpoints with its unlinks and directory fsync off the event loop where the directory can (lib/directory/off-loop.ts). */
export function pruneCheckpointsAsync(dir: Directory, retain: number, options: PruneOptions = {}): Promise<string[]> {
  return runStepsAsync(pruningSteps(dir, retain, options), (step) => (step === SYNC_CHECKPOINT_DIR ? dir.syncDirAsync(CHECKPOINT_DIR) : deleteNoSyncOffLoop(dir, step)));
}

export interface PruneOptions {
  exclude?: ReadonlySet<string>;
  /**
   * Files whose bytes could not be read (an IoError), so neither known good nor known damaged:
   * not counted toward `retain`, and not deleted while newer than the oldest checkpoint kept
   * (a read that fails for a while says nothing about the bytes; deleted, a good fallback is lost).
   */
  unsure?: ReadonlySet<string>;
  observer?: CheckpointObserver;
}

const SYNC_CHECKPOINT_DIR = Symbol('sync checkpoints/');

/**
 * Pruning as steps for a driver to run (lib/directory/step-driver.ts): each file to unlink, then
 * one fsync of checkpoints/ when anything went. Returns the paths deleted.
 */
function* pruningSteps(dir: Directory, retain: number, options: PruneOptions): Generator<string | typeof SYNC_CHECKPOINT_DIR, string[], void> {
  const plan = planRetention(dir, retain, options.exclude, options.unsure);
  const notFiles = [...plan.notFiles];
  const deleted: string[] = [];
  for (const f of plan.remove) {
    try {
      yield f.path;
    } catch (err) {
      // Gone already: the application's own pruneCheckpoints ran between two steps of a
      // checkpoint's pruning (off the event loop), or the other way round. Not ours to report.
      if (err instanceof NotFoundError) continue;
      // unlink(2) of a directory fails with EISDIR on Linux, EPERM on macOS and Windows: ask
      // what the name holds rather than read the errno.
      if (holdsRegularFile(dir, f.path)) throw err;
      notFiles.push(f);
      continue;
    }
    deleted.push(f.path);
  }
  for (const f of notFiles) reportNotAFile(f.path);
  if (deleted.length > 0) {
    yield SYNC_CHECKPOINT_DIR;
    notifyCheckpoint(options.observer, 'onPruned', { paths: deleted });
  }
  return deleted;
}

function reportNotAFile(path: string): void {
  if (channels.diagnostic.hasSubscribers) {
    channels.diagnostic.publish({ kind: 'checkpoint-not-a-file', message: `${path} holds no checkpoint file (a directory, FIFO or link): left in place, not counted as a checkpoint`, path });
  }
}
