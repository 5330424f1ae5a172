#!/usr/bin/env node
// Runs the mocha suite (compiled to dist/test) and ends with the one line CI reads:
// "N passed, N failed". Exit code 1 when anything failed or nothing ran.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const testDir = path.join(root, 'dist', 'test');

function collect(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collect(full));
    else if (entry.name.endsWith('.test.js')) out.push(full);
  }
  return out.sort();
}

async function main() {
const { default: Mocha } = await import('mocha');
const filter = process.argv.slice(2);
const mocha = new Mocha({ timeout: 120000, reporter: process.env.MOCHA_REPORTER || 'spec' });
if (process.env.MOCHA_GREP) mocha.grep(process.env.MOCHA_GREP);
const files = fs.existsSync(testDir) ? collect(testDir) : [];
for (const f of files) {
  if (filter.length === 0 || filter.some((x) => f.includes(x))) mocha.addFile(f);
}

await mocha.loadFilesAsync();
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
