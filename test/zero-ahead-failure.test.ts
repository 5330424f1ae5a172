// A group commit whose segment file cannot be asked its size as it starts (fstat failing: EIO on
// a network or failing disk; here the simulated power cut, after which every operation fails).
// The zeros kept ahead of the log ask it right behind the batch's own commit; a throw there
// escaped the queue's kick as an unhandled rejection, which ends a Node process.
import assert from 'node:assert/strict';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

describe('a commit that cannot read its segment file\'s size', () => {
  it('rejects the callers with the cause and poisons the writer, with no unhandled rejection', async () => {
    const dir = new SimulatedDirectory({ seed: 3 });
    const first = WalWriter.create(dir, { codec: raw });
    first.append(text('kept'));
    first.closeSync();
    // A resumed segment's size is read when its first commit starts (to know where zeros end).
    const w = WalWriter.open(dir, { codec: raw });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      dir.crash(); // every operation on the powered-off directory fails with EIO, fstat included
      await assert.rejects(w.appendDurable(text('lost')), IoError);
      // An unhandled rejection is reported after the microtasks of the turn it happened in.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      assert.equal(w.poisoned, true);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
