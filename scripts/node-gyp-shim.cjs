#!/usr/bin/env node
// Stands in for node-gyp under prebuildify (`prebuildify --node-gyp <this>`), which has no
// cmake-js backend (prebuild/prebuildify#49). prebuildify runs
//   node-gyp rebuild --target=<v> --devdir=<d> --arch=<a> --release|--debug
// and then takes the first .node in build/Release (or build/Debug), strips it and moves it to
// prebuilds/. We build with cmake-js in a separate directory, so the developer's build/ cache
// survives, and copy the result to where prebuildify looks.
//
// Extra CMake definitions (a cross toolchain, say) come from DURABILITY_CMAKE_ARGS,
// whitespace-separated cmake-js flags such as --CDCMAKE_TOOLCHAIN_FILE=/path/to.cmake.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function parse(argv) {
  const opts = { command: argv[0], arch: process.arch, debug: false };
  for (const arg of argv.slice(1)) {
    const [key, value] = arg.split('=', 2);
    if (key === '--arch') opts.arch = value;
    else if (key === '--debug') opts.debug = true;
    else if (key === '--release') opts.debug = false;
    // --target, --devdir, --runtime: Node-API builds need neither headers nor a version.
  }
  return opts;
}

function main() {
  const opts = parse(process.argv.slice(2));
  if (opts.command !== 'rebuild') {
    console.error(`node-gyp-shim: only 'rebuild' is supported, got ${JSON.stringify(opts.command)}`);
    return 2;
  }
  const config = opts.debug ? 'Debug' : 'Release';
  // prebuildify names the target platform in the environment (scripts/prebuild.mjs cross-builds).
  const platform = process.env.PREBUILD_PLATFORM || process.platform;
  const out = path.join('build', `prebuild-${platform}-${opts.arch}`);
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const extra = (process.env.DURABILITY_CMAKE_ARGS || '').split(/\s+/).filter(Boolean);
  const args = [cmakeJs, 'rebuild', '--out', out, '--arch', opts.arch, ...(opts.debug ? ['--debug'] : []), ...extra];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) return r.status || 1;
  const built = path.join(root, out, config, 'durability.node');
  const target = path.join(root, 'build', config);
  fs.mkdirSync(target, { recursive: true });
  // prebuildify takes the first *.node here: make ours the only one.
  for (const f of fs.readdirSync(target)) if (f.endsWith('.node')) fs.rmSync(path.join(target, f));
  fs.copyFileSync(built, path.join(target, 'durability.node'));
  return 0;
}

process.exitCode = main();
