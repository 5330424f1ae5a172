import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NativeBinding } from '../binding';
import { packageRoot } from './package-root';

// Finds the native core. Order: DURABILITY_NATIVE_PATH (an explicit file, for bundlers and for
// developers testing a fresh build) → prebuilds/<platform>-<arch>/durability[.<libc>].node →
// build/Release/durability.node from a local cmake-js build, accepted only when built from this
// package version → none (the caller falls back to the pure-TS backend).
// The shipped prebuild comes first: it is what the package was tested with, and the install
// script builds from source only when no prebuild loads, so a local build is the fallback for
// platforms without one. A committed prebuild cannot lag the sources unnoticed: its embedded
// sourceHash is checked against native/ by test/package-prebuild.test.ts.
// We do not use `bindings`: it never looks in prebuilds/ and prefers build/Debug over Release.

export interface NativeLoad {
  readonly binding: NativeBinding | undefined;
  readonly path: string | undefined;
  /** One line per candidate that was tried and failed, for the fallback warning. */
  readonly attempts: readonly string[];
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  // The ELF interpreter of the running node names the libc without spawning anything.
  try {
    const head = readFileSync('/proc/self/exe').subarray(0, 4096).toString('latin1');
    if (head.includes('ld-musl')) return true;
    if (head.includes('ld-linux')) return false;
  } catch {
    // fall through to the slower probe
  }
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

export function candidatePaths(): string[] {
  const tuple = `${process.platform}-${process.arch}`;
  const dir = path.join(packageRoot(), 'prebuilds', tuple);
  const libc = process.platform === 'linux' ? (isMusl() ? 'musl' : 'glibc') : undefined;
  const out: string[] = [];
  if (process.env.DURABILITY_NATIVE_PATH) out.push(path.resolve(process.env.DURABILITY_NATIVE_PATH));
  if (libc) out.push(path.join(dir, `durability.${libc}.node`));
  out.push(path.join(dir, 'durability.node'));
  out.push(path.join(packageRoot(), 'build', 'Release', 'durability.node'));
  return out;
}

let cached: NativeLoad | undefined;

export function loadNative(): NativeLoad {
  if (cached) return cached;
  const attempts: string[] = [];
  const wanted = packageVersion();
  for (const candidate of candidatePaths()) {
    if (!existsSync(candidate)) {
      attempts.push(`${candidate}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(candidate) as NativeBinding;
      const built = binding.buildInfo?.version;
      if (built !== wanted && !candidate.includes(`${path.sep}prebuilds${path.sep}`) && candidate !== process.env.DURABILITY_NATIVE_PATH) {
        attempts.push(`${candidate}: built for version ${built}, package is ${wanted}`);
        continue;
      }
      cached = { binding, path: candidate, attempts };
      return cached;
    } catch (err) {
      attempts.push(`${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  cached = { binding: undefined, path: undefined, attempts };
  return cached;
}
