// Zeros ahead of the log (ActiveSegment.zeroAheadAsync): after a segment's first commit, the
// zeros go out as commits of their own, queued behind a commit of frames, and every later commit
// of frames lands on zeros already written, so no caller's commit carries them. Rotation and
// close still trim them, and the log reads back whole.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeFileBackend } from '../lib/backend/native';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import type { CommitResult, Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { InvalidStateError, IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { INLINE_ZERO_AHEAD, ZERO_AHEAD } from '../lib/wal/active-segment';
import { segmentPath } from '../lib/wal/format';
import type { WalObserver } from '../lib/wal/observer';
import { WalReader } from '../lib/wal/reader';
import { scanSegment } from '../lib/wal/segment-scan';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding, wrappingFiles } from './support/overriding';
import { TEST_BUILD, usingFaultHooks } from './support/test-binding';

interface Commit {
  readonly path: string;
  readonly position: number;
  /** Bytes before the first all-zero chunk (frames and marks). */
  readonly frameBytes: number;
  /** Bytes of the all-zero chunks. */
  readonly zeroBytes: number;
}

const isZeros = (c: Uint8Array): boolean => c.length > 0 && c.every((b) => b === 0);

/** `inner`, recording every commit handed to a file, in the order handed. */
function recordingDirectory(inner: Directory, commits: Commit[]): Directory {
  return wrappingFiles(inner, (file, path) => overriding(file, {
    commitAsync: (plan) => {
      let frameBytes = 0;
      let zeroBytes = 0;
      for (const c of plan.chunks) {
        if (isZeros(c) && (zeroBytes > 0 || c.length >= 4096)) zeroBytes += c.length;
        else frameBytes += c.length;
      }
      commits.push({ path, position: plan.position, frameBytes, zeroBytes });
      return file.commitAsync(plan);
    },
  }));
}

const PAYLOAD = 1000;

function waitsForCommits(dir: Directory): boolean {
  const file = dir.create('probe');
  try {
    return file.waitsForCommits;
  } finally {
    file.close();
    dir.delete('probe');
  }
}

