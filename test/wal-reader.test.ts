import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { Prng } from '../lib/directory/prng';
import { CorruptionError, DecodeError, InvalidArgumentError } from '../lib/errors';
import { json, raw } from '../lib/wal/codec';
import {
  FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR, encodeSegmentHeader, maskCrc, sealFrames, segmentPath, writeFrameUnsealed, writeU32,
} from '../lib/wal/format';
import { WalReader, type ReplayOptions } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { buildSegment, payloadsFor, writeLog, writeSegmentFile } from './vectors/build';
import { collectEvents } from './support/diagnostics';
import { overriding } from './support/overriding';

const MODES = ['strict', 'bestEffortTail'] as const;

function reader(dir: Directory): WalReader<Uint8Array> {
  return new WalReader(dir, { codec: raw });
}

/** Every way of reading must agree; returns the entry ids. */
async function readAll(dir: Directory, opts: ReplayOptions): Promise<number[]> {
  const r = reader(dir);
  const sync = r.replaySync(opts);
  const ids = sync.map((x) => x.entryId);
  assert.deepEqual((await r.replay(opts)).map((x) => x.entryId), ids);
  const streamed: number[] = [];
  for await (const rec of r.records(opts)) streamed.push(rec.entryId);
  assert.deepEqual(streamed, ids);
  assert.equal(r.entryCountSync(opts), ids.length);
  assert.equal(await r.entryCount(opts), ids.length);
  return ids;
}

/** Every way of reading must fail with a CorruptionError matching `check`. */
async function failsAll(dir: Directory, opts: ReplayOptions, check: { file?: string; offset?: number; reason: RegExp }): Promise<void> {
  const r = reader(dir);
  const ok = (err: unknown): boolean => {
    assert.ok(err instanceof CorruptionError, `expected CorruptionError, got ${String(err)}`);
    if (check.file !== undefined) assert.equal(err.file, check.file, err.message);
    if (check.offset !== undefined) assert.equal(err.offset, check.offset, err.message);
    assert.match(err.reason, check.reason);
    return true;
  };
  assert.throws(() => r.replaySync(opts), ok);
  await assert.rejects(r.replay(opts), ok);
  await assert.rejects(async () => {
    for await (const rec of r.records(opts)) void rec;
  }, ok);
  assert.throws(() => r.entryCountSync(opts), ok);
  await assert.rejects(r.entryCount(opts), ok);
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function oneFrameSegments(dir: Directory, count: number): void {
  for (let s = 1; s <= count; s++) {
    writeSegmentFile(dir, s, buildSegment({ segmentId: s, firstEntryId: s, syncWindow: 4096, payloads: payloadsFor(s, 1, 10) }, dir.checksum).bytes);
  }
}

function edit(dir: Directory, path: string, fn: (b: Uint8Array) => Uint8Array | void): void {
  const b = dir.readFile(path).slice();
  dir.atomicWrite(path, fn(b) ?? b);
}

describe('WalReader: round trip', () => {
  for (const backend of availableBackends()) {
    it(`replays a multi-segment log in order with payloads intact (${backend.name} checksum)`, async () => {
      const dir = new MemoryDirectory({ checksum: backend });
      writeLog(dir, { segments: 3, framesPerSegment: 4, payloadSize: 50, syncWindow: 4096 });
      for (const mode of MODES) assert.deepEqual(await readAll(dir, { mode }), range(1, 12));
      const records = reader(dir).replaySync();
      records.forEach((rec, i) => assert.deepEqual(rec.payload, payloadsFor(i + 1, 1, 50)[0]));
    });
  }

  it('an empty log (no wal/ directory, or a header-only segment) replays as no entries', async () => {
    const dir = new MemoryDirectory();
    assert.deepEqual(await readAll(dir, {}), []);
    writeSegmentFile(dir, 1, buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: [] }, dir.checksum).bytes);
    for (const mode of MODES) assert.deepEqual(await readAll(dir, { mode }), []);
  });

  it('decode failure is a DecodeError naming the entry id and segment file', () => {
    const dir = new MemoryDirectory();
    writeLog(dir, { segments: 2, framesPerSegment: 2, payloadSize: 8, syncWindow: 4096 });
    assert.throws(() => new WalReader(dir, { codec: json }).replaySync(), (err: unknown) => {
      assert.ok(err instanceof DecodeError);
      assert.equal(err.entryId, 1);
      assert.equal(err.file, segmentPath(1));
      return true;
    });
  });

  it('refuses bad options', () => {
    const r = reader(new MemoryDirectory());
    assert.throws(() => r.replaySync({ mode: 'lenient' as 'strict' }), InvalidArgumentError);
    assert.throws(() => r.replaySync({ fromEntryId: 0 }), InvalidArgumentError);
    assert.throws(() => new WalReader(new MemoryDirectory(), { codec: raw, maxPayloadSize: 2 ** 30 }), InvalidArgumentError);
  });
});

