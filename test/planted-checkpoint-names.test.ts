// Names under checkpoints/ that hold no regular file (a directory, a FIFO, a link: planted, or left
// by a half-restored backup) are no checkpoints. The package only ever renames regular files into
// place, so such a name claims no entries: recovery, the publisher and the CLI pass over it with a
// 'checkpoint-not-a-file' diagnostic, even when its name is above the log's last entry.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { checkpointPath, writeCheckpoint } from '../lib/checkpoint/store';
import { FsDirectory } from '../lib/directory/fs';
import { CheckpointPublisher } from '../lib/publisher';
import { recover } from '../lib/recover';
import { json, type Codec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { runCli } from './support/cli-run';
import { collectEvents } from './support/diagnostics';

interface Count {
  readonly count: number;
}

const ENTRIES = 30;
/** A checkpoint name far above the log's last entry. */
const PLANTED_ID = 1000;

const PLANTS: Record<string, (file: string, outside: string) => void> = {
  directory: (file) => fs.mkdirSync(file),
  FIFO: (file) => {
    const r = spawnSync('mkfifo', [file]);
    if (r.status !== 0) throw new Error(`mkfifo failed: ${String(r.stderr)}`);
  },
  'symbolic link to a valid checkpoint outside': (file, outside) => fs.symlinkSync(outside, file),
  'dangling symbolic link': (file) => fs.symlinkSync(`${file}.nowhere`, file),
};

for (const backend of availableBackends()) {
  describe(`a name under checkpoints/ holding no regular file, newer than the log (${backend.name})`, () => {
    let root: string;
    let dir: FsDirectory;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-planted-'));
      dir = new FsDirectory(path.join(root, 'store'), { backend, create: true });
      const w = WalWriter.create<number>(dir, { codec: json as Codec<number>, maxSegmentSize: 512 });
      for (let n = 1; n <= ENTRIES; n++) {
        w.append(n);
        if (n === 10 || n === 20) {
          w.syncSync();
          writeCheckpoint<Count>(dir, n, { count: n }, { codec: json as Codec<Count> });
        }
      }
      w.closeSync();
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    for (const [what, plant] of Object.entries(PLANTS)) {
      it(`${what}: recovery, publishing and verify/inspect go on from the real checkpoints`, async () => {
        // A real checkpoint file, outside the store, that a link may lead to.
        const outside = path.join(root, 'elsewhere.ckpt');
        fs.copyFileSync(path.join(dir.root, checkpointPath(20)), outside);
        const planted = checkpointPath(PLANTED_ID);
        plant(path.join(dir.root, planted), outside);

        const diag = collectEvents();
        try {
          const r = await recover<Count, number>({
            dir, codec: json as Codec<number>, stateCodec: json as Codec<Count>, initial: { count: 0 },
            apply: (s) => ({ count: s.count + 1 }), writer: true,
          });
          assert.deepEqual([r.lastEntryId, r.checkpointEntryId, r.state.count], [ENTRIES, 20, ENTRIES]);
          assert.deepEqual(r.skippedCheckpoints, [], 'a name that holds no file claims no entries');
          assert.deepEqual(diag.events.filter((e) => e.kind === 'checkpoint-not-a-file').map((e) => e.path), [planted], 'reported once');
          // The publisher does not take it for a checkpoint of another history either.
          r.writer.append(ENTRIES + 1);
          const published = await r.checkpoint({ count: ENTRIES + 1 });
          assert.equal(published.lastEntryId, ENTRIES + 1);
          await r.close();
        } finally {
          diag.stop();
        }

        const v = await runCli(['verify', dir.root], { DURABILITY_BACKEND: backend.name });
        assert.equal(v.code, 0, v.out + v.err);
        assert.match(v.out, new RegExp(`^not a checkpoint: .*${PLANTED_ID}\\.ckpt: .*not a checkpoint file \\(recovery ignores it\\)$`, 'm'));
        const i = await runCli(['inspect', dir.root, '--json'], { DURABILITY_BACKEND: backend.name });
        assert.equal(i.code, 0, i.out + i.err);
        const report = JSON.parse(i.out) as { checkpoints: { path: string; ok: boolean; damaged: boolean; notAFile: boolean }[] };
        const row = report.checkpoints.find((c) => c.path === planted);
        assert.deepEqual(row && [row.ok, row.damaged, row.notAFile], [false, false, true]);
      });
    }

    it('a publisher made without recover() does not refuse to publish for a directory named above the log', async () => {
      fs.mkdirSync(path.join(dir.root, checkpointPath(PLANTED_ID)));
      const writer = WalWriter.open<number>(dir, { codec: json as Codec<number> });
      try {
        const publisher = new CheckpointPublisher<Count, number>(dir, { writer, stateCodec: json as Codec<Count> });
        assert.equal((await publisher.checkpoint({ count: ENTRIES })).lastEntryId, ENTRIES);
      } finally {
        await writer.close();
      }
    });
  });
}
