import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { loadLatestCheckpoint } from '../lib/checkpoint/store';
import { FsDirectory } from '../lib/directory/fs';
import { NotFoundError } from '../lib/errors';
import { recover } from '../lib/recover';
import { json } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { applyKv, kvCodec, kvStateCodec } from './fixtures/kv';

// A store's root that does not exist is a mistyped path, or a disk not mounted under a link: every
// reader refuses it with NotFoundError naming the root, as the writer does, never reading it as an
// empty log (a replay returning nothing, a follower waiting for ever, a read model rebuilt from
// nothing). A root that exists with no wal/ or checkpoints/ yet is a store not written yet: empty.
for (const backend of availableBackends()) {
  describe(`a store root that does not exist (${backend.name})`, () => {
    let parent: string;
    let missing: string;
    beforeEach(() => {
      parent = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-missing-root-'));
      missing = path.join(parent, 'no-such-root');
    });
    afterEach(() => fs.rmSync(parent, { recursive: true, force: true }));

    const namesRoot = (err: unknown): boolean => {
      assert.ok(err instanceof NotFoundError, String(err));
      assert.ok((err as Error).message.includes(`root ${missing} does not exist`), (err as Error).message);
      return true;
    };

    it('every read of a WalReader is NotFoundError naming the root', async () => {
      const reader = new WalReader(new FsDirectory(missing, { backend }), { codec: json });
      assert.throws(() => reader.entryCountSync(), namesRoot);
      assert.throws(() => reader.replaySync(), namesRoot);
      await assert.rejects(async () => {
        for await (const _ of reader.records()) void _;
      }, namesRoot);
      // A follower would otherwise wait for a log that no writer can create there.
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), 5_000);
      try {
        await assert.rejects(async () => {
          for await (const _ of reader.follow({ signal: stop.signal })) void _;
        }, namesRoot);
      } finally {
        clearTimeout(timer);
      }
      assert.equal(fs.existsSync(missing), false, 'nothing created');
    });

    it('loading the newest checkpoint and recover() are NotFoundError naming the root', async () => {
      const dir = new FsDirectory(missing, { backend });
      assert.throws(() => loadLatestCheckpoint(dir, { codec: kvStateCodec }), namesRoot);
      await assert.rejects(recover({ dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv }), namesRoot);
      assert.throws(() => WalWriter.open(dir, { codec: json }), namesRoot);
      assert.equal(fs.existsSync(missing), false, 'nothing created');
    });

    it('a root that exists with nothing written yet reads as an empty log', () => {
      fs.mkdirSync(missing);
      const dir = new FsDirectory(missing, { backend });
      const reader = new WalReader(dir, { codec: json });
      assert.equal(reader.entryCountSync(), 0);
      assert.deepEqual(reader.replaySync(), []);
      assert.equal(loadLatestCheckpoint(dir, { codec: kvStateCodec }).checkpoint, undefined);
    });
  });
}
