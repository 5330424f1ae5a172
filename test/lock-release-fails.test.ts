// A node:fs writer's close releases its lock by reading its pid record back and unlinking it
// (lib/backend/lockfile.ts releaseHeld). When that read or unlink fails (EIO, ESTALE on NFS), the
// writer is closed and the record, naming this live process, stays. Nobody else may break it (its
// owner is alive), so this process must know it for its own: otherwise no writer could open the
// log again until the process exits.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { json, type Codec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const codec = json as Codec<unknown>;

function injected(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected, ${syscall}`), { code, syscall });
}

describe("a node:fs writer whose close cannot remove its pid record", () => {
  let root: string;
  const realOpen = fs.openSync;
  const realUnlink = fs.unlinkSync;
  let failing: 'open' | 'unlink' | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-lock-release-'));
    failing = undefined;
    fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
      if (failing === 'open' && String(file).endsWith('.pid')) throw injected('EIO', 'open');
      return (realOpen as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync;
    fs.unlinkSync = ((file: fs.PathLike) => {
      if (failing === 'unlink' && String(file).endsWith('.pid')) throw injected('EIO', 'unlink');
      realUnlink(file);
    }) as typeof fs.unlinkSync;
  });
  afterEach(() => {
    fs.openSync = realOpen;
    fs.unlinkSync = realUnlink;
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const step of ['open', 'unlink'] as const) {
    it(`${step} of the pid record fails at close: the close reports it, and the next writer opens the log`, () => {
      const dir = new FsDirectory(root, { backend: tsBackend(), create: true });
      const first = WalWriter.open(dir, { codec });
      first.append('first');
      failing = step;
      assert.throws(() => first.closeSync(), (err: unknown) => err instanceof IoError && err.errno === 'EIO');
      failing = undefined;
      const pidFiles = fs.readdirSync(path.join(root, 'wal')).filter((n) => n.endsWith('.pid'));
      assert.deepEqual(pidFiles, ['LOCK.pid'], 'the record the close could not remove is still there');
      const second = WalWriter.open(dir, { codec });
      try {
        second.append('second');
      } finally {
        second.closeSync();
      }
      assert.deepEqual(fs.readdirSync(path.join(root, 'wal')).filter((n) => n.endsWith('.pid')), [], 'a clean close removes it');
      assert.deepEqual(new WalReader(dir, { codec }).replaySync({ mode: 'strict' }).map((r) => r.payload), ['first', 'second']);
    });
  }
});
