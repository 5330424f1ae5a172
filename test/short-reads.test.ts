// Readers over files whose reads return less than asked before the end of the file, as read(2)
// may on FUSE and network file systems: a Directory or FileBackend of the caller's own that
// passes such reads on (ReadableFile.read and FileBackend.pread promise whole reads) must not
// make a reader see the end of the log there. Each reader reads what it reads from whole reads,
// and a writer's open cuts nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { tsBackend } from '../lib/backend/select';
import { loadLatestCheckpoint } from '../lib/checkpoint/store';
import type { Directory, ReadableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { MemoryDirectory } from '../lib/directory/memory';
import { readCursor } from '../lib/jetstream/cursor';
import { recover } from '../lib/recover';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { WalReader } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';
import { fillEveryFileStore, STORE_CODEC, STORE_ENTRIES } from './support/every-file-store';

const codec = STORE_CODEC;
const N = STORE_ENTRIES;

/** Reads of at most half what is asked (at least one byte): never the end of the file before it. */
function halfReads(dir: Directory): Directory {
  const open = (p: string): ReadableFile => {
    const f = dir.openRead(p);
    return overriding(f, { read: (target: Uint8Array, position: number) => f.read(target.subarray(0, Math.max(1, target.length >> 1)), position) });
  };
  return overriding(dir, { openRead: open });
}

function store(dir: Directory): Directory {
  return fillEveryFileStore(dir);
}

const ALL = Array.from({ length: N }, (_, i) => i + 1);

describe('readers over reads that return less than asked', () => {
  it('replay, records() and entryCount read every entry', async () => {
    const dir = halfReads(store(new MemoryDirectory()));
    const reader = new WalReader(dir, { codec });
    assert.deepEqual(reader.replaySync({ mode: 'strict' }).map((r) => r.entryId), ALL);
    const ids: number[] = [];
    for await (const r of reader.records({ mode: 'strict' })) ids.push(r.entryId);
    assert.deepEqual(ids, ALL);
    assert.equal(reader.entryCountSync(), N);
  });

  it("a writer's open finds the last entry and cuts nothing", () => {
    const plain = store(new MemoryDirectory());
    const w = WalWriter.open(halfReads(plain), { codec });
    assert.equal(w.lastEntryId, N);
    assert.equal(w.append({ i: N + 1 }), N + 1);
    w.closeSync();
    assert.deepEqual(new WalReader(plain, { codec }).replaySync({ mode: 'strict' }).map((r) => r.entryId), [...ALL, N + 1]);
  });

  it("a writer's open whose reads end before the file's size (a FUSE or NFS glitch) refuses with an IoError and cuts nothing", () => {
    const plain = store(new MemoryDirectory());
    const last = listSegments(plain).at(-1)!.path;
    const size = plain.openRead(last).size();
    // Reads of the final segment find nothing past its middle, while its size says more.
    const glitchAt = Math.floor(size / 2);
    const early = overriding(plain, {
      openRead: (p: string): ReadableFile => {
        const f = plain.openRead(p);
        if (p !== last) return f;
        return overriding(f, {
          read: (target: Uint8Array, position: number) => (position >= glitchAt ? 0 : f.read(target.subarray(0, Math.min(target.length, glitchAt - position)), position)),
        });
      },
    });
    assert.throws(() => WalWriter.open(early, { codec }), (err: unknown) => err instanceof IoError && err.errno === 'EIO' && /ended at byte/.test(err.message));
    assert.equal(plain.openRead(last).size(), size, 'nothing was cut');
    assert.deepEqual(new WalReader(plain, { codec }).replaySync({ mode: 'strict' }).map((r) => r.entryId), ALL);
    const w = WalWriter.open(plain, { codec });
    assert.equal(w.lastEntryId, N);
    w.closeSync();
  });

  it('recover replays every entry after the checkpoint, which it loads', async () => {
    const dir = halfReads(store(new MemoryDirectory()));
    const r = await recover({ dir, codec, stateCodec: codec, initial: {}, apply: (s) => s, writer: true });
    try {
      assert.deepEqual([r.checkpointEntryId, r.replayed, r.lastEntryId, r.skippedCheckpoints.length], [20, N - 20, N, 0]);
    } finally {
      await r.close();
    }
  });

  it('loadLatestCheckpoint takes the checkpoint whole, not for damaged', () => {
    const loaded = loadLatestCheckpoint(halfReads(store(new MemoryDirectory())), { codec });
    assert.deepEqual([loaded.checkpoint?.lastEntryId, loaded.skipped.length], [20, 0]);
  });

  it('follow() yields every entry', async () => {
    const dir = halfReads(store(new MemoryDirectory()));
    const stop = new AbortController();
    const ids: number[] = [];
    for await (const r of new WalReader(dir, { codec }).follow({ signal: stop.signal, maxPollIntervalMs: 1 })) {
      ids.push(r.entryId);
      if (ids.length === N) stop.abort();
    }
    assert.deepEqual(ids, ALL);
  });

  it('a record log reads whole, and its writer opens after its last record', () => {
    const plain = store(new MemoryDirectory());
    assert.equal(readRecordLog(halfReads(plain), 'records/log', { codec, mode: 'strict' }).records.length, N);
    RecordLogWriter.open(halfReads(plain), 'records/log', { codec }).closeSync();
    assert.equal(readRecordLog(plain, 'records/log', { codec, mode: 'strict' }).records.length, N);
  });

  it("the forwarder's cursor reads whole", () => {
    assert.equal(readCursor(halfReads(store(new MemoryDirectory())))?.entryId, 7);
  });

  it('FsDirectory over a FileBackend whose pread returns less than asked: readFile and a writer open read whole', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-short-reads-'));
    try {
      const real = tsBackend();
      const backend: FileBackend = overriding(real, {
        pread: (fd: number, target: Uint8Array, offset: number, p?: string) => real.pread(fd, target.subarray(0, Math.max(1, target.length >> 1)), offset, p),
      });
      store(new FsDirectory(root, { backend: real, create: true }));
      const dir = new FsDirectory(root, { backend });
      assert.deepEqual(dir.readFile('jetstream-cursor.json'), new FsDirectory(root, { backend: real }).readFile('jetstream-cursor.json'));
      const w = WalWriter.open(dir, { codec });
      assert.equal(w.lastEntryId, N);
      w.closeSync();
      assert.equal(new WalReader(new FsDirectory(root, { backend: real }), { codec }).entryCountSync({ mode: 'strict' }), N);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
