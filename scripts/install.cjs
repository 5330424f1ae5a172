#!/usr/bin/env node
// npm install hook. Never fails the install: the package chooses its backend at run time
// (prebuild → local build → pure TypeScript), so this script only tries to make the middle
// option available when no native core loads. It may also never run at all (allowScripts,
// --ignore-scripts); nothing depends on it. What loads is decided by the package's own loader
// (dist/lib/native.js), asked in a child (this file, run with --probe-loader): the same checks as
// at run time (libc, truncation, the prebuild's .sha256), and a binary that crashes its loader
// crashes only the child. Before dist/ is compiled, the child makes the loader's prebuild checks
// through lib/native-checks.cjs, the module the loader makes them with.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** The argument that makes this file the child that asks the loader. */
const PROBE = '--probe-loader';
// Loading takes well under a second natively and seconds under emulation: a child still at it
// after a minute is stuck (in dlopen, on a stalled mount), and must not hang npm install.
const PROBE_TIMEOUT_MS = Number(process.env.DURABILITY_INSTALL_PROBE_TIMEOUT_MS) || 60_000;

/** The native core this package's own files give the loader, or why none loads. */
function probeLoader() {
  // This file again rather than `node -e`: NODE_OPTIONS may make -e input an ES module
  // (--input-type=module), where require is not defined; a .cjs file is CommonJS whatever it says.
  // An explicit DURABILITY_NATIVE_PATH is the user's binary, not one this package provides.
  const env = { ...process.env };
  delete env.DURABILITY_NATIVE_PATH;
  const r = spawnSync(process.execPath, [__filename, PROBE], { cwd: root, env, encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (r.error && r.error.code === 'ETIMEDOUT') return { path: null, attempts: [], timedOut: true };
  if (r.status === 0) {
    // The answer is the last line: a preload in NODE_OPTIONS may print before it (dotenv/config does).
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      // fall through
    }
  }
  return { path: null, attempts: [`the loader check ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}`] };
}

/** In the child: what loads, as the last line of stdout. */
function answerProbe() {
  const loader = path.join(root, 'dist', 'lib', 'native.js');
  let found;
  if (fs.existsSync(loader)) {
    const l = require(loader).loadNative();
    found = { path: l.path ?? null, attempts: l.attempts };
  } else {
    found = probePrebuilds();
  }
  process.stdout.write(`\n${JSON.stringify(found)}\n`);
}

// npm runs `install` before `prepare` compiles dist/ (a git dependency, a fresh clone), so the
// loader is not there to ask: the checks it would make of a prebuild, from the CommonJS module it
// makes them with (lib/native-checks.cjs, compiled or not), then dlopen. Without them a clone
// built the core from source while its prebuild loads. Only a source tree lacks dist/, and it
// has lib/.
function probePrebuilds() {
  const checks = require(path.join(root, 'lib', 'native-checks.cjs'));
  const attempts = [];
  for (const file of checks.prebuildPaths(root)) {
    try {
      const refusal = checks.fileRefusal(file) ?? checks.prebuildChecksumMismatch(file);
      if (refusal !== undefined) {
        attempts.push(`${file}: ${refusal}`);
        continue;
      }
      if (checks.isDurabilityBinding(require(file))) return { path: file, attempts };
      attempts.push(`${file}: ${checks.NOT_THE_CORE}`);
    } catch (err) {
      attempts.push(`${file}: ${String(err && err.message).split('\n')[0]}`);
    }
  }
  return { path: null, attempts };
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
  if (!refused) return `no prebuild for ${process.platform}-${process.arch}`;
  return refused.startsWith(root + path.sep) ? refused.slice(root.length + 1) : refused;
}

function main() {
  const fromSource = process.env.npm_config_build_from_source === 'true';
  const found = probeLoader();
  if (found.timedOut) {
    // Whether a core loads is unknown: building one would not be tried first at run time either.
    console.log(`durability: the loader check did not answer within ${PROBE_TIMEOUT_MS / 1000} s; the backend is chosen when the package loads.`);
    return;
  }
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

if (process.argv[2] === PROBE) {
  answerProbe();
} else {
  try {
    main();
  } catch (err) {
    console.log(`durability: install step skipped (${err && err.message}); the backend is chosen when the package loads.`);
  }
}
