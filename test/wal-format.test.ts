import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Checksummer } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError, InvalidArgumentError } from '../lib/errors';
import {
  FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, decodeSegmentHeader, encodeFrame, encodeSegmentHeader,
  maskCrc, parseSegmentFileName, readU32, sealFrames, segmentFileName, segmentPath, unmaskCrc, writeFrameUnsealed,
} from '../lib/wal/format';
import { scanSegment, type SegmentScan } from '../lib/wal/segment-scan';
import { referenceCrc32c } from './crc32c-oracle';
import { parseHex, writeSegmentFile } from './vectors/build';
import { vectorCases, type Outcome } from './vectors/cases';

const VECTORS = path.resolve(__dirname, '..', '..', 'test', 'vectors');


const reference: Checksummer = {
  name: 'ts',
  crc32c: referenceCrc32c,
  crc32cRanges(data, ranges, count, out, seed) {
    for (let i = 0; i < count; i++) out[i] = referenceCrc32c(data.subarray(ranges[2 * i], ranges[2 * i] + ranges[2 * i + 1]), seed);
  },
};

/** Wraps a checksummer and counts calls, to check the batching contract. */
function counting(inner: Checksummer): Checksummer & { single: number; batches: number } {
  const c = {
    name: inner.name, single: 0, batches: 0,
    crc32c(data: Uint8Array, crc?: number) { c.single++; return inner.crc32c(data, crc); },
    crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number) {
      c.batches++;
      inner.crc32cRanges(data, ranges, count, out, seed);
    },
  };
  return c;
}

function corruption(fn: () => unknown, offset: number, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CorruptionError, `expected CorruptionError, got ${String(err)}`);
    assert.equal(err.offset, offset, err.message);
    assert.match(err.reason, reason);
    return true;
  });
}

describe('wal format: masking and names', () => {
  it('masks as LevelDB does and unmasks back', () => {
    assert.equal(maskCrc(0), 0xa282ead8);
    assert.equal(referenceCrc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    for (const v of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xe3069283, 0x12345678]) {
      const m = maskCrc(v);
      assert.ok(m >= 0 && m <= 0xffffffff);
      assert.equal(unmaskCrc(m), v);
    }
    assert.notEqual(maskCrc(0x12345678), 0x12345678);
  });

  it('names segments with 20 zero-padded digits and parses padded or unpadded names', () => {
    assert.equal(segmentFileName(1), '00000000000000000001.wal');
    assert.equal(segmentPath(42), 'wal/00000000000000000042.wal');
    assert.equal(segmentFileName(Number.MAX_SAFE_INTEGER), '00009007199254740991.wal');
    assert.equal(parseSegmentFileName('00000000000000000001.wal'), 1);
    assert.equal(parseSegmentFileName('9.wal'), 9);
    assert.equal(parseSegmentFileName('10.wal'), 10);
    for (const bad of ['0.wal', 'x.wal', '1.WAL', '1.wal.tmp', '-1.wal', '1e3.wal', '.wal', '9007199254740992.wal', '123456789012345678901.wal', 'LOCK']) {
      assert.equal(parseSegmentFileName(bad), undefined, bad);
    }
    assert.throws(() => segmentFileName(0), InvalidArgumentError);
    assert.throws(() => segmentFileName(2 ** 53), InvalidArgumentError);
  });
});

describe('wal format: segment header', () => {
  const fields = { segmentId: 3, firstEntryId: 2 ** 53 - 1, syncWindow: 0xffffffff };

  it('round-trips, including ids up to 2^53-1, and its salt is the unmasked CRC', () => {
    const { bytes, header } = encodeSegmentHeader(fields, reference);
    assert.equal(bytes.length, SEGMENT_HEADER_SIZE);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x44, 0x57, 0x41, 0x4c, 2, 0, 0, 0]);
    assert.equal(header.salt, referenceCrc32c(bytes.subarray(0, 28)));
    assert.equal(readU32(bytes, 28), maskCrc(header.salt));
    assert.deepEqual(decodeSegmentHeader(bytes, 'f', reference, 3), header);
  });

  it('refuses bad field values when encoding', () => {
    assert.throws(() => encodeSegmentHeader({ ...fields, segmentId: 0 }, reference), InvalidArgumentError);
    assert.throws(() => encodeSegmentHeader({ ...fields, firstEntryId: 2 ** 53 }, reference), InvalidArgumentError);
    assert.throws(() => encodeSegmentHeader({ ...fields, syncWindow: 0 }, reference), InvalidArgumentError);
  });

  it('reports each kind of bad header with file, offset and reason', () => {
    const good = encodeSegmentHeader(fields, reference).bytes;
    const resealed = (edit: (b: Uint8Array) => void): Uint8Array => {
      const b = good.slice();
      edit(b);
      // Little-endian whatever the host's byte order (docs/FORMAT.md; s390x is big-endian).
      new DataView(b.buffer, b.byteOffset).setUint32(28, maskCrc(referenceCrc32c(b.subarray(0, 28))), true);
      return b;
    };
    corruption(() => decodeSegmentHeader(good.subarray(0, 31), 'f', reference), 31, /truncated/);
    corruption(() => decodeSegmentHeader(resealed((b) => { b[0] = 0x45; }), 'f', reference), 0, /magic/);
    const flipped = good.slice();
    flipped[12] ^= 0x10;
    corruption(() => decodeSegmentHeader(flipped, 'f', reference), 28, /CRC mismatch/);
    corruption(() => decodeSegmentHeader(resealed((b) => { b[4] = 3; }), 'f', reference), 4, /unsupported format version 3/);
    assert.equal(decodeSegmentHeader(resealed((b) => { b[4] = 1; }), 'f', reference).version, 1, 'v1 headers still read');
    corruption(() => decodeSegmentHeader(resealed((b) => { b[6] = 2; }), 'f', reference), 6, /flags/);
    corruption(() => decodeSegmentHeader(good, 'f', reference, 4), 8, /segment id mismatch/);
    assert.throws(() => decodeSegmentHeader(flipped, 'wal/x.wal', reference), (e: unknown) => e instanceof CorruptionError && e.file === 'wal/x.wal');
  });
});

