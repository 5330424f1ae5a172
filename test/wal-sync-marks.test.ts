// Bit rot in the synced part of the final segment is damage, never a torn tail (format v2, sync
// marks: docs/FORMAT.md). For a closed final segment, and for an open one written by group
// commit, single-bit flips at sampled offsets over the whole region a sync mark vouches for
// (every bit of each sampled byte, the header included) are reported as damage by strict and
// best-effort replay and by recover(), refused by WalWriter.open (which changes nothing) and by
// `durability repair`; a forced repair keeps everything it cuts in a quarantine file.

import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli-run';
import { channels } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { CorruptionError, DecodeError, InvalidStateError, IoError } from '../lib/errors';
import { recover } from '../lib/recover';
import { json, raw } from '../lib/wal/codec';
import { MARK_SIZE, SEGMENT_HEADER_SIZE, WAL_DIR, segmentPath } from '../lib/wal/format';
import type { QuarantineEvent } from '../lib/wal/quarantine';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { WalWriter } from '../lib/wal/writer';
import { buildMarkedSegment, buildSegment, payloadsFor, writeSegmentFile } from './vectors/build';

interface Log {
  name: string;
  /** The final segment's path and bytes. */
  path: string;
  bytes: Uint8Array;
  /** Bytes [0, vouched) are covered by a sync mark: any flip there must read as damage. */
  vouched: number;
}

function payload(i: number): Uint8Array {
  return Uint8Array.from({ length: 20 + ((i * 37) % 300) }, (_, j) => (i * 7 + j) & 0xff);
}

/** A synced, closed, single-segment log: appends with a sync now and then, then close. */
async function closedLog(): Promise<Log> {
  const dir = new MemoryDirectory();
  const w = WalWriter.create(dir, { codec: raw });
  for (let i = 1; i <= 600; i++) {
    w.append(payload(i));
    if (i % 150 === 0) await w.sync();
  }
  await w.close();
  const bytes = dir.readFile(segmentPath(1));
  // Everything but the final sync mark close wrote (the last commit) is vouched for.
  return { name: 'closed', path: segmentPath(1), bytes, vouched: bytes.length - MARK_SIZE };
}

/** An open segment being written by group commit: the bytes as they are while the writer runs. */
async function groupCommitLog(): Promise<Log> {
  const dir = new MemoryDirectory();
  const w = WalWriter.create(dir, { codec: raw });
  let i = 0;
  for (let wave = 0; wave < 12; wave++) await Promise.all(Array.from({ length: 50 }, () => w.appendDurable(payload(++i))));
  const file = dir.readFile(segmentPath(1));
  const scan = scanSegment(dir, { segmentId: 1, path: segmentPath(1) }, { isFinal: true, mode: 'strict' });
  const vouched = scan.watermark;
  await w.close();
  // Commits write zeros ahead of their frames (ActiveSegment.zeroAhead): the frames end first.
  assert.ok(file.subarray(scan.validEnd).every((b) => b === 0), 'only zeros follow the frames');
  const bytes = file.slice(0, scan.validEnd);
  assert.ok(vouched > bytes.length * 0.85, `marks vouch for ${vouched} of ${bytes.length} bytes`);
  return { name: 'group commit, open', path: segmentPath(1), bytes, vouched };
}

function logDir(path: string, bytes: Uint8Array): MemoryDirectory {
  const dir = new MemoryDirectory();
  dir.mkdirp(WAL_DIR);
  dir.atomicWrite(path, bytes);
  return dir;
}

/** The header's every byte, the first frame's header, then offsets spread over the vouched region. */
function sampleOffsets(vouched: number): number[] {
  const out = new Set<number>();
  for (let o = 0; o < SEGMENT_HEADER_SIZE + 16; o++) out.add(o);
  for (let k = 0; k < 24; k++) out.add(SEGMENT_HEADER_SIZE + Math.floor((k * (vouched - SEGMENT_HEADER_SIZE)) / 24) + (k % 7));
  out.add(vouched - 1);
  return [...out].filter((o) => o < vouched).sort((a, b) => a - b);
}

function flipped(bytes: Uint8Array, offset: number, bit: number): Uint8Array {
  const b = bytes.slice();
  b[offset] ^= 1 << bit;
  return b;
}

const isDamage = (where: string) => (e: unknown): boolean => {
  assert.ok(e instanceof CorruptionError, `${where}: ${String(e)}`);
  assert.match(e.reason, /damage, not a torn write/, where);
  return true;
};

