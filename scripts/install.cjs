#!/usr/bin/env node
// npm install hook. Never fails the install: the package chooses its backend at run time
// (prebuild → local build → pure TypeScript), so this script only tries to make the middle
// option available when no prebuild loads. It may also never run at all (allowScripts,
// --ignore-scripts); nothing depends on it.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const quiet = { stdio: 'ignore', cwd: root };

function prebuildLoads() {
  const tuple = `${process.platform}-${process.arch}`;
  const dir = path.join(root, 'prebuilds', tuple);
  if (!fs.existsSync(dir)) return false;
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(dir, f))})`], quiet);
    if (r.status === 0) return true;
  }
  return false;
}

function findCmakeJs() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return undefined;
  }
}

function main() {
  const fromSource = process.env.npm_config_build_from_source === 'true';
  if (!fromSource && prebuildLoads()) return;
  const cmakeJs = findCmakeJs();
  if (!cmakeJs) {
    console.log('durability: no prebuild for this platform and cmake-js is not installed; the pure-TypeScript backend will be used.');
    return;
  }
  const r = spawnSync(process.execPath, [cmakeJs, 'compile'], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.log('durability: native build failed; the pure-TypeScript backend will be used (same format, slower).');
  }
}

try {
  main();
} catch (err) {
  console.log(`durability: install step skipped (${err && err.message}); the pure-TypeScript backend will be used.`);
}
