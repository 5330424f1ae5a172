// A plain append-only log of framed, CRC'd records in one file (no entry ids).
export { DEFAULT_RECORD_SYNC_WINDOW, MAX_RECORD_SIZE, RECORD_LOG_HEADER_SIZE } from './format';
export { forEachRecord, readRecordLog, type RecordLogContents, type RecordLogReadOptions } from './reader';
export type { RecordLogMode, RecordLogScan } from './scan';
export { RecordLogWriter, type RecordLogWriterOptions } from './writer';
