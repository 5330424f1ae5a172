// An idle writer's sync mark is optional (not synced, nobody waits on it): on a disk with no room
// for it, it is left out with one diagnostic and the writer goes on (idle-mark-no-room.test.ts).
// In a recycled file, the synchronous mode first writes zeros over the earlier life ahead of it
// (rule C); on a file system that allocates on overwrite (copy-on-write) a full disk fails that
// write too, and the idle mark poisoned the writer: every later call threw, though nothing a
// caller was promised had failed.
import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { withDiagnostics } from './support/diagnostics';
import { overriding, wrappingFiles } from './support/overriding';

const SEGMENT = 64 * 1024;
/** End of the page of zeros behind a recycled file's new header (segment-create.ts). */
const ZEROED = 32 + 4096;

/** `inner`, whose next write of zeros alone, once armed, finds no room (a full copy-on-write disk). */
function noRoomForZeros(inner: Directory): { dir: Directory; arm(): void } {
  let armed = false;
  const dir = wrappingFiles(inner, (file) => overriding(file, {
    writeAt: (data: Uint8Array, position: number) => {
      if (armed && data.length > 0 && data.every((b) => b === 0)) {
        armed = false;
        throw new IoError('ENOSPC', 'pwrite', 'wal');
      }
      return file.writeAt(data, position);
    },
  }));
  return { dir, arm: () => void (armed = true) };
}

describe('an idle mark in a recycled file whose zeros ahead find no room', () => {
  it('is left out with one diagnostic, the writer not poisoned, and the log reads whole', async () => {
    const inner = new MemoryDirectory();
    const { dir, arm } = noRoomForZeros(inner);
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, idleMarkMs: 0 });
    const markWhileIdle = (): void => (w as unknown as { markWhileIdle(): void }).markWhileIdle();
    while (w.currentSegmentId < 4) {
      w.append(new Uint8Array(1000).fill(1));
      w.syncSync();
    }
    const m = new WalMaintenance(inner);
    w.recycle(m.truncateToRecycle(m.segmentRanges()[1].lastEntryId));
    while (w.currentSegmentId < 5) {
      w.append(new Uint8Array(100).fill(2));
      w.syncSync();
    }
    // One entry (a mark and a frame: 24 + 16 + n bytes) that ends 28 bytes before the zeros end: its
    // write needs no zeros ahead, the idle mark after it (24 bytes, then 16 of zeros) does.
    const n = ZEROED - 28 - w.currentSegmentBytes - 24 - 16;
    assert.ok(n >= 0, `segment 5 holds ${w.currentSegmentBytes} bytes`);
    w.append(new Uint8Array(n).fill(3));
    w.syncSync();
    assert.equal(w.currentSegmentBytes, ZEROED - 28);
    const published = await withDiagnostics((events) => {
      arm();
      markWhileIdle();
      return events.map((e) => e.kind);
    });
    assert.equal(w.poisoned, false, String(w.poisonCause));
    assert.deepEqual(published, ['idle-mark-skipped']);
    const last = await w.appendDurable(new Uint8Array(10).fill(4));
    await w.close();
    const read = await new WalReader(inner, { codec: raw }).replay({ mode: 'strict' });
    assert.equal(read.at(-1)?.entryId, last);
  });
});
