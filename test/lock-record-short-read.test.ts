// A pid record read in pieces: on FUSE and network file systems read(2) may return fewer bytes
// than asked although the file goes on. The record must be read to its end: taken as what one
// read returned, a live writer's record looks cut short (or its start time wrong), which is what
// a dead writer leaves, and the lock would be broken under a writer that still appends.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { LockedError } from '../lib/errors';
import { json } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { holdingProcess, kill } from './support/lock-holder';

/**
 * Runs `fn` with every fs.readSync of a file under `root` whose name ends in `.pid` returning at
 * most `most` bytes per call (the rest on the next call), as a FUSE or NFS mount may.
 */
function withShortPidReads<T>(root: string, most: number, fn: () => T): T {
  const real = fs.readSync;
  const pidFds = new Set<number>();
  const realOpen = fs.openSync;
  fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpen as (...a: unknown[]) => number)(file, ...rest);
    if (String(file).startsWith(root) && String(file).endsWith('.pid')) pidFds.add(fd);
    return fd;
  }) as typeof fs.openSync;
  fs.readSync = ((fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null) => {
    const n = pidFds.has(fd) ? Math.min(length, most) : length;
    return real(fd, buffer, offset, n, position);
  }) as typeof fs.readSync;
  try {
    return fn();
  } finally {
    fs.readSync = real;
    fs.openSync = realOpen;
  }
}

describe('a pid record that reads in pieces', () => {
  let root: string;
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'durability-pid-short-')));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const contender of availableBackends()) {
    it(`is read whole: a live node:fs writer keeps its lock against ${contender.name}`, async () => {
      const child = await holdingProcess(root, 'ts');
      try {
        const record = fs.readFileSync(path.join(root, 'wal', 'LOCK.pid'), 'latin1');
        // "<pid> <host> <start token> <nonce>\n": one read ends inside the start token, whose last
        // digit is then missing: the record of a process with another start time, or cut short.
        const most = record.lastIndexOf(' ') - 1;
        const dir = new FsDirectory(root, { backend: contender });
        withShortPidReads(root, most, () => {
          assert.throws(() => WalWriter.open(dir, { codec: json }).closeSync(), LockedError);
        });
        assert.equal(fs.readFileSync(path.join(root, 'wal', 'LOCK.pid'), 'latin1'), record, "the holder's record is left in place");
      } finally {
        await kill(child);
      }
    });
  }

  it('of our own lock is recognised at release: the pid file goes', () => {
    const dir = new FsDirectory(root, { backend: tsBackend() });
    withShortPidReads(root, 7, () => WalWriter.open(dir, { codec: json }).closeSync());
    assert.equal(fs.existsSync(path.join(root, 'wal', 'LOCK.pid')), false);
  });
});
