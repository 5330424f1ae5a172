import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { CURSOR_FILE, readCursor } from '../lib/jetstream/cursor';
import { CursorKeeper } from '../lib/jetstream/cursor-keeper';
import { resolveForwarderOptions } from '../lib/jetstream/options';

// A release before the cursor kept a verdict reads version 1 cursors, ignoring fields it does not
// know: given a cursor whose unprovenEntryId it drops, it starts and counts the entry from the
// anchor (a downgrade, or a second service on the older release, loses the entry the verdict
// protects). A cursor with a verdict must be one it refuses; an ordinary one it must still read.

/** The earlier release's readCursor check, as it was before unprovenEntryId (2cfc450^). */
function earlierReleaseReads(c: Record<string, unknown>): boolean {
  return c.version === 1 && typeof c.stream === 'string' && typeof c.subject === 'string' &&
    Number.isSafeInteger(c.entryId) && (c.entryId as number) >= 0 && Number.isSafeInteger(c.seq) && (c.seq as number) >= 0 &&
    typeof c.updatedAt === 'number' && Number.isFinite(new Date(c.updatedAt).getTime()) &&
    (c.streamCreated === undefined || (typeof c.streamCreated === 'string' && c.streamCreated.length <= 64));
}

describe('JetStream forwarder cursor: a kept verdict and earlier releases', () => {
  const keeper = (dir: MemoryDirectory): CursorKeeper =>
    new CursorKeeper(resolveForwarderOptions({ dir, servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's' }), (err) => { throw err; });
  const written = (dir: MemoryDirectory): Record<string, unknown> =>
    JSON.parse(new TextDecoder().decode(dir.readFile(CURSOR_FILE))) as Record<string, unknown>;

  for (const reason of ['removed-unchecked', 'stream-subjects'] as const) {
    it(`a cursor keeping a ${reason} verdict is one the earlier release refuses, and this one reads back`, () => {
      const dir = new MemoryDirectory();
      keeper(dir).write(5, 0, '2026-12-05T19:45:56.479616824Z', { entryId: 6, reason });
      assert.equal(earlierReleaseReads(written(dir)), false, `the earlier release reads ${JSON.stringify(written(dir))} and ignores its verdict`);
      assert.deepEqual(keeper(dir).verdict, { entryId: 6, reason });
    });
  }

  it('an ordinary cursor stays one the earlier release reads', () => {
    const dir = new MemoryDirectory();
    keeper(dir).write(5, 5, '2026-12-05T19:45:56.479616824Z');
    assert.equal(earlierReleaseReads(written(dir)), true, JSON.stringify(written(dir)));
    assert.equal(readCursor(dir)?.entryId, 5);
  });
});
