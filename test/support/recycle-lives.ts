import type { Directory } from '../../lib/directory/directory';
import { raw } from '../../lib/wal/codec';
import { WalMaintenance } from '../../lib/wal/maintenance';
import { WalWriter } from '../../lib/wal/writer';

/**
 * Two entries of ten bytes (each with its sync mark) fill a segment, so two runs of the same
 * appends lay out every segment alike: same first entry id, same frame offsets.
 */
export const RESTARTED_LOG_OPTIONS = { maxSegmentSize: 32 + 3 * 26, recycleCapacity: 1 };

/**
 * A log's first run: twelve durable entries (payload: ten bytes of 0xA0 + n) in six segments,
 * closed, then segments 1 and 2 truncated to recycle files, which stay in wal/ as leftovers.
 */
export async function firstRunWithLeftovers(dir: Directory): Promise<string[]> {
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, ...RESTARTED_LOG_OPTIONS });
  for (let n = 1; n <= 12; n++) await w.appendDurable(new Uint8Array(10).fill(0xa0 + n));
  await w.close();
  return new WalMaintenance(dir).truncateToRecycle(4);
}