describe('WalReader: torn tails and headers in the final segment', () => {
  it('a torn length prefix in the last segment: strict fails, best-effort keeps the earlier segments', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    edit(dir, segmentPath(2), (b) => b.subarray(0, SEGMENT_HEADER_SIZE + 1));
    await failsAll(dir, { mode: 'strict' }, { file: segmentPath(2), offset: SEGMENT_HEADER_SIZE, reason: /torn/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1]);
  });

  it('a torn (3-byte) header of the last segment: strict fails, best-effort treats it as empty', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 1);
    dir.atomicWrite(segmentPath(2), new Uint8Array(3));
    await failsAll(dir, { mode: 'strict' }, { file: segmentPath(2), reason: /truncated/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1]);
  });

  it('a final segment shorter than a header is torn only when its bytes are zeros or the start of the magic; else damage in both modes', async () => {
    const magic = new TextEncoder().encode('DWAL');
    const torn = [new Uint8Array(0), new Uint8Array(9), magic.subarray(0, 1), magic.subarray(0, 3), Uint8Array.of(...magic, 2, 0, 0, 0, 7)];
    const foreign = [new TextEncoder().encode('NOPE'), Uint8Array.of(0x44, 0x57, 0x41, 0x4d), Uint8Array.of(0, 0, 0, 0, 1), Uint8Array.of(0x44, 0)];
    for (const bytes of torn) {
      const dir = new MemoryDirectory();
      oneFrameSegments(dir, 1);
      dir.atomicWrite(segmentPath(2), bytes);
      await failsAll(dir, { mode: 'strict' }, { file: segmentPath(2), offset: bytes.length, reason: /torn header/ });
      assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1], `${bytes.length} bytes`);
    }
    for (const bytes of foreign) {
      const dir = new MemoryDirectory();
      oneFrameSegments(dir, 1);
      dir.atomicWrite(segmentPath(2), bytes);
      for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(2), offset: 0, reason: /not a WAL segment/ });
    }
  });

  it('a final header that fails its CRC is torn only while no frame of the segment validates', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    // Header-only final segment whose header is garbage: torn.
    const zeros = new Uint8Array(SEGMENT_HEADER_SIZE + 100);
    dir.atomicWrite(segmentPath(3), zeros);
    await failsAll(dir, { mode: 'strict' }, { file: segmentPath(3), reason: /torn header/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1, 2]);
    // Same bit flipped in a header followed by a valid frame: the header had been synced.
    for (const at of [3, 20, 29]) {
      writeSegmentFile(dir, 3, buildSegment({ segmentId: 3, firstEntryId: 3, syncWindow: 4096, payloads: payloadsFor(3, 1, 10) }, dir.checksum).bytes);
      edit(dir, segmentPath(3), (b) => { b[at] ^= 0x04; });
      for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(3), reason: /header had been synced/ });
    }
  });

  it('a final segment still holding the well-formed header of its previous life (recycled, new header lost) is torn', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    // File of old segment 1 renamed to 3; its header names segment 1.
    dir.atomicWrite(segmentPath(3), dir.readFile(segmentPath(1)));
    await failsAll(dir, { mode: 'strict' }, { file: segmentPath(3), reason: /segment id mismatch/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1, 2]);
  });

  it('zero-filled (preallocated) space after the last frame is a clean end', async () => {
    for (const zeros of [7, 16, 5000]) {
      const dir = new MemoryDirectory();
      const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: payloadsFor(1, 3, 20) }, dir.checksum);
      const b = new Uint8Array(seg.bytes.length + zeros);
      b.set(seg.bytes);
      writeSegmentFile(dir, 1, b);
      for (const mode of MODES) assert.deepEqual(await readAll(dir, { mode }), [1, 2, 3], `${zeros} zeros`);
    }
  });

  it('a zero frame header followed by nonzero bytes is not a clean end', async () => {
    const dir = new MemoryDirectory();
    const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 4096, payloads: payloadsFor(1, 2, 20) }, dir.checksum);
    const b = new Uint8Array(seg.bytes.length + 100);
    b.set(seg.bytes);
    b[b.length - 1] = 1;
    writeSegmentFile(dir, 1, b);
    await failsAll(dir, { mode: 'strict' }, { offset: seg.bytes.length, reason: /zero frame header followed by nonzero/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1, 2]);
  });

  it('stale frames of a recycled file after the valid end are a torn tail, never entries', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 1);
    // Stale frames even carry the ids the new life expects next (2, 3, ...), under the old salt.
    const fresh = buildSegment({ segmentId: 2, firstEntryId: 2, syncWindow: 4096, payloads: payloadsFor(2, 1, 30) }, dir.checksum);
    const stale = buildSegment({ segmentId: 9, firstEntryId: 2, syncWindow: 4096, payloads: payloadsFor(2, 20, 30) }, dir.checksum);
    const file = stale.bytes.slice();
    file.set(fresh.bytes);
    writeSegmentFile(dir, 2, file);
    await failsAll(dir, { mode: 'strict' }, { offset: fresh.bytes.length, reason: /torn/ });
    assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1, 2]);
  });

  it('a bad frame followed by a valid frame ending beyond offset + W is damage; within W it is torn', async () => {
    for (const w of [64, 1 << 20]) {
      const dir = new MemoryDirectory();
      const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: w, payloads: payloadsFor(1, 8, 20) }, dir.checksum);
      writeSegmentFile(dir, 1, seg.bytes);
      edit(dir, segmentPath(1), (b) => { b[seg.offsets[2] + 18] ^= 0x80; });
      if (w === 64) {
        for (const mode of MODES) await failsAll(dir, { mode }, { offset: seg.offsets[2], reason: /damage, not a torn write/ });
      } else {
        await failsAll(dir, { mode: 'strict' }, { offset: seg.offsets[2], reason: /torn/ });
        assert.deepEqual(await readAll(dir, { mode: 'bestEffortTail' }), [1, 2]);
      }
    }
  });

  it('a damaged length field is caught the same way (the witness search does not trust frame boundaries)', async () => {
    const dir = new MemoryDirectory();
    const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: payloadsFor(1, 8, 20) }, dir.checksum);
    writeSegmentFile(dir, 1, seg.bytes);
    edit(dir, segmentPath(1), (b) => { b[seg.offsets[1] + 4] ^= 0x02; });
    for (const mode of MODES) await failsAll(dir, { mode }, { offset: seg.offsets[1], reason: /damage/ });
  });
});

