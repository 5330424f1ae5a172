// A recycle file keeps the frames of its earlier lives behind whatever a new life writes over
// them; only the salt (the header's CRC, over segment id, first entry id and W) keeps them out.
// A log that starts again at segment 1 while recycle files of its previous run are still in wal/
// (here `durability repair --force` cut every segment, as it does when the oldest one's header is
// damaged) must not give recycle-2 to its new segment 2: with the same geometry that segment gets
// the very header the file had, and its stale frames validate as the entries that follow. Before,
// a crashed writer's log then held an entry nobody appended (RocksDB and Pebble met this as
// recycled logs of an earlier incarnation; they recycle only files of the current one).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import type { Directory } from '../lib/directory/directory';
import { raw } from '../lib/wal/codec';
import { forceCut } from '../lib/wal/quarantine';
import { WalReader } from '../lib/wal/reader';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { runCli } from './support/cli-run';
import { firstRunWithLeftovers, RESTARTED_LOG_OPTIONS } from './support/recycle-lives';

const CHILD = path.join(__dirname, 'fixtures', 'recycle-life-child.js');

/** The log as `id:first payload byte` (hex). */
function entries(dir: Directory): string[] {
  return new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => `${r.entryId}:${r.payload[0].toString(16)}`);
}

const SECOND_RUN = ['1:b1', '2:b2', '3:b3'];

describe('a log restarted at segment 1 beside recycle files of its previous run', () => {
  for (const backend of availableBackends()) {
    it(`after repair --force cut every segment, a crashed writer's log holds only what it appended (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycle-restart-'));
      try {
        const dir = new FsDirectory(root, { backend });
        assert.deepEqual(await firstRunWithLeftovers(dir), ['wal/recycle-1', 'wal/recycle-2']);
        // Bit rot in the header of the oldest segment left: repair --force cuts the log there.
        const oldest = path.join(root, listSegments(dir)[0].path);
        const bytes = fs.readFileSync(oldest);
        bytes[9] ^= 0x01;
        fs.writeFileSync(oldest, bytes);
        const r = await runCli(['repair', root, '--force'], { DURABILITY_BACKEND: backend.name });
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /every segment was cut/);
        assert.ok(fs.existsSync(path.join(root, 'wal', 'recycle-2')), 'the leftover is still there');
        // The next run appends three entries and dies without closing.
        const child = spawnSync(process.execPath, [CHILD, root, backend.name, '3'], { encoding: 'utf8' });
        assert.equal(child.status, 0, child.stderr);
        assert.deepEqual(entries(dir), SECOND_RUN);
        const w = WalWriter.open<Uint8Array>(dir, { codec: raw, ...RESTARTED_LOG_OPTIONS });
        assert.equal(w.nextEntryId, 4);
        await w.close();
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('in the simulated crash model: live, after a power cut and after the resume, the log is what the second run appended', async () => {
    for (const seed of [1, 2, 3]) {
      const dir = new SimulatedDirectory({ seed });
      await firstRunWithLeftovers(dir);
      forceCut(dir, listSegments(dir)[0].path, 0);
      assert.deepEqual(listSegments(dir), []);
      const w = WalWriter.open<Uint8Array>(dir, { codec: raw, ...RESTARTED_LOG_OPTIONS });
      for (let n = 1; n <= 3; n++) await w.appendDurable(new Uint8Array(10).fill(0xb0 + n));
      assert.deepEqual(entries(dir), SECOND_RUN, `seed ${seed}: read while the writer is open`);
      const after = dir.crash({ mode: 'dropAll' });
      assert.deepEqual(entries(after), SECOND_RUN, `seed ${seed}: after a power cut`);
      const again = WalWriter.open<Uint8Array>(after, { codec: raw, ...RESTARTED_LOG_OPTIONS });
      assert.equal(again.nextEntryId, 4, `seed ${seed}`);
      await again.appendDurable(new Uint8Array(10).fill(0xc4));
      await again.close();
      assert.deepEqual(entries(after), [...SECOND_RUN, '4:c4'], `seed ${seed}`);
    }
  });
});
