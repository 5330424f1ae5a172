#!/usr/bin/env node
// `npm run build:prebuilds [-- --target <platform>-<arch>]`: builds the Node-API prebuilds with
// prebuildify (cmake-js behind scripts/node-gyp-shim.cjs), then checks what it made:
//   prebuilds/<platform>-<arch>/durability.<glibc|musl>.node on Linux, durability.node elsewhere,
//   each with a <name>.sha256 beside it (the loader loads only a binary that matches it).
// With no --target, a linux-x64 host builds linux-x64, linux-arm64, linux-s390x and win32-x64
// (the last three with Debian's cross toolchains: g++-aarch64-linux-gnu, g++-s390x-linux-gnu,
// mingw-w64; `npm run test:platforms` installs them and proves each binary on its own Node);
// any other host builds its own tuple.
// `--arch arm64` is the older spelling of `--target linux-arm64`.
// Every binary must embed the tree's sourceHash; a host build is also loaded in a child and its
// buildInfo compared. On Linux the highest GLIBC_/GLIBCXX_ symbol versions needed are printed.
// Rerun after every change under native/: the committed prebuilds are what users load first, and
// test/package-prebuild.test.ts fails while one is older than the sources.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { nativeSourceHash } = require('./source-hash.cjs');
const host = `${process.platform}-${process.arch}`;

/** How to build each tuple from a linux-x64 host: the CMake toolchain and the strip binary. */
const CROSS = {
  'linux-arm64': { toolchain: 'toolchain-linux-arm64.cmake', strip: 'aarch64-linux-gnu-strip', objdump: 'aarch64-linux-gnu-objdump' },
  'linux-s390x': { toolchain: 'toolchain-linux-s390x.cmake', strip: 's390x-linux-gnu-strip', objdump: 's390x-linux-gnu-objdump' },
  'win32-x64': { toolchain: 'toolchain-win32-x64.cmake', strip: 'x86_64-w64-mingw32-strip' },
};

function option(argv, name) {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
}

function targets(argv) {
  const target = option(argv, 'target');
  if (target) return [target];
  const arch = option(argv, 'arch');
  if (arch) return [`${process.platform}-${arch}`];
  return host === 'linux-x64' ? [host, ...Object.keys(CROSS)] : [host];
}

// The shim replaces build/Release/durability.node and prebuildify moves it away: keep the
// developer's local build to put back afterwards.
const localBuild = path.join(root, 'build', 'Release', 'durability.node');
const saved = fs.existsSync(localBuild) ? fs.readFileSync(localBuild) : undefined;

const expected = nativeSourceHash(root);
for (const tuple of targets(process.argv.slice(2))) build(tuple);

function build(tuple) {
  const [platform, arch] = tuple.split('-');
  const cross = tuple !== host;
  if (cross && !(host === 'linux-x64' && CROSS[tuple])) fatal(`cannot build ${tuple} on ${host}`);
  const env = { ...process.env, PREBUILD_PLATFORM: platform, PREBUILD_ARCH: arch };
  const shim = path.join(root, 'scripts', 'node-gyp-shim.cjs');
  // prebuildify spawns with a shell on Windows only; there the script needs its interpreter named.
  env.PREBUILD_NODE_GYP = process.platform === 'win32' ? `"${process.execPath}" "${shim}"` : shim;
  if (cross) {
    const toolchain = path.join(root, 'scripts', CROSS[tuple].toolchain);
    env.DURABILITY_CMAKE_ARGS = `${env.DURABILITY_CMAKE_ARGS ?? ''} --CDCMAKE_TOOLCHAIN_FILE=${toolchain}`;
    env.PREBUILD_STRIP_BIN = CROSS[tuple].strip;
  }
  const args = [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--platform', platform, '--arch', arch];
  if (platform === 'linux') args.push('--tag-libc');
  console.log(`prebuild: building ${tuple}${cross ? ' (cross)' : ''}`);
  const run = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
  if (run.status !== 0 || cross) restoreLocalBuild();
  if (run.status !== 0) process.exit(run.status ?? 1);

  const dir = path.join(root, 'prebuilds', tuple);
  const produced = fs.readdirSync(dir).filter((n) => n.endsWith('.node')).map((n) => path.join(dir, n));
  const file = produced.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  console.log(`prebuild: ${path.relative(root, file)} (${fs.statSync(file).size} bytes)`);

  if (!cross) {
    // A fresh unstripped build of the same sources replaces the local one.
    const built = path.join(root, 'build', `prebuild-${tuple}`, 'Release', 'durability.node');
    fs.mkdirSync(path.dirname(localBuild), { recursive: true });
    fs.copyFileSync(built, localBuild);
  }

  // The hash is a string literal in the binary: checkable even where the binary cannot load.
  // A mismatch here means a source changed during the build.
  if (!fs.readFileSync(file).includes(Buffer.from(expected))) {
    fatal(`${path.relative(root, file)} does not embed the tree's sourceHash ${expected}`);
  }

  if (!cross) {
    const probe = spawnSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(file)}).buildInfo)`], { encoding: 'utf8' });
    if (probe.status !== 0) fatal(`the new binary does not load:\n${probe.stderr}`);
    const info = JSON.parse(probe.stdout);
    if (info.sourceHash !== expected) fatal(`sourceHash ${info.sourceHash} does not match the tree (${expected})`);
    console.log(`prebuild: loads, buildInfo ${JSON.stringify(info)}`);
  }

  if (platform === 'linux') printGlibcFloor(file, cross ? CROSS[tuple].objdump : 'objdump');
  if (platform === 'win32') printDllImports(file);
  writeChecksum(file);
}

// The loader refuses a prebuild whose bytes differ from this (lib/native-checks.cjs): a binary
// damaged in place would crash the process inside dlopen. sha256sum's format, so
// `sha256sum -c` checks it by hand.
function writeChecksum(file) {
  const hex = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  fs.writeFileSync(`${file}.sha256`, `${hex}  ${path.basename(file)}\n`);
  console.log(`prebuild: ${path.relative(root, file)}.sha256 ${hex}`);
}

function printGlibcFloor(file, objdump) {
  const dump = spawnSync(objdump, ['-T', file], { encoding: 'utf8' });
  if (dump.status !== 0) return;
  for (const lib of ['GLIBC', 'GLIBCXX']) {
    const versions = [...dump.stdout.matchAll(new RegExp(`\\b${lib}_([0-9.]+)\\b`, 'g'))].map((m) => m[1]);
    const max = versions.sort((a, b) => compareVersions(b, a))[0];
    console.log(`prebuild: needs ${lib} ${max ?? '(none)'}`);
  }
}

// The Windows binary must need nothing beyond the system, the C runtime and node.exe (no MinGW DLL).
function printDllImports(file) {
  const dump = spawnSync('x86_64-w64-mingw32-objdump', ['-p', file], { encoding: 'utf8' });
  if (dump.status !== 0) return;
  const dlls = [...new Set([...dump.stdout.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]))];
  console.log(`prebuild: imports ${dlls.join(', ')}`);
  const foreign = dlls.filter((d) => !/^(kernel32|msvcrt|node)\.(dll|exe)$/i.test(d) && !/^api-ms-win-/i.test(d));
  if (foreign.length > 0) fatal(`the Windows binary needs DLLs Windows does not ship: ${foreign.join(', ')}`);
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

function fatal(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function restoreLocalBuild() {
  if (saved === undefined) return;
  fs.mkdirSync(path.dirname(localBuild), { recursive: true });
  fs.writeFileSync(localBuild, saved, { mode: 0o755 });
}
