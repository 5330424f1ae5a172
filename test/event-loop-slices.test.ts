// Async reads share the event loop: records(), replay(), entryCount(), recover() and follow()
// read in bounded slices and let the loop turn between them, whatever the log holds. The case
// here is the one that used to stall: a final segment whose tail is a big sparse run of zeros
// (zero-filled or preallocated, then the writer died), which the strict reader must check to
// its end.
//
// No clock is read. A setImmediate ticker counts turns of the event loop and every read() of a
// log file is tagged with the count at that moment: the bytes read within one turn are what
// one slice did. Each turn runs at most one slice of the reader, on an idle or a loaded
// machine alike, so the bound below holds whatever the timing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import type { Directory, ReadableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { recover } from '../lib/recover';
import { json } from '../lib/wal/codec';
import { SEGMENT_HEADER_SIZE, segmentPath } from '../lib/wal/format';
import { SLICE_WORK } from '../lib/wal/pacer';
import { WalReader } from '../lib/wal/reader';
import { SCAN_CHUNK } from '../lib/wal/scan-window';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const ZERO_TAIL = 64 * 1024 * 1024;
/** One slice: its budget, plus the read that crossed it. Twice that leaves room for a slice that started a turn late. */
const TURN_BOUND = 2 * (SLICE_WORK + SCAN_CHUNK);
const ENTRIES = 300;

interface ReadLog {
  /** Bytes read per turn of the event loop (index: turn). */
  readonly perTurn: Map<number, number>;
  total: number;
}

/** `inner`, with every read of an opened file tagged by the turn it happened in. */
function taggedReads(inner: Directory, log: ReadLog, turnNow: () => number): Directory {
  const wrapFile = (file: ReadableFile): ReadableFile => overriding(file, {
    read: (into, position) => {
      const n = file.read(into, position);
      const t = turnNow();
      log.perTurn.set(t, (log.perTurn.get(t) ?? 0) + n);
      log.total += n;
      return n;
    },
  });
  return overriding(inner, { openRead: (p) => wrapFile(inner.openRead(p)) });
}

/** Counts turns of the event loop until stopped. */
function ticker(): { now: () => number; stop: () => void } {
  let turns = 0;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return { now: () => turns, stop: () => (stopped = true) };
}

function assertSliced(log: ReadLog, what: string): void {
  assert.ok(log.total >= ZERO_TAIL, `${what}: read ${log.total} bytes, the zero tail alone is ${ZERO_TAIL}`);
  const worst = Math.max(...log.perTurn.values());
  assert.ok(worst <= TURN_BOUND, `${what}: ${worst} bytes read in one turn of the event loop (bound ${TURN_BOUND})`);
  assert.ok(log.perTurn.size >= ZERO_TAIL / TURN_BOUND, `${what}: reads spread over only ${log.perTurn.size} turns`);
}

/** Id of the newest segment under root/wal. */
function listFinal(root: string): number {
  return Math.max(...fs.readdirSync(path.join(root, 'wal')).filter((n) => n.endsWith('.wal')).map((n) => Number(n.slice(0, -4))));
}

