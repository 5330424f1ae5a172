// The native core with its test hooks (CMake option DURABILITY_TEST_HOOKS, native/test_hooks.h),
// for the tests that inject commit faults or count completions. No shipped binary has the hooks.
// The binding loadNative() chose is used when it has them (test:asan builds its sanitized addon
// with them); otherwise build-test/Release/durability.node, built here with cmake-js when missing
// or built from other sources than native/ now holds (its embedded sourceHash is compared), so
// the first run takes one build (~20-60 s) and later runs none. Without a compiler this throws,
// saying so: the tests that need the hooks fail, they are never skipped.
// Their describe titles carry TEST_BUILD, so a run on a platform this host cannot build for
// (scripts/test-platforms.mjs, emulated) can leave exactly them out.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestNativeBinding } from '../../binding';
import { NativeFileBackend } from '../../lib/backend/native';
import { loadNative } from '../../lib/native';

export const TEST_BUILD = '(test build)';

export interface TestBuild {
  readonly binding: TestNativeBinding;
  readonly path: string;
}

const root = path.resolve(__dirname, '..', '..', '..');
const OUT = 'build-test';

let cached: TestBuild | undefined;

export function testBuild(): TestBuild {
  if (cached) return cached;
  const load = loadNative();
  if (load.binding?.buildInfo.testHooks === true && load.path !== undefined) {
    cached = { binding: load.binding as TestNativeBinding, path: load.path };
    return cached;
  }
  const file = path.join(root, OUT, 'Release', 'durability.node');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { nativeSourceHash } = require(path.join(root, 'scripts', 'source-hash.cjs')) as { nativeSourceHash: (root: string) => string };
  const hash = nativeSourceHash(root);
  if (!isBuiltFrom(file, hash)) build(file, hash);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const binding = require(file) as TestNativeBinding;
  if (binding.buildInfo.testHooks !== true) throw new Error(`${file} was built without DURABILITY_TEST_HOOKS`);
  cached = { binding, path: file };
  return cached;
}

/** The addon embeds its sourceHash as a string: found in the file, it was built from these sources. */
function isBuiltFrom(file: string, hash: string): boolean {
  return fs.existsSync(file) && fs.readFileSync(file).includes(hash, 0, 'latin1');
}

function build(file: string, hash: string): void {
  // Through npx, as npm run does: npm's config (nodedir) reaches cmake-js in the environment.
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const args = ['--no', 'cmake-js', 'compile', '--CDDURABILITY_TEST_HOOKS=ON', '-O', OUT];
  process.stderr.write(`test-binding: building the native core with its test hooks into ${OUT}/ (${npx} ${args.join(' ')})\n`);
  const run = spawnSync(npx, args, { cwd: root, encoding: 'utf8', shell: process.platform === 'win32', maxBuffer: 64 << 20 });
  if (run.status !== 0 || !isBuiltFrom(file, hash)) {
    const output = `${run.error?.message ?? ''}\n${run.stdout ?? ''}\n${run.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(
      `These tests need the native core built with DURABILITY_TEST_HOOKS (a C++ compiler and cmake), and the build failed ` +
        `(exit ${run.status}). Build it by hand with: npx cmake-js compile --CDDURABILITY_TEST_HOOKS=ON -O ${OUT}\n${output}`,
    );
  }
}

export interface FaultHooks {
  /** A fresh temporary directory for each test, removed after it. */
  readonly root: string;
  readonly binding: TestNativeBinding;
  /** A native FileBackend over the test build (its fault hook reaches this backend's calls). */
  readonly native: NativeFileBackend;
}

/**
 * Registers, in the calling describe, the set-up of tests that inject faults through the test
 * build's hook: the build before the first test, a fresh directory (`<prefix>…` in the OS temp
 * directory) before each, and after each the hook disarmed and the directory removed.
 */
export function usingFaultHooks(prefix: string): FaultHooks {
  let root: string | undefined;
  let native: NativeFileBackend | undefined;
  before(function () {
    this.timeout(600_000); // the first run may build the test addon
    native = new NativeFileBackend(testBuild().binding);
  });
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterEach(() => {
    testBuild().binding.__setFaultInjection(null);
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  return {
    get root() { return root!; },
    get binding() { return testBuild().binding; },
    get native() { return native!; },
  };
}
