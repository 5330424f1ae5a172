// Names the package never writes, left in wal/, checkpoints/ or the store's root by people and
// other tools (test/support/stray-names.ts), as every kind of entry: every entry point gives the
// answer it gives on the same store without them, leaves each of them exactly as it was (never
// deleted, reused or followed), and reports each name in wal/ and checkpoints/ it lists once per
// open as an 'unknown-file' diagnostic. Names in the root are never looked at.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { loadLatestCheckpoint, pruneCheckpoints, writeCheckpoint } from '../lib/checkpoint/store';
import { FsDirectory } from '../lib/directory/fs';
import { CorruptionError } from '../lib/errors';
import { recover } from '../lib/recover';
import { json, type Codec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { runCli } from './support/cli-run';
import { collectEvents } from './support/diagnostics';
import { overriding } from './support/overriding';
import { CHECKPOINT_STRAYS, KINDS, ROOT_STRAYS, WAL_STRAYS, describeEntry } from './support/stray-names';

interface Count {
  readonly count: number;
}

const ENTRIES = 40;
const codec = json as Codec<{ n: number }>;
const stateCodec = json as Codec<Count>;

type Op = (root: string, backend: FileBackend) => Promise<unknown>;

/** Which of the store's directories each open an operation makes lists, and must report stray names in. */
interface OpSpec {
  readonly run: Op;
  readonly reports: readonly ('wal' | 'checkpoints')[];
}

const fsDir = (root: string, backend: FileBackend): FsDirectory => new FsDirectory(root, { backend });

async function cli(args: string[], backend: FileBackend): Promise<number> {
  return (await runCli(args, { DURABILITY_BACKEND: backend.name })).code;
}

const OPS: Record<string, OpSpec> = {
  'WalWriter.open, appending through rotations with a recycle pool, then a replay': {
    reports: ['wal', 'wal'],
    run: async (root, backend) => {
      const dir = fsDir(root, backend);
      const w = WalWriter.open(dir, { codec, maxSegmentSize: 1024, recycleCapacity: 4 });
      const first = w.nextEntryId;
      for (let i = 0; i < 60; i++) w.append({ n: w.nextEntryId });
      w.syncSync();
      w.closeSync();
      const ids = new WalReader(dir, { codec }).replaySync().map((r) => r.entryId);
      return { first, count: ids.length, prefix: ids.every((id, i) => id === i + 1) };
    },
  },
  'WalWriter.resume': {
    reports: ['wal'],
    run: async (root, backend) => {
      const w = WalWriter.resume(fsDir(root, backend), { codec });
      w.closeSync();
      return w.lastEntryId;
    },
  },
  'WalWriter.create where no segment is left': {
    reports: ['wal'],
    run: async (root, backend) => {
      for (const name of fs.readdirSync(path.join(root, 'wal'))) if (/^[0-9]{20}\.wal$/.test(name)) fs.rmSync(path.join(root, 'wal', name));
      const w = WalWriter.create(fsDir(root, backend), { codec });
      w.append({ n: 1 });
      w.syncSync();
      w.closeSync();
      return w.lastEntryId;
    },
  },
  'WalReader.replaySync': {
    reports: ['wal'],
    run: async (root, backend) => new WalReader(fsDir(root, backend), { codec }).replaySync().map((r) => r.entryId),
  },
  'WalReader.records': {
    reports: ['wal'],
    run: async (root, backend) => {
      const ids: number[] = [];
      for await (const r of new WalReader(fsDir(root, backend), { codec }).records({ mode: 'bestEffortTail' })) ids.push(r.entryId);
      return ids;
    },
  },
  'WalReader.follow across every segment': {
    reports: ['wal'],
    run: async (root, backend) => {
      const ids: number[] = [];
      for await (const r of new WalReader(fsDir(root, backend), { codec }).follow({ maxPollIntervalMs: 5 })) {
        ids.push(r.entryId);
        if (ids.length === ENTRIES) break;
      }
      return ids;
    },
  },
  'recover with a writer, then a checkpoint (truncating and pruning)': {
    reports: ['wal', 'checkpoints'],
    run: async (root, backend) => {
      const r = await recover<Count, { n: number }>({
        dir: fsDir(root, backend), codec, stateCodec, initial: { count: 0 }, apply: (s) => ({ count: s.count + 1 }), writer: true, retain: 1,
      });
      try {
        r.writer.append({ n: ENTRIES + 1 });
        const published = await r.checkpoint({ count: r.state.count + 1 });
        return { lastEntryId: r.lastEntryId, checkpointEntryId: r.checkpointEntryId, state: r.state.count, published: published.lastEntryId };
      } finally {
        await r.close();
      }
    },
  },
  loadLatestCheckpoint: {
    reports: ['checkpoints'],
    run: async (root, backend) => loadLatestCheckpoint(fsDir(root, backend), { codec: stateCodec }).checkpoint?.lastEntryId,
  },
  'writeCheckpoint and pruneCheckpoints': {
    reports: [],
    run: async (root, backend) => {
      const dir = fsDir(root, backend);
      writeCheckpoint(dir, ENTRIES, { count: ENTRIES }, { codec: stateCodec });
      return pruneCheckpoints(dir, 1);
    },
  },
  'WalMaintenance.truncateToRecycle': {
    reports: [],
    run: async (root, backend) => new WalMaintenance(fsDir(root, backend)).truncateToRecycle(25),
  },
  'durability verify': { reports: ['wal', 'checkpoints'], run: (root, backend) => cli(['verify', root], backend) },
  'durability inspect': { reports: ['wal', 'checkpoints'], run: (root, backend) => cli(['inspect', root], backend) },
  'durability dump': { reports: ['wal'], run: (root, backend) => cli(['dump', root], backend) },
  'durability repair': { reports: [], run: (root, backend) => cli(['repair', root], backend) },
};

/** Plants every stray name as `kind`; returns each planted path (relative to the root) and what it holds. */
function plant(root: string, outside: string, kind: string): Map<string, string> {
  const planted = new Map<string, string>();
  const rels = [
    ...WAL_STRAYS.map((name) => `wal/${name}`),
    ...CHECKPOINT_STRAYS.map((name) => `checkpoints/${name}`),
    ...ROOT_STRAYS,
  ];
  KINDS[kind](rels.map((rel) => path.join(root, rel)), outside);
  for (const rel of rels) planted.set(rel, describeEntry(path.join(root, rel)));
  return planted;
}

function writeBase(root: string, backend: FileBackend): void {
  const dir = new FsDirectory(root, { backend, create: true });
  const w = WalWriter.create(dir, { codec, maxSegmentSize: 1024 });
  for (let n = 1; n <= ENTRIES; n++) {
    w.append({ n });
    if (n === 10 || n === 20) {
      w.syncSync();
      writeCheckpoint<Count>(dir, n, { count: n }, { codec: stateCodec });
    }
  }
  w.closeSync();
}

function outcome(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    (value) => ({ value }),
    (err: unknown) => ({ error: (err as { code?: string }).code ?? String(err) }),
  );
}