for (const backend of availableBackends()) {
  describe(`async reads turn the event loop between slices (${backend.name})`, function () {
    this.timeout(60_000);
    let root: string;
    let dir: FsDirectory;
    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-slices-'));
      dir = new FsDirectory(root, { backend });
      // A small sync window, so a torn tail's witness search (see below) has to look at the whole zero run.
      const w = WalWriter.create(dir, { codec: json, maxSegmentSize: 4096, syncWindow: 64 * 1024 });
      for (let i = 1; i <= ENTRIES; i++) w.append({ i, pad: 'x'.repeat(i % 50) });
      w.closeSync();
      // The writer died with a zero-filled final segment: a sparse run of zeros, no disk used.
      const final = path.join(root, segmentPath(w.currentSegmentId));
      fs.truncateSync(final, fs.statSync(final).size + ZERO_TAIL);
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    async function measured<T>(run: (d: Directory) => Promise<T>): Promise<{ result: T; log: ReadLog }> {
      const log: ReadLog = { perTurn: new Map(), total: 0 };
      const t = ticker();
      try {
        return { result: await run(taggedReads(dir, log, t.now)), log };
      } finally {
        t.stop();
      }
    }

    it('records() in strict mode', async () => {
      const { result, log } = await measured(async (d) => {
        let n = 0;
        for await (const r of new WalReader(d, { codec: json }).records()) assert.equal(r.entryId, ++n);
        return n;
      });
      assert.equal(result, ENTRIES);
      assertSliced(log, 'records()');
    });

    it('replay() and entryCount()', async () => {
      const replayed = await measured((d) => new WalReader(d, { codec: json }).replay());
      assert.equal(replayed.result.length, ENTRIES);
      assertSliced(replayed.log, 'replay()');
      const counted = await measured((d) => new WalReader(d, { codec: json }).entryCount({ mode: 'bestEffortTail' }));
      assert.equal(counted.result, ENTRIES);
      assertSliced(counted.log, 'entryCount()');
    });

    it('recover()', async () => {
      const { result, log } = await measured((d) => recover({
        dir: d, codec: json, stateCodec: json, initial: 0, apply: (s: unknown) => (s as number) + 1, mode: 'strict',
      }));
      assert.equal(result.state, ENTRIES);
      assertSliced(log, 'recover()');
    });

    it('records() in bestEffortTail mode past a torn tail: the zeros, then the witness search over them, both sliced', async () => {
      // Nonzero bytes at the very end: the zero run is not a clean end, so the reader searches the
      // rest of the file for a frame proving damage (none: a torn tail).
      const final = path.join(root, segmentPath(listFinal(root)));
      const fd = fs.openSync(final, 'r+');
      try {
        fs.writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, fs.fstatSync(fd).size - 4);
        const { result, log } = await measured(async (d) => {
          let n = 0;
          for await (const r of new WalReader(d, { codec: json }).records({ mode: 'bestEffortTail' })) assert.equal(r.entryId, ++n);
          return n;
        });
        assert.equal(result, ENTRIES);
        assertSliced(log, 'records() past a torn tail');
        assert.ok(log.total >= 2 * ZERO_TAIL, `read ${log.total} bytes: the search reads the zeros again`);
      } finally {
        fs.writeSync(fd, Buffer.alloc(4), 0, 4, fs.fstatSync(fd).size - 4);
        fs.closeSync(fd);
      }
    });

    it('records() in bestEffortTail mode on a torn final header: the search for a frame proving damage is sliced', async () => {
      // The final segment holds only its header, damaged, over a run of zeros: torn unless a
      // frame of the segment validates somewhere in the file, so all of it is searched.
      const final = path.join(root, segmentPath(listFinal(root)));
      const size = fs.statSync(final).size;
      const saved = fs.readFileSync(final).subarray(0, size - ZERO_TAIL); // the zero tail is put back sparse
      try {
        const header = Buffer.from(saved.subarray(0, SEGMENT_HEADER_SIZE));
        const before = Number(header.readBigUInt64LE(16)) - 1;
        header[20] ^= 0x01;
        fs.writeFileSync(final, header);
        fs.truncateSync(final, SEGMENT_HEADER_SIZE + ZERO_TAIL);
        const { result, log } = await measured(async (d) => {
          let n = 0;
          for await (const r of new WalReader(d, { codec: json }).records({ mode: 'bestEffortTail' })) assert.equal(r.entryId, ++n);
          return n;
        });
        assert.equal(result, before);
        assertSliced(log, 'records() on a torn final header');
      } finally {
        fs.writeFileSync(final, saved);
        fs.truncateSync(final, size);
      }
    });

    it('follow() never reads the newest segment\'s zero tail to its end, and yields between slices', async () => {
      const log: ReadLog = { perTurn: new Map(), total: 0 };
      const t = ticker();
      const abort = new AbortController();
      let n = 0;
      try {
        const reader = new WalReader(taggedReads(dir, log, t.now), { codec: json });
        for await (const r of reader.follow({ signal: abort.signal, maxPollIntervalMs: 5 })) {
          assert.equal(r.entryId, ++n);
          // Once everything is in, let it look at the log a few more times before stopping.
          if (n === ENTRIES) setTimeout(() => abort.abort(), 50);
        }
      } finally {
        t.stop();
      }
      assert.equal(n, ENTRIES);
      const worst = Math.max(...log.perTurn.values());
      assert.ok(worst <= TURN_BOUND, `${worst} bytes read in one turn of the event loop (bound ${TURN_BOUND})`);
      assert.ok(log.total < ZERO_TAIL, `follow() read ${log.total} bytes: it scanned the zero tail`);
    });
  });
}
