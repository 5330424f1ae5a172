// A recycled file's earlier life lies past the zeros the writer keeps ahead of the log: a
// recycled segment's header carries FLAG_EARLIER_LIFE, and a reader of such a final segment takes
// zeros followed by bytes no sync mark of this life vouches for as the end of the log, in strict
// mode too ('stale'), where any other segment calls them a torn write. Damage stays damage, a
// real torn write stays torn, and a resuming writer cuts the earlier life's bytes like a torn tail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import type { Directory } from '../lib/directory/directory';
import { CorruptionError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { FLAG_EARLIER_LIFE, FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, checkSegmentHeader, encodeMark, encodeSegmentHeader, maskCrc, segmentPath, writeU32 } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { jsChecksummer } from '../lib/directory/js-checksum';
import { runCli } from './support/cli-run';
import { appendDurablyIn, fileSizeIn, recycleDirectories, type DurableMode } from './support/recycle-lives';

/** Segments of 4 MiB: the earlier life of a full one reaches far past the 1 MiB of zeros kept ahead. */
const SEGMENT = 4 * 1024 * 1024;
const entry = new Uint8Array(4000).fill(7);

type Mode = DurableMode;

/**
 * Fills three segments, recycles the first two, and appends until segment 5 (a recycled file,
 * 4 MiB long) holds a little over 64 KiB of this life: its earlier life's frames lie 1 MiB and
 * more past the log. Returns the writer, still open, and how many entries the log holds.
 */
async function onLongStaleTail(dir: Directory, mode: Mode, options: { idleMarkMs?: number } = {}): Promise<{ w: WalWriter<Uint8Array>; entries: number }> {
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, flushPolicy: 'perAppend', idleMarkMs: options.idleMarkMs });
  const append = (): Promise<void> => appendDurablyIn(w, mode, entry);
  while (w.currentSegmentId < 4) await append();
  const m = new WalMaintenance(dir);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[1].lastEntryId));
  while (w.currentSegmentId < 5 || w.currentSegmentBytes < 64 * 1024) await append();
  const size = fileSizeIn(dir, segmentPath(5));
  assert.ok(size >= SEGMENT - entry.length, `segment 5 is a recycled file as long as a full segment (${size} bytes)`);
  assert.ok(nonzeroAfter(dir, segmentPath(5), w.currentSegmentBytes + 1024 * 1024), 'its earlier life lies past the zeros');
  return { w, entries: w.lastEntryId - m.segmentRanges()[0].firstEntryId + 1 };
}

function readAt(dir: Directory, p: string, at: number, length: number): Uint8Array {
  const f = dir.openRead(p);
  try {
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = f.read(out.subarray(got), at + got);
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
  } finally {
    f.close();
  }
}

function nonzeroAfter(dir: Directory, p: string, at: number): boolean {
  return readAt(dir, p, at, fileSizeIn(dir, p) - at).some((b) => b !== 0);
}

async function strictlyRead(dir: Directory): Promise<number> {
  return (await new WalReader(dir, { codec: raw }).replay({ mode: 'strict' })).length;
}

