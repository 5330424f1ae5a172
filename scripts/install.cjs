#!/usr/bin/env node
// npm install hook. Never fails the install: the package chooses its backend at run time
// (prebuild → local build → pure TypeScript), so this script only tries to make the middle
// option available when no native core loads. It may also never run at all (allowScripts,
// --ignore-scripts); nothing depends on it. What loads is decided by the package's own loader
// (dist/lib/native.js), asked in a child: the same checks as at run time (libc, truncation, the
// prebuild's .sha256), and a binary that crashes its loader crashes only the child.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** The native core this package's own files give the loader, or why none loads. */
function probeLoader() {
  const loader = path.join(root, 'dist', 'lib', 'native.js');
  const script = `const l = require(${JSON.stringify(loader)}).loadNative();
    process.stdout.write(JSON.stringify({ path: l.path ?? null, attempts: l.attempts }));`;
  // An explicit DURABILITY_NATIVE_PATH is the user's binary, not one this package provides.
  const env = { ...process.env };
  delete env.DURABILITY_NATIVE_PATH;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8' });
  if (r.status === 0) {
    try {
      return JSON.parse(r.stdout);
    } catch {
      // fall through
    }
  }
  return { path: null, attempts: [`the loader check ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}`] };
}

function findCmakeJs() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return undefined;
  }
}

/** Why nothing loads, in one line: the first candidate that exists and was refused, else the platform. */
function whyNone(attempts) {
  const refused = attempts.find((a) => !a.endsWith(': not found'));
  return refused ? path.relative(root, refused) : `no prebuild for ${process.platform}-${process.arch}`;
}

function main() {
  const fromSource = process.env.npm_config_build_from_source === 'true';
  const found = probeLoader();
  if (found.path && !fromSource) return;
  const outcome = found.path
    ? `${path.relative(root, found.path)} stays in use`
    : `the pure-TypeScript backend will be used (same format, slower)`;
  const reason = fromSource ? 'build from source asked for' : `no native core loads (${whyNone(found.attempts)})`;
  const cmakeJs = findCmakeJs();
  if (!cmakeJs) {
    console.log(`durability: ${reason}, but cmake-js is not installed; ${outcome}.`);
    return;
  }
  const r = spawnSync(process.execPath, [cmakeJs, 'compile'], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) console.log(`durability: ${reason}, and the native build failed; ${outcome}.`);
}

try {
  main();
} catch (err) {
  console.log(`durability: install step skipped (${err && err.message}); the backend is chosen when the package loads.`);
}
