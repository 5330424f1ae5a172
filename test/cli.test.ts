import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { jsonCodec } from '../lib/wal/codec';
import { CHECKPOINT_HEADER_SIZE, checkpointCrc } from '../lib/checkpoint/format';
import { writeCheckpoint } from '../lib/checkpoint/store';
import { jsChecksummer } from '../lib/directory/js-checksum';
import { MARK_SIZE, maskCrc } from '../lib/wal/format';
import { WalWriter } from '../lib/wal/writer';
import { runCli } from './support/cli-run';
import { recover } from '../lib/recover';

// The `durability` command on logs prepared here (clean, a torn tail as a crash mid-write leaves
// it, damage in a middle segment), for every backend. Most cases call the CLI's main() in this
// process (a child costs ~0.3 s here); `spawned` runs the compiled bin as a user would.

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const ENTRIES = 300;

interface Entry {
  n: number;
  text: string;
}

function entry(i: number): Entry {
  return { n: i, text: `entry-${i}-${'x'.repeat(i % 17)}` };
}

function makeLog(root: string): string[] {
  const dir = new FsDirectory(root);
  const writer = WalWriter.create<Entry>(dir, { codec: jsonCodec<Entry>(), maxSegmentSize: 4096 });
  for (let i = 1; i <= ENTRIES; i++) writer.append(entry(i));
  writer.syncSync();
  writer.closeSync();
  return fs.readdirSync(path.join(root, 'wal')).filter((n) => n.endsWith('.wal')).sort();
}

const cli = runCli;

