// Hostile stores (test/support/hostile-corpus.ts): links out of the root, dangling links, FIFOs,
// directories and sockets where files belong, sparse files, lying length fields and file names.
// Every operation (writer open, recover, strict and best-effort reads, records(), follow,
// truncatePrefix, and the CLI's inspect/verify/dump/repair) runs on each, on every backend, in a
// child process under a watchdog, and must end in a typed error or a correct result, touching
// nothing outside the store. A hang fails the case (the watchdog kills the child) instead of
// hanging the suite. Each child runs under a JS heap cap and reports its peak RSS, which is bounded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { NotRegularFileError } from '../lib/errors';
import { WalMaintenance } from '../lib/wal/maintenance';
import { ENTRIES, CASES, NOWHERE, VICTIM, copyBaseStore, writeBaseStore } from './support/hostile-corpus';
import type { OpReport } from './fixtures/hostile-ops';

const CHILD = path.join(__dirname, 'fixtures', 'hostile-ops.js');
/** Far above what the operations take; only a hang reaches it. */
const WATCHDOG_MS = 120_000;
/** Children run this many at a time: they mostly wait on fsync, not on the CPU. */
const PARALLEL = 3;
/** Memory bounds for one case's child (every operation on both backends): its JS heap, and its peak RSS. */
const HEAP_LIMIT_MB = 192;
const MAX_RSS_BYTES = 512 * 1024 * 1024;
const OPS = ['writer', 'recover', 'recover+writer', 'strict', 'bestEffortTail', 'records', 'follow', 'truncatePrefix', 'inspect', 'verify', 'dump', 'repair'];
const CLI_OPS = new Set(['inspect', 'verify', 'dump', 'repair']);
const UNTYPED = /durability \w+: (TypeError|RangeError|SyntaxError|ReferenceError|Error|SystemError)\b/;