for (const backend of availableBackends()) {
  describe(`stray files in a store (${backend.name})`, function () {
    this.timeout(60_000);
    let work: string;
    let base: string;
    let n = 0;
    const clean = new Map<string, unknown>();
    const copy = (): { root: string; outside: string } => {
      const root = path.join(work, `s${n++}`);
      fs.cpSync(base, root, { recursive: true });
      const outside = path.join(work, `o${n}`);
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'target'), 'outside the store\n');
      return { root, outside };
    };

    before(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-stray-'));
      base = path.join(work, 'base');
      writeBase(base, backend);
      for (const [name, op] of Object.entries(OPS)) clean.set(name, await outcome(() => op.run(copy().root, backend)));
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    it('the operations succeed on the clean store', () => {
      for (const [name, result] of clean) assert.ok(!('error' in (result as object)), `${name}: ${JSON.stringify(result)}`);
    });

    it("names the package writes are not reported: the lock's companions, recycle and quarantine files, checkpoints/pending", async () => {
      const { root } = copy();
      const own = [
        'wal/LOCK.pid.0123456789abcdef', 'wal/LOCK.pid.break.0123456789abcdef', 'wal/LOCK.pid.probe.0123456789abcdef',
        'wal/LOCK.pid.probe.0123456789abcdef.link', 'wal/00000000000000000001.wal.32.quarantine', 'wal/00000000000000000001.wal.32.1.quarantine',
        'wal/recycle-7', 'wal/00000000000000000002.wal.tmp-0123456789abcdef', 'checkpoints/pending', 'checkpoints/pending.tmp-0123456789abcdef',
      ];
      for (const p of own) fs.writeFileSync(path.join(root, p), '');
      const diag = collectEvents();
      try {
        const r = await recover<Count, { n: number }>({
          dir: fsDir(root, backend), codec, stateCodec, initial: { count: 0 }, apply: (s) => ({ count: s.count + 1 }), writer: true,
        });
        await r.close();
        assert.equal(r.lastEntryId, ENTRIES);
      } finally {
        diag.stop();
      }
      assert.deepEqual(diag.events.filter((e) => e.kind === 'unknown-file').map((e) => e.path), []);
    });

    it('a name shaped as a segment\'s with an id no segment has is still refused, not skipped', async () => {
      for (const name of ['0.wal', '000000000000000000001.wal', '99999999999999999999.wal']) {
        const { root } = copy();
        fs.writeFileSync(path.join(root, 'wal', name), '');
        assert.throws(() => new WalReader(fsDir(root, backend), { codec }).replaySync(), (e: CorruptionError) => e instanceof CorruptionError && e.file === `wal/${name}`, name);
        assert.throws(() => WalWriter.open(fsDir(root, backend), { codec }), CorruptionError, name);
      }
    });

    it('a follower reports a name that appears while it waits, once however often it looks again', async () => {
      const { root } = copy();
      const fsdir = fsDir(root, backend);
      let walListings = 0;
      // Counts the follower's looks at wal/: it lists wal/ each time it checks for a next segment.
      const dir = overriding(fsdir, { list: (p) => ((p === 'wal' && walListings++), fsdir.list(p)) });
      const abort = new AbortController();
      const it = new WalReader(dir, { codec }).follow({ maxPollIntervalMs: 1, signal: abort.signal });
      for (let i = 0; i < ENTRIES; i++) assert.equal((await it.next()).done, false);
      const diag = collectEvents();
      try {
        fs.writeFileSync(path.join(root, 'wal', 'notes-after-start.txt'), 'late\n');
        const waiting = it.next();
        const reported = (): number => diag.events.filter((e) => e.kind === 'unknown-file' && e.path === 'wal/notes-after-start.txt').length;
        while (reported() === 0) await new Promise((r) => setImmediate(r));
        const seen = walListings;
        while (walListings < seen + 3) await new Promise((r) => setImmediate(r));
        abort.abort();
        assert.equal((await waiting).done, true);
        assert.equal(reported(), 1);
      } finally {
        diag.stop();
      }
    });

    it('verify and inspect name each stray in wal/ and checkpoints/ as ignored, and still find the store clean', async () => {
      const { root, outside } = copy();
      plant(root, outside, 'regular file');
      const strays = [...WAL_STRAYS.map((s) => `wal/${s}`), ...CHECKPOINT_STRAYS.map((s) => `checkpoints/${s}`)].sort();
      const env = { DURABILITY_BACKEND: backend.name };
      const ignoredLines = (out: string): string[] =>
        out.split('\n').filter((l) => l.startsWith('ignored: ')).map((l) => l.replace(/^ignored: (.*) \(not a file this package writes\)$/, '$1')).sort();
      const v = await runCli(['verify', root], env);
      assert.equal(v.code, 0, v.out + v.err);
      assert.deepEqual(ignoredLines(v.out), strays.map((s) => path.join(root, s)).sort());
      const i = await runCli(['inspect', root], env);
      assert.equal(i.code, 0, i.out + i.err);
      assert.deepEqual(ignoredLines(i.out), strays.map((s) => path.join(root, s)).sort());
      const j = await runCli(['inspect', root, '--json'], env);
      assert.equal(j.code, 0, j.out + j.err);
      assert.deepEqual((JSON.parse(j.out) as { ignored: string[] }).ignored.sort(), strays);
    });

    for (const kind of Object.keys(KINDS)) {
      it(`every stray name as a ${kind}: same answers, left as they were, each reported once per open`, async () => {
        for (const [name, op] of Object.entries(OPS)) {
          const { root, outside } = copy();
          const planted = plant(root, outside, kind);
          const diag = collectEvents();
          let got: unknown;
          try {
            got = await outcome(() => op.run(root, backend));
          } finally {
            diag.stop();
          }
          assert.deepEqual(got, clean.get(name), name);
          for (const [rel, was] of planted) assert.equal(describeEntry(path.join(root, rel)), was, `${name}: ${rel}`);
          const expected = op.reports.flatMap((d) => (d === 'wal' ? WAL_STRAYS : CHECKPOINT_STRAYS).map((s) => `${d}/${s}`)).sort();
          const reported = diag.events.filter((e) => e.kind === 'unknown-file').map((e) => e.path ?? '').sort();
          assert.deepEqual(reported, expected, `${name}: 'unknown-file' diagnostics`);
        }
      });
    }
  });
}
