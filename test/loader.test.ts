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

function runChild(pkg: string, script: string, env: Record<string, string> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.DURABILITY_BACKEND;
  delete childEnv.DURABILITY_NATIVE_PATH;
  Object.assign(childEnv, env);
  return spawnSync(process.execPath, ['-e', script], { cwd: pkg, env: childEnv, encoding: 'utf8' });
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

  it('loads an explicit DURABILITY_NATIVE_PATH (the bundler escape hatch) when it points at a real build', function () {
    // A clean install loads the committed prebuild and builds nothing, so either binary will do.
    const tuple = `${process.platform}-${process.arch}`;
    const built = [path.join(root, 'build', 'Release', 'durability.node'), path.join(root, 'prebuilds', tuple, 'durability.glibc.node')]
      .find((p) => fs.existsSync(p)) ?? '';
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
