import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { json, raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

// WalObserver.admit: asked before an entry takes an id; throwing refuses the append (the
// forwarder's back-pressure and payload checks rely on it) and leaves the log untouched.

class Refused extends Error {}

describe('WalObserver.admit', () => {
  it('refuses append, appendBatch (all or nothing) and appendDurable; ids are not consumed', async () => {
    const dir = new MemoryDirectory();
    const seen: number[] = [];
    let limit = 20;
    const writer = WalWriter.open(dir, { codec: raw, observer: { admit: (bytes) => { seen.push(bytes); if (bytes > limit) throw new Refused(); } } });
    assert.equal(writer.append(new Uint8Array(4)), 1);
    assert.deepEqual(seen, [20], 'frame bytes: 16-byte header + payload');
    assert.throws(() => writer.append(new Uint8Array(5)), Refused);
    assert.throws(() => writer.appendBatch([new Uint8Array(1), new Uint8Array(9)]), Refused);
    await assert.rejects(writer.appendDurable(new Uint8Array(8)), Refused);
    assert.equal(writer.lastEntryId, 1);
    limit = 100;
    assert.deepEqual(await writer.appendBatchDurable([new Uint8Array(1), new Uint8Array(9)]), [2, 3]);
    await writer.close();
    const log = new WalReader(dir, { codec: raw }).replaySync();
    assert.deepEqual(log.map((r) => [r.entryId, r.payload.length]), [[1, 4], [2, 1], [3, 9]]);
  });

  it('an admit hook that encodes with the same codec leaves the entry being appended as it was', async () => {
    // json encodes into one buffer it reuses: the hook's encode must not reach the bytes the writer is about to frame.
    const dir = new MemoryDirectory();
    const other = new MemoryDirectory();
    const side = WalWriter.open(other, { codec: json });
    const writer = WalWriter.open(dir, { codec: json, observer: { admit: () => void side.append({ noise: 'x'.repeat(40) }) } });
    writer.append({ n: 1 });
    writer.appendBatch([{ n: 2 }, { n: 3 }]);
    await writer.appendDurable({ n: 4 });
    await writer.close();
    await side.close();
    assert.deepEqual(new WalReader(dir, { codec: json }).replaySync().map((r) => r.payload), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });
});
