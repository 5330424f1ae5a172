import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The benchmark suite stopped early (Ctrl-C, SIGTERM, its output closed) leaves no temp files:
// it runs with TMPDIR pointed at a fresh directory here, is stopped while a measurement child
// has its own temp dir open, and that directory must end up empty.

const SUITE = path.join(__dirname, '..', 'bench', 'suite.js');
const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');

/** Starts the quick suite (no peer install) with its temp files under `tmp`. */
function startSuite(tmp: string, stderr: 'pipe' | 'ignore'): ChildProcess {
  return spawn(process.execPath, [SUITE, '--quick', '--no-peers'], {
    stdio: ['ignore', 'ignore', stderr],
    env: { ...process.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
  });
}

/** Waits until a measurement child has made its temp dir inside the suite's root. */
async function childTempDir(tmp: string, suite: ChildProcess): Promise<string> {
  for (;;) {
    for (const root of fs.readdirSync(tmp)) {
      const inner = fs.readdirSync(path.join(tmp, root));
      if (inner.length > 0) return path.join(tmp, root, inner[0]);
    }
    assert.equal(suite.exitCode, null, 'the suite ended before any measurement made a temp dir');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function ended(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
}

describe('bench suite cleanup', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-bench-cleanup-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-measurement: the suite removes every temp dir, then dies of ${signal}`, async () => {
      const suite = startSuite(tmp, 'ignore');
      const exit = ended(suite);
      const inner = await childTempDir(tmp, suite);
      suite.kill(signal);
      assert.deepEqual(await exit, [null, signal]);
      assert.equal(fs.existsSync(inner), false);
      assert.deepEqual(fs.readdirSync(tmp), []);
    });
  }

  it('its output closed (bench 2>&1 | head -1): the suite stops, removes every temp dir and exits 0', async () => {
    const suite = startSuite(tmp, 'pipe');
    const exit = ended(suite);
    const stderr = suite.stderr as NodeJS.ReadableStream & { destroy(): void };
    let first = '';
    stderr.on('data', (chunk: Buffer) => {
      first += chunk.toString();
      if (first.includes('\n')) stderr.destroy();
    });
    assert.deepEqual(await exit, [0, null]);
    assert.match(first, /^bench: quick profile/);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  it('durability bench --help says that no name runs the whole suite, and how long it takes', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /With no <name>: the full suite/);
    assert.match(r.stdout, /about 5 minutes/);
    assert.match(r.stdout, /--quick/);
  });
});
