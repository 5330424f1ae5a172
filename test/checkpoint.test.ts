import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fc from 'fast-check';
import {
  CHECKPOINT_HEADER_SIZE, encodeCheckpoint, MAX_CHECKPOINT_PAYLOAD,
} from '../lib/checkpoint/format';
import type { SkippedCheckpoint } from '../lib/checkpoint/observer';
import {
  CHECKPOINT_DIR, CHECKPOINT_PENDING, checkpointPath, listCheckpoints, loadLatestCheckpoint, parseCheckpointFileName, pruneCheckpoints,
  readCheckpointFile, writeCheckpoint,
} from '../lib/checkpoint/store';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError, DecodeError, DurabilityError, EncodeError } from '../lib/errors';
import { jsonCodec, raw } from '../lib/wal/codec';
import { writeU32 } from '../lib/wal/format';
import { dirKinds } from './fixtures/wal-dirs';

type S = { n: number; tag: string };
const codec = jsonCodec<S>();

function put(dir: Directory, path: string, bytes: Uint8Array): void {
  dir.mkdirp(CHECKPOINT_DIR);
  dir.atomicWrite(path, bytes);
}

function mutate(dir: Directory, path: string, f: (b: Uint8Array) => Uint8Array): void {
  put(dir, path, f(dir.readFile(path).slice()));
}

describe('checkpoint format', () => {
  it('lays out magic, version, flags, last id, length and a CRC over header and payload', () => {
    const dir = new MemoryDirectory();
    const bytes = encodeCheckpoint(0x1_0000_0002, new Uint8Array([7, 8, 9]), dir.checksum);
    assert.equal(bytes.length, CHECKPOINT_HEADER_SIZE + 3);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x44, 0x43, 0x4b, 0x50, 1, 0, 0, 0]);
    assert.deepEqual([...bytes.subarray(8, 16)], [2, 0, 0, 0, 1, 0, 0, 0]);
    assert.deepEqual([...bytes.subarray(16, 24)], [3, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...bytes.subarray(28)], [7, 8, 9]);
    // Every single-bit flip anywhere is caught.
    for (let i = 0; i < bytes.length * 8; i++) {
      const d = new MemoryDirectory();
      const b = bytes.slice();
      b[i >> 3] ^= 1 << (i & 7);
      put(d, checkpointPath(0x1_0000_0002), b);
      const r = readCheckpointFile(d, checkpointPath(0x1_0000_0002), 0x1_0000_0002);
      assert.equal(r.ok, false, `bit ${i}`);
    }
  });

  it('refuses states beyond the format maximum and ids outside 0..2^53-1', () => {
    const dir = new MemoryDirectory();
    assert.throws(() => encodeCheckpoint(-1, new Uint8Array(0), dir.checksum), EncodeError);
    assert.throws(() => encodeCheckpoint(1.5, new Uint8Array(0), dir.checksum), EncodeError);
    const big = { length: MAX_CHECKPOINT_PAYLOAD + 1 } as unknown as Uint8Array;
    assert.throws(() => encodeCheckpoint(1, big, dir.checksum), EncodeError);
  });

  it('names files by last entry id, zero-padded, and ignores other names', () => {
    assert.equal(checkpointPath(42), 'checkpoints/00000000000000000042.ckpt');
    assert.equal(parseCheckpointFileName('00000000000000000042.ckpt'), 42);
    assert.equal(parseCheckpointFileName('7.ckpt'), 7);
    for (const n of ['pending', 'x.ckpt', '1.ckpt.tmp', '-1.ckpt', '99999999999999999999.ckpt']) assert.equal(parseCheckpointFileName(n), undefined, n);
  });
});

