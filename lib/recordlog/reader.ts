// Reading a record log: strict (any torn or damaged byte is a CorruptionError) or bestEffort
// (a torn write at the end, from a crash mid-append, ends the log; damage is still an error).

import type { Directory } from '../directory/directory';
import { DecodeError, describe } from '../errors';
import { requireCodec, requireDirectory, requireOptionsObject } from '../guards';
import { raw, type Codec } from '../wal/codec';
import { RecordLogScanner, type RecordLogMode, type RecordLogScan } from './scan';

export interface RecordLogReadOptions<R> {
  /** Default: raw (records are Uint8Arrays, copied). */
  codec?: Codec<R>;
  /** Default 'strict'. */
  mode?: RecordLogMode;
  maxRecordSize?: number;
}

export interface RecordLogContents<R> {
  readonly records: R[];
  readonly scan: RecordLogScan;
}

/** Every record of the log, decoded, with how the file ended. */
export function readRecordLog<R = Uint8Array>(dir: Directory, path: string, options: RecordLogReadOptions<R> = {}): RecordLogContents<R> {
  const records: R[] = [];
  const scan = forEachRecord(dir, path, options, (r) => {
    records.push(r);
  });
  return { records, scan };
}

/** Streams the records to `visit` one at a time (memory bounded by the largest record). */
export function forEachRecord<R = Uint8Array>(
  dir: Directory, path: string, options: RecordLogReadOptions<R>, visit: (record: R, index: number) => void,
): RecordLogScan {
  requireDirectory(dir, 'reading a record log');
  requireOptionsObject(options, 'reading a record log');
  const codec = (options.codec ?? raw) as Codec<R>;
  requireCodec<R>(codec, 'reading a record log (options.codec)', 'decode');
  const scanner = new RecordLogScanner(dir, path, { mode: options.mode ?? 'strict', maxRecordSize: options.maxRecordSize });
  try {
    let i = 0;
    while (scanner.next()) {
      let record: R;
      try {
        record = codec.decode(scanner.payload());
      } catch (err) {
        throw new DecodeError(`cannot decode record ${i} of ${path} with codec ${codec.name}: ${describe(err)}`, { file: path }, { cause: err });
      }
      visit(record, i++);
    }
    return scanner.result();
  } finally {
    scanner.close();
  }
}
