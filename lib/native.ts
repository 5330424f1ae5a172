import path from 'node:path';
import type { NativeBinding } from '../binding';
import { elfTruncation } from './elf-extent';
import { elfTargetMismatch } from './elf-target';
import { NOT_THE_CORE, fileRefusal, isDurabilityBinding, isMusl, prebuildChecksumMismatch, prebuildPaths } from './native-checks.cjs';
import { packageRoot, packageVersion } from './package-root';

export { isMusl };

// Finds the native core. Order: DURABILITY_NATIVE_PATH (an explicit file, for bundlers and for
// developers testing a fresh build) → prebuilds/<platform>-<arch>/durability[.<libc>].node →
// build/Release/durability.node from a local cmake-js build, accepted only when built from this
// package version → none (the caller falls back to the pure-TS backend).
// The shipped prebuild comes first: it is what the package was tested with, and the install
// script builds from source only when no prebuild loads, so a local build is the fallback for
// platforms without one. A committed prebuild cannot lag the sources unnoticed: its embedded
// sourceHash is checked against native/ by test/package-prebuild.test.ts. A prebuild loads only
// when its bytes match the .sha256 shipped beside it (lib/native-checks.cjs): a damaged one
// would crash the process inside dlopen.
// We do not use `bindings`: it never looks in prebuilds/ and prefers build/Debug over Release.

export interface NativeLoad {
  readonly binding: NativeBinding | undefined;
  readonly path: string | undefined;
  /** One line per candidate that was tried and failed, for the fallback warning. */
  readonly attempts: readonly string[];
}

export function candidatePaths(): string[] {
  const out: string[] = [];
  if (process.env.DURABILITY_NATIVE_PATH) out.push(path.resolve(process.env.DURABILITY_NATIVE_PATH));
  out.push(...prebuildPaths(packageRoot()));
  out.push(path.join(packageRoot(), 'build', 'Release', 'durability.node'));
  return out;
}

let cached: NativeLoad | undefined;

export function loadNative(): NativeLoad {
  if (cached) return cached;
  const attempts: string[] = [];
  const wanted = packageVersion();
  const explicit = process.env.DURABILITY_NATIVE_PATH ? path.resolve(process.env.DURABILITY_NATIVE_PATH) : undefined;
  const prebuildsDir = path.join(packageRoot(), 'prebuilds');
  for (const candidate of candidatePaths()) {
    const refusal = fileRefusal(candidate);
    if (refusal !== undefined) {
      attempts.push(`${candidate}: ${refusal}`);
      continue;
    }
    // require() runs a .js or .json file as code or data: only a native module may be tried.
    if (path.extname(candidate) !== '.node') {
      attempts.push(`${candidate}: not a .node file`);
      continue;
    }
    try {
      const cut = elfTruncation(candidate);
      if (cut !== undefined) {
        attempts.push(`${candidate}: ${cut}`);
        continue;
      }
      const shipped = candidate !== explicit && candidate.startsWith(prebuildsDir + path.sep);
      const mismatch = shipped ? prebuildChecksumMismatch(candidate) : undefined;
      if (mismatch !== undefined) {
        attempts.push(`${candidate}: ${mismatch}`);
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(candidate) as NativeBinding;
      if (!isDurabilityBinding(binding)) {
        attempts.push(`${candidate}: ${NOT_THE_CORE}`);
        continue;
      }
      const built = binding.buildInfo.version;
      // A local build must be this version's; a prebuild is checked against the sources by the
      // tests (and against its .sha256 above), and an explicit path is the user's choice.
      if (built !== wanted && !shipped && candidate !== explicit) {
        attempts.push(`${candidate}: built for version ${built}, package is ${wanted ?? 'unknown (no package.json beside dist/)'}`);
        continue;
      }
      cached = { binding, path: candidate, attempts };
      return cached;
    } catch (err) {
      const message = (err as Error).message.split('\n')[0];
      const target = process.platform === 'linux' ? elfTargetMismatch(candidate, isMusl()) : undefined;
      attempts.push(`${candidate}: ${target === undefined ? message : `${target} (dlopen: ${message})`}`);
    }
  }
  cached = { binding: undefined, path: undefined, attempts };
  return cached;
}
