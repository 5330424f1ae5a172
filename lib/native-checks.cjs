// @ts-check
'use strict';
// What the loader (lib/native.ts) checks about a native binary before and after dlopen, in
// CommonJS: scripts/install.cjs makes the same checks of the prebuilds before tsc has compiled
// dist/ (npm runs `install` before `prepare`: a fresh clone, a git dependency), requiring this
// file from lib/; everything else requires the copy tsc puts in dist/lib/.
const { createHash } = require('node:crypto');
const { closeSync, openSync, readFileSync, readSync, statSync } = require('node:fs');
const path = require('node:path');

/** Why a module that dlopen accepted is refused: another addon would fail later, untyped. */
const NOT_THE_CORE = "loads, but is not durability's native core";

/** @returns {boolean} whether this process runs on musl libc (a glibc build may load there and fail later). */
function isMusl() {
  if (process.platform !== 'linux') return false;
  // The ELF interpreter of the running node names the libc without spawning anything.
  try {
    // The first 4 KiB only: the whole executable is some 100 MB.
    const fd = openSync('/proc/self/exe', 'r');
    const bytes = Buffer.alloc(4096);
    let n;
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
  const report = /** @type {{ header?: { glibcVersionRuntime?: string } } | undefined} */ (process.report?.getReport());
  return !report?.header?.glibcVersionRuntime;
}

/**
 * The prebuilds shipped for this process under `root` (the package directory), in the order
 * they are tried: on Linux the one built for this libc first, then the plain name.
 * @param {string} root
 * @returns {string[]}
 */
function prebuildPaths(root) {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = process.platform === 'linux' ? (isMusl() ? 'musl' : 'glibc') : undefined;
  return [...(libc ? [path.join(dir, `durability.${libc}.node`)] : []), path.join(dir, 'durability.node')];
}

/**
 * Why `file` cannot be opened as a binary at all (absent, not a regular file, not stat-able),
 * or undefined when it is a regular file.
 * @param {string} file
 * @returns {string | undefined}
 */
function fileRefusal(file) {
  let stats;
  try {
    stats = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    return /** @type {Error} */ (err).message; // EACCES, ELOOP: what existsSync called absent
  }
  if (stats === undefined) return 'not found';
  // Opening a FIFO to read its header would block until a writer came: the import would hang.
  if (!stats.isFile()) return 'not a regular file';
  return undefined;
}

// A shipped prebuild sits next to `<name>.sha256` (sha256sum's format, written by
// scripts/prebuild.mjs). dlopen runs a binary's code as it finds it: one damaged in place (bit rot,
// a bad copy, an interrupted overwrite of the same size) keeps whole ELF headers, so
// elf-extent.ts cannot see it, and it kills the process (SIGSEGV) with no error to catch. Hashing
// ~150 KB once per thread is well under a millisecond, and turns that into a candidate skipped.

/**
 * The sidecar file holding a prebuild's expected SHA-256.
 * @param {string} binary
 * @returns {string}
 */
function checksumFile(binary) {
  return `${binary}.sha256`;
}

/**
 * Why `binary` must not be loaded (its bytes are not the ones shipped), or undefined when they are.
 * @param {string} binary
 * @returns {string | undefined}
 */
function prebuildChecksumMismatch(binary) {
  const sidecar = checksumFile(binary);
  // Read only a regular file: reading a FIFO there would block the import until a writer came.
  const refusal = fileRefusal(sidecar);
  if (refusal === 'not found') return `no ${path.basename(sidecar)} beside it to check it against (set DURABILITY_NATIVE_PATH to load an unchecked binary)`;
  if (refusal !== undefined) return `its ${path.basename(sidecar)} ${refusal === 'not a regular file' ? 'is not a regular file' : `cannot be read (${refusal})`}`;
  const expected = /^([0-9a-f]{64})\b/.exec(readFileSync(sidecar, 'latin1'))?.[1];
  const actual = createHash('sha256').update(readFileSync(binary)).digest('hex');
  if (expected === actual) return undefined;
  return `its SHA-256 ${actual.slice(0, 12)}… does not match ${path.basename(sidecar)} (${expected === undefined ? 'unreadable' : `${expected.slice(0, 12)}…`}): damaged or replaced since it was built`;
}

/**
 * Whether a loaded module is this package's core.
 * @param {unknown} b
 * @returns {b is import('../binding').NativeBinding}
 */
function isDurabilityBinding(b) {
  const x = /** @type {Partial<import('../binding').NativeBinding> | null} */ (b);
  return x !== null && typeof x === 'object' && typeof x.buildInfo?.version === 'string' && typeof x.commitAsync === 'function' &&
    typeof x.constants === 'object' && x.constants !== null;
}

module.exports = { NOT_THE_CORE, fileRefusal, isDurabilityBinding, isMusl, prebuildChecksumMismatch, prebuildPaths };
