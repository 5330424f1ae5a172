import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { DecodeError, InvalidArgumentError } from '../lib/errors';
import { jsonCodec, type Codec } from '../lib/wal/codec';
import { FRAME_HEADER_SIZE, MARK_LENGTH, MARK_SIZE, SEGMENT_HEADER_SIZE, checkSegmentHeader, maskCrc, readU32, segmentPath } from '../lib/wal/format';
import { WalReader, type WalRecord } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { failSyncAndReopen } from './support/cut-back';
import { Prng } from '../lib/directory/prng';
import { countingLists, refusingNegatives, settlesAfterPolls, take } from './support/follow-polls';

// follow({ durableOnly: true }) is how a process that does not own the writer (a forwarder in
// another process) ships only what a power cut cannot take: it yields an entry once a sync mark
// or the next segment proves it durable, and a writer cutting back its unsynced tail is not an
// error to it.
type E = { n: number };
const codec = jsonCodec<E>();
const ids = (records: readonly WalRecord<E>[]): number[] => records.map((r) => r.entryId);

/** Appends a background consumer of `it` to `got`; returns a promise for its end. */
function drain(it: AsyncIterableIterator<WalRecord<E>>, got: WalRecord<E>[]): Promise<unknown> {
  return (async () => {
    for await (const r of it) got.push(r);
  })().catch((err: unknown) => err);
}

/** Waits until the follower has looked at the log twice more (so it saw everything written before). */
async function twoPolls(lists: () => number): Promise<void> {
  const start = lists();
  while (lists() < start + 2) await new Promise((resolve) => setTimeout(resolve, 1));
}

