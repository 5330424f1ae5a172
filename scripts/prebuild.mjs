#!/usr/bin/env node
// `npm run build:prebuilds [-- --arch arm64]`: builds the Node-API prebuild for this platform with
// prebuildify (cmake-js behind scripts/node-gyp-shim.cjs), then checks what it made:
//   prebuilds/<platform>-<arch>/durability.<glibc|musl>.node on Linux, durability.node elsewhere.
// A host-arch build is loaded in a child and its buildInfo.sourceHash compared with the tree;
// on Linux the highest GLIBC_/GLIBCXX_ symbol versions it needs are printed (objdump -T).
// Rerun after every change under native/: the committed prebuild is what users load first, and
// test/package-prebuild.test.ts fails while it is older than the sources.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { nativeSourceHash } = require('./source-hash.cjs');

function parseArch(argv) {
  const i = argv.findIndex((a) => a === '--arch' || a.startsWith('--arch='));
  if (i < 0) return process.arch;
  return argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
}

const passThrough = process.argv.slice(2);
const arch = parseArch(passThrough);
const cross = arch !== process.arch;
const env = { ...process.env };
const shim = path.join(root, 'scripts', 'node-gyp-shim.cjs');
// prebuildify spawns with a shell on Windows only; there the script needs its interpreter named.
env.PREBUILD_NODE_GYP = process.platform === 'win32' ? `"${process.execPath}" "${shim}"` : shim;
if (cross && process.platform === 'linux' && arch === 'arm64') {
  env.DURABILITY_CMAKE_ARGS = `${env.DURABILITY_CMAKE_ARGS ?? ''} --CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'scripts', 'toolchain-linux-arm64.cmake')}`;
  env.PREBUILD_STRIP_BIN ??= 'aarch64-linux-gnu-strip';
}

// The shim replaces build/Release/durability.node and prebuildify moves it away: keep the
// developer's local build to put back afterwards.
const localBuild = path.join(root, 'build', 'Release', 'durability.node');
const saved = fs.existsSync(localBuild) ? fs.readFileSync(localBuild) : undefined;

const args = [require.resolve('prebuildify/bin.js'), '--napi', '--strip', ...passThrough];
if (process.platform === 'linux') args.push('--tag-libc');
const run = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
if (run.status !== 0 || cross) restoreLocalBuild();
if (run.status !== 0) process.exit(run.status ?? 1);

const dir = path.join(root, 'prebuilds', `${process.platform}-${arch}`);
const produced = fs.readdirSync(dir).filter((n) => n.endsWith('.node')).map((n) => path.join(dir, n));
const file = produced.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
console.log(`prebuild: ${path.relative(root, file)} (${fs.statSync(file).size} bytes)`);

if (!cross) {
  // A fresh unstripped build of the same sources replaces the local one.
  const built = path.join(root, 'build', `prebuild-${process.platform}-${arch}`, 'Release', 'durability.node');
  fs.mkdirSync(path.dirname(localBuild), { recursive: true });
  fs.copyFileSync(built, localBuild);
}

const expected = nativeSourceHash(root);
// The hash is a string literal in the binary: checkable even where the binary cannot load.
// A mismatch here means a source changed during the build.
if (!fs.readFileSync(file).includes(Buffer.from(expected))) {
  console.error(`prebuild: ${path.relative(root, file)} does not embed the tree's sourceHash ${expected}`);
  process.exit(1);
}

if (!cross) {

  const probe = spawnSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(file)}).buildInfo)`], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.error(`prebuild: the new binary does not load:\n${probe.stderr}`);
    process.exit(1);
  }
  const info = JSON.parse(probe.stdout);
  if (info.sourceHash !== expected) {
    console.error(`prebuild: sourceHash ${info.sourceHash} does not match the tree (${expected})`);
    process.exit(1);
  }
  console.log(`prebuild: loads, buildInfo ${JSON.stringify(info)}`);
}

if (process.platform === 'linux') {
  const objdump = cross && arch === 'arm64' ? 'aarch64-linux-gnu-objdump' : 'objdump';
  const dump = spawnSync(objdump, ['-T', file], { encoding: 'utf8' });
  if (dump.status === 0) {
    for (const lib of ['GLIBC', 'GLIBCXX']) {
      const versions = [...dump.stdout.matchAll(new RegExp(`\\b${lib}_([0-9.]+)\\b`, 'g'))].map((m) => m[1]);
      const max = versions.sort((a, b) => compareVersions(b, a))[0];
      console.log(`prebuild: needs ${lib} ${max ?? '(none)'}`);
    }
  }
}

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function restoreLocalBuild() {
  if (saved === undefined) return;
  fs.mkdirSync(path.dirname(localBuild), { recursive: true });
  fs.writeFileSync(localBuild, saved, { mode: 0o755 });
}
