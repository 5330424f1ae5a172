import assert from 'node:assert/strict';
import { Backlog } from '../lib/jetstream/backlog';

// The forwarder's counters, on a fake clock: each entry's bytes counted once whoever sees it
// first, and lag in seconds as the age of the oldest unacknowledged entry.

describe('JetStream forwarder backlog accounting', () => {
  it('lag is the age of the oldest unacknowledged entry, 0 when caught up, fresh after an idle spell', () => {
    let t = 1000;
    const b = new Backlog(0, () => t);
    b.appended(1, 10);
    t += 5;
    b.appended(2, 10);
    t += 20;
    b.appended(3, 10);
    assert.equal(b.lagSeconds(), 0.025);
    b.acked(1, 10);
    b.acked(2, 10);
    assert.equal(b.lagSeconds(), 0, 'entry 3 was seen just now');
    b.acked(3, 10);
    assert.equal(b.lagSeconds(), 0);
    t += 60000;
    b.appended(4, 10);
    t += 7;
    assert.equal(b.lagSeconds(), 0.007, 'the idle minute does not count');
  });

  it('counts each entry once: writer hook, start-up scan and follower overlap', () => {
    const b = new Backlog(5);
    b.see(6, 100); // scan
    b.appended(7, 50); // writer
    b.see(7, 50); // follower reads what the writer reported
    b.see(8, 20); // follower: appended by another process
    assert.equal(b.pendingBytes, 170);
    assert.equal(b.lastEntryId, 8);
    for (const [id, bytes] of [[6, 100], [7, 50], [8, 20]]) b.acked(id, bytes);
    assert.equal(b.pendingBytes, 0);
    assert.equal(b.shippedBytes, 170);
    assert.equal(b.shippedEntries, 3);
  });
});
