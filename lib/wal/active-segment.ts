import type { Checksummer } from '../backend/backend';
import { diagnoseOnce } from '../diagnostics';
import type { Directory, WritableFile } from '../directory/directory';
import { encodeSegmentHeader, SEGMENT_HEADER_SIZE, segmentPath } from './format';

// The segment the writer appends to. Writes are positioned (writeAt at our own `position`), not
// at the file's append offset: a recycled file is longer than what we have written into it, and
// new frames must overwrite its stale tail from byte 32 on.
export class ActiveSegment {
  readonly segmentId: number;
  readonly path: string;
  readonly salt: number;
  readonly firstEntryId: number;
  /** W of this segment's header: resumed segments keep the window they were created with. */
  readonly syncWindow: number;
  readonly createdAt: number;
  /** End of the bytes handed to the OS. */
  position: number;
  /** End of the bytes known to be on stable storage. */
  synced: number;
  /** Frames in the segment, written or still buffered. */
  frameCount: number;

  private readonly file: WritableFile;
  private asyncSyncs = 0;
  private closeWhenIdle = false;
  private closed = false;

  constructor(fields: {
    segmentId: number; path: string; salt: number; firstEntryId: number; syncWindow: number; createdAt: number;
    file: WritableFile; position: number; synced: number; frameCount: number;
  }) {
    this.segmentId = fields.segmentId;
    this.path = fields.path;
    this.salt = fields.salt;
    this.firstEntryId = fields.firstEntryId;
    this.syncWindow = fields.syncWindow;
    this.createdAt = fields.createdAt;
    this.file = fields.file;
    this.position = fields.position;
    this.synced = fields.synced;
    this.frameCount = fields.frameCount;
  }

  write(bytes: Uint8Array): void {
    this.file.writeAt(bytes, this.position);
    this.position += bytes.length;
  }

  /** Cuts preallocated space or a recycled file's stale tail; returns whether the size changed. */
  trim(): boolean {
    if (this.file.size() <= this.position) return false;
    this.file.truncate(this.position);
    return true;
  }

  syncNow(): void {
    const upTo = this.position;
    this.file.sync();
    if (upTo > this.synced) this.synced = upTo;
  }

  async syncAsync(): Promise<void> {
    const upTo = this.position;
    this.asyncSyncs++;
    try {
      await this.file.syncAsync();
      if (upTo > this.synced) this.synced = upTo;
    } finally {
      this.asyncSyncs--;
      if (this.asyncSyncs === 0 && this.closeWhenIdle) this.closeFile();
    }
  }

  /** Closes the descriptor, or defers that until no fdatasync runs on it off-thread. */
  close(): void {
    if (this.asyncSyncs > 0) this.closeWhenIdle = true;
    else this.closeFile();
  }

  private closeFile(): void {
    if (this.closed) return;
    this.closed = true;
    this.file.close();
  }
}

export interface NewSegment {
  segmentId: number;
  firstEntryId: number;
  syncWindow: number;
  createdAt: number;
  /** Bytes to reserve with fallocate (0: none). */
  preallocate: number;
}

/**
 * Creates a fresh segment file: header written and fdatasynced, so the segment's first entry id is
 * on disk before anything can depend on it. The directory entry still needs syncDir('wal').
 * `preallocationFailed`: the file system cannot reserve space (one diagnostic is published).
 */
export function createSegment(dir: Directory, spec: NewSegment, checksum: Checksummer): { segment: ActiveSegment; preallocationFailed: boolean } {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const file = dir.create(path);
  let preallocationFailed = false;
  try {
    file.writeAt(bytes, 0);
    if (spec.preallocate > SEGMENT_HEADER_SIZE && !file.allocate(spec.preallocate)) {
      preallocationFailed = true;
      diagnoseOnce(
        { kind: 'fallocate-unsupported', message: 'WAL segments are not preallocated: this directory cannot reserve space', path },
        dir.kind,
      );
    }
    file.sync();
  } catch (err) {
    file.close();
    throw err;
  }
  return { segment: segmentFor(spec, path, header.salt, file), preallocationFailed };
}

/**
 * Turns a recycled file into segment `spec.segmentId`: the new header (new salt, so the old
 * frames behind it can never validate) is written and fdatasynced while the file still has its
 * recycle name, and only then is it renamed into place (rename + directory fsync). A crash at any
 * point leaves either a recycle file the reader ignores or a segment with a valid header.
 */
export function reuseSegment(dir: Directory, recyclePath: string, spec: NewSegment, checksum: Checksummer): ActiveSegment {
  const path = segmentPath(spec.segmentId);
  const { bytes, header } = encodeSegmentHeader(spec, checksum);
  const staged = dir.openAppend(recyclePath);
  try {
    staged.writeAt(bytes, 0);
    staged.sync();
  } finally {
    staged.close();
  }
  dir.atomicRename(recyclePath, path);
  return segmentFor(spec, path, header.salt, dir.openAppend(path));
}

function segmentFor(spec: NewSegment, path: string, salt: number, file: WritableFile): ActiveSegment {
  return new ActiveSegment({
    segmentId: spec.segmentId, path, salt, firstEntryId: spec.firstEntryId, syncWindow: spec.syncWindow,
    createdAt: spec.createdAt, file, position: SEGMENT_HEADER_SIZE, synced: SEGMENT_HEADER_SIZE, frameCount: 0,
  });
}
