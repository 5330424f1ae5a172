import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { JetStreamForwarder } from '../lib/jetstream/index';
import type { WalObserver } from '../lib/wal/observer';
import { raw } from '../lib/wal/codec';
import { FRAME_HEADER_SIZE } from '../lib/wal/format';
import { WalWriter } from '../lib/wal/writer';

// The forwarder's WalObserver against a real writer, no server: what it counts as unshipped and
// what it refuses. (A forwarder that was never started ships nothing, so every entry stays pending.)

const forwarder = (dir: MemoryDirectory, maxUnshippedBytes?: number): JetStreamForwarder =>
  new JetStreamForwarder({ dir, servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's', maxUnshippedBytes });

describe('JetStream forwarder observer on a writer', () => {
  it('counts every entry once when a hook appends while the writer delivers a batch\'s events', () => {
    const dir = new MemoryDirectory();
    const f = forwarder(dir);
    let hooked = false;
    // Calling the forwarder's hooks from one's own, as docs/API.md offers, and appending from onAppend.
    const observer: WalObserver = {
      ...f.observer,
      onAppend(id, frameBytes) {
        f.observer.onAppend?.(id, frameBytes);
        if (hooked) return;
        hooked = true;
        w.append(new Uint8Array(10));
      },
    };
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, { codec: raw, observer });
    assert.deepEqual(w.appendBatch([new Uint8Array(10), new Uint8Array(10)]), [1, 2]);
    assert.deepEqual([f.stats().lastEntryId, f.stats().pendingBytes], [3, 3 * (FRAME_HEADER_SIZE + 10)]);
    w.closeSync();
  });
});
