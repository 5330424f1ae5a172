import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError, DecodeError, InvalidArgumentError, RecoveryGapError } from '../lib/errors';
import { jsonCodec, raw } from '../lib/wal/codec';
import { encodeFrame, encodeSegmentHeader, segmentPath, WAL_DIR } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader, type WalRecord } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { followPayload } from './fixtures/follow-payload';
import { countingLists, refusingNegatives, settlesAfterPolls, take } from './support/follow-polls';

type E = { n: number };
const codec = jsonCodec<E>();

function writeRaw(dir: Directory, file: string, bytes: Uint8Array): void {
  const f = dir.openAppend(file);
  try {
    f.write(bytes);
  } finally {
    f.close();
  }
}

describe('WalReader.follow in one process', () => {
  for (const kind of ['memory', 'fs'] as const) {
    it(`never yields a frame that is still being written; yields it once complete (${kind})`, async () => {
      const root = kind === 'fs' ? fs.mkdtempSync(path.join(os.tmpdir(), 'durability-follow-')) : undefined;
      const counted = countingLists(root === undefined ? new MemoryDirectory() : new FsDirectory(root));
      const dir = counted.dir;
      const ac = new AbortController();
      try {
        dir.mkdirp(WAL_DIR);
        const { bytes: head, header } = encodeSegmentHeader({ segmentId: 1, firstEntryId: 1, syncWindow: 1 << 20 }, dir.checksum);
        dir.create(segmentPath(1)).close();
        const it = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 2 });
        const first = it.next();
        assert.equal(await settlesAfterPolls(first, counted.lists), false, 'empty segment file');
        writeRaw(dir, segmentPath(1), head.subarray(0, 20));
        assert.equal(await settlesAfterPolls(first, counted.lists), false, 'half a header');
        writeRaw(dir, segmentPath(1), head.subarray(20));
        const frame = encodeFrame(1, codec.encode({ n: 1 }), header.salt, dir.checksum);
        // Byte by byte: nothing may come out before the last byte lands.
        for (let i = 0; i < frame.length - 1; i++) {
          writeRaw(dir, segmentPath(1), frame.subarray(i, i + 1));
          if (i % 4 === 0) assert.equal(await settlesAfterPolls(first, counted.lists), false, `${i + 1} of ${frame.length} bytes`);
        }
        assert.equal(await settlesAfterPolls(first, counted.lists), false, 'all but the last byte');
        writeRaw(dir, segmentPath(1), frame.subarray(frame.length - 1));
        // The same check sees the frame once it is whole: it can fail.
        assert.equal(await settlesAfterPolls(first, counted.lists), true, 'the whole frame');
        assert.deepEqual(await first, { done: false, value: { entryId: 1, payload: { n: 1 } } });
        const second = it.next();
        ac.abort();
        assert.deepEqual(await second, { done: true, value: undefined });
      } finally {
        ac.abort();
        if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('a final segment shorter than a header and not the start of one is a CorruptionError, not a segment being created', async () => {
    const counted = countingLists(new MemoryDirectory());
    const dir = counted.dir;
    dir.mkdirp(WAL_DIR);
    dir.atomicWrite(segmentPath(1), new TextEncoder().encode('NOPE'));
    const ac = new AbortController();
    try {
      const first = new WalReader(dir, { codec }).follow({ signal: ac.signal, maxPollIntervalMs: 2 }).next();
      first.catch(() => undefined);
      assert.equal(await settlesAfterPolls(first, counted.lists), true, 'not awaited as a header being written');
      await assert.rejects(first, (e: unknown) => e instanceof CorruptionError && e.file === segmentPath(1) && /not a WAL segment/.test(e.reason));
    } finally {
      ac.abort();
    }
  });

  it('an entry larger than its maxPayloadSize is a DecodeError naming it, not an endless wait', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec: raw });
    for (const n of [4, 1000, 4]) w.append(new Uint8Array(n).fill(n & 0xff));
    w.closeSync();
    const ac = new AbortController();
    try {
      const it = new WalReader(dir, { codec: raw, maxPayloadSize: 100 }).follow({ signal: ac.signal, maxPollIntervalMs: 2 });
      const first = await it.next();
      assert.equal(first.done !== true && first.value.entryId, 1);
      await assert.rejects(it.next(), (err: unknown) => err instanceof DecodeError && err.entryId === 2 && /maxPayloadSize 100/.test(err.message));
    } finally {
      ac.abort();
    }
  });

  it('an entry its codec refuses is a DecodeError after the entries read with it in the same look, which are yielded first', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec });
    for (const n of [1, 2, -3, 4]) w.append({ n });
    w.closeSync();
    const positive = refusingNegatives(codec);
    const ac = new AbortController();
    try {
      const it = new WalReader(dir, { codec: positive }).follow({ signal: ac.signal, maxPollIntervalMs: 2 });
      assert.deepEqual((await take(it, 2)).map((r) => r.entryId), [1, 2]);
      await assert.rejects(it.next(), (err: unknown) => err instanceof DecodeError && err.entryId === 3 && /negative/.test(err.message));
    } finally {
      ac.abort();
    }
  });

  it('follows a writer across rotations and truncation of read segments, from any entry, and ends on abort', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec, maxSegmentSize: 120, flushPolicy: 'perAppend' });
    for (let n = 1; n <= 10; n++) w.append({ n });
    const ac = new AbortController();
    const it = new WalReader(dir, { codec }).follow({ fromEntryId: 4, signal: ac.signal, maxPollIntervalMs: 2 });
    const got: WalRecord<E>[] = await take(it, 7);
    assert.deepEqual(got.map((r) => r.entryId), [4, 5, 6, 7, 8, 9, 10]);
    const maintenance = new WalMaintenance(dir);
    for (let n = 11; n <= 60; n++) {
      w.append({ n });
      if (n % 10 === 0) {
        got.push(...(await take(it, n - got[got.length - 1].entryId)));
        maintenance.truncatePrefix(got[got.length - 1].entryId);
      }
    }
    assert.deepEqual(got.map((r) => r.payload.n), Array.from({ length: 57 }, (_, i) => i + 4));
    assert.ok(w.currentSegmentId > 10, 'the writer rotated many times');
    const pending = it.next();
    ac.abort();
    assert.deepEqual(await pending, { done: true, value: undefined });
    w.closeSync();
  });

  it('RecoveryGapError when the entries it needs were truncated; CorruptionError for damage in a complete segment', async () => {
    const dir = new MemoryDirectory();
    const w = WalWriter.create(dir, { codec, maxSegmentSize: 100, flushPolicy: 'perAppend' });
    for (let n = 1; n <= 20; n++) w.append({ n });
    new WalMaintenance(dir).truncatePrefix(10);
    const first = new WalMaintenance(dir).segmentRanges()[0].firstEntryId;
    await assert.rejects(take(new WalReader(dir, { codec }).follow({ fromEntryId: 1 }), 1), (e: unknown) => e instanceof RecoveryGapError && e.expectedEntryId === 1 && e.foundEntryId === first);
    w.closeSync();
    const seg = new WalMaintenance(dir).segmentRanges()[0];
    const b = dir.readFile(seg.path).slice();
    b[40] ^= 1;
    dir.atomicWrite(seg.path, b);
    await assert.rejects(take(new WalReader(dir, { codec }).follow({ fromEntryId: seg.firstEntryId }), 30), CorruptionError);
  });

  it('checks its options and ends at once on an aborted signal', async () => {
    const dir = new MemoryDirectory();
    assert.throws(() => new WalReader(dir, { codec }).follow({ fromEntryId: 0 }), InvalidArgumentError);
    assert.throws(() => new WalReader(dir, { codec }).follow({ maxPollIntervalMs: 0 }), InvalidArgumentError);
    assert.throws(() => new WalReader(dir, { codec }).follow({ maxPollIntervalMs: 2 ** 31 }), InvalidArgumentError);
    assert.throws(() => new WalReader(dir, { codec }).follow({ maxPollIntervalMs: Infinity }), InvalidArgumentError);
    assert.deepEqual(await new WalReader(dir, { codec }).follow({ signal: AbortSignal.abort() }).next(), { done: true, value: undefined });
  });
});

