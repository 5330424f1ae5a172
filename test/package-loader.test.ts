import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMusl } from '../lib/native';

// Each step of the loader chain, in copies of the package laid out as an install would leave
// them: DURABILITY_NATIVE_PATH → prebuilds/<tuple>/ → build/Release (same version only) →
// pure TypeScript with one warning; and DURABILITY_BACKEND=native|ts. The binary placed in each
// copy is a real one from this checkout (the committed prebuild, else the local build).

const root = path.resolve(__dirname, '..', '..');
const tuple = `${process.platform}-${process.arch}`;
const prebuildName = process.platform === 'linux' ? `durability.${isMusl() ? 'musl' : 'glibc'}.node` : 'durability.node';

function realBinary(): string | undefined {
  for (const p of [path.join(root, 'prebuilds', tuple, prebuildName), path.join(root, 'build', 'Release', 'durability.node')]) {
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

interface Layout {
  /**
   * damaged: the real binary, same size, with 4 KiB in its code overwritten (bit rot, a bad copy);
   * appended: the real binary with one byte more, which still loads but is not what was shipped.
   */
  prebuild?: 'real' | 'garbage' | 'damaged' | 'appended';
  /** false: no node_modules beside it (so no cmake-js to build with). */
  modules?: false;
  /** false: no dist/ (an install from git or a fresh clone: npm runs `install` before `prepare` compiles). */
  dist?: false;
  build?: 'real';
  version?: string;
}

function makeCopy(layout: Layout): string {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-chain-'));
  if (layout.dist !== false) fs.cpSync(path.join(root, 'dist', 'lib'), path.join(dest, 'dist', 'lib'), { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  if (layout.version !== undefined) manifest.version = layout.version;
  fs.writeFileSync(path.join(dest, 'package.json'), JSON.stringify(manifest));
  fs.copyFileSync(path.join(root, 'binding.d.ts'), path.join(dest, 'binding.d.ts'));
  fs.mkdirSync(path.join(dest, 'scripts'));
  fs.copyFileSync(path.join(root, 'scripts', 'install.cjs'), path.join(dest, 'scripts', 'install.cjs'));
  // Without dist/ this is a source tree, where the install script checks the prebuilds with the loader's own module.
  if (layout.dist === false) {
    fs.mkdirSync(path.join(dest, 'lib'));
    fs.copyFileSync(path.join(root, 'lib', 'native-checks.cjs'), path.join(dest, 'lib', 'native-checks.cjs'));
  }
  if (layout.modules !== false) fs.symlinkSync(path.join(root, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
  const binary = realBinary() as string;
  if (layout.prebuild !== undefined) {
    const p = path.join(dest, 'prebuilds', tuple, prebuildName);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    // Each prebuild ships with the SHA-256 of the bytes it was built as (scripts/prebuild.mjs):
    // 'garbage' is such a file that dlopen refuses, 'damaged' a shipped one changed since.
    const shipped = layout.prebuild === 'garbage' ? Buffer.from('not an ELF file') : fs.readFileSync(binary);
    const onDisk = layout.prebuild === 'damaged' ? damaged(shipped) : layout.prebuild === 'appended' ? Buffer.concat([shipped, Buffer.from([0])]) : shipped;
    fs.writeFileSync(p, onDisk);
    fs.writeFileSync(`${p}.sha256`, `${createHash('sha256').update(shipped).digest('hex')}  ${prebuildName}\n`);
  }
  if (layout.build !== undefined) {
    fs.mkdirSync(path.join(dest, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(binary, path.join(dest, 'build', 'Release', 'durability.node'));
  }
  return dest;
}

/** The same bytes with 4 KiB at an eighth of the file (inside .text) replaced by a fixed pattern. */
function damaged(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const at = Math.floor(out.length / 8);
  for (let i = 0; i < 4096; i++) out[at + i] = (i * 131 + 7) & 0xff;
  return out;
}

interface Probe {
  backend: string;
  path: string | null;
  attempts: string[];
  warnings: number;
  stderr: string;
}

function probe(pkg: string, env: Record<string, string> = {}): Probe {
  const script = `
    const { defaultBackend } = require('./dist/lib/backend/select.js');
    const { loadNative } = require('./dist/lib/native.js');
    const backend = defaultBackend().name;
    const load = loadNative();
    console.log(JSON.stringify({ backend, path: load.path ?? null, attempts: load.attempts }));`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.DURABILITY_BACKEND;
  delete childEnv.DURABILITY_NATIVE_PATH;
  Object.assign(childEnv, env);
  // A loader that hangs (blocked reading a FIFO) is a failure here, not a test that never ends.
  const r = spawnSync(process.execPath, ['-e', script], { cwd: pkg, env: childEnv, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.error?.message ?? ''} ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Omit<Probe, 'warnings' | 'stderr'>;
  return { ...out, warnings: r.stderr.split('\n').filter((l) => l.includes('DURABILITY_NATIVE_UNAVAILABLE')).length, stderr: r.stderr };
}

const binary = realBinary();
if (binary === undefined) {
  describe('native loader chain', () => {
    it('has a binary to test with unless native is optional here', () => {
      assert.notEqual(process.env.DURABILITY_REQUIRE_NATIVE, '1', 'no prebuild and no local build');
    });
  });
} else {
  describe('native loader chain', () => {
    const copies: string[] = [];
    const copy = (layout: Layout) => {
      const c = makeCopy(layout);
      copies.push(c);
      return c;
    };
    after(() => {
      for (const c of copies) fs.rmSync(c, { recursive: true, force: true });
    });

    it('a matching prebuild loads with no compiler output around: native, no warning', () => {
      const pkg = copy({ prebuild: 'real' });
      const p = probe(pkg);
      assert.equal(p.backend, 'native');
      assert.equal(p.path, path.join(pkg, 'prebuilds', tuple, prebuildName));
      assert.equal(p.warnings, 0, p.stderr);
    });

    it('a matching prebuild comes before a local cmake-js build', () => {
      const pkg = copy({ prebuild: 'real', build: 'real' });
      const p = probe(pkg);
      assert.equal(p.backend, 'native');
      assert.equal(p.path, path.join(pkg, 'prebuilds', tuple, prebuildName));
    });

    it('with no prebuild, a local build of this version loads; one from another version is passed over, saying why', () => {
      const pkg = copy({ build: 'real' });
      const p = probe(pkg);
      assert.equal(p.backend, 'native');
      assert.equal(p.path, path.join(pkg, 'build', 'Release', 'durability.node'));
      const other = copy({ build: 'real', version: '9.9.9' });
      const q = probe(other);
      assert.equal(q.backend, 'ts');
      assert.match(q.attempts.join('\n'), /build[/\\]Release[/\\]durability\.node: built for version .*, package is 9\.9\.9/);
    });

    it('a prebuild that fails to dlopen: the local build takes over; without one the TS fallback reports the dlopen error', () => {
      const pkg = copy({ prebuild: 'garbage', build: 'real' });
      const p = probe(pkg);
      assert.equal(p.path, path.join(pkg, 'build', 'Release', 'durability.node'));
      assert.match(p.attempts.join('\n'), new RegExp(`${prebuildName.replace(/\./g, '\\.')}: .*(invalid ELF|not a valid|file too short)`, 'i'));
      const only = copy({ prebuild: 'garbage' });
      const q = probe(only);
      assert.equal(q.backend, 'ts');
      assert.equal(q.warnings, 1, q.stderr);
      assert.match(q.attempts.join('\n'), new RegExp(`${prebuildName.replace(/\./g, '\\.')}: .*(invalid ELF|not a valid|file too short)`, 'i'));
    });

    it('a prebuild damaged in place (same size, headers whole) is not loaded: the TS backend, one warning saying why', () => {
      // dlopen of such a file runs damaged code: the process dies (SIGSEGV) with nothing to catch.
      const pkg = copy({ prebuild: 'damaged' });
      const p = probe(pkg);
      assert.equal(p.backend, 'ts');
      assert.equal(p.warnings, 1, p.stderr);
      assert.match(p.attempts.join('\n'), new RegExp(`${prebuildName.replace(/\./g, '\\.')}: its SHA-256 .* does not match`));
    });

    it('a prebuild whose .sha256 is no regular file (a FIFO, a directory) is passed over, not read: the TS backend, one warning saying why', () => {
      // Reading a FIFO blocks until a writer comes: the program hung on import.
      const sidecar = (pkg: string) => `${path.join(pkg, 'prebuilds', tuple, prebuildName)}.sha256`;
      const kinds: Record<string, (file: string) => void> = { 'a directory': (file) => fs.mkdirSync(file) };
      if (process.platform !== 'win32') {
        kinds['a FIFO'] = (file) => assert.equal(spawnSync('mkfifo', [file]).status, 0);
      }
      for (const [kind, make] of Object.entries(kinds)) {
        const pkg = copy({ prebuild: 'real' });
        fs.rmSync(sidecar(pkg));
        make(sidecar(pkg));
        const p = probe(pkg);
        assert.equal(p.backend, 'ts', kind);
        assert.equal(p.warnings, 1, p.stderr);
        assert.match(p.attempts.join('\n'), new RegExp(`${prebuildName.replace(/\./g, '\\.')}: its ${prebuildName.replace(/\./g, '\\.')}\\.sha256 is not a regular file`), kind);
      }
    });

    it('with no binary at all: the pure-TS backend and exactly one warning naming every path tried', () => {
      const pkg = copy({});
      const p = probe(pkg);
      assert.equal(p.backend, 'ts');
      assert.equal(p.path, null);
      assert.equal(p.warnings, 1, p.stderr);
      assert.equal(p.attempts.length, process.platform === 'linux' ? 3 : 2);
      assert.ok(p.attempts.every((a) => a.endsWith(': not found')), p.attempts.join('\n'));
    });

    it('DURABILITY_BACKEND=ts uses the TS backend even with a prebuild, without a warning; =native uses the binary', () => {
      const pkg = copy({ prebuild: 'real' });
      const ts = probe(pkg, { DURABILITY_BACKEND: 'ts' });
      assert.equal(ts.backend, 'ts');
      assert.equal(ts.warnings, 0);
      const native = probe(pkg, { DURABILITY_BACKEND: 'native' });
      assert.equal(native.backend, 'native');
    });

    it('DURABILITY_NATIVE_PATH loads a binary from anywhere, ahead of everything else', () => {
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-chain-outside-'));
      copies.push(outside);
      const file = path.join(outside, 'renamed.node');
      fs.copyFileSync(binary, file);
      const pkg = copy({ prebuild: 'real' });
      const p = probe(pkg, { DURABILITY_NATIVE_PATH: file });
      assert.equal(p.backend, 'native');
      assert.equal(p.path, file);
    });

  });

  // The install script (npm runs it when the package's scripts are allowed) asks the same loader
  // what loads, and says what the program will then use: a line that names the wrong backend
  // sends a user after the wrong problem.
  describe('install script', () => {
    const copies: string[] = [];
    after(() => {
      for (const c of copies) fs.rmSync(c, { recursive: true, force: true });
    });

    /** The script's output, and the backend a program then gets (once dist/ is there); `before` changes the copy first. */
    function install(layout: Layout, env: Record<string, string> = {}, before?: (pkg: string) => void) {
      const pkg = makeCopy({ ...layout, modules: false });
      copies.push(pkg);
      before?.(pkg);
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete childEnv.DURABILITY_NATIVE_PATH;
      delete childEnv.DURABILITY_BACKEND;
      if (env.npm_config_build_from_source === undefined) delete childEnv.npm_config_build_from_source;
      // A script that hangs would hang `npm install`: fail the test instead.
      const r = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'install.cjs')], { cwd: pkg, env: childEnv, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''} ${r.stderr}`);
      if (layout.dist === false) fs.cpSync(path.join(root, 'dist', 'lib'), path.join(pkg, 'dist', 'lib'), { recursive: true });
      return {
        out: r.stdout,
        get backend() {
          return probe(pkg).backend;
        },
      };
    }

    it('a prebuild that loads: nothing to do, nothing printed', () => {
      const r = install({ prebuild: 'real' });
      assert.equal(r.out, '');
      assert.equal(r.backend, 'native');
    });

    it('--build-from-source without cmake-js: says the prebuild that loads stays in use, not the TS backend', () => {
      const r = install({ prebuild: 'real' }, { npm_config_build_from_source: 'true' });
      assert.equal(r.backend, 'native');
      assert.match(r.out, /cmake-js is not installed/);
      assert.match(r.out, new RegExp(`prebuilds/${tuple}/${prebuildName.replace(/\./g, '\\.')}`));
      assert.doesNotMatch(r.out, /pure-TypeScript/);
    });

    it('a prebuild that loads in a child but the loader refuses (not the shipped bytes): says the TS backend will be used, and why', () => {
      const r = install({ prebuild: 'appended' });
      assert.equal(r.backend, 'ts');
      assert.match(r.out, /pure-TypeScript backend/);
      assert.match(r.out, /SHA-256/);
    });

    it('before dist/ is compiled (npm runs install before prepare: a git dependency, a fresh clone): the prebuild is still checked and found', () => {
      // Asking dist/lib/native.js failed here, so a clone built the core from source (or said the
      // TS backend would be used) while the prebuild loads once prepare has run.
      const r = install({ prebuild: 'real', dist: false });
      assert.equal(r.out, '');
      assert.equal(r.backend, 'native');
      const refused = install({ prebuild: 'appended', dist: false });
      assert.equal(refused.backend, 'ts');
      assert.match(refused.out, /pure-TypeScript backend/);
      assert.match(refused.out, /SHA-256/);
    });

    it('before dist/ is compiled, a prebuild is refused for the same reason, in the same words, as the loader gives', function () {
      // The script checked the prebuilds by hand here: a FIFO at the prebuild path hung it until
      // the probe timeout (and nothing was built), a directory was "EISDIR", and the checksum
      // lines lost the expected hash and the DURABILITY_NATIVE_PATH hint the loader gives.
      const p = (pkg: string) => path.join(pkg, 'prebuilds', tuple, prebuildName);
      const cases: Record<string, (pkg: string) => void> = {
        'no .sha256': (pkg) => fs.rmSync(`${p(pkg)}.sha256`),
        'a directory': (pkg) => {
          fs.rmSync(p(pkg));
          fs.mkdirSync(p(pkg));
        },
      };
      if (process.platform !== 'win32') {
        cases['a FIFO'] = (pkg) => {
          fs.rmSync(p(pkg));
          const made = spawnSync('mkfifo', [p(pkg)]);
          assert.equal(made.status, 0, String(made.stderr));
        };
      }
      const env = { DURABILITY_INSTALL_PROBE_TIMEOUT_MS: '10000' };
      const said = (layout: Layout, change?: (pkg: string) => void) => install(layout, env, change).out;
      for (const [name, change] of Object.entries(cases)) {
        const loader = said({ prebuild: 'real' }, change);
        assert.match(loader, /pure-TypeScript backend/, name);
        assert.equal(said({ prebuild: 'real', dist: false }, change), loader, name);
      }
      const loader = said({ prebuild: 'damaged' });
      assert.match(loader, /SHA-256 .* \([0-9a-f]{12}…\)/);
      assert.equal(said({ prebuild: 'damaged', dist: false }), loader);
    });

    it('NODE_OPTIONS making -e input an ES module (--input-type=module) does not change what the script finds', () => {
      const r = install({ prebuild: 'real' }, { NODE_OPTIONS: '--input-type=module' });
      assert.equal(r.out, '');
      assert.equal(r.backend, 'native');
    });

    it('a preload in NODE_OPTIONS that prints on stdout (as dotenv/config does) does not change what the script finds', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-preload-'));
      copies.push(dir);
      const preload = path.join(dir, 'chatty-preload.cjs');
      fs.writeFileSync(preload, `console.log('[preload] loaded');\n`);
      const r = install({ prebuild: 'real' }, { NODE_OPTIONS: `--require ${preload}` });
      assert.equal(r.backend, 'native');
      assert.doesNotMatch(r.out, /durability:/);
    });

    it('a loader check that never answers is given up on: the install ends, saying so', () => {
      // A loader stuck in dlopen (a stalled network mount, a binary that blocks while it loads)
      // must not hang npm install; the program meets the same loader when it starts.
      const r = install({ prebuild: 'real' }, { DURABILITY_INSTALL_PROBE_TIMEOUT_MS: '1000' }, (pkg) => {
        fs.writeFileSync(path.join(pkg, 'dist', 'lib', 'native.js'), 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n');
      });
      assert.match(r.out, /^durability: the loader check did not answer within 1 s; the backend is chosen when the package loads\.\n$/);
    });
  });
}
