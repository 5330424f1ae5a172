import assert from 'node:assert/strict';
import type { SimulatedDirectory } from '../../lib/directory/simulated';
import { IoError } from '../../lib/errors';
import type { WalWriterOptions } from '../../lib/wal/options';
import { WalWriter } from '../../lib/wal/writer';

/**
 * Fails the writer's next fdatasync (it is poisoned and cuts its file back to what was synced)
 * and opens a new writer on the log, which gives the cut entries' ids to new entries.
 */
export function failSyncAndReopen<E>(dir: SimulatedDirectory, writer: WalWriter<E>, options: WalWriterOptions<E>): WalWriter<E> {
  dir.injectFault({ op: 'sync', error: 'EIO' });
  assert.throws(() => writer.syncSync(), IoError);
  try {
    writer.closeSync();
  } catch {
    // poisoned: close reports the cause
  }
  return WalWriter.open(dir, options);
}
