import { DecodeError } from '../errors';
import { msgpackCodec, type Codec } from './codec';

// A reference entry type for logs that track the segments of a search index: which immutable
// segments are visible, merges in flight, deletes, and checkpoints. Users with other domains
// define their own union and codec; this one shows the shape and is ready to use.

export type SegmentIndexEntry =
  /** A new segment became visible. */
  | { readonly type: 'AddSegment'; readonly segmentId: number; readonly docCount: number }
  /** A merge of these segments started; nothing is visible yet. */
  | { readonly type: 'StartMerge'; readonly transactionId: number; readonly segmentIds: readonly number[] }
  /** A merge was abandoned; the segments stay as they were. */
  | { readonly type: 'CancelMerge'; readonly transactionId: number; readonly segmentIds: readonly number[] }
  /** A merge finished: the new segment replaces the old ones; deletes made meanwhile were remapped into it. */
  | {
      readonly type: 'EndMerge';
      readonly transactionId: number;
      readonly newSegmentId: number;
      readonly oldSegmentIds: readonly number[];
      readonly remappedDeletes: readonly (readonly [segmentId: number, docId: number])[];
    }
  /** Logical deletes of documents in existing segments. */
  | { readonly type: 'DeleteDocuments'; readonly deletes: readonly (readonly [segmentId: number, docId: number])[] }
  /** A checkpoint covering every entry up to lastEntryId was written (the WAL before it may be truncated). */
  | { readonly type: 'Checkpoint'; readonly checkpointPath: string; readonly lastEntryId: number };

export type SegmentIndexEntryType = SegmentIndexEntry['type'];

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIdList = (v: unknown): boolean => Array.isArray(v) && v.every(isId);
const isPairList = (v: unknown): boolean =>
  Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && isId(p[0]) && isId(p[1]));

/** True when `v` has exactly the fields its `type` requires, with the right types. */
export function isSegmentIndexEntry(v: unknown): v is SegmentIndexEntry {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  switch (e.type) {
    case 'AddSegment':
      return isId(e.segmentId) && isId(e.docCount);
    case 'StartMerge':
    case 'CancelMerge':
      return isId(e.transactionId) && isIdList(e.segmentIds);
    case 'EndMerge':
      return isId(e.transactionId) && isId(e.newSegmentId) && isIdList(e.oldSegmentIds) && isPairList(e.remappedDeletes);
    case 'DeleteDocuments':
      return isPairList(e.deletes);
    case 'Checkpoint':
      return typeof e.checkpointPath === 'string' && isId(e.lastEntryId);
    default:
      return false;
  }
}

/** MessagePack codec for SegmentIndexEntry that refuses, on both sides, values that are not one. */
export function segmentIndexCodec(): Codec<SegmentIndexEntry> {
  const inner = msgpackCodec<unknown>();
  return {
    name: 'segment-index',
    encode(entry: SegmentIndexEntry): Uint8Array {
      if (!isSegmentIndexEntry(entry)) throw new TypeError(`not a SegmentIndexEntry: ${JSON.stringify(entry)}`);
      return inner.encode(entry);
    },
    decode(bytes: Uint8Array): SegmentIndexEntry {
      const value = inner.decode(bytes);
      if (!isSegmentIndexEntry(value)) throw new DecodeError('payload is not a SegmentIndexEntry', {});
      return value;
    },
  };
}
