// Checkpoints of one store are published one at a time in the process (lib/checkpoint/turns.ts),
// whichever Directory object the publisher was given: the same store opened through a symbolic
// link to its root is the same store, and two publishes interleaved there would stage on the one
// name checkpoints/pending over each other.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listCheckpoints, loadLatestCheckpoint, writeCheckpoint } from '../lib/checkpoint/store';
import { CHECKPOINT_PENDING } from '../lib/checkpoint/names';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { InvalidStateError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { jsonCodec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const codec = jsonCodec<{ n: number }>();

describe('checkpoint turns: one store through a symbolic link to its root', () => {
  let base: string;
  let real: string;
  let link: string;
  beforeEach(function () {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-turns-'));
    real = path.join(base, 'store');
    link = path.join(base, 'link');
    fs.mkdirSync(real);
    try {
      fs.symlinkSync(real, link, 'dir');
    } catch {
      this.skip(); // no symbolic links here (Windows without the privilege)
    }
  });
  afterEach(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  /** `dir`, recording each staging of checkpoints/pending and its rename, under `who`. */
  function recording(dir: Directory, who: string, steps: string[]): Directory {
    return overriding(dir, {
      atomicWriteAsync: async (p: string, data: Uint8Array) => {
        if (p === CHECKPOINT_PENDING) steps.push(`${who} stages`);
        await dir.atomicWriteAsync!(p, data);
      },
      renameNoSync: (from: string, to: string) => {
        if (from === CHECKPOINT_PENDING) steps.push(`${who} renames`);
        dir.renameNoSync(from, to);
      },
    });
  }

  it('two publishers of one writer, one given the root and one a link to it, publish one after the other', async () => {
    const writer = WalWriter.create(new FsDirectory(real), { codec });
    const steps: string[] = [];
    const viaRoot = new CheckpointPublisher(recording(new FsDirectory(real), 'root', steps), { writer, stateCodec: codec, truncate: false, retain: 4 });
    const viaLink = new CheckpointPublisher(recording(new FsDirectory(link), 'link', steps), { writer, stateCodec: codec, truncate: false, retain: 4 });
    const published = [];
    for (let i = 1; i <= 3; i++) {
      await writer.appendDurable({ n: i });
      published.push(viaRoot.checkpoint({ n: i }), viaLink.checkpoint({ n: i }));
    }
    await Promise.all(published);
    for (let i = 0; i < steps.length; i += 2) {
      assert.equal(steps[i].split(' ')[0], steps[i + 1].split(' ')[0], `a publish staged over another's: ${steps.join(', ')}`);
    }
    assert.deepEqual(listCheckpoints(new FsDirectory(real)).map((c) => c.lastEntryId), [1, 2, 3]);
    assert.deepEqual(loadLatestCheckpoint(new FsDirectory(real), { codec }).checkpoint?.state, { n: 3 });
    await writer.close();
  });

  it('a synchronous writeCheckpoint through the link is refused while a publish through the root is under way', async () => {
    const writer = WalWriter.create(new FsDirectory(real), { codec });
    await writer.appendDurable({ n: 1 });
    const publisher = new CheckpointPublisher(new FsDirectory(real), { writer, stateCodec: codec, truncate: false });
    const publishing = publisher.checkpoint({ n: 1 });
    assert.throws(() => writeCheckpoint(new FsDirectory(link), 1, { n: 1 }, { codec }), InvalidStateError);
    await publishing;
    await writer.close();
  });
});