interface ChildRun {
  stdout: string;
  stderr: string;
  status: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the child for one case, killing it if it outlives the watchdog. */
function runCase(name: string, work: string): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_LIMIT_MB}`, CHILD, name, work], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { stdout: '', stderr: '', status: null, signal: null };
    child.stdout.setEncoding('utf8').on('data', (s: string) => (run.stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (run.stderr += s));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), WATCHDOG_MS);
    child.on('close', (status, signal) => {
      clearTimeout(watchdog);
      resolve({ ...run, status, signal });
    });
  });
}

async function runAll(names: string[], work: string): Promise<Map<string, ChildRun>> {
  const runs = new Map<string, ChildRun>();
  const queue = [...names.entries()];
  const lane = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [i, name] = next;
      const dir = path.join(work, String(i));
      fs.mkdirSync(dir);
      runs.set(name, await runCase(name, dir));
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, lane));
  return runs;
}

function checkOutcome(where: string, report: OpReport, expected: string | undefined): void {
  const { op, outcome } = report;
  if (expected !== undefined && CLI_OPS.has(op)) {
    // The CLI reports the typed error on one line and exits 1: the log's state, not a usage error.
    assert.ok(outcome.ok, where);
    const { exit, stderr } = outcome.value as { exit: number; stderr: string };
    assert.equal(exit, 1, `${where}: ${stderr}`);
    assert.match(stderr, new RegExp(`^durability ${op}: ${expected}: `), where);
    return;
  }
  if (expected !== undefined) {
    assert.equal(outcome.ok ? 'a result' : outcome.code, expected, `${where}: ${JSON.stringify(outcome)}`);
    return;
  }
  if (!outcome.ok) {
    assert.match(outcome.code ?? `untyped ${outcome.name}: ${outcome.message}`, /^DURABILITY_/, where);
    return;
  }
  const value = outcome.value as Record<string, unknown> | string | number;
  if (CLI_OPS.has(op)) {
    const { exit, stderr } = value as { exit: number; stderr: string };
    assert.ok([0, 1, 2].includes(exit), `${where}: exit ${exit}`);
    assert.doesNotMatch(stderr, UNTYPED, where);
    return;
  }
  if (op === 'writer') {
    const v = value as { first: number; after: { prefix: boolean; count: number } };
    assert.equal(v.after.prefix, true, where);
    assert.equal(v.after.count, v.first - 1 + 60, `${where}: every appended entry reads back after the ones kept`);
  } else if (op === 'recover' || op === 'recover+writer') {
    assert.equal((value as { correct: boolean }).correct, true, where);
  } else if (op === 'strict' || op === 'bestEffortTail' || op === 'records') {
    assert.equal((value as { prefix: boolean }).prefix, true, where);
  } else if (op === 'follow' && typeof value !== 'string') {
    assert.equal((value as { prefix: boolean }).prefix, true, where);
  }
}

describe('hostile stores: every operation ends in a typed error or a correct result, and nothing outside the root is touched', function () {
  this.timeout(WATCHDOG_MS * Math.ceil(Object.keys(CASES).length / PARALLEL) + 30_000);
  let work: string;
  let runs: Map<string, ChildRun>;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-hostile-'));
    runs = await runAll(Object.keys(CASES), work);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  for (const [name, { expect }] of Object.entries(CASES)) {
    it(name, () => {
      const r = runs.get(name)!;
      const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as OpReport | { maxRssBytes: number });
      const reports = lines.filter((l): l is OpReport => 'op' in l);
      const memory = lines.find((l): l is { maxRssBytes: number } => 'maxRssBytes' in l);
      const expectedRuns = availableBackends().flatMap((b) => OPS.map((op) => `${b.name} ${op}`));
      const ran = reports.map((x) => `${x.backend} ${x.op}`);
      const hung = expectedRuns[ran.length];
      assert.equal(r.signal, null, `the watchdog killed the child: ${hung} never returned`);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(ran, expectedRuns);
      assert.ok(memory !== undefined && memory.maxRssBytes < MAX_RSS_BYTES, `peak RSS ${memory?.maxRssBytes} bytes (bound ${MAX_RSS_BYTES})`);
      for (const report of reports) {
        const where = `${name} / ${report.backend} / ${report.op}`;
        checkOutcome(where, report, expect?.[report.op]);
        assert.deepEqual(report.after, report.before, `${where}: the directory outside the store changed`);
        assert.equal(NOWHERE in report.after, false, `${where}: a file was created through a link`);
      }
      if (name === 'clean') {
        const strict = reports.filter((x) => x.op === 'strict');
        for (const x of strict) assert.deepEqual(x.outcome, { ok: true, value: { count: ENTRIES, prefix: true } });
      }
    });
  }
});

describe('symlinks in the store: refused for writing and reading, removed as links', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-links-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  for (const backend of availableBackends()) {
    it(`delete and truncatePrefix remove a linked segment's link, never its target (${backend.name})`, () => {
      const root = path.join(work, `${backend.name}-store`);
      const outside = path.join(work, `${backend.name}-outside`);
      fs.mkdirSync(outside);
      writeBaseStore(path.join(work, 'base'), backend);
      const store = copyBaseStore(path.join(work, 'base'), root, outside);
      const victim = path.join(outside, VICTIM);
      fs.writeFileSync(victim, 'victim bytes');
      const linked = path.join(store.wal, store.segments[0]);
      fs.rmSync(linked);
      fs.symlinkSync(victim, linked);
      const dir = new FsDirectory(root, { backend });
      // Pruning reads the segment's header first; a link is refused there, before anything is removed.
      assert.throws(() => new WalMaintenance(dir).truncatePrefix(ENTRIES), NotRegularFileError);
      assert.equal(fs.lstatSync(linked).isSymbolicLink(), true);
      dir.delete(`wal/${store.segments[0]}`);
      assert.equal(fs.existsSync(linked), false);
      assert.equal(fs.readFileSync(victim, 'utf8'), 'victim bytes');
    });

    it(`atomicRename refuses to move a link into a file's name (${backend.name})`, () => {
      const dir = new FsDirectory(work, { backend });
      const victim = path.join(work, 'victim');
      fs.writeFileSync(victim, 'v');
      fs.symlinkSync(victim, path.join(work, 'recycle-7'));
      assert.throws(() => dir.atomicRename('recycle-7', 'segment'), (err) => err instanceof NotRegularFileError && err.fileType === 'symbolic link');
      assert.equal(fs.existsSync(path.join(work, 'segment')), false);
    });
  }
});
