// File names that are not UTF-8 (left by a backup tool, an rsync from a Latin-1 host): readdir
// decodes each bad byte to U+FFFD, so two distinct files can list under one name. No such name
// is one of the package's (they are ASCII), so the log must open, replay and recover as it does
// beside any other stranger; list() answering one of the package's own names twice is still
// refused (hostile-directory.test.ts).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadLatestCheckpoint } from '../lib/checkpoint/store';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { recover } from '../lib/recover';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';
import { overriding } from './support/overriding';
import { fillEveryFileStore, STORE_CODEC, STORE_ENTRIES } from './support/every-file-store';

const codec = STORE_CODEC;

async function assertOpensWhole(dir: Directory): Promise<void> {
  assert.equal(new WalReader(dir, { codec }).replaySync({ mode: 'strict' }).length, STORE_ENTRIES);
  const w = WalWriter.open(dir, { codec });
  assert.equal(w.lastEntryId, STORE_ENTRIES);
  w.closeSync();
  assert.equal(loadLatestCheckpoint(dir, { codec }).checkpoint?.lastEntryId, 20);
  const r = await recover({ dir, codec, stateCodec: codec, initial: {}, apply: (s) => s, writer: true });
  assert.equal(r.lastEntryId, STORE_ENTRIES);
  await r.close();
}

describe('file names that are not UTF-8 beside a log', () => {
  it('two strangers listed under one name (U+FFFD) in wal/ and checkpoints/: the log opens, replays and recovers', async () => {
    const plain = fillEveryFileStore(new MemoryDirectory());
    const dir = overriding(plain, {
      list: (p: string) => (p === 'wal' || p === 'checkpoints' ? [...plain.list(p), 'junk\uFFFD', 'junk\uFFFD'] : plain.list(p)),
    });
    await assertOpensWhole(dir);
  });

  for (const kind of dirKinds().filter((k) => k.name.startsWith('FsDirectory'))) {
    it(`${kind.name}: files named "junk" + byte 0xfe and + byte 0xff in wal/ and checkpoints/`, async () => {
      const dir = fillEveryFileStore(kind.make() as FsDirectory);
      try {
        for (const sub of ['wal', 'checkpoints']) {
          for (const byte of [0xfe, 0xff]) {
            const name = Buffer.concat([Buffer.from(path.join(dir.root, sub, 'junk')), Buffer.from([byte])]);
            fs.writeFileSync(name, 'x');
          }
        }
        await assertOpensWhole(dir);
      } finally {
        kind.cleanup();
      }
    });
  }
});