describe('WalReader: damage and sequence errors', () => {
  it('best-effort does not forgive damage in a non-final segment', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    edit(dir, segmentPath(1), (b) => { b[b.length - 1] ^= 0xff; });
    for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(1), offset: SEGMENT_HEADER_SIZE, reason: /non-final/ });
    // A torn-looking end (short file) of a non-final segment is damage too: it had been synced.
    const dir2 = new MemoryDirectory();
    oneFrameSegments(dir2, 2);
    edit(dir2, segmentPath(1), (b) => b.subarray(0, b.length - 2));
    for (const mode of MODES) await failsAll(dir2, { mode }, { file: segmentPath(1), reason: /non-final/ });
  });

  it('rejects a bad magic number', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    edit(dir, segmentPath(1), (b) => { b.set(new TextEncoder().encode('NOPE')); });
    for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(1), offset: 0, reason: /magic/ });
    // Even in the final segment when the header's CRC is intact: those are not our bytes.
    const dir2 = new MemoryDirectory();
    oneFrameSegments(dir2, 1);
    edit(dir2, segmentPath(1), (b) => {
      b.set(new TextEncoder().encode('NOPE'));
      writeU32(b, 28, maskCrc(dir2.checksum.crc32c(b.subarray(0, 28))));
    });
    for (const mode of MODES) await failsAll(dir2, { mode }, { offset: 0, reason: /magic/ });
  });

  it('orders segments numerically, accepting unpadded names (9.wal before 10.wal)', async () => {
    const dir = new MemoryDirectory();
    dir.mkdirp(WAL_DIR);
    const a = buildSegment({ segmentId: 9, firstEntryId: 90, syncWindow: 4096, payloads: payloadsFor(90, 2, 5) }, dir.checksum);
    const b = buildSegment({ segmentId: 10, firstEntryId: 92, syncWindow: 4096, payloads: payloadsFor(92, 2, 5) }, dir.checksum);
    dir.atomicWrite('wal/10.wal', b.bytes);
    dir.atomicWrite('wal/9.wal', a.bytes);
    assert.deepEqual(dir.list(WAL_DIR), ['10.wal', '9.wal']); // lexicographic listing
    for (const mode of MODES) assert.deepEqual(await readAll(dir, { mode }), [90, 91, 92, 93]);
  });

  it('skips LOCK and non-segment names, refuses malformed or duplicate segment names', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 1);
    dir.atomicWrite('wal/LOCK', new Uint8Array(0));
    dir.atomicWrite('wal/recycle-7', new Uint8Array(100));
    assert.deepEqual(await readAll(dir, {}), [1]);
    dir.atomicWrite('wal/1.wal', dir.readFile(segmentPath(1)));
    await failsAll(dir, {}, { reason: /duplicate segment id 1/ });
    dir.delete('wal/1.wal');
    // A .wal name whose stem is no id is no segment's name: someone else's file, skipped and reported.
    dir.atomicWrite('wal/abc.wal', new Uint8Array(0));
    assert.deepEqual(await readAll(dir, {}), [1]);
    const diag = collectEvents();
    try {
      reader(dir).replaySync();
    } finally {
      diag.stop();
    }
    assert.deepEqual(diag.events.filter((e) => e.kind === 'unknown-file').map((e) => e.path), ['wal/abc.wal'], 'once per replay');
    // <digits>.wal with an id no segment has is refused: it may be a segment under a wrong name.
    for (const name of ['0.wal', '000000000000000000001.wal']) {
      dir.atomicWrite(`wal/${name}`, new Uint8Array(0));
      await failsAll(dir, {}, { file: `wal/${name}`, reason: /not a segment file name/ });
      assert.throws(() => listSegments(dir), CorruptionError);
      dir.delete(`wal/${name}`);
    }
  });

  it('a gap in segment ids is an error in both modes', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 3);
    dir.delete(segmentPath(2));
    for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(3), reason: /gap: 3 follows 1/ });
  });

  it('header first entry id must continue the previous segment; header segment id must match the name', async () => {
    const dir = new MemoryDirectory();
    writeSegmentFile(dir, 1, buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: payloadsFor(1, 2, 5) }, dir.checksum).bytes);
    writeSegmentFile(dir, 2, buildSegment({ segmentId: 2, firstEntryId: 4, syncWindow: 64, payloads: payloadsFor(4, 2, 5) }, dir.checksum).bytes);
    for (const mode of MODES) await failsAll(dir, { mode }, { file: segmentPath(2), offset: 16, reason: /first entry id 4, expected 3/ });
    const dir2 = new MemoryDirectory();
    oneFrameSegments(dir2, 2);
    dir2.atomicWrite(segmentPath(1), buildSegment({ segmentId: 5, firstEntryId: 1, syncWindow: 64, payloads: payloadsFor(1, 1, 10) }, dir2.checksum).bytes);
    for (const mode of MODES) await failsAll(dir2, { mode }, { file: segmentPath(1), offset: 8, reason: /segment id mismatch/ });
  });

  it('an entry id that is not previous + 1 is an error in a non-final segment', async () => {
    const dir = new MemoryDirectory();
    const { bytes: head, header } = encodeSegmentHeader({ segmentId: 1, firstEntryId: 1, syncWindow: 4096 }, dir.checksum);
    const b = new Uint8Array(head.length + 3 * (FRAME_HEADER_SIZE + 4));
    b.set(head);
    const offsets = new Uint32Array(3);
    let off = head.length;
    [1, 2, 4].forEach((id, i) => {
      offsets[i] = off;
      off = writeFrameUnsealed(b, off, id, new Uint8Array(4));
    });
    sealFrames(b, offsets, 3, header.salt, dir.checksum);
    writeSegmentFile(dir, 1, b);
    writeSegmentFile(dir, 2, buildSegment({ segmentId: 2, firstEntryId: 3, syncWindow: 64, payloads: [] }, dir.checksum).bytes);
    for (const mode of MODES) await failsAll(dir, { mode }, { offset: offsets[2], reason: /entry id 4, expected 3/ });
  });

  it('a frame length over the maximum is an error before any allocation of that size', async () => {
    const dir = new MemoryDirectory();
    oneFrameSegments(dir, 2);
    edit(dir, segmentPath(1), (b) => writeU32(b, SEGMENT_HEADER_SIZE + 4, 0x7fffffff));
    for (const mode of MODES) await failsAll(dir, { mode }, { offset: SEGMENT_HEADER_SIZE, reason: /exceeds the maximum/ });
    // A length under the maximum but beyond the file: refused, not allocated.
    const dir2 = new MemoryDirectory();
    oneFrameSegments(dir2, 2);
    edit(dir2, segmentPath(1), (b) => writeU32(b, SEGMENT_HEADER_SIZE + 4, 60 * 1024 * 1024));
    const before = process.memoryUsage().arrayBuffers;
    for (const mode of MODES) await failsAll(dir2, { mode }, { offset: SEGMENT_HEADER_SIZE, reason: /runs past the end/ });
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
    // The reader's own limit applies too, as a DecodeError naming the entry: never a cut.
    const dir3 = new MemoryDirectory();
    oneFrameSegments(dir3, 2);
    for (const mode of MODES) {
      assert.throws(() => new WalReader(dir3, { codec: raw, maxPayloadSize: 5 }).replaySync({ mode }), (e: unknown) => e instanceof DecodeError && e.entryId === 1 && /more than maxPayloadSize 5/.test(e.message));
    }
  });
});

