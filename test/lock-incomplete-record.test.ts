// A pid record that is empty or torn (older versions linked it into place unsynced, and ext4
// brings such a file back empty after a power cut; a half-restored backup can hold one too). A
// holder of the lock file's flock breaks it where hard links work: no live writer's record is
// ever seen incomplete there (lib/backend/lockfile.ts, deadUnderFlock). Without flock (node:fs,
// file systems that refuse flock such as some NFS mounts) it may be a writer that has just
// created it, so it keeps the lock held; so does a flock holder where links fail.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeBinding } from '../binding';
import type { FileBackend } from '../lib/backend/backend';
import { NativeFileBackend } from '../lib/backend/native';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { LockedError } from '../lib/errors';
import { loadNative } from '../lib/native';
import { json, type Codec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';

/** What a pid file can hold after a power cut, or a bad copy, that no writer left whole. */
const INCOMPLETE: Record<string, string> = {
  empty: '',
  'cut short': `${process.pid} ${os.hostname()}`,
  'zeros where the data never reached the disk': '\0'.repeat(64),
};

/** A log with entries 1..3, closed, with `record` planted as wal/LOCK.pid. */
function storeWithRecord(root: string, backend: FileBackend, record: string, pidFile = 'LOCK.pid'): FsDirectory {
  const dir = new FsDirectory(root, { backend, create: true });
  const w = WalWriter.create<number>(dir, { codec: json as Codec<number> });
  for (let n = 1; n <= 3; n++) w.append(n);
  w.closeSync();
  fs.writeFileSync(path.join(root, 'wal', pidFile), record, 'latin1');
  return dir;
}

/** Opens a writer, appends one entry and closes; returns the entry's id. */
function appendOne(dir: FsDirectory): number {
  const w = WalWriter.open<number>(dir, { codec: json as Codec<number> });
  try {
    return w.append(4);
  } finally {
    w.closeSync();
  }
}

describe('an incomplete pid record next to the lock file', () => {
  let root: string;
  beforeEach(() => {
    root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'durability-pid-')), 'store');
  });
  afterEach(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

  const native = nativeBackend();
  if (native !== undefined) {
    for (const [what, record] of Object.entries(INCOMPLETE)) {
      it(`${what}: a holder of the flock breaks it and writes on`, () => {
        const dir = storeWithRecord(root, native, record);
        assert.equal(appendOne(dir), 4);
        assert.equal(fs.existsSync(path.join(root, 'wal', 'LOCK.pid')), false, 'released as usual');
      });
    }

    it('a holder of the flock also passes over an empty breaker claim a power cut left', () => {
      const dir = storeWithRecord(root, native, '');
      const claim = path.join(root, 'wal', 'LOCK.pid.break.0123456789abcdef');
      fs.writeFileSync(claim, '');
      assert.equal(appendOne(dir), 4);
      assert.equal(fs.existsSync(claim), false, 'the dead claim is removed');
    });

    it('a complete record it cannot check (another host) still holds the lock under flock', () => {
      const dir = storeWithRecord(root, native, '4242 another-host linux:x:1:2 0123456789abcdef\n');
      assert.throws(() => appendOne(dir), LockedError);
    });

    it('where hard links fail, an empty record may be a writer between create and write: held under flock too', () => {
      const dir = storeWithRecord(root, native, '');
      const link = fs.linkSync;
      fs.linkSync = () => {
        throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM', syscall: 'link' });
      };
      try {
        assert.throws(() => appendOne(dir), LockedError);
      } finally {
        fs.linkSync = link;
      }
      assert.equal(fs.readFileSync(path.join(root, 'wal', 'LOCK.pid'), 'latin1'), '', 'left as it was');
    });

    it('without flock (the native core on a file system that refuses it), an empty record still holds the lock', () => {
      const binding = loadNative().binding as NativeBinding;
      const noFlock = new NativeFileBackend({
        ...binding,
        tryLockExclusive: () => {
          throw Object.assign(new Error('ENOLCK: flock'), { code: 'ENOLCK', syscall: 'flock' });
        },
      });
      const dir = storeWithRecord(root, noFlock, '');
      assert.throws(() => appendOne(dir), LockedError);
      assert.equal(fs.readFileSync(path.join(root, 'wal', 'LOCK.pid'), 'latin1'), '', 'left as it was');
    });
  }

  it('without flock (node:fs), an empty record still holds the lock, and the LockedError says what to check', () => {
    const dir = storeWithRecord(root, tsBackend(), '');
    assert.throws(() => appendOne(dir), (err: unknown) => err instanceof LockedError && /LOCK\.pid holds an incomplete record.*remove it if no writer/.test(err.message));
    assert.equal(fs.readFileSync(path.join(root, 'wal', 'LOCK.pid'), 'latin1'), '', 'left as it was');
  });
});
