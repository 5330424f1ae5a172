import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { jsonCodec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { runCli } from './support/cli-run';

// What `durability repair` prints is what an operator acts on: the sizes it names must be the
// file's before and after the cut, and a count of frames it kept in quarantine must not claim
// to be all of them when the survey behind it stopped early.

type Op = { client: number; seq: number; amount: number };
const codec = jsonCodec<Op>();

/** A log of small entries synced every 8 appends (a sync mark every 8 frames, as group commits leave), in 64 KiB segments. */
function makeLog(root: string, entries: number): string[] {
  const w = WalWriter.create(new FsDirectory(root), { codec, maxSegmentSize: 65536 });
  for (let i = 1; i <= entries; i++) {
    w.append({ client: i % 64, seq: i >> 6, amount: (i * 37) % 1000 });
    if (i % 8 === 0) w.syncSync();
  }
  w.closeSync();
  return fs.readdirSync(path.join(root, 'wal')).filter((n) => n.endsWith('.wal')).sort().map((n) => path.join(root, 'wal', n));
}

describe('durability repair: what it says it did', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-repair-report-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const backend of availableBackends()) {
    const env = { DURABILITY_BACKEND: backend.name };

    it(`${backend.name}: a torn write after the last sync mark: "cut from <size> to <n> bytes" names the cut, n the offset verify reported`, async () => {
      const segments = makeLog(tmp, 300);
      const final = segments[segments.length - 1];
      fs.appendFileSync(final, Buffer.from([0, 1, 2])); // a crash three bytes into the next write
      const size = fs.statSync(final).size;
      const v = await runCli(['verify', tmp], env);
      assert.equal(v.code, 1);
      const torn = Number(/@ (\d+): /.exec(v.out)?.[1]);
      assert.equal(torn, size - 3, v.out);

      const r = await runCli(['repair', tmp], env);
      assert.equal(r.code, 0, r.err);
      const said = /cut from (\d+) to (\d+) bytes/.exec(r.out);
      assert.ok(said, r.out);
      assert.deepEqual([Number(said[1]), Number(said[2])], [size, torn], r.out);
      assert.equal((await runCli(['verify', tmp], env)).code, 0);
    });

    it(`${backend.name}: repair --force: each "preserved:" line counts every frame the quarantined bytes hold, or says there may be more`, async () => {
      const segments = makeLog(tmp, 3000);
      assert.ok(segments.length >= 3, `want several segments, got ${segments.length}`);
      // Whole later segments are quarantined; count their entries before the cut.
      const inspect = JSON.parse((await runCli(['inspect', tmp, '--json'], env)).out) as { segments: { file: string; entries: number; firstEntryId: number; lastEntryId: number }[] };
      const first = segments[0];
      const bytes = fs.readFileSync(first);
      bytes[32 + 16 + 2] ^= 0x40; // inside the first frame's payload: mid-log damage
      fs.writeFileSync(first, bytes);

      const r = await runCli(['repair', tmp, '--force'], env);
      assert.equal(r.code, 0, r.err);
      const lines = r.out.split('\n').filter((l) => l.startsWith('preserved: '));
      assert.equal(lines.length, segments.length, r.out);
      for (const s of inspect.segments.slice(1)) {
        const line = lines.find((l) => l.includes(`${s.file} from byte 0 `));
        assert.ok(line, `no preserved line for ${s.file}:\n${r.out}`);
        if (/or more/.test(line)) continue;
        assert.match(line, new RegExp(`\\(${s.entries} frame\\(s\\) passing their CRC, entries ${s.firstEntryId}\\.\\.${s.lastEntryId}\\)`), line);
      }
    });
  }
});
