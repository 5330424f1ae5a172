import assert from 'node:assert/strict';
import { ingestFailure } from '../lib/cli/demo';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// `durability demo`: a child ingests with durable appends and is SIGKILLed mid-stream; the
// parent recovers and must find every acknowledged entry (exit 0 only when none is lost).

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');

describe('durability demo', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-cli-demo-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('loses no acknowledged entry across a SIGKILL, and leaves a log that verifies when kept', () => {
    const dir = path.join(tmp, 'log');
    const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '1', '--dir', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /crash: child killed with SIGKILL mid-stream/);
    assert.match(r.stdout, /each entry applied exactly once/);
    const m = /result: acknowledged (\d+), recovered (\d+) .*, lost 0\n/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [acknowledged, recovered] = [Number(m[1]), Number(m[2])];
    assert.ok(acknowledged > 0, r.stdout);
    assert.ok(recovered >= acknowledged);

    const v = spawnSync(process.execPath, [CLI, 'inspect', dir, '--json'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    // Checkpoints truncate the WAL's prefix, so the log kept ends at the last recovered entry
    // and starts wherever the oldest retained checkpoint left it.
    const report = JSON.parse(v.stdout) as { entries: number; firstEntryId: number; lastEntryId: number };
    assert.equal(report.lastEntryId, recovered);
    assert.equal(report.entries, recovered - report.firstEntryId + 1);
  });

  it('works in a fresh temporary directory by default and removes it afterwards', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '0.5'], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const used = /^demo: log in (.*)$/m.exec(r.stdout)?.[1];
    assert.ok(used?.startsWith(tmp), r.stdout);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  it('refuses a directory that already holds a log', () => {
    fs.mkdirSync(path.join(tmp, 'wal'));
    const r = spawnSync(process.execPath, [CLI, 'demo', '--dir', tmp], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /already holds a log/);
  });

  it('refuses a directory holding only checkpoints, and leaves them alone (the demo would recover from them, then prune them)', () => {
    fs.mkdirSync(path.join(tmp, 'checkpoints'));
    const theirs = path.join(tmp, 'checkpoints', '00000000000000000100.ckpt');
    fs.writeFileSync(theirs, 'not the demo\'s');
    const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '0.5', '--dir', tmp], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /already holds a log/);
    assert.deepEqual(fs.readdirSync(tmp), ['checkpoints']);
    assert.equal(fs.readFileSync(theirs, 'utf8'), 'not the demo\'s');
  });

  it('refuses a directory holding anything else, writing nothing into it', () => {
    fs.writeFileSync(path.join(tmp, 'notes.txt'), 'mine');
    const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '0.5', '--dir', tmp], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /is not empty .*notes\.txt.*the demo wants a new or empty directory/);
    assert.deepEqual(fs.readdirSync(tmp), ['notes.txt']);
  });
});

describe('durability demo: an ingest child that ends by itself', () => {
  it('is an error naming how it ended, never reported as the staged crash', () => {
    assert.equal(ingestFailure(true, true, null, 'SIGKILL'), undefined);
    assert.match(ingestFailure(true, false, 1, null) ?? '', /exited with code 1 before the demo killed it/);
    assert.match(ingestFailure(true, true, null, 'SIGSEGV') ?? '', /died of SIGSEGV before the demo killed it/);
    assert.match(ingestFailure(false, false, 1, null) ?? '', /exited with code 1 before starting/);
  });
});