function spawned(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('durability CLI', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cli-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const backend of availableBackends()) {
    const env = { DURABILITY_BACKEND: backend.name };
    describe(`with DURABILITY_BACKEND=${backend.name}`, () => {
      it('clean log: verify and repair exit 0, inspect lists contiguous segments, dump streams every entry', async () => {
        const segments = makeLog(tmp);
        assert.ok(segments.length >= 3, `want several segments, got ${segments.length}`);

        const v = await cli(['verify', tmp], env);
        assert.equal(v.code, 0, v.err);
        assert.equal(v.out, `ok: ${ENTRIES} entries, ids 1..${ENTRIES} in ${segments.length} segment(s), ${v.out.split(', ').pop()}`);

        const i = await cli(['inspect', tmp, '--json'], env);
        assert.equal(i.code, 0, i.err);
        const report = JSON.parse(i.out) as { backend: string; entries: number; segments: { file: string; firstEntryId: number; lastEntryId: number; state: string; bytes: number }[] };
        assert.equal(report.backend, backend.name);
        assert.equal(report.entries, ENTRIES);
        assert.deepEqual(report.segments.map((s) => s.file), segments.map((s) => `wal/${s}`));
        let next = 1;
        for (const s of report.segments) {
          assert.equal(s.firstEntryId, next);
          assert.equal(s.state, 'clean');
          assert.equal(s.bytes, fs.statSync(path.join(tmp, s.file)).size);
          next = s.lastEntryId + 1;
        }
        assert.equal(next, ENTRIES + 1);

        const d = await cli(['dump', tmp], env);
        assert.equal(d.code, 0, d.err);
        const lines = d.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { entryId: number; payload: Entry });
        assert.deepEqual(lines, Array.from({ length: ENTRIES }, (_, k) => ({ entryId: k + 1, payload: entry(k + 1) })));

        const r = await cli(['repair', tmp], env);
        assert.equal(r.code, 0, r.err);
        assert.equal(r.out, 'clean: nothing to repair\n');
      });

      it('torn tail: verify exits 1 naming the file, dump stops, repair cuts it and the log verifies again', async () => {
        const segments = makeLog(tmp);
        const final = path.join(tmp, 'wal', segments[segments.length - 1]);
        const size = fs.statSync(final).size;
        fs.truncateSync(final, size - 5 - MARK_SIZE); // the sync mark close wrote, and 5 bytes of entry 300

        const v = spawned(['verify', tmp], env);
        assert.equal(v.code, 1, v.err);
        assert.match(v.out, new RegExp(`^damaged: ${escape(final)} @ \\d+: `));
        assert.match(v.out, /torn tail/);

        assert.equal((await cli(['dump', tmp], env)).code, 1);
        const lenient = await cli(['dump', tmp, '--best-effort', '--from', '290'], env);
        assert.equal(lenient.code, 0, lenient.err);
        assert.deepEqual(lenient.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { entryId: number }).entryId), [290, 291, 292, 293, 294, 295, 296, 297, 298, 299]);

        const i = await cli(['inspect', tmp], env);
        assert.equal(i.code, 0, i.err);
        assert.match(i.out, /torn @ \d+/);

        const r = await cli(['repair', tmp], env);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^repaired: .* the log ends at entry 299\n$/);
        assert.ok(fs.statSync(final).size < size - 5 - MARK_SIZE);
        const again = await cli(['verify', tmp], env);
        assert.equal(again.code, 0, again.out);
        assert.match(again.out, /^ok: 299 entries, ids 1\.\.299 /);
      });

      it('mid-log damage: verify exits 1 with file and offset, repair refuses and changes nothing', async () => {
        const segments = makeLog(tmp);
        const first = path.join(tmp, 'wal', segments[0]);
        const bytes = fs.readFileSync(first);
        bytes[32 + 16 + 2] ^= 0x40; // inside the first frame's payload
        fs.writeFileSync(first, bytes);
        const before = segments.map((s) => fs.readFileSync(path.join(tmp, 'wal', s)));

        const v = await cli(['verify', tmp], env);
        assert.equal(v.code, 1, v.err);
        assert.match(v.out, new RegExp(`^damaged: ${escape(first)} @ 32: frame CRC mismatch`));
        assert.match(v.out, /mid-log damage/);

        const r = spawned(['repair', tmp], env);
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, /refusing to repair: .* @ 32: /);
        assert.deepEqual(segments.map((s) => fs.readFileSync(path.join(tmp, 'wal', s))), before);

        const i = await cli(['inspect', tmp, '--json'], env);
        assert.equal(i.code, 1);
        const report = JSON.parse(i.out) as { segments: { state: string; offset: number }[]; damage: { offset: number } };
        assert.equal(report.segments[0].state, 'damaged');
        assert.equal(report.damage.offset, 32);
        assert.ok(report.segments.slice(1).every((s) => s.state === 'clean'));
      });

      it('inspect counts the entries a damaged segment still gives before its damage, and says the total range has a gap', async () => {
        const segments = makeLog(tmp);
        const second = path.join(tmp, 'wal', segments[1]);
        const clean = JSON.parse((await cli(['inspect', tmp, '--json'], env)).out) as { segments: { firstEntryId: number }[] };
        const first = clean.segments[1].firstEntryId;
        const bytes = fs.readFileSync(second);
        let at = 32;
        for (let k = 0; k < 2; k++) at += 16 + bytes.readUInt32LE(at + 4);
        bytes[at + 16 + 2] ^= 0x40; // inside the third frame's payload
        fs.writeFileSync(second, bytes);

        const i = await cli(['inspect', tmp, '--json'], env);
        assert.equal(i.code, 1);
        const report = JSON.parse(i.out) as { segments: { state: string; entries: number; firstEntryId: number | null; lastEntryId: number | null }[]; entries: number };
        const row = report.segments[1];
        assert.deepEqual([row.state, row.entries, row.firstEntryId, row.lastEntryId], ['damaged', 2, first, first + 1]);
        assert.equal(report.entries, report.segments.reduce((n, s) => n + s.entries, 0));
        const text = await cli(['inspect', tmp], env);
        assert.match(text.out, new RegExp(`\\n2 +\\S+ +[\\d.]+ \\w+ +2 +${first}\\.\\.${first + 1} +damaged @ ${at}: `));
        assert.match(text.out, /total: \d+ entries, ids 1\.\.300 \(not contiguous: the damage above cuts the log\)/);
      });
    });
  }

  it('repair --force on a log a writer has open changes nothing: the writer\'s lock is taken before any scan or cut', async () => {
    const dir = new FsDirectory(tmp);
    const w = WalWriter.create(dir, { codec: jsonCodec<Entry>(), maxSegmentSize: 4096 });
    for (let i = 1; i <= 100; i++) w.append(entry(i));
    w.syncSync();
    const first = path.join(tmp, 'wal', fs.readdirSync(path.join(tmp, 'wal')).filter((n) => n.endsWith('.wal')).sort()[0]);
    const bytes = fs.readFileSync(first);
    bytes[32 + 16 + 2] ^= 0x40;
    fs.writeFileSync(first, bytes);
    const before = fs.readdirSync(path.join(tmp, 'wal')).sort();
    const r = await cli(['repair', tmp, '--force']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /DURABILITY_LOCKED/);
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'wal')).sort(), before, 'no segment cut, deleted or quarantined');
    assert.deepEqual(fs.readFileSync(first), bytes);
    w.closeSync();
  });

  it('a checkpoint of an unsupported version is reported as one recovery refuses, not as damage it passes over', async () => {
    const dir = new FsDirectory(tmp);
    const w = WalWriter.create(dir, { codec: jsonCodec<Entry>() });
    for (let i = 1; i <= 5; i++) w.append(entry(i));
    w.closeSync();
    const written = writeCheckpoint(dir, 5, { n: 5 }, { codec: jsonCodec<{ n: number }>() });
    const file = path.join(tmp, written.path);
    const b = fs.readFileSync(file);
    b[4] = 2; // version 2, under a CRC recomputed below: a valid file of a newer format
    fs.writeFileSync(file, b);
    resealCheckpoint(file);
    const v = await cli(['verify', tmp]);
    assert.equal(v.code, 1);
    assert.match(v.out, /unsupported: .* @ 4: unsupported checkpoint version 2 .*recovery refuses this log/);
    const i = await cli(['inspect', tmp]);
    assert.match(i.out, /unsupported \(recovery refuses it\) @ 4/);
  });

  it('inspect reads a cursor whose timestamp is out of range as unreadable, and still prints the rest', async () => {
    makeLog(tmp);
    fs.writeFileSync(path.join(tmp, 'jetstream-cursor.json'), '{"version":1,"stream":"S","subject":"s","entryId":3,"seq":3,"updatedAt":1e300}\n');
    const i = await cli(['inspect', tmp]);
    assert.match(i.out, /total: /);
    assert.doesNotMatch(i.err, /RangeError/);
    assert.ok(i.code === 0 || i.code === 1, `exit ${i.code}: ${i.err}`);
  });

  it('draws the progress bar on stderr with --progress, never with --quiet', async () => {
    makeLog(tmp);
    const shown = await cli(['verify', tmp, '--progress']);
    assert.equal(shown.code, 0);
    assert.match(shown.err, /verifying \[#{30}\] 100% /);
    const quiet = await cli(['verify', tmp, '--quiet']);
    assert.equal(quiet.code, 0);
    assert.doesNotMatch(quiet.err, /verifying/);
  });

  it('verify and inspect check checkpoint files too: a damaged one is exit 1 with its path and offset', async () => {
    const codec = jsonCodec<Entry>();
    const stateCodec = jsonCodec<{ n: number }>();
    const log = await recover({ dir: new FsDirectory(tmp), codec, stateCodec, initial: { n: 0 }, apply: (s) => s, writer: { maxSegmentSize: 4096 } });
    for (let i = 1; i <= 100; i++) log.writer.append(entry(i));
    const first = await log.checkpoint({ n: 100 });
    for (let i = 101; i <= 200; i++) log.writer.append(entry(i));
    await log.checkpoint({ n: 200 });
    await log.close();

    const ok = await cli(['verify', tmp]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /; 2 checkpoint\(s\) valid\n$/);

    const file = path.join(tmp, first.path);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(file, bytes);
    const bad = await cli(['verify', tmp]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, new RegExp(`^damaged: ${escape(file)} @ \\d+: `));
    const i = await cli(['inspect', tmp, '--json']);
    assert.equal(i.code, 1);
    const report = JSON.parse(i.out) as { checkpoints: { path: string; lastEntryId: number; ok: boolean }[] };
    assert.deepEqual(report.checkpoints.map((c) => [c.path, c.lastEntryId, c.ok]), [[first.path, 100, false], [`checkpoints/${path.basename(first.path).replace('100', '200')}`, 200, true]]);
  });

  it('verify and inspect report a directory under a checkpoint name as no checkpoint (recovery ignores it), not as damage', async () => {
    makeLog(tmp);
    const planted = path.join(tmp, 'checkpoints', '00000000000000000001.ckpt');
    fs.mkdirSync(planted, { recursive: true });
    const v = await cli(['verify', tmp]);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, new RegExp(`^not a checkpoint: ${escape(planted)}: a directory, not a checkpoint file \\(recovery ignores it\\)`, 'm'));
    const i = await cli(['inspect', tmp, '--json']);
    assert.equal(i.code, 0, i.err);
    const report = JSON.parse(i.out) as { checkpoints: { path: string; ok: boolean; damaged: boolean; notAFile: boolean }[] };
    assert.deepEqual(report.checkpoints.map((c) => [c.path, c.ok, c.damaged, c.notAFile]), [['checkpoints/00000000000000000001.ckpt', false, false, true]]);
  });

  it('dump --codec raw prints payload bytes as base64', async () => {
    makeLog(tmp);
    const d = await cli(['dump', tmp, '--codec', 'raw', '--from', String(ENTRIES)]);
    assert.equal(d.code, 0, d.err);
    const line = JSON.parse(d.out) as { entryId: number; payload: { base64: string } };
    assert.equal(line.entryId, ENTRIES);
    assert.deepEqual(JSON.parse(Buffer.from(line.payload.base64, 'base64').toString('utf8')), entry(ENTRIES));
  });

  it('dump into a reader that goes away (dump | head -1) stops quietly with exit 0', async () => {
    // Far more than a pipe buffer holds, so the dump is still writing when the pipe breaks.
    const dir = new FsDirectory(tmp);
    const writer = WalWriter.create<Entry>(dir, { codec: jsonCodec<Entry>() });
    for (let i = 1; i <= 20000; i++) writer.append({ n: i, text: 'y'.repeat(100) });
    writer.closeSync();
    const child = spawn(process.execPath, [CLI, 'dump', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      first += chunk.toString();
      if (first.includes('\n')) child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    assert.deepEqual(JSON.parse(first.slice(0, first.indexOf('\n'))), { entryId: 1, payload: { n: 1, text: 'y'.repeat(100) } });
    assert.equal(err, '');
    assert.deepEqual([code, signal], [0, null]);
  });

  it('usage errors exit 2 with a message on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [[], /usage: durability <command>/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['verify'], /verify takes one <dir>/],
      [['verify', path.join(tmp, 'missing')], /no such directory/],
      [['inspect', tmp], /holds no log \(no wal\/ directory\)/],
      [['dump', tmp, '--codec', 'yaml'], /unknown codec "yaml"/],
      [['dump', tmp, '--from', '0'], /--from must be an entry id/],
      [['verify', tmp, '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message, args.join(' '));
    }
  });

  it('verify, inspect, dump and repair of a store whose wal/ links to a missing directory name the link', async () => {
    fs.symlinkSync(path.join(tmp, 'unmounted-disk', 'wal'), path.join(tmp, 'wal'));
    for (const command of ['verify', 'inspect', 'dump', 'repair']) {
      const r = await cli([command, tmp]);
      assert.equal(r.code, 2, `${command}: ${r.err}`);
      assert.match(r.err, /wal does not exist \(a symbolic link to .*unmounted-disk.*, which does not exist\)/, command);
    }
  });

  it('entry ids are strict decimal, bad options and conflicting flags are one-line usage errors (exit 2)', async () => {
    makeLog(tmp);
    const cases: [string[], RegExp][] = [
      [['dump', tmp, '--from', '0x10'], /^durability dump: --from must be an entry id \(decimal, 1\.\.2\^53-1\), not "0x10"\n$/],
      [['dump', tmp, '--from', '1e3'], /--from must be an entry id .*not "1e3"\n$/],
      [['dump', tmp, '--from', '-5'], /--from must be an entry id .*not "-5"\n$/],
      [['dump', tmp, '--from=-5'], /--from must be an entry id .*not "-5"\n$/],
      [['dump', tmp, '--from', ' 7'], /--from must be an entry id .*not " 7"\n$/],
      [['dump', tmp, '--from', '9007199254740992'], /--from must be an entry id .*not "9007199254740992"\n$/],
      [['dump', tmp, '--from', '010'], /--from must be an entry id .*not "010"\n$/],
      [['dump', tmp, '--frobnicate'], /^durability dump: Unknown option '--frobnicate' \(see durability dump --help\)\n$/],
      [['repair', tmp, '-x'], /^durability repair: Unknown option '-x' \(see durability repair --help\)\n$/],
      [['repair', tmp, '--force=yes'], /^durability repair: Option '--force' does not take an argument \(see durability repair --help\)\n$/],
      [['verify', tmp, '--progress', '--quiet'], /^durability verify: --progress and --quiet cannot be used together\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message, args.join(' '));
      assert.doesNotMatch(r.err, /TypeError|ambiguous/, args.join(' '));
      assert.equal(r.out, '', args.join(' '));
    }
    const d = await cli(['dump', tmp, '--from', String(ENTRIES)]);
    assert.equal(d.code, 0, d.err);
    assert.equal(JSON.parse(d.out).entryId, ENTRIES);
  });

  it('--version (and -V, version) prints the package version and the backend this machine gets, and why', () => {
    const version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V', 'version']) {
      const r = spawned([flag]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.split('\n')[0], `durability ${version}`);
      assert.match(r.out, /^backend: (native core \S+\.node|pure TypeScript \(no native core loads: .+\))$/m);
    }
    assert.match(spawned(['--version'], { DURABILITY_BACKEND: 'ts' }).out, /^backend: pure TypeScript \(DURABILITY_BACKEND=ts\)$/m);
    const missing = spawned(['--version'], { DURABILITY_NATIVE_PATH: path.join(tmp, 'no-such.node'), DURABILITY_BACKEND: '' });
    assert.match(missing.out, /backend: (native core .*prebuilds|pure TypeScript \(no native core loads: .*no-such\.node: not found)/);
    const bad = spawned(['--version'], { DURABILITY_BACKEND: 'bogus' });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^durability: DURABILITY_INVALID_ARGUMENT: DURABILITY_BACKEND must be 'native' or 'ts'/);
  });

  it('help lists every command and exits 0', () => {
    const r = spawned(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['inspect', 'verify', 'dump', 'repair', 'bench', 'demo']) assert.match(r.out, new RegExp(`durability ${c} `));
  });
});

/** Recomputes a checkpoint file's CRC (bytes 24..28) after a test changed its header. */
function resealCheckpoint(file: string): void {
  const b = fs.readFileSync(file);
  const payload = b.subarray(CHECKPOINT_HEADER_SIZE);
  b.writeUInt32LE(maskCrc(checkpointCrc(b.subarray(0, 24), payload, jsChecksummer)), 24);
  fs.writeFileSync(file, b);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