function recoverOptions(dir: Directory) {
  return { dir, codec: raw, stateCodec: json, initial: 0 as unknown, apply: (s: unknown) => s };
}

describe('sync marks: bit rot in the synced final segment is damage', function () {
  this.timeout(120_000);
  for (const make of [closedLog, groupCommitLog]) {
    it(`every bit of sampled bytes over the vouched region, header included, reads as damage in every mode and is refused by open (${make.name})`, async () => {
      const log = await make();
      const offsets = sampleOffsets(log.vouched);
      assert.ok(offsets.length > 60);
      for (const offset of offsets) {
        for (let bit = 0; bit < 8; bit++) {
          const where = `${log.path} offset ${offset} bit ${bit}`;
          const bad = flipped(log.bytes, offset, bit);
          const dir = logDir(log.path, bad);
          const reader = new WalReader(dir, { codec: raw });
          assert.throws(() => reader.replaySync({ mode: 'strict' }), isDamage(`strict, ${where}`));
          assert.throws(() => reader.replaySync({ mode: 'bestEffortTail' }), isDamage(`bestEffortTail, ${where}`));
          await assert.rejects(recover(recoverOptions(dir)), isDamage(`recover, ${where}`));
          assert.throws(() => WalWriter.open(dir, { codec: raw }), (e: unknown) => isDamage(`open, ${where}`)(e) && /durability repair --force/.test((e as Error).message));
          assert.deepEqual(dir.readFile(log.path), bad, `open changed nothing (${where})`);
        }
      }
    });
  }

  it('the flip from the issue: 3,000 json entries, sync, close, one bit at 25 %', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: json });
    for (let i = 0; i < 3000; i++) w.append({ i, text: `entry ${i}` });
    await w.sync();
    await w.close();
    const bytes = dir.readFile(segmentPath(1));
    const bad = logDir(segmentPath(1), flipped(bytes, Math.floor(bytes.length / 4), 3));
    for (const mode of ['strict', 'bestEffortTail'] as const) {
      assert.throws(() => new WalReader(bad, { codec: json }).replaySync({ mode }), isDamage(mode));
    }
    assert.throws(() => WalWriter.open(bad, { codec: json }), isDamage('open'));
  });

  it('a torn final commit is still torn: flips after the last watermark are cut, with the frames that validate quarantined first', async () => {
    const log = await groupCommitLog();
    const published: QuarantineEvent[] = [];
    const onDiagnostic = (e: unknown): void => {
      if ((e as QuarantineEvent).kind === 'wal-quarantine') published.push(e as QuarantineEvent);
    };
    // The last batch: its sync mark at `vouched`, then its first frame.
    const firstFrame = log.vouched + MARK_SIZE;
    const entriesBefore = scanSegment(logDir(log.path, log.bytes), { segmentId: 1, path: log.path }, { isFinal: true, mode: 'strict' }).lastEntryId;
    const dir = logDir(log.path, flipped(log.bytes, firstFrame + 20, 0));
    const best = new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' });
    const lastBatch = entriesBefore - best.length;
    assert.ok(lastBatch >= 2, `the last batch holds ${lastBatch} entries`);
    diagnosticsChannel.subscribe(channels.diagnostic.name, onDiagnostic);
    try {
      const w = WalWriter.open(dir, { codec: raw });
      assert.equal(w.nextEntryId, best.length + 1);
      w.closeSync();
    } finally {
      diagnosticsChannel.unsubscribe(channels.diagnostic.name, onDiagnostic);
    }
    assert.equal(published.length, 1);
    const q = published[0];
    assert.equal(q.file, log.path);
    assert.equal(q.offset, firstFrame);
    assert.equal(q.frames, lastBatch - 1, 'every frame of the torn batch but the flipped one');
    assert.deepEqual([q.firstEntryId, q.lastEntryId], [best.length + 2, entriesBefore]);
    assert.deepEqual(dir.readFile(q.path), flipped(log.bytes, firstFrame + 20, 0).subarray(firstFrame), 'the quarantine holds every byte cut');
  });

  it('a v1 segment is still read under the sync-window rule, resumed as v1, and the next segment is v2', () => {
    const dir = new MemoryDirectory();
    const built = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 4096, payloads: payloadsFor(1, 5, 40) }, dir.checksum);
    writeSegmentFile(dir, 1, built.bytes);
    const w = WalWriter.open(dir, { codec: raw, maxSegmentSize: built.bytes.length + 3 * 56 });
    assert.equal(w.nextEntryId, 6);
    for (let i = 0; i < 6; i++) {
      w.append(new Uint8Array(40));
      w.syncSync();
    }
    w.closeSync();
    const one = dir.readFile(segmentPath(1));
    assert.equal(one[4], 1, 'segment 1 stays v1');
    assert.equal(one.length, built.bytes.length + 3 * 56, 'and holds no sync mark');
    assert.equal(dir.readFile(segmentPath(2))[4], 2);
    assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, 11);
  });
});

