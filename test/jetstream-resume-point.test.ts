import assert from 'node:assert/strict';
import { resumePoint, type Anchor } from '../lib/jetstream/resume-point';

// The resume rule alone (the real-server cases are in jetstream-resume.test.ts): where shipping
// continues from the stream's last sequence, its last message, the anchor and the cursor.
describe('JetStream resume point', () => {
  const anchor: Anchor = { entryId: 50, seq: 50, at: 1000 };
  const created = 500;

  it('counts from the anchor: the last message, or the sequences retention removed', () => {
    assert.deepEqual(resumePoint({ last: 60, tail: { entryId: 60, seq: 60 }, created }, anchor, 50), { entryId: 60, seq: 60 });
    assert.deepEqual(resumePoint({ last: 60, tail: undefined, created }, anchor, 1), { entryId: 60, seq: 60 }, 'every message expired');
    assert.deepEqual(resumePoint({ last: 60, tail: { entryId: 55, seq: 55 }, created }, anchor, 50), { entryId: 60, seq: 60 }, 'the newest removed');
  });

  it('a stream below its acknowledged sequence lost messages: back to what it holds', () => {
    assert.deepEqual(resumePoint({ last: 30, tail: { entryId: 30, seq: 30 }, created }, anchor, 50), { entryId: 30, seq: 30 });
    assert.deepEqual(resumePoint({ last: 30, tail: undefined, created }, anchor, 50), { entryId: 0, seq: 0 });
  });

  it('a stream created after the anchor, or one that contradicts it, falls back to the last message or the cursor', () => {
    const recreated = { last: 3, tail: { entryId: 3, seq: 3 }, created: 2000 };
    assert.deepEqual(resumePoint(recreated, anchor, 50), { entryId: 50, seq: 0 }, 'the cursor is further');
    assert.deepEqual(resumePoint({ last: 70, tail: { entryId: 90, seq: 70 }, created }, anchor, 50), { entryId: 90, seq: 70 }, 'contradicted');
  });

  it('a cursor ahead of a stream whose last message is its last sequence (a damaged cursor): the stream wins', () => {
    // The stream stored nothing after entry 50, so entries 51..58 were never shipped, whatever the cursor says.
    assert.deepEqual(resumePoint({ last: 50, tail: { entryId: 50, seq: 50 }, created }, { entryId: 58, seq: 50, at: 1000 }, 58), { entryId: 50, seq: 50 });
    assert.deepEqual(resumePoint({ last: 60, tail: { entryId: 55, seq: 60 }, created }, { entryId: 58, seq: 50, at: 1000 }, 58), { entryId: 55, seq: 60 });
  });

  it('a cursor without a sequence, ahead of a stream created before it was written, whose last message is its last sequence: the stream wins', () => {
    const stream = { last: 50, tail: { entryId: 50, seq: 50 }, created };
    assert.deepEqual(resumePoint(stream, undefined, 58, 1000), { entryId: 50, seq: 50 }, 'a damaged cursor');
    assert.deepEqual(resumePoint({ ...stream, created: 2000 }, undefined, 58, 1000), { entryId: 58, seq: 0 }, 'a stream recreated since: the cursor, as before');
    assert.deepEqual(resumePoint(stream, undefined, 58), { entryId: 58, seq: 0 }, 'no cursor time: the cursor, as before');
  });

  it('a remembered created stamp decides whether the stream was recreated, whatever the two clocks say', () => {
    // The server's clock an hour ahead: created (server time) is after the anchor (local time), same stream.
    const ahead = { created: 1000 + 3600_000, createdStamp: 'A' };
    const seenA: Anchor = { ...anchor, streamCreated: 'A' };
    assert.deepEqual(resumePoint({ last: 30, tail: { entryId: 30, seq: 30 }, ...ahead }, seenA, 50), { entryId: 30, seq: 30 }, 'lost messages, shipped again');
    assert.deepEqual(resumePoint({ last: 50, tail: { entryId: 50, seq: 50 }, ...ahead }, undefined, 58, 1000, 'A'), { entryId: 50, seq: 50 }, 'a damaged cursor loses');
    // The server's clock behind: a stream created after the anchor looks older than it.
    const behind = { created: 500, createdStamp: 'B' };
    assert.deepEqual(resumePoint({ last: 0, tail: undefined, ...behind }, seenA, 50), { entryId: 50, seq: 0 }, 'recreated: after the cursor');
    assert.deepEqual(resumePoint({ last: 50, tail: { entryId: 50, seq: 50 }, ...behind }, undefined, 58, 1000, 'A'), { entryId: 58, seq: 0 }, 'recreated: the cursor');
  });

  it('a recreated stream whose last sequence passed the anchor\'s (a stranger\'s messages, removed) counts nothing from the anchor', () => {
    const seenA: Anchor = { ...anchor, streamCreated: 'A' };
    assert.deepEqual(resumePoint({ last: 60, tail: undefined, created, createdStamp: 'B' }, seenA, 50), { entryId: 50, seq: 0 }, 'every message removed: the cursor');
    assert.deepEqual(resumePoint({ last: 60, tail: { entryId: 60, seq: 60 }, created, createdStamp: 'B' }, seenA, 50), { entryId: 60, seq: 60 }, 'its last message, which the log match then checks');
    assert.deepEqual(resumePoint({ last: 60, tail: undefined, created, createdStamp: 'A' }, seenA, 50), { entryId: 60, seq: 60 }, 'the same stream: counted');
  });

  it('without an anchor: the last message, or the cursor when retention removed it', () => {
    assert.deepEqual(resumePoint({ last: 20, tail: { entryId: 20, seq: 20 }, created }, undefined, 10), { entryId: 20, seq: 20 });
    assert.deepEqual(resumePoint({ last: 20, tail: undefined, created }, undefined, 10), { entryId: 10, seq: 0 });
    assert.deepEqual(resumePoint({ last: 0, tail: undefined, created: NaN }, undefined, 0), { entryId: 0, seq: 0 });
  });
});