describe('follow({ durableOnly: true })', () => {
  it('holds back entries no sync mark vouches for; a later write\'s mark releases them, and close the rest', async () => {
    const counted = countingLists(new MemoryDirectory());
    // idleMarkMs 0: only writes carry marks here (the idle mark has a test of its own below).
    const w = WalWriter.create(counted.dir, { codec, flushPolicy: 'perAppend', idleMarkMs: 0 });
    const ac = new AbortController();
    try {
      for (let n = 1; n <= 3; n++) w.append({ n });
      const eager = new WalReader(counted.dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1 });
      assert.deepEqual(ids(await take(eager, 3)), [1, 2, 3], 'without durableOnly the written frames are yielded at once');
      const it = new WalReader(counted.dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
      const first = it.next();
      assert.equal(await settlesAfterPolls(first, counted.lists), false, 'written, not synced');
      w.syncSync();
      assert.equal(await settlesAfterPolls(first, counted.lists), false, 'synced, but nothing in the log says so yet');
      w.append({ n: 4 }); // its write is led by a sync mark covering 1..3
      assert.equal(await settlesAfterPolls(first, counted.lists), true, 'vouched for by the mark');
      assert.deepEqual((await first).value, { entryId: 1, payload: { n: 1 } });
      assert.deepEqual(ids(await take(it, 2)), [2, 3]);
      const fourth = it.next();
      assert.equal(await settlesAfterPolls(fourth, counted.lists), false, 'entry 4 follows the last mark');
      w.closeSync(); // the closing mark vouches for every frame
      assert.deepEqual((await fourth).value, { entryId: 4, payload: { n: 4 } });
    } finally {
      ac.abort();
    }
  });

  it('yields the entries of every segment the writer has moved past, and none of the newest before a mark', async () => {
    const counted = countingLists(new MemoryDirectory());
    const w = WalWriter.create(counted.dir, { codec, flushPolicy: 'perAppend', maxSegmentSize: 150 });
    const ac = new AbortController();
    try {
      for (let n = 1; n <= 20; n++) w.append({ n });
      const segments = listSegments(counted.dir);
      assert.ok(segments.length >= 3, `${segments.length} segments`);
      const newest = checkSegmentHeader(counted.dir.readFile(segments[segments.length - 1].path), counted.dir.checksum);
      assert.equal(newest.kind, 'ok');
      const firstOfNewest = newest.kind === 'ok' ? newest.header.firstEntryId : 0;
      const got: WalRecord<E>[] = [];
      const done = drain(new WalReader(counted.dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true }), got);
      await twoPolls(counted.lists);
      await twoPolls(counted.lists);
      assert.deepEqual(ids(got), Array.from({ length: firstOfNewest - 1 }, (_, i) => i + 1));
      w.closeSync();
      await twoPolls(counted.lists);
      assert.deepEqual(ids(got), Array.from({ length: 20 }, (_, i) => i + 1));
      ac.abort();
      assert.equal(await done, undefined);
    } finally {
      ac.abort();
    }
  });

  it('a writer that cuts its unsynced tail back (failed fdatasync) is no error: the new history is followed', async () => {
    const counted = countingLists(new SimulatedDirectory({ seed: 3 }));
    const dir = counted.dir as SimulatedDirectory;
    let w = WalWriter.create(dir, { codec, flushPolicy: 'perAppend' });
    const ac = new AbortController();
    try {
      w.append({ n: 1 });
      w.syncSync();
      for (let n = 2; n <= 4; n++) w.append({ n: 100 + n }); // the first carries the mark for entry 1
      const got: WalRecord<E>[] = [];
      const done = drain(new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true }), got);
      await twoPolls(counted.lists);
      assert.deepEqual(got.map((r) => r.payload.n), [1]);
      w = failSyncAndReopen(dir, w, { codec, flushPolicy: 'perAppend' });
      for (let n = 2; n <= 5; n++) w.append({ n: 200 + n });
      w.closeSync();
      await twoPolls(counted.lists);
      assert.deepEqual(got.map((r) => `${r.entryId}:${r.payload.n}`), ['1:1', '2:202', '3:203', '4:204', '5:205']);
      ac.abort();
      assert.equal(await done, undefined, 'no CorruptionError');
    } finally {
      ac.abort();
    }
  });

  // Frame CRCs are not chained: after a cut-back, new frames of the same sizes put the last frame
  // read back in place byte for byte when its payload is the same, while the ones before it differ.
  for (const provedBy of ['a sync mark', 'the next segment'] as const) {
    it(`a cut-back whose new frames end with the last frame read is still a cut-back: the frames held before it are read again (proved by ${provedBy})`, async () => {
      const counted = countingLists(new SimulatedDirectory({ seed: 5 }));
      const dir = counted.dir as SimulatedDirectory;
      // 120 bytes: room for the header and three 25-byte frames, not a fourth (it opens segment 2).
      const options = { codec, flushPolicy: 'perAppend' as const, maxSegmentSize: provedBy === 'a sync mark' ? undefined : 120 };
      let w = WalWriter.create(dir, options);
      const ac = new AbortController();
      try {
        if (provedBy === 'a sync mark') {
          w.append({ n: 1 });
          w.syncSync();
        }
        const first = provedBy === 'a sync mark' ? 2 : 1;
        for (const n of [101, 102, 999]) w.append({ n });
        const got: WalRecord<E>[] = [];
        const done = drain(new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true }), got);
        await twoPolls(counted.lists);
        w = failSyncAndReopen(dir, w, options);
        for (const n of [201, 202, 999]) w.append({ n }); // same ids, offsets and sizes; the last frame identical
        if (provedBy === 'a sync mark') w.syncSync();
        w.append({ n: 4 }); // a mark vouching for the three, or the first entry of segment 2
        await twoPolls(counted.lists);
        const log = new WalReader(dir, { codec }).replaySync({ mode: 'strict' });
        assert.deepEqual(log.slice(first - 1, first + 2).map((r) => r.payload.n), [201, 202, 999]);
        assert.deepEqual(got.slice(first - 1).map((r) => r.payload.n), [201, 202, 999]);
        assert.deepEqual(got, log.slice(0, got.length), 'what the log holds, in order');
        ac.abort();
        assert.equal(await done, undefined);
        w.closeSync();
      } finally {
        ac.abort();
      }
    });
  }

  // An entry it cannot hand on is reported as any other entry is handed on: after the ones before
  // it, and once proven durable (a cut-back may still replace it).
  for (const kind of ['over maxPayloadSize', 'refused by its codec'] as const) {
    it(`an entry ${kind} is a DecodeError once proven, after the held entries before it`, async () => {
      const counted = countingLists(new SimulatedDirectory({ seed: 7 }));
      const dir = counted.dir as SimulatedDirectory;
      const options = { codec, flushPolicy: 'perAppend' as const };
      let w = WalWriter.create(dir, options);
      const unreadable = kind === 'over maxPayloadSize' ? { n: 3, pad: 'x'.repeat(100) } : { n: -3 };
      const positive = refusingNegatives(codec);
      const reader = () => new WalReader(dir, kind === 'over maxPayloadSize' ? { codec, maxPayloadSize: 50 } : { codec: positive });
      const ac = new AbortController();
      try {
        // Cut back before anything proves it: never reported.
        w.append({ n: 1 });
        w.append(unreadable);
        const replaced = reader().follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
        const firstOfReplaced = replaced.next();
        assert.equal(await settlesAfterPolls(firstOfReplaced, counted.lists), false, 'nothing proven yet');
        w = failSyncAndReopen(dir, w, options);
        for (const n of [1, 2]) w.append({ n });
        w.syncSync();
        w.append(unreadable); // its mark proves 1 and 2
        assert.deepEqual((await firstOfReplaced).value, { entryId: 1, payload: { n: 1 } });
        assert.deepEqual(ids(await take(replaced, 1)), [2]);
        // Entry 4 waits for a mark as entry 3 did: nothing is reported before 3 is proven.
        w.append({ n: 4 });
        const it = reader().follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
        assert.deepEqual(ids(await take(it, 2)), [1, 2]);
        const third = it.next();
        third.catch(() => undefined);
        assert.equal(await settlesAfterPolls(third, counted.lists), false, 'entry 3 is not proven yet');
        w.closeSync();
        await assert.rejects(third, (err: unknown) => err instanceof DecodeError && err.entryId === 3);
        await assert.rejects(replaced.next(), (err: unknown) => err instanceof DecodeError && err.entryId === 3);
      } finally {
        ac.abort();
      }
    });
  }

  // A writer may go a whole segment without a sync (the sync window defaults to the segment size,
  // and v1 segments have no marks at all): the follower must not hold all of it decoded.
  it('decodes at most a batch of entries ahead of what is proven, however long the writer goes without a sync; all come out once proven, in order', async () => {
    const counted = countingLists(new MemoryDirectory());
    const w = WalWriter.create(counted.dir, { codec, flushPolicy: { everyN: 256 } });
    let decoded = 0;
    const counting: Codec<E> = { name: 'counting', encode: codec.encode, decode: (b) => (decoded++, codec.decode(b)) };
    const total = 12_000;
    for (let n = 1; n <= total; n++) w.append({ n });
    w.flushSync();
    const ac = new AbortController();
    try {
      const it = new WalReader(counted.dir, { codec: counting }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
      const first = it.next();
      // Enough looks to read the whole segment several times over (a look reads about 2,000 records).
      assert.equal(await settlesAfterPolls(first, counted.lists, 30), false, 'nothing is proven');
      assert.ok(decoded <= 4096, `${decoded} entries decoded while none is proven`);
      w.syncSync();
      w.append({ n: total + 1 });
      w.flushSync(); // its write is led by a mark that proves the rest
      const got = [(await first).value as WalRecord<E>, ...await take(it, total - 1)];
      assert.deepEqual(ids(got), Array.from({ length: total }, (_, i) => i + 1));
      assert.ok(got.every((r) => r.payload.n === r.entryId));
      w.closeSync();
    } finally {
      ac.abort();
    }
  });

  it('entries passed over in a segment the writer moved past without a mark are read again before the next segment', async () => {
    const dir = new MemoryDirectory();
    // About 6,000 entries a segment and no sync but the ones rotation makes.
    const w = WalWriter.create(dir, { codec, flushPolicy: { everyN: 256 }, maxSegmentSize: 150_000 });
    const total = 15_000;
    for (let n = 1; n <= total; n++) w.append({ n });
    w.flushSync();
    const segments = listSegments(dir);
    assert.equal(segments.length, 3);
    const newest = checkSegmentHeader(dir.readFile(segments[2].path), dir.checksum);
    const proven = newest.kind === 'ok' ? newest.header.firstEntryId - 1 : 0;
    const ac = new AbortController();
    try {
      const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
      assert.deepEqual(ids(await take(it, proven)), Array.from({ length: proven }, (_, i) => i + 1));
      w.closeSync();
      assert.deepEqual(ids(await take(it, total - proven)), Array.from({ length: total - proven }, (_, i) => proven + i + 1));
    } finally {
      ac.abort();
    }
  });

  it('an entry its codec refuses among entries passed over is reported after the ones before it, and none after it is yielded', async () => {
    const dir = new MemoryDirectory();
    // About 4,600 entries in segment 1, proven by segment 2 alone: more than are held decoded.
    const w = WalWriter.create(dir, { codec, flushPolicy: { everyN: 256 }, maxSegmentSize: 120_000 });
    for (let n = 1; n <= 5000; n++) w.append({ n: n === 4500 ? -n : n });
    w.flushSync();
    assert.equal(listSegments(dir).length, 2);
    const positive = refusingNegatives(codec);
    const ac = new AbortController();
    try {
      const it = new WalReader(dir, { codec: positive }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
      assert.deepEqual(ids(await take(it, 4499)), Array.from({ length: 4499 }, (_, i) => i + 1));
      await assert.rejects(it.next(), (err: unknown) => err instanceof DecodeError && err.entryId === 4500);
      w.closeSync();
    } finally {
      ac.abort();
    }
  });

  it('a mark whose watermark lies past the mark itself vouches for nothing', async () => {
    const counted = countingLists(new MemoryDirectory());
    const w = WalWriter.create(counted.dir, { codec, flushPolicy: 'perAppend' });
    w.append({ n: 1 });
    w.syncSync();
    w.append({ n: 2 }); // led by a mark with D = the end of entry 1
    const path = segmentPath(1);
    const bytes = counted.dir.readFile(path).slice();
    w.closeSync();
    const check = checkSegmentHeader(bytes, counted.dir.checksum);
    assert.equal(check.kind, 'ok');
    const salt = check.kind === 'ok' ? check.header.salt : 0;
    let at = SEGMENT_HEADER_SIZE;
    while (readU32(bytes, at + 4) !== MARK_LENGTH) at += FRAME_HEADER_SIZE + readU32(bytes, at + 4);
    // D past the mark's own offset, resealed so that only the watermark's range gives it away.
    new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at + FRAME_HEADER_SIZE, BigInt(bytes.length), true);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, maskCrc(counted.dir.checksum.crc32c(bytes.subarray(at + 4, at + MARK_SIZE), salt)), true);
    const forged = countingLists(new MemoryDirectory());
    forged.dir.mkdirp('wal');
    forged.dir.atomicWrite(path, bytes);
    const ac = new AbortController();
    try {
      const first = new WalReader(forged.dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true }).next();
      assert.equal(await settlesAfterPolls(first, forged.lists), false);
    } finally {
      ac.abort();
    }
  });

  it("an idle writer's lone sync mark releases its newest entries without another write (idleMarkMs)", async () => {
    for (const dir of [new MemoryDirectory(), new SimulatedDirectory({ seed: 5 })]) {
      const w = WalWriter.create(dir, { codec });
      const ac = new AbortController();
      // Without the mark the third entry would never come: the follower gives up (not a speed bound).
      const giveUp = setTimeout(() => ac.abort(), 20_000);
      try {
        // Each batch's write carries the mark for the one before; nothing follows the third.
        for (let n = 1; n <= 3; n++) await w.appendDurable({ n });
        const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly: true });
        assert.deepEqual(ids(await take(it, 3)), [1, 2, 3], dir.kind);
        assert.equal(w.lastEntryId, 3);
      } finally {
        clearTimeout(giveUp);
        ac.abort();
        await w.close();
      }
      assert.deepEqual(ids(new WalReader(dir, { codec }).replaySync()), [1, 2, 3], 'the log reads the same with the mark in it');
    }
    assert.throws(() => WalWriter.create(new MemoryDirectory(), { codec, idleMarkMs: -1 }), InvalidArgumentError);
  });

  it('an idle writer whose owner keeps syncing is marked once, not once per sync', async () => {
    for (const how of ['syncSync', 'sync'] as const) {
      const dir = new MemoryDirectory();
      // idleMarkMs 0: the test runs what the idle timer runs (markWhileIdle), at chosen steps.
      const w = WalWriter.create(dir, { codec, idleMarkMs: 0 });
      const markWhileIdle = (): void => (w as unknown as { markWhileIdle(): void }).markWhileIdle();
      w.append({ n: 1 });
      w.syncSync();
      markWhileIdle();
      const marked = w.currentSegmentBytes;
      for (let i = 0; i < 5; i++) {
        // A periodic sync with nothing new: its fdatasync covers only the idle mark.
        if (how === 'syncSync') w.syncSync();
        else await w.sync();
        markWhileIdle();
      }
      assert.equal(w.currentSegmentBytes, marked, `${how}: no mark after a sync that covered only a mark`);
      w.append({ n: 2 });
      w.syncSync();
      const before = w.currentSegmentBytes;
      markWhileIdle();
      assert.equal(w.currentSegmentBytes, before + MARK_SIZE, `${how}: a new entry synced is marked again`);
      w.closeSync();
      assert.deepEqual(ids(new WalReader(dir, { codec }).replaySync()), [1, 2]);
    }
  });

  it('refuses a durableOnly that is not a boolean', () => {
    const reader = new WalReader(new MemoryDirectory(), { codec });
    assert.throws(() => reader.follow({ durableOnly: 'yes' as unknown as boolean }), InvalidArgumentError);
  });

  describe('power cuts: nothing it yielded is lost', () => {
    /** Runs a random workload under a follower, cuts the power, and returns what it yielded and what the log kept. */
    async function run(seed: number, durableOnly: boolean): Promise<{ yielded: WalRecord<E>[]; kept: WalRecord<E>[] }> {
      const rng = new Prng(seed);
      const counted = countingLists(new SimulatedDirectory({ seed }));
      const dir = counted.dir as SimulatedDirectory;
      const w = WalWriter.create(dir, { codec, flushPolicy: 'perAppend', maxSegmentSize: 200 + rng.int(800) });
      const ac = new AbortController();
      const yielded: WalRecord<E>[] = [];
      const done = drain(new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 1, durableOnly }), yielded);
      let n = 0;
      for (let step = 0; step < 12; step++) {
        const kind = rng.int(3);
        if (kind === 0) for (let k = 1 + rng.int(4); k > 0; k--) w.append({ n: ++n });
        else if (kind === 1) await Promise.all(Array.from({ length: 1 + rng.int(4) }, () => w.appendDurable({ n: ++n })));
        else w.syncSync();
        await twoPolls(counted.lists);
      }
      ac.abort();
      await done;
      const after = dir.crash({ seed });
      const kept = new WalReader(after as Directory, { codec }).replaySync({ mode: 'bestEffortTail' });
      return { yielded, kept };
    }

    const SEEDS = 30;
    it(`every entry yielded before the cut is in the log after it, with the same payload (${SEEDS} seeded runs)`, async () => {
      let total = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const { yielded, kept } = await run(seed, true);
        assert.deepEqual(yielded, kept.slice(0, yielded.length), `seed ${seed}`);
        total += yielded.length;
      }
      assert.ok(total > 0, 'the follower yielded entries');
    });

    it('the same runs without durableOnly yield entries the cut took (what the option is for)', async () => {
      let lost = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const { yielded, kept } = await run(seed, false);
        if (kept.length < yielded.length) lost++;
      }
      assert.ok(lost > 0, 'some run lost a yielded entry');
    });
  });
});
