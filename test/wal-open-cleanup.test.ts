// A WalWriter.open that fails part-way closes everything it opened: on real files no descriptor
// is left behind (/proc/self/fd), and the lock is free for the next open.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WAL_DIR } from '../lib/wal/format';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

/** `dir` whose syncDir of wal/ fails with EIO while `failing()` says so. */
function failingWalSync(dir: Directory, failing: () => boolean): Directory {
  return overriding(dir, {
    syncDir: (p) => {
      if (p === WAL_DIR && failing()) throw new IoError('EIO', 'fsync', p);
      return dir.syncDir(p);
    },
  });
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

if (fs.existsSync('/proc/self/fd')) {
  for (const backend of availableBackends()) {
    describe(`WalWriter.open cleans up after a failure (${backend.name})`, () => {
      let root: string;
      beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-open-cleanup-'));
      });
      afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

      it('a directory fsync failing after the final segment was opened leaves no descriptor open', () => {
        const w = WalWriter.open(new FsDirectory(root, { backend }), { codec: raw });
        w.append(Buffer.from('kept'));
        w.closeSync();
        let failing = true;
        const dir = failingWalSync(new FsDirectory(root, { backend }), () => failing);
        const before = openFds();
        for (let i = 0; i < 5; i++) assert.throws(() => WalWriter.open(dir, { codec: raw }), IoError);
        assert.equal(openFds(), before, 'descriptors left open by five failed opens');
        failing = false;
        const again = WalWriter.open(dir, { codec: raw });
        assert.equal(again.nextEntryId, 2);
        again.closeSync();
      });
    });
  }
}

// A new segment whose header write or fdatasync failed is deleted (its header may exist only in
// the page cache). A close failing after that failure must neither replace it nor skip the delete.
describe('a segment whose creation failed, when closing it fails too', () => {
  it('is deleted, and the failure reported is the fdatasync\'s', () => {
    const dir = new MemoryDirectory();
    const create = dir.create.bind(dir);
    dir.create = (p: string) => {
      const file = create(p);
      if (!p.endsWith('.wal')) return file;
      const close = file.close.bind(file);
      file.sync = () => {
        throw new IoError('EIO', 'fdatasync', p);
      };
      file.close = () => {
        close();
        throw new IoError('EBADF', 'close', p);
      };
      return file;
    };
    assert.throws(() => WalWriter.create(dir, { codec: raw }), (err) => err instanceof IoError && err.syscall === 'fdatasync');
    assert.deepEqual(dir.list(WAL_DIR).filter((n) => n.endsWith('.wal')), [], 'the segment with no durable header is gone');
  });
});