describe('sync marks at the last entry id', () => {
  it('a log whose last entry is 2^53-1 closes without a mark (there is no next id for it to carry)', () => {
    const dir = new MemoryDirectory();
    const first = Number.MAX_SAFE_INTEGER - 1;
    writeSegmentFile(dir, 1, buildMarkedSegment({ segmentId: 1, firstEntryId: first, syncWindow: 4096, items: [new Uint8Array(3)] }, dir.checksum).bytes);
    const w = WalWriter.open(dir, { codec: raw });
    assert.equal(w.append(new Uint8Array(5)), Number.MAX_SAFE_INTEGER);
    w.syncSync();
    w.closeSync();
    assert.deepEqual(new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId), [first, Number.MAX_SAFE_INTEGER]);
  });

  it('an append past 2^53-1 into a full segment is refused before any rotation, and the writer still closes', async () => {
    for (const durable of [false, true]) {
      const dir = new MemoryDirectory();
      const first = Number.MAX_SAFE_INTEGER - 1;
      writeSegmentFile(dir, 1, buildMarkedSegment({ segmentId: 1, firstEntryId: first, syncWindow: 4096, items: [new Uint8Array(3)] }, dir.checksum).bytes);
      const w = WalWriter.open(dir, { codec: raw, maxSegmentSize: 200 });
      assert.equal(w.append(new Uint8Array(5)), Number.MAX_SAFE_INTEGER);
      w.syncSync();
      // 150 bytes do not fit the segment: a rotation would be due, to a segment whose first id is 2^53.
      if (durable) await assert.rejects(w.appendDurable(new Uint8Array(150)), InvalidStateError);
      else assert.throws(() => w.append(new Uint8Array(150)), InvalidStateError);
      assert.equal(w.poisoned, false);
      assert.equal(w.currentSegmentId, 1);
      await w.close();
      assert.deepEqual(dir.list(WAL_DIR).filter((name) => name.endsWith('.wal')), ['00000000000000000001.wal']);
      assert.deepEqual(new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId), [first, Number.MAX_SAFE_INTEGER]);
    }
  });
});

describe('the caller\'s maxPayloadSize never decides what is torn', () => {
  it('entries larger than the limit are a DecodeError when read, and open resumes after them', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: raw });
    for (const n of [4, 1000, 4, 4]) w.append(new Uint8Array(n));
    w.closeSync();
    const small = WalWriter.open(dir, { codec: raw, maxPayloadSize: 100 });
    assert.equal(small.nextEntryId, 5, 'no entry was cut');
    small.closeSync();
    for (const mode of ['strict', 'bestEffortTail'] as const) {
      assert.throws(() => new WalReader(dir, { codec: raw, maxPayloadSize: 100 }).replaySync({ mode }), (e: unknown) => e instanceof DecodeError && e.entryId === 2);
    }
    await assert.rejects(recover({ ...recoverOptions(dir), maxPayloadSize: 100 }), DecodeError);
    assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, 4);
  });
});

