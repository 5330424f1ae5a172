// Checkpoint turns (lib/checkpoint/turns.ts) must keep treating as one store what an earlier key
// did: keyed by the root's real path alone, resolved once per FsDirectory, two objects that reach
// the store through the same path stopped sharing a turn when that path holds a symbolic link (a
// Directory of the application's own wrapping an FsDirectory; an FsDirectory whose link was
// re-pointed since it first resolved it, as a deploy that swaps a `current` link does).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeCheckpoint } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { InvalidStateError } from '../lib/errors';
import { CheckpointPublisher } from '../lib/publisher';
import { jsonCodec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';

const codec = jsonCodec<{ n: number }>();

/** A Directory of the application's own that passes every call to `inner` (not an FsDirectory, not a Proxy of one). */
function delegating(inner: Directory): Directory {
  const out: Record<string, unknown> = {};
  const proto = Object.getPrototypeOf(inner) as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, key);
    if (d !== undefined && typeof d.value === 'function') out[key] = (...args: unknown[]) => (d.value as (...a: unknown[]) => unknown).apply(inner, args);
  }
  Object.defineProperty(out, 'checksum', { get: () => inner.checksum });
  return out as unknown as Directory;
}

describe('checkpoint turns: the same path through a symbolic link stays one store', () => {
  let base: string;
  beforeEach(function () {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-turn-keys-'));
    fs.mkdirSync(path.join(base, 'a'));
    fs.mkdirSync(path.join(base, 'b'));
    try {
      fs.symlinkSync(path.join(base, 'a'), path.join(base, 'current'), 'dir');
    } catch {
      this.skip(); // no symbolic links here (Windows without the privilege)
    }
  });
  afterEach(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  it("a writeCheckpoint through the application's own Directory of the link is refused while a publish through an FsDirectory of the link runs", async () => {
    const link = path.join(base, 'current');
    const writer = WalWriter.create(new FsDirectory(link), { codec });
    await writer.appendDurable({ n: 1 });
    const publisher = new CheckpointPublisher(new FsDirectory(link), { writer, stateCodec: codec, truncate: false });
    const publishing = publisher.checkpoint({ n: 1 });
    assert.throws(() => writeCheckpoint(delegating(new FsDirectory(link)), 1, { n: 1 }, { codec }), InvalidStateError);
    await publishing;
    await writer.close();
  });

  it('a writeCheckpoint through the link is refused while a publish runs through an FsDirectory of the link that resolved it before it was re-pointed', async () => {
    const link = path.join(base, 'current');
    const viaLink = new FsDirectory(link);
    const first = WalWriter.create(new FsDirectory(path.join(base, 'a')), { codec });
    await first.appendDurable({ n: 1 });
    await new CheckpointPublisher(viaLink, { writer: first, stateCodec: codec, truncate: false }).checkpoint({ n: 1 });
    await first.close();
    // The deploy: current now names b. viaLink's files are b's from here on.
    fs.rmSync(link);
    fs.symlinkSync(path.join(base, 'b'), link, 'dir');
    const writer = WalWriter.create(new FsDirectory(link), { codec });
    await writer.appendDurable({ n: 1 });
    const publishing = new CheckpointPublisher(viaLink, { writer, stateCodec: codec, truncate: false }).checkpoint({ n: 1 });
    assert.throws(() => writeCheckpoint(new FsDirectory(link), 1, { n: 1 }, { codec }), InvalidStateError);
    await publishing;
    await writer.close();
    assert.deepEqual(fs.readdirSync(path.join(base, 'b', 'checkpoints')).filter((n) => n !== 'pending').length, 1);
  });
});
