// A Directory (or FileBackend) of the caller's own that breaks its contract: read() answering
// something other than a count of bytes from 0 to the length asked (undefined, NaN, a negative or
// fractional number, more than asked, a Promise, a string), size() something other than a byte
// count (or less than the file holds), list() something other than an array of distinct names,
// exists() something other than a boolean. Every reader and writer open must stop with a typed
// IoError EIO, never report the log as corrupt or empty, never use bytes no read returned, never
// loop for ever, and never cut, delete or overwrite what the store holds.

import assert from 'node:assert/strict';
import { loadLatestCheckpoint } from '../lib/checkpoint/store';
import type { Directory, ReadableFile } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { IoError, NotFoundError } from '../lib/errors';
import { rewriteInPlace } from '../lib/framed/rewrite';
import { readCursor } from '../lib/jetstream/cursor';
import { recover } from '../lib/recover';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { quarantineBeforeCut } from '../lib/wal/quarantine';
import { WalReader } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';
import { fillEveryFileStore, STORE_CODEC, STORE_ENTRIES } from './support/every-file-store';

const codec = STORE_CODEC;
const N = STORE_ENTRIES;
const ALL = Array.from({ length: N }, (_, i) => i + 1);

/** What a broken read() answers, given what the real read returned and the length asked. */
const BAD_READS: Record<string, (n: number, asked: number) => unknown> = {
  undefined: () => undefined,
  NaN: () => NaN,
  negative: () => -1,
  fractional: (n) => n / 2 + 0.5,
  'more than asked': (_n, asked) => asked + 1000,
  'a Promise': (n) => Promise.resolve(n),
  'a string': (n) => String(n),
};

/** What a broken size() answers, given the real size. */
const BAD_SIZES: Record<string, (n: number) => unknown> = {
  undefined: () => undefined,
  NaN: () => NaN,
  negative: () => -5,
  fractional: (n) => n + 0.5,
  Infinity: () => Infinity,
  'past 2^53': () => 2 ** 60,
  'a string': (n) => String(n),
};

function store(): MemoryDirectory {
  return fillEveryFileStore(new MemoryDirectory());
}

/** `plain`, with the files it opens for reading (those whose path passes `which`) handed through `wrap`. */
function readingThrough(plain: Directory, wrap: (f: ReadableFile) => Partial<ReadableFile>, which: (path: string) => boolean = () => true): Directory {
  return overriding(plain, {
    openRead: (p: string): ReadableFile => {
      const f = plain.openRead(p);
      return which(p) ? overriding(f, wrap(f)) : f;
    },
  });
}

const badRead = (answer: (n: number, asked: number) => unknown) => (f: ReadableFile): Partial<ReadableFile> => ({
  read: (target: Uint8Array, position: number) => answer(f.read(target, position), target.length) as number,
});

const badSize = (answer: (n: number) => unknown) => (f: ReadableFile): Partial<ReadableFile> => ({
  size: () => answer(f.size()) as number,
});

const SCRIBBLE = 0xee;

/** A read that fills its target with bytes of its own making and answers nonsense: none of them was read. */
const scribbling = (answer: () => unknown) => (target: Uint8Array): number => {
  target.fill(SCRIBBLE);
  return answer() as number;
};

function isTypedReadFailure(err: unknown): boolean {
  return err instanceof IoError && err.errno === 'EIO';
}

/** The store as written: every entry, record, checkpoint and the cursor, read through the plain directory. */
function assertUntouched(plain: Directory): void {
  assert.deepEqual(new WalReader(plain, { codec }).replaySync({ mode: 'strict' }).map((r) => r.entryId), ALL);
  assert.equal(readRecordLog(plain, 'records/log', { codec, mode: 'strict' }).records.length, N);
  assert.equal(loadLatestCheckpoint(plain, { codec }).checkpoint?.lastEntryId, 20);
  assert.deepEqual(plain.list('wal').filter((n) => n.endsWith('.quarantine')), []);
}

