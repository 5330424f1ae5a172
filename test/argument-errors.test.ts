import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendByName } from '../lib/backend/select';
import { encodeCheckpoint } from '../lib/checkpoint/format';
import { readCheckpointFile } from '../lib/checkpoint/read';
import { listCheckpoints, loadLatestCheckpoint, pruneCheckpoints, writeCheckpoint } from '../lib/checkpoint/store';
import { readCursor } from '../lib/jetstream/cursor';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { DurabilityError, InvalidArgumentError, InvalidPathError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { recover } from '../lib/recover';
import { json, raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';

// Wrong arguments from JavaScript callers (types vanish at run time): each is a typed error at
// the call that was wrong, saying what was expected, never a TypeError from deep inside.

function throwsTyped(fn: () => unknown, type: new (...a: never[]) => DurabilityError, expected: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.match((err as Error).message, expected);
    return true;
  });
}

describe('argument errors at public entry points', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-args-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('WalWriter.open/create/resume given a path instead of a Directory', () => {
    for (const open of [WalWriter.open, WalWriter.create, WalWriter.resume]) {
      throwsTyped(() => open(root as unknown as Directory, { codec: json }), InvalidArgumentError, /needs a Directory .*not the string/);
    }
  });

  it('new FsDirectory with no root, a NUL in the root, bad options or a bogus backend', () => {
    throwsTyped(() => new (FsDirectory as unknown as new () => FsDirectory)(), InvalidArgumentError, /root directory's path/);
    throwsTyped(() => new FsDirectory(''), InvalidArgumentError, /non-empty string/);
    throwsTyped(() => new FsDirectory(`${root}/a\0b`), InvalidPathError, /NUL/);
    throwsTyped(() => new FsDirectory(root, 5 as never), InvalidArgumentError, /options must be an object/);
    throwsTyped(() => new FsDirectory(root, { backend: 'bogus' as never }), InvalidArgumentError, /backend must be a FileBackend/);
  });

  it('new MemoryDirectory / new SimulatedDirectory with options that are not an object', () => {
    // null used to be a TypeError from inside the constructor.
    for (const options of [null, 5, 'x']) {
      throwsTyped(() => new MemoryDirectory(options as never), InvalidArgumentError, /MemoryDirectory options must be an object/);
      throwsTyped(() => new SimulatedDirectory(options as never), InvalidArgumentError, /SimulatedDirectory options must be an object/);
    }
  });

  it('a checksum option that is no Checksummer, and encodeCheckpoint given no bytes or no checksum', () => {
    // Each was unchecked: the directories failed at their first CRC, deep inside a write or a read
    // (a TypeError), and encodeCheckpoint(42) read `length` of undefined.
    for (const checksum of [null, 5, 'crc', {}, { crc32c: () => 0 }]) {
      throwsTyped(() => new MemoryDirectory({ checksum: checksum as never }), InvalidArgumentError, /checksum must be a Checksummer/);
      throwsTyped(() => new SimulatedDirectory({ checksum: checksum as never }), InvalidArgumentError, /checksum must be a Checksummer/);
    }
    const { checksum } = new MemoryDirectory();
    throwsTyped(() => encodeCheckpoint(42, undefined as never, checksum), InvalidArgumentError, /encoded bytes \(a Uint8Array\)/);
    throwsTyped(() => encodeCheckpoint(42, 'state' as never, checksum), InvalidArgumentError, /encoded bytes/);
    throwsTyped(() => encodeCheckpoint(42, new Uint8Array(3), undefined as never), InvalidArgumentError, /checksum must be a Checksummer/);
    assert.equal(encodeCheckpoint(42, new Uint8Array(3), checksum).length, 28 + 3);
  });

  it('follow(null) and SimulatedDirectory.crash(null) take null as no options, as records(null) does', async () => {
    // Both were a TypeError from inside (reading 'fromEntryId' / 'seed' of null).
    const sim = new SimulatedDirectory();
    const w = WalWriter.open(sim, { codec: json });
    w.append({ n: 1 });
    w.syncSync();
    w.closeSync();
    const seen: unknown[] = [];
    for await (const r of new WalReader(sim, { codec: json }).follow(null as never)) {
      seen.push(r.payload);
      break;
    }
    assert.deepEqual(seen, [{ n: 1 }]);
    const after = sim.crash(null as never);
    assert.deepEqual(new WalReader(after, { codec: json }).replaySync().map((r) => r.payload), [{ n: 1 }]);
  });

  it("backendByName with a name other than 'native' or 'ts' (a typo, another case, a number)", () => {
    // It used to return the native backend for any of these, so backendByName('TS') ran native.
    for (const name of ['TS', 'Native', 'nativ', '', 42, null, Object.create(null) as unknown]) {
      throwsTyped(() => backendByName(name as never), InvalidArgumentError, /backend name must be 'native' or 'ts'/);
    }
    assert.equal(backendByName('ts').name, 'ts');
  });

  it('WalWriter.create with a flushPolicy JSON cannot print (a BigInt, a cycle) is still an InvalidArgumentError', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const flushPolicy of [5n, { x: 1n }, cyclic]) {
      throwsTyped(() => WalWriter.create(new MemoryDirectory(), { codec: raw, flushPolicy: flushPolicy as never }), InvalidArgumentError, /unknown flushPolicy/);
    }
  });

  it('new WalReader with a codec that is not one', () => {
    const dir = new FsDirectory(root);
    throwsTyped(() => new WalReader(dir, { codec: 5 as never }), InvalidArgumentError, /needs a codec.*not number 5/);
    throwsTyped(() => new WalReader(dir, undefined as never), InvalidArgumentError, /options must be an object/);
    throwsTyped(() => new WalReader(root as never, { codec: json }), InvalidArgumentError, /needs a Directory/);
  });

  it('new WalMaintenance without a Directory or with a bad maxPayloadSize', () => {
    throwsTyped(() => new (WalMaintenance as unknown as new () => WalMaintenance)(), InvalidArgumentError, /needs a Directory .*not undefined/);
    throwsTyped(() => new WalMaintenance(new FsDirectory(root), { maxPayloadSize: -1 }), InvalidArgumentError, /maxPayloadSize/);
  });

  it('record logs and checkpoints given a path instead of a Directory', () => {
    throwsTyped(() => RecordLogWriter.open(root as never, 'a.log'), InvalidArgumentError, /RecordLogWriter.open needs a Directory/);
    throwsTyped(() => readRecordLog(root as never, 'a.log'), InvalidArgumentError, /needs a Directory/);
    throwsTyped(() => loadLatestCheckpoint(root as never, { codec: json }), InvalidArgumentError, /loadLatestCheckpoint needs a Directory/);
    throwsTyped(() => writeCheckpoint(root as never, 1, {}, { codec: json }), InvalidArgumentError, /writeCheckpoint needs a Directory/);
    throwsTyped(() => new CheckpointPublisher(root as never, {} as never), InvalidArgumentError, /CheckpointPublisher needs a Directory/);
    // The lower-level checkpoint calls docs/API.md lists, and the forwarder's cursor reader: a TypeError from inside before.
    throwsTyped(() => listCheckpoints(root as never), InvalidArgumentError, /listCheckpoints needs a Directory/);
    throwsTyped(() => readCheckpointFile(root as never, 'checkpoints/00000000000000000001.ckpt'), InvalidArgumentError, /readCheckpointFile needs a Directory/);
    throwsTyped(() => pruneCheckpoints(root as never, 2), InvalidArgumentError, /pruneCheckpoints needs a Directory/);
    throwsTyped(() => readCursor(root as never), InvalidArgumentError, /readCursor needs a Directory/);
  });

  it('RecordLogWriter.open checks its options before creating or locking anything', () => {
    const dir = new FsDirectory(root);
    throwsTyped(() => RecordLogWriter.open(dir, 'logs/a.log', { syncWindow: 1 }), InvalidArgumentError, /syncWindow/);
    throwsTyped(() => RecordLogWriter.open(dir, 'logs/a.log', { codec: 5 as never }), InvalidArgumentError, /needs a codec/);
    assert.deepEqual(fs.readdirSync(root), []);
  });

  it('writer.recycle with something other than recycle paths changes nothing', () => {
    const w = WalWriter.open(new FsDirectory(root), { codec: json });
    try {
      throwsTyped(() => w.recycle([5] as never), InvalidArgumentError, /array of paths/);
      throwsTyped(() => w.recycle('wal/recycle-1' as never), InvalidArgumentError, /array of paths/);
      throwsTyped(() => w.recycle(['wal/recycle-1', 'wal/00000000000000000001.wal']), InvalidArgumentError, /not a recycled segment/);
      assert.equal(w.poisoned, false);
    } finally {
      w.closeSync();
    }
  });
});

for (const kind of dirKinds()) {
  describe(`a directory named like a checkpoint on ${kind.name}`, () => {
    afterEach(() => kind.cleanup());

    it('is no checkpoint: recovery falls back to the older one and lists nothing as skipped', async () => {
      const dir = kind.make();
      const w = WalWriter.open(dir, { codec: json });
      for (let i = 1; i <= 10; i++) w.append(i);
      w.closeSync();
      writeCheckpoint(dir, 3, [1, 2, 3], { codec: json });
      dir.mkdirp('checkpoints/00000000000000000008.ckpt');
      const r = await recover({ dir, codec: json, stateCodec: json, initial: [], apply: (s: unknown, rec) => [...(s as number[]), rec.payload as number] });
      assert.deepEqual(r.state, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(r.checkpointEntryId, 3);
      assert.deepEqual(r.skippedCheckpoints, []);
    });
  });
}
