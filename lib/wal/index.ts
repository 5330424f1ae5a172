// The write-ahead log: writer, reader, maintenance, codecs and the format constants users may need.
export { json, jsonCodec, msgpack, msgpackCodec, raw, type Codec } from './codec';
export { DEFAULT_FLUSH_POLICY, type FlushPolicy } from './flush-policy';
export {
  DEFAULT_SYNC_WINDOW, FORMAT_VERSION, FRAME_HEADER_SIZE, LOCK_FILE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR,
  segmentFileName, segmentPath, parseSegmentFileName,
} from './format';
export { WalMaintenance, type SegmentRange, type TruncateOptions, type TruncateResult } from './maintenance';
export type { WalObserver } from './observer';
export { DEFAULT_BUFFER_SIZE, DEFAULT_MAX_SEGMENT_SIZE, type WalWriterOptions } from './options';
export { CohortMerge, type CohortPolicy } from './cohort-merge';
export { isSegmentIndexEntry, segmentIndexCodec, type SegmentIndexEntry, type SegmentIndexEntryType } from './segment-index';
export { WalWriter } from './writer';
export * from './reader';
export { LockedError as WalLockedError, PoisonedError as WalPoisonedError } from '../errors';
