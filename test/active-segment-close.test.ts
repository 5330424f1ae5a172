import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import type { Directory, WritableFile } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { ActiveSegment } from '../lib/wal/active-segment';
import { FORMAT_VERSION, SEGMENT_HEADER_SIZE } from '../lib/wal/format';
import { overriding } from './support/overriding';

// ActiveSegment.close() releases the file only once no commit handed to it is still in flight.
// A commit a synchronous wait (waitCommitsSync, the writer's early leave from group commit) saw
// run does not hold it back; one handed over after that wait does, also once the one that ran
// has settled.

/** `file`, noting whether close() came while a commit handed to it had not settled. */
function watchedFile(file: WritableFile): { file: WritableFile; closedUnderCommit: () => boolean } {
  let unsettled = 0;
  let closedUnderCommit = false;
  const watched = overriding(file, {
    commitAsync: (plan) => {
      unsettled++;
      return file.commitAsync(plan).finally(() => unsettled--);
    },
    close: () => {
      if (unsettled > 0) closedUnderCommit = true;
      file.close();
    },
  });
  return { file: watched, closedUnderCommit: () => closedUnderCommit };
}

function segmentOn(file: WritableFile): ActiveSegment {
  return new ActiveSegment({
    segmentId: 1, path: 'wal/1.wal', salt: 1, firstEntryId: 1, syncWindow: 1 << 20, createdAt: 0,
    file, position: SEGMENT_HEADER_SIZE, synced: SEGMENT_HEADER_SIZE, frameCount: 0, version: FORMAT_VERSION,
  });
}

const BIG = 8 << 20;

/** Directories whose files a synchronous call can wait for: the native core's (commit thread) and memory. */
function kinds(root: () => string): [string, () => Directory][] {
  const out: [string, () => Directory][] = [['memory', () => new MemoryDirectory()]];
  const native = nativeBackend();
  if (native !== undefined) out.unshift(['the native core', () => new FsDirectory(root(), { backend: native })]);
  return out;
}

describe('ActiveSegment.close', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-active-segment-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [name, open] of kinds(() => root)) it(`on ${name}: waits for a commit handed over after waitCommitsSync(), also once the commit that wait saw run has settled`, async () => {
    const { file, closedUnderCommit } = watchedFile(open().create('seg'));
    const segment = segmentOn(file);
    const ran = segment.commit({ chunks: [new Uint8Array(8)], position: SEGMENT_HEADER_SIZE }, SEGMENT_HEADER_SIZE + 8);
    segment.waitCommitsSync();
    const next = segment.commit({ chunks: [new Uint8Array(BIG)], position: SEGMENT_HEADER_SIZE + 8 }, SEGMENT_HEADER_SIZE + 8 + BIG);
    let nextSettled = false;
    void next.then(() => (nextSettled = true), () => (nextSettled = true));
    await ran;
    assert.equal(nextSettled, false, 'the second commit is still in flight');
    segment.close();
    assert.equal(closedUnderCommit(), false, 'the file was closed under the second commit');
    await next;
    assert.equal(closedUnderCommit(), false);
  });

  it('closes at once when the only commits in flight are ones waitCommitsSync() saw run', async () => {
    const { file } = watchedFile(new MemoryDirectory().create('seg'));
    let closed = false;
    const segment = segmentOn(overriding(file, { close: () => { closed = true; file.close(); } }));
    const ran = segment.commit({ chunks: [new Uint8Array(8)], position: SEGMENT_HEADER_SIZE }, SEGMENT_HEADER_SIZE + 8);
    segment.waitCommitsSync();
    segment.close();
    assert.equal(closed, true, 'nothing is in flight on the file any more');
    await ran;
  });

  for (const [name, open] of kinds(() => root)) it(`on ${name}: a waitCommitsSync() the file refused (a commit queued behind a syncAsync) counts no commit as run`, async () => {
    const { file, closedUnderCommit } = watchedFile(open().create('seg'));
    const segment = segmentOn(file);
    const syncing = segment.syncAsync();
    const queued = segment.commit({ chunks: [new Uint8Array(BIG)], position: SEGMENT_HEADER_SIZE }, SEGMENT_HEADER_SIZE + BIG);
    assert.throws(() => segment.waitCommitsSync(), (err: Error) => err.name === 'InvalidStateError', 'the file cannot wait for a commit queued behind its syncAsync');
    let queuedSettled = false;
    void queued.then(() => (queuedSettled = true), () => (queuedSettled = true));
    await syncing;
    if (!queuedSettled) {
      segment.close();
      assert.equal(closedUnderCommit(), false, 'the file was closed under the commit the refused wait never saw run');
    } else segment.close();
    await queued;
    assert.equal(closedUnderCommit(), false);
  });
});
