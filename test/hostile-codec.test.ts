// Codecs of the caller's own that misbehave. encode: throws, returns something that is not a
// Uint8Array's bytes (a string, a number, null, a DataView, a Float32Array, a Proxy, a view of a
// detached ArrayBuffer, a subclass whose length lies), returns too many bytes, returns one buffer
// it reuses or mutates after the append returned. decode: throws or returns undefined. An encode
// failure is an EncodeError that appends nothing (of a batch: nothing of it) and leaves the writer
// usable; the log holds the bytes as they were when the append was called, under valid CRCs; a
// decode failure is a DecodeError (never corruption) and makes nothing cut the log.

import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError, DecodeError, EncodeError } from '../lib/errors';
import { recover } from '../lib/recover';
import { json, type Codec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

/** A codec whose encode answers `bad(entry)` for the entry 'bad' and one byte, the entry's length, for any other string. */
function codecReturning(bad: () => unknown): Codec<string> {
  return {
    name: 'hostile',
    encode: (entry: string) => (entry === 'bad' ? bad() : Uint8Array.of(entry.length)) as Uint8Array,
    decode: (bytes: Uint8Array) => Buffer.from(bytes).toString('hex'),
  };
}

const bytesCodec: Codec<string> = { name: 'hex', encode: () => new Uint8Array(0), decode: (b) => Buffer.from(b).toString('hex') };

/** The log's entries as id:hex, read strictly (every frame's CRC checked). */
function logOf(dir: MemoryDirectory): string[] {
  return new WalReader(dir, { codec: bytesCodec }).replaySync({ mode: 'strict' }).map((r) => `${r.entryId}:${r.payload}`);
}

function detachedView(): Uint8Array {
  const buffer = new ArrayBuffer(8);
  const view = new Uint8Array(buffer).fill(7);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

/** Claims `length` bytes while holding three. */
class LyingLength extends Uint8Array {
  constructor(private readonly claimed: number) {
    super([7, 7, 7]);
  }

  override get length(): number {
    return this.claimed;
  }
}

const NOT_BYTES: Record<string, () => unknown> = {
  'a string': () => 'abc',
  'a number': () => 5,
  null: () => null,
  undefined: () => undefined,
  'a DataView': () => new DataView(new ArrayBuffer(4)),
  'a Float32Array': () => new Float32Array(2),
  'a Proxy of a Uint8Array': () => new Proxy(new Uint8Array(3), {}),
  "a detached ArrayBuffer's view": detachedView,
  'a Uint8Array whose length says 1 of its 3 bytes': () => new LyingLength(1),
  'a Uint8Array whose length says 10 of its 3 bytes': () => new LyingLength(10),
  'more bytes than maxPayloadSize': () => new Uint8Array(2000),
  'a throw': () => {
    throw new Error('boom');
  },
  'a throw of null': () => {
    throw null; // eslint-disable-line no-throw-literal
  },
};

const APPENDS: Record<string, (w: WalWriter<string>) => unknown> = {
  append: (w) => w.append('bad'),
  appendDurable: (w) => w.appendDurable('bad'),
  'appendBatchDurable (the bad entry 3rd of 5)': (w) => w.appendBatchDurable(['bb', 'ccc', 'bad', 'dddd', 'eeeee']),
};

describe('a codec that misbehaves', () => {
  for (const [what, bad] of Object.entries(NOT_BYTES)) {
    for (const [call, appendBad] of Object.entries(APPENDS)) {
      it(`encode answering ${what}: ${call} fails with an EncodeError, appends nothing, and the writer goes on`, async () => {
        const dir = new MemoryDirectory();
        const w = WalWriter.open(dir, { codec: codecReturning(bad), maxPayloadSize: 1024 });
        assert.equal(await w.appendDurable('a'), 1);
        await assert.rejects(async () => appendBad(w), (err: unknown) => err instanceof EncodeError && err.code === 'DURABILITY_ENCODE');
        assert.equal(await w.appendDurable('zz'), 2, 'no id was taken');
        await w.close();
        assert.deepEqual(logOf(dir), ['1:01', '2:02']);
      });
    }
  }

  it('a buffer mutated after append, appendDurable and appendBatchDurable returned: the log holds the bytes of the call', async () => {
    const shared = new Uint8Array(3);
    const dir = new MemoryDirectory();
    const w = WalWriter.open(dir, { codec: { name: 'shared', encode: (n: number) => shared.fill(n), decode: (b): number => b[0] } });
    w.append(1);
    shared.fill(0xee);
    const durable = w.appendDurable(2);
    shared.fill(0xee);
    await durable;
    const batch = w.appendBatchDurable([3, 4]);
    shared.fill(0xee);
    await batch;
    shared.fill(0xee);
    await w.close();
    assert.deepEqual(logOf(dir), ['1:010101', '2:020202', '3:030303', '4:040404']);
  });

  it('bytes from the Buffer pool and views of a SharedArrayBuffer are appended as they were', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(16), 4, 4).fill(9);
    const dir = new MemoryDirectory();
    const w = WalWriter.open(dir, { codec: { name: 'mixed', encode: (e: string) => (e === 'pool' ? Buffer.from('hi') : shared), decode: (b) => Buffer.from(b).toString('hex') } });
    await w.appendBatchDurable(['pool', 'shared', 'pool']);
    shared.fill(1);
    await w.close();
    assert.deepEqual(logOf(dir), ['1:6869', '2:09090909', '3:6869']);
  });

  for (const [what, decode] of Object.entries({
    throws: (bytes: Uint8Array) => {
      if (bytes[0] === 30) throw new Error('cannot');
      return bytes[0];
    },
    'returns undefined': (bytes: Uint8Array) => (bytes[0] === 30 ? undefined : bytes[0]),
  })) {
    it(`decode that ${what} for one entry: never a CorruptionError, and nothing is cut`, async () => {
      const dir = new MemoryDirectory();
      const w = WalWriter.open(dir, { codec: json, maxSegmentSize: 1024 });
      for (let i = 1; i <= 40; i++) w.append(i);
      w.closeSync();
      const codec: Codec<unknown> = { name: 'picky', encode: json.encode, decode: (b) => decode(json.decode(b) === 30 ? Uint8Array.of(30) : Uint8Array.of(1)) };
      const outcomes: unknown[] = [];
      const settle = async (f: () => unknown): Promise<void> => {
        try {
          outcomes.push(await f());
        } catch (err) {
          outcomes.push(err);
        }
      };
      const reader = new WalReader(dir, { codec });
      await settle(() => reader.replaySync({ mode: 'bestEffortTail' }).length);
      await settle(async () => {
        let n = 0;
        for await (const _ of reader.records()) n++;
        return n;
      });
      await settle(async () => (await recover<number, unknown>({ dir, codec, stateCodec: json as Codec<number>, initial: 0, apply: (s) => s + 1 })).replayed);
      await settle(async () => {
        const stop = new AbortController();
        let n = 0;
        for await (const r of reader.follow({ signal: stop.signal, maxPollIntervalMs: 1 })) if (++n === 40 || r.entryId === 40) stop.abort();
        return n;
      });
      for (const o of outcomes) {
        assert.ok(!(o instanceof CorruptionError), String(o));
        if (what === 'throws') assert.ok(o instanceof DecodeError && o.entryId === 30, String(o));
        else assert.equal(o, 40);
      }
      const again = WalWriter.open(dir, { codec: json });
      assert.equal(again.lastEntryId, 40, 'nothing was cut');
      again.closeSync();
    });
  }
});