describe('a recycled final segment whose earlier life reaches past the zeros', () => {
  for (const { name, make } of recycleDirectories('earlier-life')) {
    for (const mode of ['group commit', 'synchronous'] as const) {
      it(`reads strictly to the end of this life while the writer lives (${mode}, ${name})`, async () => {
        const { dir, root } = make();
        try {
          const { w, entries } = await onLongStaleTail(dir, mode);
          assert.equal(await strictlyRead(dir), entries);
          const final = scanSegment(dir, listSegments(dir).at(-1)!, { isFinal: true, mode: 'strict' });
          assert.equal(final.tail, 'stale');
          assert.equal(final.validEnd, w.currentSegmentBytes);
          await w.close();
          // Closing cuts the earlier life off (rule A's trim): a clean end.
          assert.equal(scanSegment(dir, listSegments(dir).at(-1)!, { isFinal: true, mode: 'strict' }).tail, 'clean');
          assert.equal(await strictlyRead(dir), entries);
        } finally {
          if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
        }
      });
    }
  }

  it('is ok to `durability verify`, and `inspect` says why the final segment is longer than its entries (a live writer)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-earlier-life-cli-'));
    try {
      const { w, entries } = await onLongStaleTail(new FsDirectory(root), 'group commit');
      const verify = await runCli(['verify', root]);
      assert.equal(verify.code, 0, verify.out + verify.err);
      assert.match(verify.out, new RegExp(`^ok: ${entries} entries`));
      const inspect = JSON.parse((await runCli(['inspect', root, '--json'])).out) as { segments: { segmentId: number; state: string; reason: string | null }[] };
      const final = inspect.segments.at(-1)!;
      assert.equal(final.segmentId, 5);
      assert.equal(final.state, 'clean');
      assert.match(final.reason ?? '', /^a recycled file: \d+ byte\(s\) of its earlier life past the end/);
      await w.close();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads strictly right after rotating onto a recycled file, before its first frame is written (synchronous mode, manual flushing)', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT, recycleCapacity: 2, flushPolicy: 'manual' });
    while (w.currentSegmentId < 3) {
      w.append(entry);
      w.syncSync();
    }
    const m = new WalMaintenance(dir);
    w.recycle(m.truncateToRecycle(m.segmentRanges()[0].lastEntryId));
    const before = w.currentSegmentId;
    while (w.currentSegmentId === before) w.append(entry); // rotates onto recycle-1; the new entry stays buffered
    const final = scanSegment(dir, listSegments(dir).at(-1)!, { isFinal: true, mode: 'strict' });
    assert.equal(final.frameCount, 0);
    assert.equal(final.tail, 'stale');
    assert.equal(final.validEnd, SEGMENT_HEADER_SIZE);
    assert.ok(readAt(dir, segmentPath(w.currentSegmentId), SEGMENT_HEADER_SIZE, FRAME_HEADER_SIZE).every((b) => b === 0), 'zeros right behind the new header');
    await w.close();
  });

  it('is resumed by a writer that cuts the earlier life and goes on appending (a killed writer, its files as the page cache had them)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-earlier-life-'));
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-earlier-life-copy-'));
    try {
      const { w, entries } = await onLongStaleTail(new FsDirectory(root), 'group commit');
      fs.cpSync(root, copy, { recursive: true });
      await w.close();
      const dir = new FsDirectory(copy);
      const resumed = WalWriter.open<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT });
      try {
        assert.equal(resumed.currentSegmentId, 5);
        assert.equal(fileSizeIn(dir, segmentPath(5)), resumed.currentSegmentBytes, 'the earlier life was cut');
        await resumed.appendDurable(entry);
      } finally {
        await resumed.close();
      }
      assert.equal(await strictlyRead(dir), entries + 1);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('still calls a flipped byte of this life damage when a later sync mark vouches for it', async () => {
    const dir = new MemoryDirectory();
    const { w } = await onLongStaleTail(dir, 'group commit');
    await w.close();
    const p = segmentPath(5);
    const at = SEGMENT_HEADER_SIZE + FRAME_HEADER_SIZE + 100; // inside the segment's first payload
    const f = dir.openAppend(p);
    f.writeAt(new Uint8Array([readAt(dir, p, at, 1)[0] ^ 0x01]), at);
    f.close();
    await assert.rejects(new WalReader(dir, { codec: raw }).replay({ mode: 'bestEffortTail' }), (err: unknown) =>
      err instanceof CorruptionError && /damage, not a torn write/.test(err.message));
  });

  it('still calls nonzero bytes right at the end of this life a torn write (no zeros in front of them)', async () => {
    const dir = new MemoryDirectory();
    // No idle mark: it would go where the torn frame is planted, over it.
    const { w, entries } = await onLongStaleTail(dir, 'group commit', { idleMarkMs: 0 });
    const end = w.currentSegmentBytes;
    // A torn frame where the next one would go: what a crash during a write leaves.
    const f = dir.openAppend(segmentPath(5));
    f.writeAt(new Uint8Array(FRAME_HEADER_SIZE).fill(0x5a), end);
    f.close();
    await assert.rejects(new WalReader(dir, { codec: raw }).replay({ mode: 'strict' }), (err: unknown) =>
      err instanceof CorruptionError && /torn write at the end of the log/.test(err.message));
    assert.equal((await new WalReader(dir, { codec: raw }).replay({ mode: 'bestEffortTail' })).length, entries);
    await w.close();
  });
});