describe('WalReader: counting, fromEntryId and streaming', () => {
  it('entryCount matches replay in both modes, including a torn tail', async () => {
    const dir = new MemoryDirectory();
    writeLog(dir, { segments: 3, framesPerSegment: 5, payloadSize: 9, syncWindow: 4096 });
    const r = reader(dir);
    assert.equal(r.entryCountSync(), 15);
    edit(dir, segmentPath(3), (b) => b.subarray(0, b.length - 4));
    assert.equal(r.entryCountSync({ mode: 'bestEffortTail' }), 14);
    assert.equal(await r.entryCount({ mode: 'bestEffortTail' }), r.replaySync({ mode: 'bestEffortTail' }).length);
    assert.throws(() => r.entryCountSync(), CorruptionError);
  });

  it('fromEntryId returns the suffix and skips whole segments before it without reading their frames', async () => {
    const dir = new MemoryDirectory();
    writeLog(dir, { segments: 3, framesPerSegment: 10, payloadSize: 12, syncWindow: 4096 });
    for (const mode of MODES) {
      assert.deepEqual(await readAll(dir, { mode, fromEntryId: 1 }), range(1, 30));
      assert.deepEqual(await readAll(dir, { mode, fromEntryId: 15 }), range(15, 30));
      assert.deepEqual(await readAll(dir, { mode, fromEntryId: 21 }), range(21, 30));
      assert.deepEqual(await readAll(dir, { mode, fromEntryId: 31 }), []);
    }
    edit(dir, segmentPath(1), (b) => { b[SEGMENT_HEADER_SIZE + 20] ^= 1; });
    assert.deepEqual(await readAll(dir, { fromEntryId: 11 }), range(11, 30));
    await failsAll(dir, { fromEntryId: 10 }, { file: segmentPath(1), reason: /CRC mismatch/ });
  });

  it('records() opens files lazily and closes them when the loop breaks or fails', async () => {
    const inner = new MemoryDirectory();
    writeLog(inner, { segments: 3, framesPerSegment: 4, payloadSize: 8, syncWindow: 4096 });
    let open = 0;
    const dir = overriding(inner, {
      openRead: (path) => {
        const f = inner.openRead(path);
        open++;
        return { path: f.path, size: () => f.size(), read: (t: Uint8Array, p: number) => f.read(t, p), close: () => { open--; f.close(); } };
      },
    });
    const r = reader(dir);
    const it = r.records();
    assert.equal(open, 0);
    for await (const rec of it) if (rec.entryId === 6) break;
    assert.equal(open, 0);
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    edit(inner, segmentPath(2), (b) => { b[b.length - 1] ^= 1; });
    await assert.rejects(async () => {
      for await (const rec of r.records()) void rec;
    }, CorruptionError);
    assert.equal(open, 0);
    assert.throws(() => r.records({ fromEntryId: -1 }), InvalidArgumentError);
  });

  it('records() streams a large log in bounded memory', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const dir = new MemoryDirectory();
    const segments = 40;
    const perSegment = 1000;
    writeLog(dir, { segments, framesPerSegment: perSegment, payloadSize: 256, syncWindow: 1 << 20 });
    gc();
    const base = process.memoryUsage();
    let peak = 0;
    let n = 0;
    for await (const rec of reader(dir).records()) {
      n++;
      assert.equal(rec.entryId, n);
      if (n % 5000 === 0) {
        gc();
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed - base.heapUsed + m.arrayBuffers - base.arrayBuffers);
      }
    }
    assert.equal(n, segments * perSegment);
    // The payloads alone are 10 MB; holding them (or the records) would show here.
    assert.ok(peak < 4 * 1024 * 1024, `memory grew by ${peak} bytes while streaming`);
  });
});