describe('wal format: frames', () => {
  it('seals a batch with one crc32cRanges call and matches encodeFrame and the reference CRC', () => {
    for (const backend of [...availableBackends(), reference]) {
      const salt = 0xdeadbeef;
      const payloads = [new Uint8Array(0), new TextEncoder().encode('abc'), new Uint8Array(300).fill(7)];
      const ids = [1, 2 ** 32 + 5, 2 ** 53 - 1];
      const buf = new Uint8Array(payloads.reduce((n, p) => n + FRAME_HEADER_SIZE + p.length, 0));
      const offsets = new Uint32Array(3);
      let off = 0;
      payloads.forEach((p, i) => {
        offsets[i] = off;
        off = writeFrameUnsealed(buf, off, ids[i], p);
      });
      assert.equal(off, buf.length);
      const c = counting(backend);
      sealFrames(buf, offsets, 3, salt, c);
      assert.deepEqual([c.single, c.batches], [0, 1], backend.name);
      payloads.forEach((p, i) => {
        const frame = buf.subarray(offsets[i], offsets[i] + FRAME_HEADER_SIZE + p.length);
        assert.deepEqual(frame, encodeFrame(ids[i], p, salt, backend));
        assert.equal(readU32(frame, 0), maskCrc(referenceCrc32c(frame.subarray(4), salt)));
        assert.equal(readU32(frame, 4), p.length);
        assert.equal(readU32(frame, 8), ids[i] >>> 0);
        assert.equal(readU32(frame, 12), Math.floor(ids[i] / 2 ** 32));
      });
    }
  });

  it('refuses entry ids outside 1..2^53-1 and payloads over the maximum', () => {
    const buf = new Uint8Array(64);
    assert.throws(() => writeFrameUnsealed(buf, 0, 0, new Uint8Array(1)), InvalidArgumentError);
    assert.throws(() => writeFrameUnsealed(buf, 0, 2 ** 53, new Uint8Array(1)), InvalidArgumentError);
    const huge = { length: MAX_PAYLOAD_SIZE + 1 } as Uint8Array; // checked before any byte is touched
    assert.throws(() => writeFrameUnsealed(buf, 0, 1, huge), InvalidArgumentError);
  });
});

interface VectorIndexEntry {
  file: string;
  segmentId: number;
  size: number;
  entries: { entryId: number; payloadHex: string }[];
  strict: Outcome;
  bestEffortTail: Outcome;
}

describe('wal format: committed vectors', () => {
  const index = JSON.parse(readFileSync(path.join(VECTORS, 'vectors.json'), 'utf8')) as Record<string, VectorIndexEntry>;
  const committed = (name: string): Uint8Array => parseHex(readFileSync(path.join(VECTORS, index[name].file), 'utf8'));

  it('lists every case and nothing else', () => {
    assert.deepEqual(Object.keys(index).sort(), vectorCases(reference).map((c) => c.name).sort());
  });

  it('the reference CRC agrees with the vectors\' header and frame CRCs', () => {
    const b = committed('segment-basic');
    const salt = referenceCrc32c(b.subarray(0, 28));
    assert.equal(readU32(b, 28), maskCrc(salt));
    // frames at 32 ("hello"), 53 (empty), 69 (32 bytes)
    for (const [at, len] of [[32, 5], [53, 0], [69, 32]]) {
      assert.equal(readU32(b, at + 4), len);
      assert.equal(readU32(b, at), maskCrc(referenceCrc32c(b.subarray(at + 4, at + 16 + len), salt)));
    }
  });

  for (const backend of availableBackends()) {
    it(`encoding with the ${backend.name} checksum reproduces every vector byte for byte`, () => {
      for (const c of vectorCases(backend)) {
        assert.equal(c.bytes.length, index[c.name].size, c.name);
        assert.deepEqual(Buffer.from(c.bytes).toString('hex'), Buffer.from(committed(c.name)).toString('hex'), c.name);
      }
    });

    it(`decoding every vector with the ${backend.name} checksum gives the stated entries and tail`, () => {
      for (const [name, v] of Object.entries(index)) {
        for (const mode of ['strict', 'bestEffortTail'] as const) {
          const dir = new MemoryDirectory({ checksum: backend });
          const segPath = writeSegmentFile(dir, v.segmentId, committed(name));
          const seen: { entryId: number; payloadHex: string }[] = [];
          const run = (): SegmentScan => scanSegment(dir, { segmentId: v.segmentId, path: segPath }, {
            isFinal: true, mode, onFrame: (entryId, p) => seen.push({ entryId, payloadHex: Buffer.from(p).toString('hex') }),
          });
          const want = v[mode];
          const label = `${name} ${mode}`;
          if (want.kind === 'error') {
            corruption(run, want.offset, /./);
            assert.deepEqual(seen, v.entries.slice(0, seen.length), label);
          } else {
            const scan = run();
            assert.equal(scan.tail, want.tail, label);
            assert.equal(scan.frameCount, want.entries, label);
            assert.equal(scan.validEnd, want.validEnd, label);
            assert.deepEqual(seen, v.entries, label);
          }
        }
      }
    });
  }
});
