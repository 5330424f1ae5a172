import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The loader chain as a user meets it: a copy of the package with no build/ and no prebuilds/
// (an install whose script never ran, on a platform without a prebuild) must still work, on the
// pure-TypeScript backend, with exactly one warning saying so.
const root = path.resolve(__dirname, '..', '..');

function copyPackageWithoutBinaries(): string {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-loader-'));
  fs.cpSync(path.join(root, 'dist', 'lib'), path.join(dest, 'dist', 'lib'), { recursive: true });
  for (const f of ['package.json', 'binding.d.ts']) fs.copyFileSync(path.join(root, f), path.join(dest, f));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
  return dest;
}

/** `timeout` (ms) turns a child that hangs into a failed test. */
function runChild(pkg: string, script: string, env: Record<string, string> = {}, timeout?: number) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.DURABILITY_BACKEND;
  delete childEnv.DURABILITY_NATIVE_PATH;
  Object.assign(childEnv, env);
  return spawnSync(process.execPath, ['-e', script], { cwd: pkg, env: childEnv, encoding: 'utf8', timeout });
}

describe('native loader', () => {
  let pkg: string;
  before(() => {
    pkg = copyPackageWithoutBinaries();
  });
  after(() => fs.rmSync(pkg, { recursive: true, force: true }));

  it('falls back to the pure-TS backend with one warning when no binary is present', () => {
    const script = `
      const { defaultBackend } = require('./dist/lib/backend/select.js');
      const a = defaultBackend(); const b = defaultBackend();
      const data = Buffer.from('123456789');
      console.log(JSON.stringify({ a: a.name, b: b.name, crc: a.crc32c(data) }));`;
    const r = runChild(pkg, script);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { a: string; b: string; crc: number };
    assert.deepEqual(out, { a: 'ts', b: 'ts', crc: 0xe3069283 });
    const warnings = r.stderr.split('\n').filter((l) => l.includes('DURABILITY_NATIVE_UNAVAILABLE'));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(r.stderr, /not found/);
  });

  it('refuses a forced native backend that does not load, with the paths it tried', () => {
    const script = `
      const { defaultBackend } = require('./dist/lib/backend/select.js');
      try { defaultBackend(); console.log('loaded'); } catch (e) { console.log(e.code + ' ' + e.message.split('\\n').length); }`;
    const r = runChild(pkg, script, { DURABILITY_BACKEND: 'native' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^DURABILITY_INVALID_ARGUMENT [2-9]/);
  });

  it('rejects an unknown DURABILITY_BACKEND value', () => {
    const r = runChild(pkg, `try { require('./dist/lib/backend/select.js').defaultBackend() } catch (e) { console.log(e.code) }`, {
      DURABILITY_BACKEND: 'fast',
    });
    assert.equal(r.stdout.trim(), 'DURABILITY_INVALID_ARGUMENT');
  });

  /** The addon this checkout loads: a clean install loads the committed prebuild and builds nothing, so either will do. */
  function builtAddon(): string {
    const tuple = `${process.platform}-${process.arch}`;
    return [path.join(root, 'build', 'Release', 'durability.node'), path.join(root, 'prebuilds', tuple, 'durability.glibc.node')]
      .find((p) => fs.existsSync(p)) ?? '';
  }

  /** defaultBackend()'s name in a child, with the fallback warning's lines. */
  function backendWith(env: Record<string, string>, at = pkg): { name: string; warning: string } {
    const r = runChild(at, `console.log(require('./dist/lib/backend/select.js').defaultBackend().name)`, env, 30_000);
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
    return { name: r.stdout.trim(), warning: r.stderr };
  }

  it('skips a candidate that would kill the process or is not its core: a truncated build, another addon, a .json file', function () {
    const built = builtAddon();
    if (!fs.existsSync(built)) {
      assert.notEqual(process.env.DURABILITY_REQUIRE_NATIVE, '1', 'native build missing');
      return;
    }
    // An interrupted install: the ELF headers are whole, the segments they map are not (SIGBUS on dlopen).
    const truncated = path.join(pkg, 'truncated.node');
    fs.writeFileSync(truncated, fs.readFileSync(built).subarray(0, 60_000));
    const cut = backendWith({ DURABILITY_NATIVE_PATH: truncated });
    assert.equal(cut.name, 'ts');
    assert.match(cut.warning, /truncated\.node: 60000 bytes: /);
    const foreign = require.resolve('@msgpackr-extract/msgpackr-extract-linux-x64/node.napi.glibc.node', { paths: [root] });
    const other = backendWith({ DURABILITY_NATIVE_PATH: foreign });
    assert.equal(other.name, 'ts');
    assert.match(other.warning, /not durability's native core/);
    const data = path.join(pkg, 'binding.json');
    fs.writeFileSync(data, '{}');
    assert.match(backendWith({ DURABILITY_NATIVE_PATH: data }).warning, /not a \.node file/);
  });

  it('a binary for another CPU or libc: the warning says which, not the loader\'s "No such file or directory"', function () {
    if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) this.skip();
    // The committed prebuild for the other architecture: whole and valid, just not for this CPU.
    const other = path.join(root, 'prebuilds', process.arch === 'x64' ? 'linux-arm64' : 'linux-x64', 'durability.glibc.node');
    const wrongCpu = backendWith({ DURABILITY_NATIVE_PATH: other });
    assert.equal(wrongCpu.name, 'ts');
    assert.match(wrongCpu.warning, new RegExp(`durability\\.glibc\\.node: built for ${process.arch === 'x64' ? 'arm64' : 'x64'} \\(ELF machine \\d+\\), this process is ${process.arch}`));
    // A Node-API addon built against musl (msgpackr-extract ships one for this platform).
    const musl = require.resolve(`@msgpackr-extract/msgpackr-extract-linux-${process.arch}/node.napi.musl.node`, { paths: [root] });
    const wrongLibc = backendWith({ DURABILITY_NATIVE_PATH: musl });
    assert.equal(wrongLibc.name, 'ts');
    assert.match(wrongLibc.warning, /node\.napi\.musl\.node: built for musl \(needs libc\.so\), this process uses glibc/);
  });

  it('a huge file dlopen refuses (an ELF header over 3 GiB of nothing): the TS backend with the warning, not a RangeError', function () {
    if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) this.skip();
    // Whole ELF header of this CPU, no segments: dlopen refuses it, then the loader looks for
    // what it was built for. Reading the whole file for that threw ERR_FS_FILE_TOO_LARGE out of
    // the loader past 2 GiB (and read it all into memory below).
    const head = Buffer.alloc(64);
    head.writeUInt32BE(0x7f454c46, 0);
    head[4] = 2; // 64-bit
    head[5] = 1; // little-endian
    head[6] = 1;
    head.writeUInt16LE(3, 16); // ET_DYN
    head.writeUInt16LE(process.arch === 'x64' ? 62 : 183, 18);
    head.writeUInt32LE(1, 20);
    head.writeBigUInt64LE(64n, 32); // program headers right after, none of them
    head.writeUInt16LE(64, 52);
    head.writeUInt16LE(56, 54);
    const huge = path.join(pkg, 'huge.node');
    fs.writeFileSync(huge, head);
    fs.truncateSync(huge, 3 * 1024 ** 3); // sparse: no disk space used
    try {
      const r = backendWith({ DURABILITY_NATIVE_PATH: huge });
      assert.equal(r.name, 'ts');
      assert.match(r.warning, /huge\.node: /);
    } finally {
      fs.rmSync(huge, { force: true });
    }
  });

  it('a candidate that is no regular file (a FIFO) is passed over, not opened: the TS backend with the warning', function () {
    if (process.platform === 'win32') this.skip();
    // Opening a FIFO to read its ELF header blocks until a writer comes: the program hung on import.
    const fifo = path.join(pkg, 'fifo.node');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
    try {
      const r = backendWith({ DURABILITY_NATIVE_PATH: fifo });
      assert.equal(r.name, 'ts');
      assert.match(r.warning, /fifo\.node: not a regular file/);
    } finally {
      fs.rmSync(fifo, { force: true });
    }
  });

  it('works from a dist/ moved away from its package.json (a bundler): fallback, or the explicit binary', function () {
    const moved = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-moved-'));
    try {
      fs.cpSync(path.join(pkg, 'dist'), path.join(moved, 'dist'), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(moved, 'node_modules'), 'dir');
      assert.equal(backendWith({}, moved).name, 'ts');
      const built = builtAddon();
      if (fs.existsSync(built)) assert.equal(backendWith({ DURABILITY_NATIVE_PATH: built }, moved).name, 'native');
    } finally {
      fs.rmSync(moved, { recursive: true, force: true });
    }
  });

  it('works from a dist/ moved below an app whose package.json starts with a byte-order mark (Node and npm read it): fallback, or the explicit binary', function () {
    // Looking for its own package.json, the loader JSON.parsed every one on the way up and threw
    // the SyntaxError out of defaultBackend(): the program died instead of falling back, even
    // with DURABILITY_NATIVE_PATH set.
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-app-'));
    try {
      fs.writeFileSync(path.join(app, 'package.json'), '\uFEFF{"name":"app","version":"1.0.0"}');
      fs.cpSync(path.join(pkg, 'dist'), path.join(app, 'dist'), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(app, 'node_modules'), 'dir');
      const fallback = backendWith({}, app);
      assert.equal(fallback.name, 'ts');
      assert.match(fallback.warning, /DURABILITY_NATIVE_UNAVAILABLE/);
      const built = builtAddon();
      if (fs.existsSync(built)) assert.equal(backendWith({ DURABILITY_NATIVE_PATH: built }, app).name, 'native');
    } finally {
      fs.rmSync(app, { recursive: true, force: true });
    }
  });

  it('loads an explicit DURABILITY_NATIVE_PATH (the bundler escape hatch) when it points at a real build', function () {
    const built = builtAddon();
    if (!fs.existsSync(built)) {
      // Only meaningful where the addon was built; CI requires it (DURABILITY_REQUIRE_NATIVE).
      assert.notEqual(process.env.DURABILITY_REQUIRE_NATIVE, '1', 'native build missing');
      return;
    }
    const r = runChild(pkg, `console.log(require('./dist/lib/backend/select.js').defaultBackend().name)`, {
      DURABILITY_NATIVE_PATH: built,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'native');
    assert.doesNotMatch(r.stderr, /DURABILITY_NATIVE_UNAVAILABLE/);
  });
});
