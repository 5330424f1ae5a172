#!/usr/bin/env node
// npm run fuzz [-- --inputs N] [--seed S] [--only I] [--fs-rate P] [--large-rate P] [--expect-sanitized]
//
// Feeds N (default 1,000,000) random and mutated WAL segment files and logs through every
// decoder (scanSegment, WalReader strict/bestEffortTail, record logs, checkpoints) with the native
// and the TypeScript checksummers, plus direct native CRC cases and real-file reads through each
// backend (test/fuzz/driver.ts). Needs a build (npm run build). Seeded and deterministic: a
// failure prints the seed and input index that replay it alone (--only).
//
// DURABILITY_FUZZ_DIST points at another compiled tree (test:asan compiles into build-asan/pkg/dist).
// --expect-sanitized refuses to run unless the loaded addon is the ASan build named by
// DURABILITY_NATIVE_PATH, so a sanitizer run cannot silently test the ordinary build.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.resolve(process.env.DURABILITY_FUZZ_DIST ?? path.join(root, 'dist'));
const require = createRequire(import.meta.url);

function parseArgs(argv) {
  const opts = { inputs: 1_000_000, seed: 1, only: undefined, fsRate: 0.01, largeRate: 0.0005, expectSanitized: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--inputs') opts.inputs = Number(value().replace(/_/g, ''));
    else if (a === '--seed') {
      const v = value();
      opts.seed = v === 'random' ? (Math.random() * 2 ** 32) >>> 0 : Number(v);
    } else if (a === '--only') opts.only = Number(value());
    else if (a === '--fs-rate') opts.fsRate = Number(value());
    else if (a === '--large-rate') opts.largeRate = Number(value());
    else if (a === '--expect-sanitized') opts.expectSanitized = true;
    else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['inputs', 'seed', 'fsRate', 'largeRate']) {
    if (!Number.isFinite(opts[k]) || opts[k] < 0) throw new Error(`--${k} must be a non-negative number`);
  }
  return opts;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { runFuzz, summarize } = require(path.join(dist, 'test', 'fuzz', 'driver.js'));
  const { nativeBackend, tsBackend } = require(path.join(dist, 'lib', 'backend', 'select.js'));
  const { loadNative } = require(path.join(dist, 'lib', 'native.js'));
  const { jsChecksummer } = require(path.join(dist, 'lib', 'directory', 'js-checksum.js'));

  const load = loadNative();
  const native = nativeBackend();
  if (native === undefined && (opts.expectSanitized || process.env.DURABILITY_REQUIRE_NATIVE === '1')) {
    throw new Error(`the native addon does not load:\n  ${load.attempts.join('\n  ')}`);
  }
  if (opts.expectSanitized) {
    const wanted = process.env.DURABILITY_NATIVE_PATH && path.resolve(process.env.DURABILITY_NATIVE_PATH);
    if (load.path !== wanted) throw new Error(`loaded ${load.path}, not DURABILITY_NATIVE_PATH=${wanted}`);
    if (load.binding.buildInfo.sanitized !== true) throw new Error(`${load.path} is not a sanitizer build (buildInfo.sanitized is false)`);
  }
  const checksummers = native ? [native, jsChecksummer] : [jsChecksummer];
  const fsBackends = native ? [native, tsBackend()] : [tsBackend()];
  console.log(
    `fuzz: seed ${opts.seed}, ${opts.only === undefined ? `${opts.inputs} inputs` : `input ${opts.only} only`}; ` +
      `checksummers ${checksummers.map((c) => c.name).join(' + ')}` +
      (native ? `; addon ${load.path} (sanitized: ${load.binding.buildInfo.sanitized})` : '; no native addon'),
  );
  const t0 = performance.now();
  const step = Math.max(10_000, Math.floor(opts.inputs / 10 / 10_000) * 10_000);
  const stats = runFuzz({
    seed: opts.seed, inputs: opts.inputs, only: opts.only, checksummers, native: native ? load.binding : undefined,
    fsBackends, fsRate: opts.fsRate, largeRate: opts.largeRate,
    onProgress(done) {
      if (done % step === 0) console.log(`  ${done} inputs, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    },
  });
  console.log(summarize(stats));
  console.log(`fuzz: ${stats.inputs} inputs passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  console.log('fuzz: FAILED');
  process.exitCode = 1;
}
