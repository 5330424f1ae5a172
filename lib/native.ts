import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { NativeBinding } from '../binding';
import { elfTruncation } from './elf-extent';
import { elfTargetMismatch } from './elf-target';
import { packageRoot, packageVersion } from './package-root';
import { prebuildChecksumMismatch } from './prebuild-checksum';

// Finds the native core. Order: DURABILITY_NATIVE_PATH (an explicit file, for bundlers and for
// developers testing a fresh build) → prebuilds/<platform>-<arch>/durability[.<libc>].node →
// build/Release/durability.node from a local cmake-js build, accepted only when built from this
// package version → none (the caller falls back to the pure-TS backend).
// The shipped prebuild comes first: it is what the package was tested with, and the install
// script builds from source only when no prebuild loads, so a local build is the fallback for
// platforms without one. A committed prebuild cannot lag the sources unnoticed: its embedded
// sourceHash is checked against native/ by test/package-prebuild.test.ts. A prebuild loads only
// when its bytes match the .sha256 shipped beside it (lib/prebuild-checksum.ts): a damaged one
// would crash the process inside dlopen.
// We do not use `bindings`: it never looks in prebuilds/ and prefers build/Debug over Release.

export interface NativeLoad {
  readonly binding: NativeBinding | undefined;
  readonly path: string | undefined;
  /** One line per candidate that was tried and failed, for the fallback warning. */
  readonly attempts: readonly string[];
}

export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  // The ELF interpreter of the running node names the libc without spawning anything.
  try {
    // The first 4 KiB only: the whole executable is some 100 MB.
    const fd = openSync('/proc/self/exe', 'r');
    const bytes = Buffer.alloc(4096);
    let n: number;
    try {
      n = readSync(fd, bytes, 0, bytes.length, 0);
    } finally {
      closeSync(fd);
    }
    const head = bytes.subarray(0, n).toString('latin1');
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
  const explicit = process.env.DURABILITY_NATIVE_PATH ? path.resolve(process.env.DURABILITY_NATIVE_PATH) : undefined;
  const prebuildsDir = path.join(packageRoot(), 'prebuilds');
  for (const candidate of candidatePaths()) {
    let stats: Stats | undefined;
    try {
      stats = statSync(candidate, { throwIfNoEntry: false });
    } catch (err) {
      attempts.push(`${candidate}: ${(err as Error).message}`); // EACCES, ELOOP: what existsSync called absent
      continue;
    }
    if (stats === undefined) {
      attempts.push(`${candidate}: not found`);
      continue;
    }
    // Opening a FIFO to read its header would block until a writer came: the import would hang.
    if (!stats.isFile()) {
      attempts.push(`${candidate}: not a regular file`);
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
        attempts.push(`${candidate}: loads, but is not durability's native core`);
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

/** Whether a loaded module is this package's core (another addon would fail later, untyped). */
function isDurabilityBinding(b: unknown): b is NativeBinding {
  const x = b as Partial<NativeBinding> | null;
  return x !== null && typeof x === 'object' && typeof x.buildInfo?.version === 'string' && typeof x.commitAsync === 'function' &&
    typeof x.constants === 'object' && x.constants !== null;
}
