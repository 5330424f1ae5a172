import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { BackpressureError, EncodeError } from '../lib/errors';
import { JetStreamForwarder } from '../lib/jetstream/index';
import type { WalObserver } from '../lib/wal/observer';
import { raw, type Codec } from '../lib/wal/codec';
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

  it('maxUnshippedBytes bounds a batch as a whole: a batch that would pass it is refused before any entry is framed', () => {
    const dir = new MemoryDirectory();
    const frame = 100;
    const f = forwarder(dir, 10 * frame);
    const w = WalWriter.create(dir, { codec: raw, observer: f.observer });
    const entry = new Uint8Array(frame - FRAME_HEADER_SIZE);
    w.append(entry);
    assert.throws(() => w.appendBatch(Array.from({ length: 10 }, () => entry)), (e: unknown) => e instanceof BackpressureError && e.unshippedBytes <= 10 * frame);
    assert.equal(w.lastEntryId, 1, 'no entry of the refused batch was framed');
    // What still fits is taken at once, and then nothing more.
    assert.deepEqual(w.appendBatch(Array.from({ length: 8 }, () => entry)), [2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(w.append(entry), 10);
    assert.throws(() => w.append(entry), BackpressureError);
    assert.equal(f.stats().pendingBytes, 10 * frame);
    w.closeSync();
  });

  it('entries admitted for a batch the codec then refused do not count once that call is over', async () => {
    const dir = new MemoryDirectory();
    const frame = 100;
    const f = forwarder(dir, 10 * frame);
    const bytes: Codec<Uint8Array | 'bad'> = {
      name: 'bytes-or-refuse',
      encode: (e) => {
        if (e === 'bad') throw new Error('cannot encode');
        return e;
      },
      decode: (b) => b,
    };
    const w = WalWriter.create(dir, { codec: bytes, observer: f.observer });
    const entry = new Uint8Array(frame - FRAME_HEADER_SIZE);
    assert.throws(() => w.appendBatch([...Array.from({ length: 9 }, () => entry), 'bad']), EncodeError);
    await Promise.resolve();
    assert.deepEqual(w.appendBatch(Array.from({ length: 10 }, () => entry)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    w.closeSync();
  });
});
