// scripts/test.cjs runs the compiled form of the tests that exist in test/ now, never a leftover
// in dist/test whose source was deleted or renamed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const RUNNER = path.join(ROOT, 'scripts', 'test.cjs');
/** The child runs report with spec whatever reporter this run uses (json would end its summary line). */
const ENV = { ...process.env, DURABILITY_TEST_NO_BUILD: '1', MOCHA_REPORTER: '' };

describe('test runner (scripts/test.cjs)', () => {
  it('does not run a compiled test whose source no longer exists', () => {
    const name = `zz-deleted-${process.pid}-${Date.now()}`;
    const stale = path.join(ROOT, 'dist', 'test', `${name}.test.js`);
    fs.writeFileSync(stale, "describe('stale', () => it('ran', () => { throw new Error('stale test ran'); }));\n");
    try {
      const run = spawnSync(process.execPath, [RUNNER, name], {
        cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 60_000,
      });
      assert.doesNotMatch(run.stdout + run.stderr, /stale test ran/);
      assert.match(run.stdout, /^0 passed, 0 failed$/m);
      assert.equal(run.status, 1, 'a run that executes no test fails');
    } finally {
      fs.rmSync(stale, { force: true });
    }
  });

  it('runs the compiled form of a test that exists', () => {
    const run = spawnSync(process.execPath, [RUNNER, 'crc32c.test'], {
      cwd: ROOT, encoding: 'utf8', env: { ...ENV, MOCHA_GREP: '' }, timeout: 120_000,
    });
    assert.match(run.stdout, /^[1-9][0-9]* passed, 0 failed$/m, run.stdout + run.stderr);
    assert.equal(run.status, 0);
  });
});