/** Every reader over `hostile` (a broken view of `plain`): each ends in an IoError EIO, and the store is untouched. */
async function assertEveryReaderRefuses(plain: Directory, hostile: Directory): Promise<void> {
  const reader = new WalReader(hostile, { codec });
  assert.throws(() => reader.replaySync({ mode: 'strict' }), isTypedReadFailure, 'replaySync strict');
  assert.throws(() => reader.replaySync({ mode: 'bestEffortTail' }), isTypedReadFailure, 'replaySync bestEffortTail');
  await assert.rejects(async () => {
    for await (const _ of reader.records()) { /* reads every record */ }
  }, isTypedReadFailure, 'records()');
  assert.throws(() => WalWriter.open(hostile, { codec }), isTypedReadFailure, 'writer open');
  await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s, writer: true }), isTypedReadFailure, 'recover');
  assert.throws(() => loadLatestCheckpoint(hostile, { codec }), isTypedReadFailure, 'loadLatestCheckpoint');
  assert.throws(() => readRecordLog(hostile, 'records/log', { codec, mode: 'bestEffortTail' }), isTypedReadFailure, 'readRecordLog');
  assert.throws(() => RecordLogWriter.open(hostile, 'records/log', { codec }), isTypedReadFailure, 'RecordLogWriter.open');
  assert.throws(() => readCursor(hostile), isTypedReadFailure, 'readCursor');
  assertUntouched(plain);
}

/** What a broken list() answers, given the real names. */
const BAD_LISTS: Record<string, (names: string[]) => unknown> = {
  undefined: () => undefined,
  'a string (iterable, one letter a name)': () => 'abc',
  'a Promise': (names) => Promise.resolve(names),
  'names that are not strings': (names) => [...names, 5, null],
  'each name twice': (names) => names.flatMap((n) => [n, n]),
};

describe("a Directory whose list() breaks its contract", () => {
  for (const [name, answer] of Object.entries(BAD_LISTS)) {
    it(`list() answering ${name}: replay, a writer's open, recover and a checkpoint load end in an IoError EIO, never an empty log`, async () => {
      const plain = store();
      const hostile = overriding(plain, { list: (p: string) => answer(plain.list(p)) as string[] });
      assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), isTypedReadFailure, 'replaySync');
      assert.throws(() => WalWriter.open(hostile, { codec }), isTypedReadFailure, 'writer open');
      await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), isTypedReadFailure, 'recover');
      assert.throws(() => loadLatestCheckpoint(hostile, { codec }), isTypedReadFailure, 'loadLatestCheckpoint');
      assertUntouched(plain);
    });
  }
});

