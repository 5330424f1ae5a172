import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// A shipped prebuild sits next to `<name>.sha256` (sha256sum's format, written by
// scripts/prebuild.mjs). dlopen runs a binary's code as it finds it: one damaged in place (bit rot,
// a bad copy, an interrupted overwrite of the same size) keeps whole ELF headers, so
// elf-extent.ts cannot see it, and it kills the process (SIGSEGV) with no error to catch. Hashing
// ~150 KB once per thread is well under a millisecond, and turns that into a candidate skipped.

/** The sidecar file holding a prebuild's expected SHA-256. */
export function checksumFile(binary: string): string {
  return `${binary}.sha256`;
}

/** Why `binary` must not be loaded (its bytes are not the ones shipped), or undefined when they are. */
export function prebuildChecksumMismatch(binary: string): string | undefined {
  const sidecar = checksumFile(binary);
  if (!existsSync(sidecar)) return `no ${path.basename(sidecar)} beside it to check it against (set DURABILITY_NATIVE_PATH to load an unchecked binary)`;
  const expected = /^([0-9a-f]{64})\b/.exec(readFileSync(sidecar, 'latin1'))?.[1];
  const actual = createHash('sha256').update(readFileSync(binary)).digest('hex');
  if (expected === actual) return undefined;
  return `its SHA-256 ${actual.slice(0, 12)}… does not match ${path.basename(sidecar)} (${expected === undefined ? 'unreadable' : `${expected.slice(0, 12)}…`}): damaged or replaced since it was built`;
}
