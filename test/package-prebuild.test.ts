import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// The committed prebuilds are what users load first on their platforms, so they must be built
// from the native sources in this tree. Each embeds buildInfo.sourceHash (CMakeLists.txt); a
// prebuild older than a change under native/ fails here: rerun `npm run build:prebuilds`
// (it builds all three; `npm run test:platforms` proves the two cross-built ones) and commit.

const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nativeSourceHash } = require(path.join(root, 'scripts', 'source-hash.cjs')) as { nativeSourceHash(root: string): string };
const GLIBC_FLOOR = '2.34'; // stated in README.md; raising it drops distributions

function prebuilds(): string[] {
  const dir = path.join(root, 'prebuilds');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((tuple) => fs.readdirSync(path.join(dir, tuple)).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, tuple, f)));
}

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

describe('committed prebuilds', () => {
  const expected = nativeSourceHash(root);

  it('include linux-x64, linux-arm64, linux-s390x (glibc) and win32-x64, every file named prebuilds/<platform>-<arch>/durability[.<libc>].node', () => {
    const names = prebuilds().map((p) => path.relative(root, p).split(path.sep).join('/'));
    for (const required of ['prebuilds/linux-arm64/durability.glibc.node', 'prebuilds/linux-s390x/durability.glibc.node', 'prebuilds/linux-x64/durability.glibc.node', 'prebuilds/win32-x64/durability.node']) {
      assert.ok(names.includes(required), `${required} missing`);
    }
    const scheme = /^prebuilds\/(linux-[a-z0-9]+\/durability\.(glibc|musl)|(darwin|win32)-[a-z0-9]+\/durability)\.node$/;
    assert.deepEqual(names.filter((n) => !scheme.test(n)), []);
  });

  for (const file of prebuilds()) {
    const name = path.relative(root, file);
    it(`${name} was built from the native sources in this tree (sourceHash ${expected.slice(0, 12)}…)`, () => {
      const bytes = fs.readFileSync(file);
      const embedded = /\0([0-9a-f]{64})\0/.exec(bytes.toString('latin1'))?.[1];
      assert.equal(embedded, expected, `${name} is stale: rerun npm run build:prebuilds and commit it`);
    });

    it(`${name} matches the SHA-256 in ${path.basename(name)}.sha256 beside it (the loader refuses it otherwise)`, () => {
      const sidecar = `${file}.sha256`;
      assert.ok(fs.existsSync(sidecar), `${name}.sha256 missing: rerun npm run build:prebuilds`);
      const actual = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
      // sha256sum's line; \r\n where a Windows checkout converted it (the loader reads either).
      const line = /^([0-9a-f]{64}) {2}(\S+)\r?\n$/.exec(fs.readFileSync(sidecar, 'latin1'));
      assert.deepEqual(line?.slice(1), [actual, path.basename(file)]);
    });

    if (!name.endsWith('.glibc.node')) continue;
    it(`${name} needs no glibc newer than ${GLIBC_FLOOR} (the floor README.md states)`, () => {
      // Symbol version names (GLIBC_2.x) sit in the dynamic string table as plain text.
      const versions = [...fs.readFileSync(file).toString('latin1').matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g)].map((m) => m[1]);
      assert.ok(versions.length > 0, 'no GLIBC symbol versions found: not a glibc ELF?');
      const max = versions.sort(compareVersions)[versions.length - 1];
      assert.ok(compareVersions(max, GLIBC_FLOOR) <= 0, `${name} needs GLIBC ${max}`);
    });
  }

  it('the prebuild for this platform loads in a plain process and reports this version and source hash', () => {
    const tuple = `${process.platform}-${process.arch}`;
    const own = prebuilds().filter((p) => p.includes(`${path.sep}${tuple}${path.sep}`));
    if (own.length === 0) {
      // Platforms without a committed prebuild build from source (README); nothing to load here.
      assert.ok(!['linux-x64', 'linux-arm64', 'linux-s390x', 'win32-x64'].includes(tuple));
      return;
    }
    for (const file of own) {
      const r = spawnSync(process.execPath, ['-p', `(b => JSON.stringify({ ...b.buildInfo, hooks: Object.keys(b).filter((k) => k.startsWith('__')) }))(require(${JSON.stringify(file)}))`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { version: string; sourceHash: string; sanitized: boolean; testHooks: boolean; napiVersion: number; hooks: string[] };
      const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
      // A shipped binary has no test hooks (native/test_hooks.h): no fault hook, no lock on the commit path.
      assert.deepEqual(info, { version, napiVersion: 8, sanitized: false, testHooks: false, sourceHash: expected, hooks: [] });
    }
  });
});