describe('a Directory whose ReadableFile breaks its contract', () => {
  for (const [name, answer] of Object.entries(BAD_READS)) {
    it(`read() answering ${name}: every reader ends in an IoError EIO and nothing is cut`, async () => {
      const plain = store();
      await assertEveryReaderRefuses(plain, readingThrough(plain, badRead(answer)));
    });
  }

  for (const [name, answer] of Object.entries(BAD_SIZES)) {
    it(`size() answering ${name}: every reader ends in an IoError EIO and nothing is cut`, async () => {
      const plain = store();
      await assertEveryReaderRefuses(plain, readingThrough(plain, badSize(answer)));
    });
  }

  it("a writer's open cuts and deletes nothing when the final segment's size() answers less than it holds (0, or half)", () => {
    for (const answer of [() => 0, (n: number) => n >> 1]) {
      const plain = store();
      const last = listSegments(plain).at(-1)!.path;
      // Reads pass on every byte the file holds: only the size is out of step (an attribute cache, a Directory of the caller's own).
      assert.throws(() => WalWriter.open(readingThrough(plain, badSize(answer), (p) => p === last), { codec }), isTypedReadFailure);
      assertUntouched(plain);
    }
  });

  it("a record log writer's open cuts nothing when its file's size() answers less than it holds (0, or half)", () => {
    for (const answer of [() => 0, (n: number) => n >> 1]) {
      const plain = store();
      assert.throws(() => RecordLogWriter.open(readingThrough(plain, badSize(answer), (p) => p === 'records/log'), 'records/log', { codec }), isTypedReadFailure);
      assertUntouched(plain);
    }
  });

  it('quarantining through an exists() that answers a Promise, or true for every name, ends in an IoError EIO instead of looping for ever', () => {
    for (const answer of [() => Promise.resolve(false), () => true]) {
      const plain = store();
      const last = listSegments(plain).at(-1)!.path;
      let calls = 0;
      const hostile = overriding(plain, {
        exists: (p: string) => {
          // Far more names than any store holds: only a loop that never ends asks this often.
          if (++calls > 100_000) throw new Error('exists() asked 100000 times: the caller loops for ever');
          return answer() as boolean;
        },
      });
      assert.throws(() => quarantineBeforeCut(hostile, last, 100, undefined, 1, { always: true }), isTypedReadFailure);
      assertUntouched(plain);
    }
  });

  it('rewriting unsynced bytes in place through a read() that answers -1 or undefined writes nothing over them', () => {
    for (const answer of [() => -1, () => undefined, () => Promise.resolve(0)]) {
      const plain = new MemoryDirectory();
      const data = Uint8Array.from({ length: 300 }, (_, i) => (i % 251) + 1);
      plain.atomicWrite('f', data);
      const hostile = overriding(plain, { openRead: (p: string) => overriding(plain.openRead(p), { read: scribbling(answer) }) });
      const file = plain.openAppend('f');
      try {
        assert.throws(() => rewriteInPlace(hostile, 'f', file, 100, 300), isTypedReadFailure);
      } finally {
        file.close();
      }
      assert.deepEqual(plain.readFile('f'), data);
    }
  });

  it('quarantining a torn tail through a read() that answers -1 or undefined copies no made-up bytes', () => {
    for (const answer of [() => -1, () => undefined]) {
      const plain = store();
      const last = listSegments(plain).at(-1)!.path;
      const hostile = overriding(plain, { openRead: (p: string) => overriding(plain.openRead(p), { read: scribbling(answer) }) });
      assert.throws(() => quarantineBeforeCut(hostile, last, 100, undefined, 1, { always: true }), isTypedReadFailure);
      for (const name of plain.list('wal').filter((n) => n.endsWith('.quarantine'))) {
        assert.equal(plain.readFile(`wal/${name}`).includes(SCRIBBLE), false, `${name} holds bytes no read returned`);
      }
    }
  });
});