describe('WalWriter.open retried after its resume fdatasync failed', () => {
  it('rewrites the tail it found, so what it then calls durable survives a power cut', () => {
    for (const seed of [1, 2, 3]) {
      const dir = new SimulatedDirectory({ seed });
      const w = WalWriter.create(dir, { codec: raw, flushPolicy: 'manual' });
      for (let i = 1; i <= 3; i++) w.append(payload(i));
      w.syncSync();
      for (let i = 4; i <= 6; i++) w.append(payload(i));
      w.flushSync(); // 4..6 reach the page cache only; the writer then dies (its lock is dropped).
      (w as unknown as { state: { lock: { release(): void } } }).state.lock.release();
      dir.injectFault({ op: 'sync', error: 'EIO', path: '.wal' });
      assert.throws(() => WalWriter.open(dir, { codec: raw }), IoError);
      // The failed fdatasync dropped 4..6 from what will reach the disk; the cache still shows them.
      const again = WalWriter.open(dir, { codec: raw });
      const trusted = again.durableEntryId;
      assert.equal(trusted, 6);
      const after = dir.crash({ mode: 'dropAll' });
      const ids = new WalReader(after, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
      assert.deepEqual(ids, [1, 2, 3, 4, 5, 6], `seed ${seed}: every entry the reopened writer called durable is on disk`);
    }
  });

  it('a version 1 segment: a frame longer than W, written alone after a sync, is rewritten whole', () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    const built = buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 64, payloads: payloadsFor(1, 2, 10) }, dir.checksum);
    writeSegmentFile(dir, 1, built.bytes); // v1, W = 64, synced
    const a = WalWriter.open(dir, { codec: raw });
    a.append(new Uint8Array(300).fill(3)); // longer than W: written alone
    a.flushSync();
    // Its fdatasync fails, and so does the poisoned writer's cut back to the last sync: the page
    // cache keeps showing the frame, the disk never gets it.
    dir.injectFault({ op: 'sync', error: 'EIO' });
    dir.injectFault({ op: 'truncate', error: 'EIO' });
    assert.throws(() => a.syncSync(), IoError);
    assert.throws(() => a.closeSync());
    const b = WalWriter.open(dir, { codec: raw });
    assert.equal(b.nextEntryId, 4, 'the page cache shows entry 3');
    b.append(new Uint8Array(5).fill(4));
    b.syncSync(); // acknowledges 1..4
    b.closeSync();
    const after = dir.crash({ mode: 'dropAll', seed: 1 });
    assert.deepEqual(new WalReader(after, { codec: raw }).replaySync().map((r) => r.entryId), [1, 2, 3, 4]);
  });
});

describe('CLI: inspect, verify and repair on bit rot', function () {
  this.timeout(120_000);
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-marks-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const cli = runCli;

  for (const make of [closedLog, groupCommitLog]) {
    it(`report the frames after the damage; repair refuses; repair --force keeps every byte it cuts (${make.name})`, async () => {
      const log = await make();
      for (const offset of [5, SEGMENT_HEADER_SIZE + 4, Math.floor(log.vouched / 2), log.vouched - 1]) {
        fs.rmSync(tmp, { recursive: true, force: true });
        fs.mkdirSync(path.join(tmp, 'wal'), { recursive: true });
        const bad = flipped(log.bytes, offset, 6);
        fs.writeFileSync(path.join(tmp, log.path), bad);
        const verify = await cli(['verify', tmp]);
        assert.equal(verify.code, 1);
        assert.match(verify.out, /mid-log damage/);
        const inspect = await cli(['inspect', '--json', tmp]);
        assert.equal(inspect.code, 1);
        const row = JSON.parse(inspect.out).segments[0];
        assert.equal(row.state, 'damaged');
        const framesFollow = offset >= SEGMENT_HEADER_SIZE && offset < log.vouched - 1000;
        if (framesFollow) {
          assert.ok(row.following > 0, `inspect counts the frames after the flip at ${offset}`);
          assert.match(verify.out, /frame\(s\) passing their CRC follow/);
        }
        const refused = await cli(['repair', tmp]);
        assert.equal(refused.code, 1);
        assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(tmp, log.path))), bad, 'repair changed nothing');
        const forced = await cli(['repair', '--force', tmp]);
        assert.equal(forced.code, 0, forced.err);
        assert.match(forced.out, /preserved: /);
        // Nothing lost: what is left of the segment, then the quarantine, is the file as it was.
        const quarantines = fs.readdirSync(path.join(tmp, 'wal')).filter((n) => n.endsWith('.quarantine'));
        assert.equal(quarantines.length, 1);
        const kept = new Uint8Array(fs.readFileSync(path.join(tmp, 'wal', quarantines[0])));
        const cutAt = Number(/\.wal\.(\d+)\.quarantine$/.exec(quarantines[0])![1]);
        const left = fs.existsSync(path.join(tmp, log.path)) ? new Uint8Array(fs.readFileSync(path.join(tmp, log.path))) : new Uint8Array(0);
        assert.ok(cutAt <= offset + 1);
        assert.deepEqual(kept, bad.subarray(cutAt));
        if (left.length > 0) {
          assert.deepEqual(left.subarray(0, cutAt), bad.subarray(0, cutAt));
          assert.equal((await cli(['verify', tmp])).code, 0, 'the forced repair leaves a log that verifies');
        }
        if (framesFollow) {
          // The entries the cut dropped are named, and are the ones after what the log keeps.
          const kept = left.length === 0 ? 0 : new WalReader(new FsDirectory(tmp), { codec: raw }).replaySync().length;
          assert.match(forced.out, new RegExp(`entries ${kept + 2}\\.\\.\\d+\\)`));
        }
      }
    });
  }
});
