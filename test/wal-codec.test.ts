import assert from 'node:assert/strict';
import { DecodeError } from '../lib/errors';
import { json, jsonCodec, msgpack, msgpackCodec, raw } from '../lib/wal/codec';
import { isSegmentIndexEntry, segmentIndexCodec, type SegmentIndexEntry } from '../lib/wal/segment-index';

describe('WAL codecs', () => {
  const values: unknown[] = [null, true, 0, -1.5, 2 ** 53 - 1, 'héllo ☃', [1, [2, [3]]], { a: { b: [null, 'x'] } }];

  it('json round-trips JSON values as UTF-8 text', () => {
    for (const v of values) assert.deepEqual(json.decode(json.encode(v)), v);
    assert.equal(new TextDecoder().decode(json.encode({ k: 'v' })), '{"k":"v"}');
  });

  it('json refuses values it cannot express, and bytes that are not UTF-8 JSON', () => {
    assert.throws(() => json.encode(undefined), TypeError);
    assert.throws(() => json.encode(() => 1), TypeError);
    assert.throws(() => json.encode(1n), TypeError);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    assert.throws(() => json.encode(cyclic), TypeError);
    assert.throws(() => json.decode(new Uint8Array([0xff, 0xfe])), TypeError);
    assert.throws(() => json.decode(new TextEncoder().encode('{')), SyntaxError);
  });

  it('msgpack round-trips values, byte arrays and Maps-as-objects in the standard map form', () => {
    for (const v of values) assert.deepEqual(msgpack.decode(msgpack.encode(v)), v);
    const bytes = new Uint8Array([1, 2, 3]);
    assert.deepEqual(msgpack.decode(msgpack.encode({ bytes })), { bytes: Buffer.from(bytes) });
    // fixmap with one entry: no record extension, so any MessagePack decoder reads it.
    assert.equal(msgpack.encode({ a: 1 })[0], 0x81);
  });

  it('msgpack decode copies binary fields out of the (reused) input view', () => {
    const codec = msgpackCodec<{ bytes: Uint8Array }>();
    const encoded = codec.encode({ bytes: new Uint8Array([9, 9]) });
    const view = new Uint8Array(encoded);
    const decoded = codec.decode(view);
    view.fill(0);
    assert.deepEqual([...decoded.bytes], [9, 9]);
  });

  it('raw decodes of a reused view stay independent, small (pooled) and large alike', () => {
    const view = new Uint8Array(8192);
    const kept: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) {
      const n = i % 7 === 0 ? 5000 : i % 300;
      view.fill(i & 0xff, 0, n);
      kept.push(raw.decode(view.subarray(0, n)));
      view.fill(0xee);
    }
    kept.forEach((b, i) => {
      assert.equal(b.length, i % 7 === 0 ? 5000 : i % 300);
      assert.ok(b.every((x) => x === (i & 0xff)), `payload ${i} changed`);
    });
  });

  it('raw passes bytes through on encode and copies on decode', () => {
    const b = new Uint8Array([1, 2, 3]);
    assert.equal(raw.encode(b), b);
    const out = raw.decode(b);
    assert.deepEqual(out, b);
    b[0] = 7;
    assert.equal(out[0], 1);
    assert.throws(() => raw.encode('text' as unknown as Uint8Array), TypeError);
  });

  it('jsonCodec and msgpackCodec are typed views of the same codecs', () => {
    const c = jsonCodec<{ id: number }>();
    assert.deepEqual(c.decode(c.encode({ id: 3 })), { id: 3 });
    assert.equal(c.name, 'json');
    assert.equal(msgpackCodec().name, 'msgpack');
  });

  it('segmentIndexCodec accepts exactly the SegmentIndexEntry shapes', () => {
    const codec = segmentIndexCodec();
    const good: SegmentIndexEntry[] = [
      { type: 'AddSegment', segmentId: 1, docCount: 0 },
      { type: 'CancelMerge', transactionId: 2, segmentIds: [] },
      { type: 'DeleteDocuments', deletes: [[1, 2]] },
    ];
    for (const e of good) assert.deepEqual(codec.decode(codec.encode(e)), e);
    const bad = [{ type: 'AddSegment', segmentId: -1, docCount: 0 }, { type: 'Nope' }, { type: 'DeleteDocuments', deletes: [[1]] }, null];
    for (const b of bad) {
      assert.equal(isSegmentIndexEntry(b), false);
      assert.throws(() => codec.encode(b as SegmentIndexEntry), TypeError);
      assert.throws(() => codec.decode(msgpack.encode(b)), DecodeError);
    }
  });
});