for (const kind of dirKinds()) {
  describe(`checkpoints on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('writes durably and loads the newest; the staging file is not a checkpoint', () => {
      assert.equal(loadLatestCheckpoint(dir, { codec }).checkpoint, undefined);
      writeCheckpoint(dir, 5, { n: 5, tag: 'a' }, { codec });
      writeCheckpoint(dir, 12, { n: 12, tag: 'b' }, { codec });
      writeCheckpoint(dir, 9, { n: 9, tag: 'c' }, { codec });
      put(dir, CHECKPOINT_PENDING, encodeCheckpoint(99, codec.encode({ n: 99, tag: 'staged' }), dir.checksum));
      const r = loadLatestCheckpoint(dir, { codec });
      assert.deepEqual(r.checkpoint, { path: checkpointPath(12), lastEntryId: 12, state: { n: 12, tag: 'b' } });
      assert.deepEqual(r.skipped, []);
      assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), [5, 9, 12]);
    });

    it('replaces a checkpoint of the same id atomically', () => {
      writeCheckpoint(dir, 3, { n: 1, tag: 'old' }, { codec });
      writeCheckpoint(dir, 3, { n: 2, tag: 'new' }, { codec });
      assert.deepEqual(loadLatestCheckpoint(dir, { codec }).checkpoint?.state, { n: 2, tag: 'new' });
      assert.equal(listCheckpoints(dir).length, 1);
    });

    it('skips damaged newer files (truncated, bit-flipped, bad magic, wrong length, name/header mismatch) and reports each', () => {
      writeCheckpoint(dir, 1, { n: 1, tag: 'good' }, { codec });
      const damage: Record<number, (b: Uint8Array) => Uint8Array> = {
        2: (b) => b.subarray(0, b.length - 1),
        3: (b) => { b[b.length - 1] ^= 0x10; return b; },
        4: (b) => { b[0] = 0x58; return b; },
        5: (b) => b.subarray(0, 10),
        6: (b) => { writeU32(b, 16, b.length); return b; },
        7: () => new Uint8Array(0),
        8: (b) => { const o = new Uint8Array(b.length + 1); o.set(b); return o; },
        9: (b) => { b[4] = 2; return b; }, // version changed without the CRC: damage, not a new version
      };
      for (const id of Object.keys(damage).map(Number)) {
        writeCheckpoint(dir, id, { n: id, tag: 'x' }, { codec });
        mutate(dir, checkpointPath(id), damage[id]);
      }
      // A file whose header names another id than its file name.
      put(dir, checkpointPath(10), encodeCheckpoint(1, codec.encode({ n: 1, tag: 'moved' }), dir.checksum));
      const seen: SkippedCheckpoint[] = [];
      const diag: DiagnosticEvent[] = [];
      const listener = (m: unknown): void => {
        diag.push(m as DiagnosticEvent);
      };
      diagnosticsChannel.subscribe('durability:diagnostic', listener);
      let r;
      try {
        r = loadLatestCheckpoint(dir, { codec, observer: { onSkipped: (s) => seen.push(s) } });
      } finally {
        diagnosticsChannel.unsubscribe('durability:diagnostic', listener);
      }
      assert.deepEqual(r.checkpoint, { path: checkpointPath(1), lastEntryId: 1, state: { n: 1, tag: 'good' } });
      assert.deepEqual(r.skipped.map((s) => s.claimedLastEntryId), [10, 9, 8, 7, 6, 5, 4, 3, 2]);
      assert.deepEqual(seen, r.skipped);
      assert.deepEqual(diag.filter((d) => d.kind === 'checkpoint-damaged').map((d) => d.path), r.skipped.map((s) => s.path));
      assert.match(r.skipped[0].reason, /header says last entry 1/);
      assert.match(r.skipped.find((s) => s.claimedLastEntryId === 4)!.reason, /magic/);
      assert.ok(channels.diagnostic.name === 'durability:diagnostic');
    });

    it('rejects (does not skip) a valid file of another version or with flags, so an old reader never rolls back past it', () => {
      writeCheckpoint(dir, 1, { n: 1, tag: 'good' }, { codec });
      for (const [offset, value] of [[4, 2], [6, 1]] as const) {
        const b = encodeCheckpoint(2, codec.encode({ n: 2, tag: 'future' }), dir.checksum);
        b[offset] = value;
        // Reseal so the CRC holds: these are bytes a writer produced on purpose.
        const resealed = reseal(dir, b);
        put(dir, checkpointPath(2), resealed);
        assert.throws(() => loadLatestCheckpoint(dir, { codec }), (e: unknown) => e instanceof CorruptionError && e.offset === offset);
      }
    });

    it('a codec that cannot decode a verified payload is a DecodeError, not a skip', () => {
      writeCheckpoint(dir, 1, { n: 1, tag: 'good' }, { codec });
      writeCheckpoint(dir, 2, new TextEncoder().encode('not json'), { codec: raw });
      assert.throws(() => loadLatestCheckpoint(dir, { codec }), (e: unknown) => e instanceof DecodeError && e.file === checkpointPath(2));
    });

    it('encode failures are EncodeErrors and leave no file', () => {
      const bad = { name: 'bad', encode: () => { throw new Error('nope'); }, decode: () => ({ n: 0, tag: '' }) };
      assert.throws(() => writeCheckpoint(dir, 1, { n: 1, tag: '' }, { codec: bad }), EncodeError);
      assert.deepEqual(dir.list(CHECKPOINT_DIR), []);
    });

    it('prunes all but the newest N, not counting excluded (damaged) files', () => {
      for (const id of [1, 4, 6, 9, 11]) writeCheckpoint(dir, id, { n: id, tag: '' }, { codec });
      assert.deepEqual(pruneCheckpoints(dir, 2, { exclude: new Set([checkpointPath(9)]) }), [checkpointPath(9), checkpointPath(4), checkpointPath(1)]);
      assert.deepEqual(listCheckpoints(dir).map((f) => f.lastEntryId), [6, 11]);
      assert.deepEqual(pruneCheckpoints(dir, 2), []);
      assert.throws(() => pruneCheckpoints(dir, 0), DurabilityError);
    });
  });
}

/** A directory whose reads record the largest target buffer handed to them. */
function readSpy(inner: MemoryDirectory): MemoryDirectory & { largestRead: number } {
  const spy = inner as MemoryDirectory & { largestRead: number };
  spy.largestRead = 0;
  const openRead = inner.openRead.bind(inner);
  spy.openRead = (path: string) => {
    const f = openRead(path);
    return {
      path: f.path,
      size: () => f.size(),
      read: (target: Uint8Array, position: number) => {
        spy.largestRead = Math.max(spy.largestRead, target.length);
        return f.read(target, position);
      },
      close: () => f.close(),
    };
  };
  return spy;
}

function reseal(dir: Directory, b: Uint8Array): Uint8Array {
  // Same computation as the format: CRC of header bytes 0..24 continued over the payload.
  const crc = dir.checksum.crc32c(b.subarray(CHECKPOINT_HEADER_SIZE), dir.checksum.crc32c(b.subarray(0, 24), 0));
  const masked = (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
  writeU32(b, 24, masked);
  return b;
}

describe('checkpoint fuzz', () => {
  it('random and mutated files: typed results only, never a damaged payload, never an allocation beyond the file', () => {
    const dir = new MemoryDirectory();
    const valid = encodeCheckpoint(3, codec.encode({ n: 3, tag: 'fuzz' }), dir.checksum);
    const runs = process.env.DURABILITY_LONG === '1' ? 20_000 : 1_000;
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const b = valid.slice(); b[i] ^= x; return b; }),
        fc.nat(valid.length).map((n) => valid.subarray(0, n)),
        fc.tuple(fc.nat(valid.length - 4), fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000000, 0)).map(([i, v]) => { const b = valid.slice(); writeU32(b, i, v); return b; }),
      ),
      (bytes) => {
        const d = readSpy(new MemoryDirectory());
        put(d, checkpointPath(3), bytes);
        let r;
        try {
          r = loadLatestCheckpoint(d, { codec });
          assert.ok(d.largestRead <= Math.max(bytes.length, CHECKPOINT_HEADER_SIZE), `read buffer of ${d.largestRead} for a ${bytes.length}-byte file`);
        } catch (e) {
          assert.ok(e instanceof DurabilityError, String(e));
          return;
        }
        if (r.checkpoint !== undefined) assert.deepEqual(r.checkpoint.state, { n: 3, tag: 'fuzz' });
        else assert.equal(r.skipped.length, 1);
      },
    ), { numRuns: runs, seed: 0x5eed });
  });
});