describe('zeros in a recycled final segment with a sync mark of this life past them', () => {
  it('are a torn write (a batch that landed behind one that did not), not the earlier life', async () => {
    const dir = new MemoryDirectory();
    const { w, entries } = await onLongStaleTail(dir, 'group commit', { idleMarkMs: 0 });
    const end = w.currentSegmentBytes;
    const segment = listSegments(dir).at(-1)!;
    const { header } = scanSegment(dir, segment, { isFinal: true, mode: 'strict' });
    // A mark as the next batch would lead with (the next entry's id, a watermark at or before the
    // end), planted 4 KiB on, over the earlier life: what a crash that kept that batch and lost
    // the one before it leaves.
    const at = end + 4096;
    const f = dir.openAppend(segment.path);
    f.writeAt(encodeMark(w.lastEntryId + 1, end, header!.salt, dir.checksum), at);
    f.close();
    await assert.rejects(new WalReader(dir, { codec: raw }).replay({ mode: 'strict' }), (err: unknown) =>
      err instanceof CorruptionError && new RegExp(`a sync mark of this life at offset ${at} lies past the zeros.*torn write at the end of the log`).test(err.message));
    const final = scanSegment(dir, segment, { isFinal: true, mode: 'bestEffortTail' });
    assert.deepEqual([final.tail, final.validEnd], ['torn', end]);
    assert.equal((await new WalReader(dir, { codec: raw }).replay({ mode: 'bestEffortTail' })).length, entries);
    await w.close();
  });
});

describe('a fresh final segment (no FLAG_EARLIER_LIFE)', () => {
  it('still calls zeros followed by nonzero bytes a torn write in strict mode', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create<Uint8Array>(dir, { codec: raw, maxSegmentSize: SEGMENT });
    for (let i = 0; i < 10; i++) await w.appendDurable(entry);
    const end = w.currentSegmentBytes;
    await w.close();
    const f = dir.openAppend(segmentPath(1));
    f.writeAt(new Uint8Array(64 * 1024), end);
    f.writeAt(new Uint8Array(100).fill(0x33), end + 64 * 1024);
    f.close();
    await assert.rejects(new WalReader(dir, { codec: raw }).replay({ mode: 'strict' }), (err: unknown) =>
      err instanceof CorruptionError && /torn write at the end of the log/.test(err.message));
  });
});

describe('FLAG_EARLIER_LIFE in the segment header', () => {
  const checksum = jsChecksummer;
  it('is written only for a recycled file and read back', () => {
    const plain = encodeSegmentHeader({ segmentId: 3, firstEntryId: 9, syncWindow: 1024 }, checksum);
    const flagged = encodeSegmentHeader({ segmentId: 3, firstEntryId: 9, syncWindow: 1024, earlierLife: true }, checksum);
    assert.equal(plain.bytes[6], 0);
    assert.equal(flagged.bytes[6], FLAG_EARLIER_LIFE);
    assert.notEqual(plain.header.salt, flagged.header.salt, 'the flag is under the header CRC, so it changes the salt');
    const back = checkSegmentHeader(flagged.bytes, checksum, 3);
    assert.ok(back.kind === 'ok' && back.header.earlierLife);
    const plainBack = checkSegmentHeader(plain.bytes, checksum, 3);
    assert.ok(plainBack.kind === 'ok' && !plainBack.header.earlierLife);
  });

  it('refuses a flag it does not know, and any flag on a version 1 header', () => {
    const resealed = (version: number, flags: number): Uint8Array => {
      const { bytes } = encodeSegmentHeader({ segmentId: 1, firstEntryId: 1, syncWindow: 1024, version }, checksum);
      bytes[6] = flags;
      writeU32(bytes, 28, maskCrc(checksum.crc32c(bytes.subarray(0, 28), 0)));
      return bytes;
    };
    const unknown = checkSegmentHeader(resealed(2, 0x02), checksum, 1);
    assert.ok(unknown.kind === 'bad' && /unknown header flags 0x2/.test(unknown.reason), JSON.stringify(unknown));
    const onV1 = checkSegmentHeader(resealed(1, FLAG_EARLIER_LIFE), checksum, 1);
    assert.ok(onV1.kind === 'bad' && /unknown header flags 0x1 for format version 1/.test(onV1.reason), JSON.stringify(onV1));
    assert.throws(() => encodeSegmentHeader({ segmentId: 1, firstEntryId: 1, syncWindow: 1024, version: 1, earlierLife: true }, checksum), /no header flags/);
  });
});
