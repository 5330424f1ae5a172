import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The package as npm ships it: `npm pack` lists exactly the intended files under a size cap,
// and the tarball installed into a fresh project with scripts off and no compiler on PATH loads
// its prebuild from require() and import(), type-checks from .cts and .mts (and under TypeScript
// 5's node10 resolution), runs its bin, and
// falls back to the TS backend with one warning once the prebuild is gone.

const root = path.resolve(__dirname, '..', '..');
const npmCli = process.env.npm_execpath?.endsWith('.js') ? process.env.npm_execpath : undefined;
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const hasPrebuild = fs.existsSync(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`));

function npm(args: string[], cwd: string) {
  const opts: SpawnSyncOptions = { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } };
  const r = npmCli ? spawnSync(process.execPath, [npmCli, ...args], opts) : spawnSync('npm', args, { ...opts, shell: process.platform === 'win32' });
  assert.equal(r.status, 0, `npm ${args.join(' ')}: ${String(r.stderr)}`);
  return String(r.stdout);
}

const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^LICENSE$/, /^index\.mjs$/, /^index\.d\.mts$/, /^jetstream\.mjs$/, /^jetstream\.d\.mts$/, /^binding\.d\.ts$/, /^CMakeLists\.txt$/,
  /^scripts\/install\.cjs$/, /^docs\/[A-Z]+\.md$/, /^native\/[a-z0-9_]+\.(cc|h)$/,
  /^dist\/lib\/([a-z0-9-]+\/)*[a-z0-9-]+\.(js|d\.ts|cjs|d\.cts)$/, /^prebuilds\/[a-z0-9]+-[a-z0-9]+\/durability(\.glibc|\.musl)?\.node(\.sha256)?$/,
];
const REQUIRED = [
  'package.json', 'README.md', 'LICENSE', 'index.mjs', 'index.d.mts', 'jetstream.mjs', 'jetstream.d.mts', 'binding.d.ts', 'CMakeLists.txt', 'scripts/install.cjs',
  'docs/API.md', 'docs/FORMAT.md', 'native/addon.cc', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli/main.js', 'dist/lib/native-checks.cjs',
  'prebuilds/linux-x64/durability.glibc.node', 'prebuilds/linux-arm64/durability.glibc.node', 'prebuilds/win32-x64/durability.node',
  'prebuilds/linux-x64/durability.glibc.node.sha256', 'prebuilds/linux-arm64/durability.glibc.node.sha256', 'prebuilds/win32-x64/durability.node.sha256',
  'prebuilds/linux-s390x/durability.glibc.node', 'prebuilds/linux-s390x/durability.glibc.node.sha256',
];

interface Pack { filename: string; size: number; unpackedSize: number; files: { path: string }[] }

describe('npm package', () => {
  // One real `npm pack` serves both the file list check and the install below.
  let tmp: string;
  let pack: Pack;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-pack-'));
    [pack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root)) as [Pack];
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('npm pack lists exactly the intended files, under 1 MiB packed and 3 MiB unpacked', () => {
    const files = pack.files.map((f) => f.path);
    const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
    assert.deepEqual(unexpected, []);
    assert.deepEqual(REQUIRED.filter((f) => !files.includes(f)), []);
    assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/')));
    assert.ok(pack.size < 1024 * 1024, `packed ${pack.size} bytes`);
    assert.ok(pack.unpackedSize < 3 * 1024 * 1024, `unpacked ${pack.unpackedSize} bytes`);
  });

  describe('installed from the tarball, scripts off, no compiler on PATH', function () {
    let project: string;
    let env: NodeJS.ProcessEnv;
    before(() => {
      const tarball = path.join(tmp, pack.filename);
      project = path.join(tmp, 'consumer');
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
      // msgpackr comes from npm's cache when it holds it, from the registry otherwise.
      npm(['install', tarball, '--ignore-scripts', '--no-package-lock', '--no-audit', '--no-fund', '--prefer-offline'], project);
      // PATH holds node and nothing else: no cmake, no compiler, no npm.
      const bin = path.join(tmp, 'bin');
      fs.mkdirSync(bin);
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      env = { ...process.env, PATH: bin };
      delete env.DURABILITY_BACKEND;
      delete env.DURABILITY_NATIVE_PATH;
    });

    function node(args: string[]) {
      const r = spawnSync(process.execPath, args, { cwd: project, env, encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    }

    const expectedBackend = hasPrebuild ? 'native' : 'ts';

    it(`require('durability') uses the ${expectedBackend} backend and round-trips a log`, () => {
      const r = node(['-e', `
        const d = require('durability');
        const { loadNative } = require(require('path').join(process.cwd(), 'node_modules/durability/dist/lib/native.js'));
        const dir = new d.FsDirectory(require('fs').mkdtempSync(require('os').tmpdir() + '/durability-consumer-'));
        const w = d.WalWriter.create(dir, { codec: d.json });
        w.append({ hello: 'world' }); w.syncSync(); w.closeSync();
        const records = new d.WalReader(dir, { codec: d.json }).replaySync();
        require('fs').rmSync(dir.filePath('.'), { recursive: true });
        console.log(JSON.stringify({ backend: d.defaultBackend().name, path: loadNative().path, records }));`]);
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out) as { backend: string; path: string | undefined; records: unknown };
      assert.equal(out.backend, expectedBackend);
      if (hasPrebuild) assert.match(out.path ?? '', /node_modules[/\\]durability[/\\]prebuilds[/\\]/);
      assert.deepEqual(out.records, [{ entryId: 1, payload: { hello: 'world' } }]);
      assert.doesNotMatch(r.err, hasPrebuild ? /DURABILITY_NATIVE_UNAVAILABLE/ : /^$/);
    });

    it(`import('durability') gets the same module: ${expectedBackend} backend, shared error classes`, () => {
      const r = node(['--input-type=module', '-e', `
        import * as d from 'durability';
        import { createRequire } from 'node:module';
        const cjs = createRequire(process.cwd() + '/')('durability');
        let err; try { new d.MemoryDirectory().openRead('../x'); } catch (e) { err = e; }
        console.log(JSON.stringify({ backend: d.defaultBackend().name, same: d.WalWriter === cjs.WalWriter, instance: err instanceof cjs.DurabilityError }));`]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { backend: expectedBackend, same: true, instance: true });
    });

    it('type-checks as ESM (.mts) and CommonJS (.cts) through the exports conditions', () => {
      const code = (kind: string) => `import { WalWriter, FsDirectory, json, type WalRecord } from 'durability';
const w: WalWriter<unknown> = WalWriter.open(new FsDirectory('.'), { codec: json });
const r: WalRecord<unknown> | undefined = undefined;
export const kind = ${JSON.stringify(kind)}; void w; void r;
`;
      fs.writeFileSync(path.join(project, 'esm.mts'), code('esm'));
      fs.writeFileSync(path.join(project, 'cjs.cts'), code('cjs'));
      fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true,
          typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'], lib: ['es2022', 'esnext.disposable'],
        },
        files: ['esm.mts', 'cjs.cts'],
      }));
      const r = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      // And a wrong use is caught, so the check has teeth.
      fs.writeFileSync(path.join(project, 'esm.mts'), `import { WalWriter } from 'durability';\nWalWriter.open('not a directory', {});\n`);
      const bad = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout, /esm\.mts/);
    });

    it('type-checks durability and durability/jetstream under TypeScript 5 with moduleResolution node10 (typesVersions), CommonJS', function () {
      // TypeScript 7 (this repository's) no longer has node10; projects on TypeScript 5 still use it.
      this.timeout(180_000);
      const ts5 = path.join(tmp, 'ts5');
      fs.mkdirSync(ts5);
      fs.writeFileSync(path.join(ts5, 'package.json'), JSON.stringify({ name: 'ts5', version: '1.0.0', private: true }));
      npm(['install', 'typescript@5.9.3', '--no-package-lock', '--no-audit', '--no-fund', '--prefer-offline'], ts5);
      const ts5c = path.join(ts5, 'node_modules', 'typescript', 'bin', 'tsc');
      const check = (code: string): { status: number | null; out: string } => {
        fs.writeFileSync(path.join(project, 'node10.ts'), code);
        fs.writeFileSync(path.join(project, 'tsconfig.node10.json'), JSON.stringify({
          compilerOptions: {
            module: 'commonjs', moduleResolution: 'node10', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false,
            typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'], lib: ['es2022', 'esnext.disposable'],
          },
          files: ['node10.ts'],
        }));
        const r = spawnSync(process.execPath, [ts5c, '-p', path.join(project, 'tsconfig.node10.json')], { encoding: 'utf8' });
        return { status: r.status, out: r.stdout + r.stderr };
      };
      const good = check(`import { MemoryDirectory, WalWriter, json } from 'durability';
import { JetStreamForwarder, readCursor, type ForwarderCursor } from 'durability/jetstream';
const w: WalWriter<unknown> = WalWriter.create(new MemoryDirectory(), { codec: json });
const c: ForwarderCursor | undefined = readCursor(new MemoryDirectory());
export const f = JetStreamForwarder; void w; void c;
`);
      assert.equal(good.status, 0, good.out);
      // The types are the package's, not any: a wrong use of each entry point is caught.
      const bad = check(`import { MemoryDirectory } from 'durability';
import { readCursor } from 'durability/jetstream';
export const a: number = new MemoryDirectory();
export const b: string = readCursor;
`);
      assert.notEqual(bad.status, 0);
      assert.match(bad.out, /'MemoryDirectory' is not assignable to type 'number'/);
      assert.match(bad.out, /is not assignable to type 'string'/);
    });

    it("durability/jetstream loads without the optional nats peer; a forwarder then fails with a typed error", () => {
      const script = (how: string) => `${how}
        const f = new j.JetStreamForwarder({ dir: new d.MemoryDirectory(), servers: 'nats://127.0.0.1:1', stream: 'S', subject: 's' });
        f.start().then(() => console.log('started'), (e) => console.log(JSON.stringify({ same: j.JetStreamError === d.JetStreamError, code: e.code, reason: e.reason })));`;
      const expected = { same: true, code: 'DURABILITY_JETSTREAM', reason: 'client-missing' };
      const cjs = node(['-e', script("const d = require('durability'); const j = require('durability/jetstream');")]);
      assert.equal(cjs.code, 0, cjs.err);
      assert.deepEqual(JSON.parse(cjs.out), expected);
      const esm = node(['--input-type=module', '-e', script("import * as d from 'durability'; import * as j from 'durability/jetstream';")]);
      assert.equal(esm.code, 0, esm.err);
      assert.deepEqual(JSON.parse(esm.out), expected);
    });

    it('the durability bin runs from node_modules/.bin', () => {
      const r = spawnSync(path.join(project, 'node_modules', '.bin', 'durability'), ['--help'], { cwd: project, env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /durability verify <dir>/);
    });

    it('without the prebuild (a platform none fits): the TS backend with exactly one warning', () => {
      fs.rmSync(path.join(project, 'node_modules', 'durability', 'prebuilds'), { recursive: true, force: true });
      const r = node(['-e', `const d = require('durability'); d.defaultBackend(); console.log(d.defaultBackend().name)`]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.trim(), 'ts');
      assert.equal(r.err.split('\n').filter((l) => l.includes('DURABILITY_NATIVE_UNAVAILABLE')).length, 1, r.err);
    });
  });
});