for (const backend of availableBackends()) {
  for (const mode of ['truncate', 'recycle'] as const) {
    describe(`WalReader.follow across processes (${backend.name}, ${mode})`, () => {
      it('yields exactly the entries another process appends, in order, every byte intact', async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-follow-'));
        const count = 3000;
        const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'follow-writer.js'), root, backend.name, String(count), mode], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        const ac = new AbortController();
        // The child exits only when told to; exiting earlier fails the test instead of hanging it.
        let told = false;
        const exited = once(child, 'exit');
        const early = exited.then(([code]) => {
          if (!told) throw new Error(`the writer process exited early (code ${String(code)})`);
          return { done: true as const, value: undefined };
        });
        early.catch(() => undefined); // observed by the race below; not unhandled when the test ends otherwise
        // The child truncates when it reads an ack, on its own time: the check of what was removed
        // waits for its answer to the last one (under load it came after the follower's end).
        const acked = new Set<string>();
        let onAcked = (): void => undefined;
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          if (line.startsWith('acked ')) acked.add(line.slice('acked '.length));
          onAcked();
        });
        const untilAcked = (id: number): Promise<void> => new Promise((resolve) => {
          onAcked = () => { if (acked.has(String(id))) resolve(); };
          onAcked();
        });
        try {
          const dir = new FsDirectory(root, { backend });
          const it = new WalReader(dir, { codec: raw }).follow({ signal: ac.signal });
          let next = 1;
          for (;;) {
            const r = await Promise.race([it.next(), early]);
            assert.equal(r.done, false);
            const rec = r.value as WalRecord<Uint8Array>;
            assert.equal(rec.entryId, next);
            assert.deepEqual(rec.payload, followPayload(next), `payload of entry ${next}`);
            if (next % 200 === 0) child.stdin.write(`ack ${next - 100}\n`);
            if (next === count) break;
            next++;
          }
          const pending = it.next();
          ac.abort();
          assert.deepEqual(await pending, { done: true, value: undefined });
          await Promise.race([untilAcked(count - 100), early]);
          assert.ok(listSegments(dir).length < 8, `segments the follower had read were removed (${listSegments(dir).length} left)`);
          told = true;
          child.stdin.write('exit\n');
          const [code] = await exited;
          assert.equal(code, 0);
        } finally {
          ac.abort();
          if (child.exitCode === null) child.kill('SIGKILL');
          fs.rmSync(root, { recursive: true, force: true });
        }
      });
    });
  }
}
