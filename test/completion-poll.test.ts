// The event loop keeps turning while a group commit is in flight (completion-poll.ts), and only
// then: polling stops when the commits complete, when the budget runs out, on slow disks, and
// never starts with pollMicros 0. "Turning" is an active Immediate (one setImmediate per turn).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { InvalidArgumentError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { CompletionPoll } from '../lib/wal/completion-poll';
import { WalWriter } from '../lib/wal/writer';

const immediates = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('CompletionPoll', () => {
  it('turns the loop while a commit is pending and stops at the next turn once none is', async () => {
    let pending = true;
    const poll = new CompletionPoll(1_000_000, () => pending);
    poll.started();
    assert.equal(immediates(), 1);
    await turn();
    await turn();
    assert.equal(immediates(), 1, 'still polling while the commit is pending');
    pending = false;
    await turn();
    await turn();
    assert.equal(immediates(), 0);
  });

  it('a second start while polling adds no second loop', async () => {
    let pending = true;
    const poll = new CompletionPoll(1_000_000, () => pending);
    poll.started();
    poll.started();
    assert.equal(immediates(), 1);
    pending = false;
    await turn();
    await turn();
    assert.equal(immediates(), 0);
  });

  it('stops after the budget though the commit is still pending', async () => {
    // Counted by the poll's own asks, not by the process's Immediates: another test's loop or a
    // busy machine's late timer must not decide this one.
    let asks = 0;
    const poll = new CompletionPoll(2000, () => {
      asks++;
      return true;
    });
    const startedAt = poll.started();
    while (performance.now() - startedAt < 3) await turn();
    await turn();
    const stoppedAt = asks;
    assert.ok(stoppedAt > 0, 'it polled while within its budget');
    await sleep(5);
    await turn();
    await turn();
    assert.equal(asks, stoppedAt, 'no turn after the budget ran out');
  });

  it('does not poll for a disk whose commits take longer than the budget on average, and polls again once they are fast', async () => {
    let pending = true;
    const poll = new CompletionPoll(1000, () => pending);
    poll.completed(poll.started() - 50); // one commit of 50 ms
    pending = false;
    await turn();
    await turn();
    pending = true;
    poll.started();
    assert.equal(immediates(), 0, 'a slow disk is not polled');
    for (let i = 0; i < 40; i++) poll.completed(performance.now()); // commits completing at once
    poll.started();
    assert.equal(immediates(), 1, 'polling resumes');
    pending = false;
    await turn();
    await turn();
  });

  it('never polls with a budget of 0', () => {
    const poll = new CompletionPoll(0, () => true);
    poll.started();
    assert.equal(immediates(), 0);
  });
});

for (const backend of availableBackends()) {
  describe(`appendDurable polls while its commit is in flight: FsDirectory(${backend.name})`, () => {
    let root: string;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-poll-'));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it('by default: an Immediate is active while the commit is pending, none once every commit completed', async () => {
      const w = WalWriter.create(new FsDirectory(root, { backend }), { codec: raw });
      const done = w.appendDurable(new Uint8Array(10));
      await Promise.resolve(); // the commit starts in a microtask
      await Promise.resolve();
      assert.equal(immediates(), 1);
      assert.equal(await done, 1);
      await turn();
      await turn();
      assert.equal(immediates(), 0);
      await w.close();
    });

    it('with groupCommit.pollMicros 0 the loop sleeps', async () => {
      const w = WalWriter.create(new FsDirectory(root, { backend }), { codec: raw, groupCommit: { pollMicros: 0 } });
      const done = w.appendDurable(new Uint8Array(10));
      await Promise.resolve();
      await Promise.resolve();
      assert.equal(immediates(), 0);
      assert.equal(await done, 1);
      await w.close();
    });

    it('rejects a pollMicros that is not a whole number of microseconds up to 1 s', () => {
      for (const pollMicros of [-1, 1.5, 1_000_001, Number.NaN, '100' as unknown as number]) {
        assert.throws(() => WalWriter.create(new FsDirectory(root, { backend }), { codec: raw, groupCommit: { pollMicros } }), InvalidArgumentError);
      }
    });
  });
}
