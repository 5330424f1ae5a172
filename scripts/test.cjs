#!/usr/bin/env node
// Runs the mocha suite and ends with the one line CI reads: "N passed, N failed". Exit code 1
// when anything failed or nothing ran.
// It compiles first (DURABILITY_TEST_NO_BUILD=1 skips that, for a caller that just did) and runs
// the compiled file of every test/**/*.test.ts that exists now: dist/ can hold the output of a
// test since deleted or renamed, and running dist/ as it is would run stale JavaScript.
// The suites that need the native core's test hooks build that addon themselves, once, into
// build-test/ (test/support/test-binding.ts). Files run two at a time, in mocha's worker
// processes (MOCHA_JOBS, below).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const sourceDir = path.join(root, 'test');
const testDir = path.join(root, 'dist', 'test');

function collect(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collect(full));
    else if (entry.name.endsWith('.test.ts')) out.push(path.join(testDir, path.relative(sourceDir, full)).replace(/\.ts$/, '.js'));
  }
  return out.sort();
}

function compile() {
  if (process.env.DURABILITY_TEST_NO_BUILD === '1') return;
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`tsc failed (exit ${run.status}): the tests were not run`);
}

// Two files at a time by default (MOCHA_JOBS=n: n, 1 runs them one after another in this
// process): much of the suite waits on child processes, fsync and NATS elections, not on a CPU.
function jobsFor(fileCount) {
  const asked = Number(process.env.MOCHA_JOBS || 2);
  return Math.max(1, Math.min(Number.isInteger(asked) ? asked : 1, fileCount));
}

// Parallel workers would each find the test-hook addon missing and build it into build-test/ at
// once: build it here first when a selected file needs it. A failed build is left to those
// tests, which fail saying why.
function buildTestBinding(files) {
  if (!files.some((f) => fs.readFileSync(f, 'utf8').includes('support/test-binding'))) return;
  try {
    require(path.join(testDir, 'support', 'test-binding.js')).testBuild();
  } catch {
    // reported by the tests that need it
  }
}

async function main() {
// DURABILITY_TEST_MOCHA: another mocha's entry file, for a Node older than this mocha supports
// (scripts/test-platforms.mjs on linux-s390x, whose newest official Node 20 is 20.11.0).
const mochaEntry = process.env.DURABILITY_TEST_MOCHA;
const { default: Mocha } = await import(mochaEntry ? require('node:url').pathToFileURL(mochaEntry).href : 'mocha');
const filter = process.argv.slice(2);
compile();
const files = collect(sourceDir).filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));
const jobs = jobsFor(files.length);
const mocha = new Mocha({ timeout: 120000, reporter: process.env.MOCHA_REPORTER || 'spec', ...(jobs > 1 ? { parallel: true, jobs } : {}) });
if (process.env.MOCHA_GREP) mocha.grep(process.env.MOCHA_GREP);
for (const f of files) mocha.addFile(f);

if (jobs > 1) buildTestBinding(files);
else await mocha.loadFilesAsync();
const runner = mocha.run();
runner.on('end', () => {
  const { passes = 0, failures = 0 } = runner.stats || {};
  console.log(`${passes} passed, ${failures} failed`);
  process.exitCode = failures > 0 || passes === 0 ? 1 : 0;
});
}

main().catch((err) => {
  console.error(err);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