describe('WalReader: hostile input', () => {
  it('seeded random damage (overwrites, truncations, splices, huge lengths) yields a prefix or a CorruptionError', () => {
    const base = new MemoryDirectory();
    const built = writeLog(base, { segments: 3, framesPerSegment: 12, payloadSize: 24, syncWindow: 200 });
    const truth = reader(base).replaySync();
    const rng = new Prng(20240611);
    const outcomes = { prefix: 0, error: 0 };
    for (let round = 0; round < 600; round++) {
      const dir = new MemoryDirectory();
      built.forEach((seg, i) => writeSegmentFile(dir, i + 1, seg.bytes));
      const target = 1 + rng.int(built.length);
      edit(dir, segmentPath(target), (b) => {
        switch (rng.int(4)) {
          case 0: for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] = rng.int(256); return b;
          case 1: return b.subarray(0, rng.int(b.length));
          case 2: { // splice another segment's bytes in
            const other = built[rng.int(built.length)].bytes;
            const at = rng.int(b.length);
            const out = new Uint8Array(at + other.length - Math.min(other.length, at));
            out.set(b.subarray(0, at));
            out.set(other.subarray(Math.min(other.length, at)), at);
            return out;
          }
          default: writeU32(b, SEGMENT_HEADER_SIZE + 4 + 40 * rng.int(12), rng.chance(0.5) ? 0xffffffff : 0x03ffffff); return b;
        }
      });
      for (const mode of MODES) {
        try {
          const got = reader(dir).replaySync({ mode });
          assert.deepEqual(got, truth.slice(0, got.length), `round ${round} ${mode}`);
          outcomes.prefix++;
        } catch (err) {
          assert.ok(err instanceof CorruptionError, `round ${round} ${mode}: ${String(err)}`);
          outcomes.error++;
        }
      }
    }
    assert.ok(outcomes.prefix > 0 && outcomes.error > 0, JSON.stringify(outcomes));
  });

  it('finds a witness past the first 1 MiB search window, including one whose header straddles windows', async () => {
    for (const shift of [-16, -8, -1, 0, 7]) {
      const dir = new MemoryDirectory();
      const big = (1 << 20) - 23 + shift; // frame 3 then starts near o + 1 + 1 MiB - 8
      const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: [new Uint8Array(5), new Uint8Array(big).fill(0xff), new Uint8Array(9)] }, dir.checksum);
      writeSegmentFile(dir, 1, seg.bytes);
      edit(dir, segmentPath(1), (b) => { b[seg.offsets[1]] ^= 0x20; });
      for (const mode of MODES) await failsAll(dir, { mode }, { offset: seg.offsets[1], reason: new RegExp(`valid frame at offset ${seg.offsets[2]} .*damage`) });
    }
  });

  it('an adversarial tail that defeats the witness filters is reported as undecidable, not searched forever', async () => {
    const dir = new MemoryDirectory();
    const seg = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 16, payloads: payloadsFor(1, 1, 8) }, dir.checksum);
    const size = 1 << 20;
    const b = new Uint8Array(size);
    b.set(seg.bytes);
    // From the first frame's end on: every 16 bytes a header claiming id 2 and a length that
    // reaches the end of the file, so each offset would cost a CRC of the rest of the file.
    for (let p = seg.bytes.length; p + 16 <= size; p += 16) {
      writeU32(b, p, 0x12345678);
      writeU32(b, p + 4, size - p - 16);
      writeU32(b, p + 8, 2);
    }
    writeSegmentFile(dir, 1, b);
    for (const mode of MODES) await failsAll(dir, { mode }, { offset: seg.bytes.length, reason: /search budget/ });
  });
});
