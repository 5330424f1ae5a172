import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError, InvalidArgumentError } from '../lib/errors';
import { CURSOR_FILE, JetStreamForwarder, readCursor } from '../lib/jetstream/index';
import { MAX_CURSOR_NAME_LENGTH, MAX_CURSOR_SIZE, MAX_CURSOR_STAMP_LENGTH, writeCursor } from '../lib/jetstream/cursor';

// The forwarder's local cursor file: what it holds is bounded, and so is what reading it costs.

/** A memory directory whose reads record the largest target buffer handed to them. */
function readSpy(): MemoryDirectory & { largestRead: number } {
  const dir = new MemoryDirectory() as MemoryDirectory & { largestRead: number };
  dir.largestRead = 0;
  const openRead = dir.openRead.bind(dir);
  const readFile = dir.readFile.bind(dir);
  dir.openRead = (path: string) => {
    const f = openRead(path);
    return {
      path: f.path,
      size: () => f.size(),
      read: (target: Uint8Array, position: number) => {
        dir.largestRead = Math.max(dir.largestRead, target.length);
        return f.read(target, position);
      },
      close: () => f.close(),
    };
  };
  dir.readFile = (path: string) => {
    const bytes = readFile(path);
    dir.largestRead = Math.max(dir.largestRead, bytes.length);
    return bytes;
  };
  return dir;
}

describe('JetStream forwarder cursor', () => {
  it('a planted file larger than any cursor is a CorruptionError, read no further than the bound', () => {
    const dir = readSpy();
    const cursor = { version: 1, stream: 'S', subject: 's', entryId: 7, seq: 7, updatedAt: 1 };
    // Valid JSON (whitespace is allowed around it), only far too long to be a cursor.
    const text = `${JSON.stringify(cursor)}${' '.repeat(4 * MAX_CURSOR_SIZE)}`;
    dir.atomicWrite(CURSOR_FILE, new TextEncoder().encode(text));
    assert.throws(() => readCursor(dir), (e: unknown) => e instanceof CorruptionError && e.file === CURSOR_FILE);
    assert.ok(dir.largestRead <= MAX_CURSOR_SIZE, `read ${dir.largestRead} bytes`);
    assert.throws(() => new JetStreamForwarder({ dir, servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's' }), CorruptionError);
  });

  it('an unproven entry id reads back; one that is not a positive integer is a CorruptionError', () => {
    const dir = new MemoryDirectory();
    const cursor = { version: 1, stream: 'S', subject: 's', entryId: 5, seq: 0, updatedAt: 1, unprovenEntryId: 6 } as const;
    writeCursor(dir, cursor);
    assert.deepEqual(readCursor(dir), cursor);
    for (const unprovenEntryId of [0, -6, 6.5, '6', null]) {
      dir.atomicWrite(CURSOR_FILE, new TextEncoder().encode(JSON.stringify({ ...cursor, unprovenEntryId })));
      assert.throws(() => readCursor(dir), CorruptionError, String(unprovenEntryId));
    }
  });

  it('the verdict\'s reason reads back; an unknown one, or one without an unproven entry id, is a CorruptionError', () => {
    const dir = new MemoryDirectory();
    const cursor = { version: 1, stream: 'S', subject: 's', entryId: 5, seq: 0, updatedAt: 1, unprovenEntryId: 6, unprovenReason: 'stream-subjects' } as const;
    writeCursor(dir, cursor);
    assert.deepEqual(readCursor(dir), cursor);
    for (const bad of [{ unprovenReason: 'log-mismatch' }, { unprovenReason: 6 }, { unprovenEntryId: undefined }]) {
      dir.atomicWrite(CURSOR_FILE, new TextEncoder().encode(JSON.stringify({ ...cursor, ...bad })));
      assert.throws(() => readCursor(dir), CorruptionError, JSON.stringify(bad));
    }
  });

  it('the stream\'s created stamp reads back; one that is not a short string is a CorruptionError', () => {
    const dir = new MemoryDirectory();
    const cursor = { version: 1, stream: 'S', subject: 's', entryId: 7, seq: 7, updatedAt: 1, streamCreated: '2026-12-05T19:45:56.479616824Z' } as const;
    writeCursor(dir, cursor);
    assert.deepEqual(readCursor(dir), cursor);
    for (const streamCreated of [7, 'x'.repeat(MAX_CURSOR_STAMP_LENGTH + 1)]) {
      dir.atomicWrite(CURSOR_FILE, new TextEncoder().encode(JSON.stringify({ ...cursor, streamCreated })));
      assert.throws(() => readCursor(dir), CorruptionError);
    }
  });

  it('the bytes are the layout docs/FORMAT.md shows, and a field the reader does not know is ignored (how the previous release reads streamCreated)', () => {
    const dir = new MemoryDirectory();
    const cursor = { version: 1, stream: 'EVENTS', subject: 'events.ingest', entryId: 1234, seq: 1234, updatedAt: 1764858000000, streamCreated: '2026-12-05T19:45:56.479616824Z' } as const;
    writeCursor(dir, cursor);
    assert.equal(new TextDecoder().decode(dir.readFile(CURSOR_FILE)),
      '{"version":1,"stream":"EVENTS","subject":"events.ingest","entryId":1234,"seq":1234,"updatedAt":1764858000000,"streamCreated":"2026-12-05T19:45:56.479616824Z"}\n');
    const { streamCreated: _, ...earlier } = cursor;
    writeCursor(dir, earlier);
    assert.equal(new TextDecoder().decode(dir.readFile(CURSOR_FILE)), `${JSON.stringify(earlier)}\n`, 'no stamp, no field');
    dir.atomicWrite(CURSOR_FILE, new TextEncoder().encode(JSON.stringify({ ...cursor, laterField: { x: [1] } })));
    const read = readCursor(dir);
    assert.deepEqual([read?.entryId, read?.seq, read?.streamCreated], [1234, 1234, cursor.streamCreated]);
  });

  it('the longest names the options take still make a cursor that reads back', () => {
    const dir = new MemoryDirectory();
    // Control characters: each is escaped to six bytes, the longest a name's character can get.
    const longest = '\u0001'.repeat(MAX_CURSOR_NAME_LENGTH);
    const cursor = { version: 1, stream: longest, subject: longest, entryId: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, updatedAt: Date.now() } as const;
    writeCursor(dir, cursor);
    assert.deepEqual(readCursor(dir), cursor);
    new JetStreamForwarder({ dir, servers: 'nats://127.0.0.1:1', stream: longest, subject: longest });
    assert.throws(() => new JetStreamForwarder({ dir, servers: 'nats://127.0.0.1:1', stream: `${longest}x`, subject: 's' }), InvalidArgumentError);
  });
});