describe('a Directory whose methods throw errors of their own', () => {
  /** An IoError EIO that carries the Directory's own error as its cause. */
  const wrapping = (thrown: Error) => (err: unknown): boolean => isTypedReadFailure(err) && (err as IoError).cause === thrown;

  const throwing = (thrown: Error) => (): never => {
    throw thrown;
  };

  it("read() throwing a TypeError: every reader ends in an IoError EIO whose cause is the Directory's error, and nothing is cut", async () => {
    const plain = store();
    const thrown = new TypeError('the caller\'s read() is broken');
    const hostile = readingThrough(plain, () => ({ read: throwing(thrown) }));
    assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'bestEffortTail' }), wrapping(thrown), 'replaySync');
    assert.throws(() => WalWriter.open(hostile, { codec }), wrapping(thrown), 'writer open');
    await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), wrapping(thrown), 'recover');
    assert.throws(() => loadLatestCheckpoint(hostile, { codec }), wrapping(thrown), 'loadLatestCheckpoint');
    assert.throws(() => readRecordLog(hostile, 'records/log', { codec, mode: 'bestEffortTail' }), wrapping(thrown), 'readRecordLog');
    assert.throws(() => readCursor(hostile), wrapping(thrown), 'readCursor');
    assertUntouched(plain);
  });

  it("size() throwing a RangeError: readers end in an IoError EIO whose cause is the Directory's error", async () => {
    const plain = store();
    const thrown = new RangeError('the caller\'s size() is broken');
    const hostile = readingThrough(plain, () => ({ size: throwing(thrown) }));
    assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), wrapping(thrown), 'replaySync');
    assert.throws(() => WalWriter.open(hostile, { codec }), wrapping(thrown), 'writer open');
    await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), wrapping(thrown), 'recover');
    assertUntouched(plain);
  });

  it("list() throwing a plain Error: replay, a writer's open, recover and a checkpoint load end in an IoError EIO whose cause is it", async () => {
    const plain = store();
    const thrown = new Error('the caller\'s list() is broken');
    const hostile = overriding(plain, { list: throwing(thrown) });
    assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), wrapping(thrown), 'replaySync');
    assert.throws(() => WalWriter.open(hostile, { codec }), wrapping(thrown), 'writer open');
    await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), wrapping(thrown), 'recover');
    assert.throws(() => loadLatestCheckpoint(hostile, { codec }), wrapping(thrown), 'loadLatestCheckpoint');
    assertUntouched(plain);
  });

  it("exists() throwing a TypeError: quarantining ends in an IoError EIO whose cause is it", () => {
    const plain = store();
    const last = listSegments(plain).at(-1)!.path;
    const thrown = new TypeError('the caller\'s exists() is broken');
    const hostile = overriding(plain, { exists: throwing(thrown) });
    assert.throws(() => quarantineBeforeCut(hostile, last, 100, undefined, 1, { always: true }), wrapping(thrown));
    assertUntouched(plain);
  });

  it("openRead() throwing a TypeError: every reader ends in an IoError EIO whose cause is it; a Node ENOENT is a NotFoundError", async () => {
    const plain = store();
    const thrown = new TypeError('the caller\'s openRead() is broken');
    const hostile = overriding(plain, { openRead: throwing(thrown) });
    assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), wrapping(thrown), 'replaySync');
    assert.throws(() => WalWriter.open(hostile, { codec }), wrapping(thrown), 'writer open');
    await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), wrapping(thrown), 'recover');
    assert.throws(() => loadLatestCheckpoint(hostile, { codec }), wrapping(thrown), 'loadLatestCheckpoint');
    assert.throws(() => readRecordLog(hostile, 'records/log', { codec, mode: 'bestEffortTail' }), wrapping(thrown), 'readRecordLog');
    assert.throws(() => readCursor(hostile), wrapping(thrown), 'readCursor');
    // A Directory over node:fs passing its errors on: ENOENT is the log's "gone", as FsDirectory says it.
    const enoent = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT', syscall: 'open' });
    const gone = overriding(plain, { openRead: throwing(enoent) });
    assert.throws(() => new WalReader(gone, { codec }).replaySync({ mode: 'strict' }), NotFoundError, 'replaySync');
    assertUntouched(plain);
  });

  it('openRead() answering no readable file (undefined, a Promise, an object without read): an IoError EIO, not a TypeError at its first read', async () => {
    for (const answer of [undefined, Promise.resolve({}), { size: () => 0, close: () => undefined }]) {
      const plain = store();
      const hostile = overriding(plain, { openRead: () => answer as never });
      assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), isTypedReadFailure, 'replaySync');
      assert.throws(() => WalWriter.open(hostile, { codec }), isTypedReadFailure, 'writer open');
      await assert.rejects(recover({ dir: hostile, codec, stateCodec: codec, initial: {}, apply: (s) => s }), isTypedReadFailure, 'recover');
      assertUntouched(plain);
    }
  });

  it('lock() answering a Promise: the writer refuses it with an IoError EIO, and releases the lock the Promise brings when it comes', async () => {
    const plain = store();
    let held = 0;
    const asyncLock = (p: string): Promise<{ path: string; release: () => void }> => {
      const lock = plain.lock(p);
      held++;
      return Promise.resolve({ path: lock.path, release: () => { held--; lock.release(); } });
    };
    const hostile = overriding(plain, { lock: asyncLock as never });
    assert.throws(() => WalWriter.open(hostile, { codec }), isTypedReadFailure);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(held, 0, 'the lock the Promise brought was released');
    assertUntouched(plain);
    // The store is not locked out: a writer through the plain directory opens it.
    WalWriter.open(plain, { codec }).closeSync();
  });

  it('a DurabilityError the Directory throws on purpose reaches the caller as it is', () => {
    const plain = store();
    const own = new IoError('ESTALE', 'pread', 'wal/somewhere');
    const hostile = readingThrough(plain, () => ({ read: throwing(own) }));
    assert.throws(() => new WalReader(hostile, { codec }).replaySync({ mode: 'strict' }), (err: unknown) => err === own);
    const listing = overriding(plain, { list: throwing(own) });
    assert.throws(() => WalWriter.open(listing, { codec }), (err: unknown) => err === own);
    assertUntouched(plain);
  });
});