for (const kind of dirKinds()) {
  describe(`zeros ahead of the log: ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
    });
    afterEach(() => kind.cleanup());

    it('after the first commit, the zeros are commits of their own (where the file runs them on its own thread) and every commit of frames lands on zeros already handed to the file', async function () {
      const commits: Commit[] = [];
      const w = WalWriter.create(recordingDirectory(dir, commits), { codec: raw });
      const rounds = Math.ceil((INLINE_ZERO_AHEAD + 2.5 * ZERO_AHEAD) / (2 * (PAYLOAD + 16)));
      let id = 0;
      for (let r = 0; r < rounds; r++) {
        // Two callers per round, so commits hold more than one frame.
        const ids = await Promise.all([w.appendDurable(new Uint8Array(PAYLOAD).fill(1)), w.appendDurable(new Uint8Array(PAYLOAD).fill(2))]);
        id = ids[1];
      }
      await w.close();
      const segment = commits.filter((c) => c.path === segmentPath(1));
      if (!waitsForCommits(dir)) {
        // Elsewhere the callers' commits carry the zeros, one commit in every MiB (zeroAhead).
        assert.ok(segment.every((c) => c.frameBytes > 0 || c.zeroBytes === 0));
        assert.ok(segment.some((c) => c.frameBytes > 0 && c.zeroBytes > 0));
        return;
      }
      const frames = segment.filter((c) => c.frameBytes > 0);
      const zeroOnly = segment.filter((c) => c.frameBytes === 0 && c.zeroBytes > 0);
      assert.ok(zeroOnly.length >= 2, `zero-only commits: ${zeroOnly.length}`);
      for (const z of zeroOnly) assert.equal(z.zeroBytes, ZERO_AHEAD);
      // The segment's first commit of frames extends the file with zeros in the same write;
      // none after it does, and each lands below the zeros handed over before it.
      let zeroedEnd = 0;
      let framesSeen = 0;
      for (const c of segment) {
        if (c.frameBytes > 0) {
          framesSeen++;
          if (framesSeen > 1) {
            assert.equal(c.zeroBytes, 0, `the commit of frames at ${c.position} carries zeros`);
            assert.ok(c.position + c.frameBytes <= zeroedEnd, `frames up to ${c.position + c.frameBytes} pass the zeros (${zeroedEnd})`);
          }
        }
        zeroedEnd = Math.max(zeroedEnd, c.position + c.frameBytes + c.zeroBytes);
      }
      assert.ok(frames.length >= rounds);
      assert.deepEqual(new WalReader(dir, { codec: raw }).replaySync().map((r) => r.entryId), Array.from({ length: id }, (_, i) => i + 1));
    });

    it('rotation and close trim the zeros: each closed segment ends where its frames end', async () => {
      const maxSegmentSize = 2 * ZERO_AHEAD;
      const w = WalWriter.create(dir, { codec: raw, maxSegmentSize });
      for (let r = 0; r < Math.ceil((2.5 * maxSegmentSize) / (2 * (PAYLOAD + 16))); r++) {
        await Promise.all([w.appendDurable(new Uint8Array(PAYLOAD).fill(3)), w.appendDurable(new Uint8Array(PAYLOAD).fill(4))]);
      }
      const last = w.lastEntryId;
      await w.close();
      const segments = dir.list('wal').filter((n) => n.endsWith('.wal')).sort();
      assert.ok(segments.length >= 3, `segments: ${segments.join(', ')}`);
      for (const name of segments) {
        const bytes = dir.readFile(`wal/${name}`);
        assert.ok(bytes.length <= maxSegmentSize, `${name} is ${bytes.length} bytes`);
        const id = Number(name.slice(0, -'.wal'.length));
        const { validEnd } = scanSegment(dir, { segmentId: id, path: segmentPath(id) }, { isFinal: false, mode: 'strict' });
        assert.equal(bytes.length, validEnd, `${name} holds ${bytes.length - validEnd} bytes past its frames`);
      }
      assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, last);
    });
  });
}

/**
 * A MemoryDirectory whose files run commits in order on a "thread" of their own, like the native
 * core's: a commit of zeros only is held until the test releases (or fails) it, and every later
 * commit of the file waits behind it; waitCommitsSync runs what is held at once, as the native
 * wait blocks until the commit thread ran it. With `holdFrames` set, commits of frames are held
 * the same way (a commit still on the thread when a synchronous call comes).
 */
class HeldZeros {
  readonly held: Array<{ run: () => void; fail: (err: unknown) => void }> = [];
  waits = 0;
  holdFrames = false;

  wrap(inner: Directory): Directory {
    return wrappingFiles(inner, (file) => {
      let last: Promise<unknown> = Promise.resolve();
      return overriding(file, {
        waitsForCommits: true,
        waitCommitsSync: () => {
          this.waits++;
          for (const h of this.held.splice(0)) h.run();
        },
        commitAsync: (plan): Promise<CommitResult> => {
          const zerosOnly = plan.chunks.length > 0 && plan.chunks.every(isZeros);
          const before = last;
          const run = (): void => {
            let at = plan.position;
            for (const c of plan.chunks) {
              file.writeAt(c, at);
              at += c.length;
            }
            if (plan.truncateTo !== undefined) file.truncate(plan.truncateTo);
            file.sync();
          };
          const done: Promise<CommitResult> = zerosOnly || this.holdFrames
            ? before.then(() => new Promise<void>((resolve, reject) => {
              let settled = false;
              this.held.push({
                run: () => {
                  if (settled) return;
                  settled = true;
                  run();
                  resolve();
                },
                fail: (err) => {
                  if (settled) return;
                  settled = true;
                  reject(err);
                },
              });
            }))
            : before.then(() => file.commitAsync(plan));
          last = done.catch(() => undefined);
          return done;
        },
      });
    });
  }
}

describe('commits of zeros still pending when every batch completed', () => {
  /** A writer on `held`'s directory, driven until a commit of zeros is held. */
  async function writerWithZerosHeld<D extends Directory = MemoryDirectory>(
    { bufferSize, inner = new MemoryDirectory() as Directory as D, observer }: { bufferSize?: number; inner?: D; observer?: WalObserver } = {},
  ): Promise<{ held: HeldZeros; inner: D; w: WalWriter<Uint8Array>; last: number }> {
    const held = new HeldZeros();
    const w = WalWriter.create(held.wrap(inner), { codec: raw, bufferSize, observer });
    let last = 0;
    while (held.held.length === 0) last = await w.appendDurable(new Uint8Array(PAYLOAD).fill(5));
    // Let the held commit's predecessors settle: only the zeros are pending now.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return { held, inner, w, last };
  }

  /** The writer closed: its segment is trimmed and holds `count` entries. */
  const closedHolding = (dir: Directory, count: number): void => {
    trimmed(dir);
    assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, count);
  };

  const trimmed = (dir: Directory): void => {
    const bytes = dir.readFile(segmentPath(1));
    const { validEnd } = scanSegment(dir, { segmentId: 1, path: segmentPath(1) }, { isFinal: false, mode: 'strict' });
    assert.equal(bytes.length, validEnd, `${bytes.length - validEnd} bytes past the frames`);
  };

  it('closeSync waits for them (instead of refusing while pipelined) and leaves the segment trimmed', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    w.closeSync();
    assert.equal(held.waits, 1);
    closedHolding(inner, last);
  });

  it('syncSync waits for them, and the synchronous mode then writes after them', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    w.syncSync();
    assert.equal(held.waits, 1);
    w.append(new Uint8Array(PAYLOAD).fill(6));
    // The zeros' completion arrives now, with a frame in the synchronous mode's buffer: it must
    // not resume the pipeline (which would commit that frame behind the synchronous mode's back).
    for (let i = 0; i < 20; i++) await Promise.resolve();
    w.syncSync();
    w.closeSync();
    closedHolding(inner, last + 1);
  });

  it('the writer stays pipelined until they complete: appends meanwhile are committed after them, and close() waits for them', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    w.append(new Uint8Array(PAYLOAD).fill(7));
    w.flushSync(); // pipelined: nothing is written under the pending zeros
    const closing = w.close();
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(held.held.length, 1, 'close is waiting for the held zeros');
    for (const h of held.held.splice(0)) h.run();
    await closing;
    assert.equal(held.waits, 0);
    closedHolding(inner, last + 1);
  });

  it('a commit kick queued before syncSync left the pipeline early does not commit the synchronous mode\'s frames', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    // A durable append whose encode fails queues a kick and frames nothing.
    const refused = w.appendDurable('not bytes' as unknown as Uint8Array).then(() => undefined, (err: unknown) => err);
    w.syncSync(); // waits for the zeros and leaves the pipeline, the kick still queued
    assert.equal(held.waits, 1);
    w.append(new Uint8Array(PAYLOAD).fill(11)); // into the synchronous mode's buffer
    assert.ok((await refused) instanceof Error);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(w.durableEntryId, last, 'the kick reported nothing durable');
    w.syncSync();
    w.closeSync();
    closedHolding(inner, last + 1);
  });

  it('syncSync and closeSync after plain appends made meanwhile wait for them too, then write those frames themselves', async () => {
    for (const finish of ['syncSync', 'closeSync'] as const) {
      const { held, inner, w, last } = await writerWithZerosHeld();
      w.append(new Uint8Array(PAYLOAD).fill(9)); // into the pipeline's filling batch: no commit yet
      w.append(new Uint8Array(PAYLOAD).fill(10));
      if (finish === 'syncSync') {
        w.syncSync(); // as after an await of appendDurable, with no zeros in flight: not refused
        assert.equal(w.durableEntryId, last + 2);
      }
      w.closeSync();
      assert.equal(held.waits, 1, finish);
      closedHolding(inner, last + 2);
      const payloads = new WalReader(inner, { codec: raw }).replaySync().slice(last).map((r) => r.payload[0]);
      assert.deepEqual(payloads, [9, 10], finish);
    }
  });

  it('syncSync and closeSync after plain appends wait for the commit that took them once the zeros ran: nobody awaits it', async () => {
    for (const finish of ['syncSync', 'closeSync'] as const) {
      const { held, inner, w, last } = await writerWithZerosHeld();
      w.append(new Uint8Array(PAYLOAD).fill(12)); // into the pipeline's filling batch
      held.holdFrames = true;
      for (const h of held.held.splice(0)) h.run(); // the zeros ran: the pipeline commits that batch
      for (let i = 0; i < 20; i++) await Promise.resolve();
      assert.equal(held.held.length, 1, 'the commit of the plain append is on the file');
      assert.equal(w.durableEntryId, last, 'and has not completed');
      // Every awaited entry is durable: as with zeros alone, the call waits for the file instead
      // of refusing (docs/API.md), as it never has to on node:fs, where no commit of zeros exists.
      if (finish === 'syncSync') {
        w.syncSync();
        assert.equal(w.durableEntryId, last + 1);
        w.append(new Uint8Array(PAYLOAD).fill(13));
      }
      w.closeSync();
      assert.equal(held.waits, 1, finish);
      const count = finish === 'syncSync' ? 2 : 1;
      closedHolding(inner, last + count);
      const payloads = new WalReader(inner, { codec: raw }).replaySync().slice(last).map((r) => r.payload[0]);
      assert.deepEqual(payloads, finish === 'syncSync' ? [12, 13] : [12], finish);
    }
  });

  it('plain appends made while an awaited batch was in flight are not behind the zeros: syncSync refuses, as on node:fs', async () => {
    const { held, w, last } = await writerWithZerosHeld();
    held.holdFrames = true;
    const awaited = w.appendDurable(new Uint8Array(PAYLOAD).fill(16));
    for (let i = 0; i < 20; i++) await Promise.resolve(); // its batch is on the file, behind the zeros
    w.append(new Uint8Array(PAYLOAD).fill(17)); // waits for the next commit, wherever the backend
    while (held.held.length > 0) {
      for (const h of held.held.splice(0)) h.run();
      for (let i = 0; i < 20; i++) await Promise.resolve();
      if (w.durableEntryId > last) break;
    }
    assert.equal(await awaited, last + 1);
    assert.equal(held.held.length, 1, 'the commit of the plain append is on the file');
    assert.throws(() => w.syncSync(), InvalidStateError);
    for (const h of held.held.splice(0)) h.run();
    await w.close();
  });

  it('syncSync and closeSync after plain appends too many for the synchronous mode\'s buffer wait for the zeros and write them', async () => {
    for (const finish of ['syncSync', 'closeSync'] as const) {
      // bufferSize 100: not one frame of PAYLOAD bytes fits the synchronous mode's buffer.
      const { held, inner, w, last } = await writerWithZerosHeld({ bufferSize: 100 });
      w.append(new Uint8Array(PAYLOAD).fill(14)); // into the pipeline's filling batch
      w.append(new Uint8Array(PAYLOAD).fill(15));
      if (finish === 'syncSync') {
        w.syncSync();
        assert.equal(w.durableEntryId, last + 2);
      }
      w.closeSync();
      assert.equal(held.waits, 1, finish);
      closedHolding(inner, last + 2);
      const payloads = new WalReader(inner, { codec: raw }).replaySync().slice(last).map((r) => r.payload[0]);
      assert.deepEqual(payloads, [14, 15], finish);
    }
  });

  it('a failure later in the syncSync that booked the commit behind the zeros does not cut back the entries it reported durable', async () => {
    const reported: number[] = [];
    const { held, inner, w, last } = await writerWithZerosHeld({
      inner: new SimulatedDirectory({ seed: 3 }),
      observer: { onSync: (info) => reported.push(info.durableEntryId) },
    });
    w.append(new Uint8Array(PAYLOAD).fill(18)); // into the pipeline's filling batch
    held.holdFrames = true;
    for (const h of held.held.splice(0)) h.run(); // the zeros ran: the pipeline commits that batch
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(held.held.length, 1, 'the commit of the plain append is on the file');
    w.append(new Uint8Array(PAYLOAD).fill(19)); // behind it, for syncSync to write and sync
    reported.length = 0;
    // The held commit's fdatasync succeeds (syncSync books it: entry last + 1 is durable); the
    // fdatasync syncSync then makes for entry last + 2 fails and poisons the writer.
    inner.injectFault({ op: 'sync', error: 'EIO', after: 1 });
    assert.throws(() => w.syncSync(), (err: unknown) => err instanceof IoError && err.errno === 'EIO');
    assert.ok(w.poisoned);
    assert.equal(w.durableEntryId, last + 1, 'the booked commit is reported durable');
    assert.deepEqual(reported, [last + 1]);
    // The poisoned writer cut its file back to the end of its last completed fdatasync: that of
    // the booked commit, which covers entry last + 1.
    const ids = new WalReader(inner, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
    assert.equal(ids.length, last + 1, `entries left after the failure: ${ids.length}, reported durable: ${last + 1}`);
    assert.throws(() => w.closeSync(), PoisonedError);
  });

  it('closeSync whose wait for the zeros fails, with plain-append frames too many for the synchronous mode\'s buffer, still releases the writer', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld({ bufferSize: 100, inner: new SimulatedDirectory({ seed: 4 }) });
    w.append(new Uint8Array(PAYLOAD).fill(20)); // into the pipeline's filling batch; bufferSize 100 cannot take it
    w.append(new Uint8Array(PAYLOAD).fill(21));
    assert.equal(held.held.length, 1, 'the zeros are on the file');
    inner.injectFault({ op: 'sync', error: 'EIO' }); // the zeros' fdatasync fails while closeSync waits
    assert.throws(() => w.closeSync(), (err: unknown) => err instanceof PoisonedError || err instanceof IoError);
    assert.ok(w.poisoned);
    assert.ok(w.closed, 'closeSync released the writer (docs/API.md: after releasing)');
    assert.throws(() => w.closeSync(), PoisonedError);
    // The lock is free: a new writer opens the log, which holds what was durable before the failure.
    const next = WalWriter.open(inner, { codec: raw });
    assert.equal(next.nextEntryId, last + 1);
    next.closeSync();
  });

  it('a hook that closes the writer when told of the commit closeSync booked behind the zeros finds the close already under way', async () => {
    let w: WalWriter<Uint8Array> | undefined;
    let hookCalls = 0;
    const fromHook: unknown[] = [];
    const { held, inner, w: writer, last } = await writerWithZerosHeld({
      observer: {
        onSync: () => {
          // A shutdown hook: close once entries are durable.
          hookCalls++;
          try {
            w?.closeSync();
          } catch (err) {
            fromHook.push(err);
          }
        },
      },
    });
    w = writer;
    w.append(new Uint8Array(PAYLOAD).fill(22)); // into the pipeline's filling batch
    held.holdFrames = true;
    for (const h of held.held.splice(0)) h.run(); // the zeros ran: the pipeline commits that batch
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(held.held.length, 1, 'the commit of the plain append is on the file');
    w.append(new Uint8Array(PAYLOAD).fill(23)); // behind it, for closeSync to write
    w.closeSync(); // books that commit: onSync, whose hook closes again, which changes nothing
    assert.equal(w.poisoned, false, String(w.poisonCause));
    assert.ok(hookCalls > 0);
    assert.deepEqual(fromHook, []);
    closedHolding(inner, last + 2);
  });

  it('frames appended while they are pending are committed once they complete, not dropped when the pipeline drains', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    w.append(new Uint8Array(PAYLOAD).fill(8)); // into the pipeline's filling batch: no commit yet
    for (const h of held.held.splice(0)) h.run();
    for (let i = 0; i < 20; i++) await Promise.resolve();
    await w.close();
    closedHolding(inner, last + 1);
  });

  it('a failed commit of zeros poisons the writer: the next call throws PoisonedError with the cause', async () => {
    const { held, inner, w, last } = await writerWithZerosHeld();
    const cause = new Error('EIO: the zeros could not be synced');
    for (const h of held.held.splice(0)) h.fail(cause);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await assert.rejects(w.appendDurable(new Uint8Array(1)), (err: unknown) => err instanceof PoisonedError && err.cause === cause);
    assert.throws(() => w.closeSync(), PoisonedError);
    assert.equal(new WalReader(inner, { codec: raw }).replaySync().length, last);
  });
});

if (nativeBackend() !== undefined) {
  describe(`commits of zeros on the native core fail like any commit ${TEST_BUILD}`, () => {
    const hooks = usingFaultHooks('durability-zero-ahead-');

    it('an fdatasync failing in a commit of zeros poisons the writer with the cause; what was durable stays', async () => {
      const commits: Commit[] = [];
      const w = WalWriter.create(recordingDirectory(new FsDirectory(hooks.root, { backend: new NativeFileBackend(hooks.binding) }), commits), { codec: raw });
      const zeroCommits = (): number => commits.filter((c) => c.frameBytes === 0 && c.zeroBytes > 0).length;
      let durable = 0;
      let failure: unknown;
      for (let i = 0; i < 2000 && failure === undefined; i++) {
        // The commit's own fdatasync passes; the next one fails: a commit of zeros queued behind it, if any.
        hooks.binding.__setFaultInjection({ op: 'fdatasync', errno: os.constants.errno.EIO, after: 1 });
        const before = zeroCommits();
        durable = await w.appendDurable(new Uint8Array(4096).fill(9));
        if (zeroCommits() > before) {
          // Its failure reaches the writer when the commit thread reports it.
          failure = await w.appendDurable(new Uint8Array(1)).then(() => undefined, (err: unknown) => err);
        }
        hooks.binding.__setFaultInjection(null);
      }
      assert.ok(failure instanceof PoisonedError || (failure instanceof IoError && failure.errno === 'EIO'), String(failure));
      const cause = failure instanceof PoisonedError ? failure.cause : failure;
      assert.ok(cause instanceof IoError && cause.errno === 'EIO' && cause.syscall === 'fdatasync', String(cause));
      await assert.rejects(w.close(), PoisonedError);
      const ids = new WalReader(new FsDirectory(hooks.root), { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
      assert.deepEqual(ids.slice(0, durable), Array.from({ length: durable }, (_, i) => i + 1));
    });

    it('closeSync right after the commit that queued zeros leaves the segment trimmed, on real files', async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const dir = new FsDirectory(fs.mkdtempSync(path.join(hooks.root, 'w-')), { backend: new NativeFileBackend(hooks.binding) });
        const commits: Commit[] = [];
        const w = WalWriter.create(recordingDirectory(dir, commits), { codec: raw });
        const zeroCommits = (): number => commits.filter((c) => c.frameBytes === 0 && c.zeroBytes > 0).length;
        let last = 0;
        while (zeroCommits() === 0) last = await w.appendDurable(new Uint8Array(4096).fill(10));
        w.closeSync(); // never InvalidStateError: at most the zeros are pending, and it waits for them
        const bytes = dir.readFile(segmentPath(1));
        const { validEnd } = scanSegment(dir, { segmentId: 1, path: segmentPath(1) }, { isFinal: false, mode: 'strict' });
        assert.equal(bytes.length, validEnd);
        assert.equal(new WalReader(dir, { codec: raw }).replaySync().length, last);
      }
    });
  });
}
