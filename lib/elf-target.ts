import { closeSync, openSync, readSync } from 'node:fs';

// When dlopen refuses a binary built for another CPU, glibc reports "cannot open shared object
// file: No such file or directory" about a file that is there, and one built against musl fails
// with "<glibc's libc.so>: invalid ELF header". Neither tells a user what to fix. Consulted only
// after dlopen failed, so a wrong guess here can only cost a clearer message, never a load.

// Only the start of the file is read: the dynamic string table sits in the first loaded segment,
// a few KiB in (the prebuilds are 130-370 KB). Reading the whole file threw ERR_FS_FILE_TOO_LARGE
// out of the loader for a file over 2 GiB, and read one just under it all into memory.
const SCANNED_BYTES = 4 << 20;

/** ELF e_machine of each Node process.arch. */
const MACHINES: Readonly<Record<string, number>> = {
  x64: 62, arm64: 183, ia32: 3, arm: 40, ppc64: 21, s390x: 22, riscv64: 243, loong64: 258, mips: 8, mipsel: 8,
};

/** Why an ELF binary cannot load in this process (another CPU or libc), or undefined when neither shows. */
export function elfTargetMismatch(file: string, musl: boolean): string | undefined {
  let bytes: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      bytes = Buffer.alloc(SCANNED_BYTES);
      bytes = bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (bytes.length < 20 || bytes.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = bytes[5] === 1 ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18);
  const want = MACHINES[process.arch];
  if (want !== undefined && machine !== want) {
    const arch = Object.keys(MACHINES).find((a) => MACHINES[a] === machine);
    return `built for ${arch ?? 'another CPU'} (ELF machine ${machine}), this process is ${process.arch}`;
  }
  // The libc it links against is named in its dynamic string table (DT_NEEDED): glibc's is
  // libc.so.6, musl's libc.so (Alpine's toolchain) or libc.musl-<arch>.so.1.
  const strings = bytes.toString('latin1');
  const needsMusl = /\0(libc\.so|libc\.musl-[a-z0-9_]+\.so\.1)\0/.exec(strings)?.[1];
  if (needsMusl && !musl) return `built for musl (needs ${needsMusl}), this process uses glibc`;
  if (!needsMusl && musl && strings.includes('libc.so.6\0')) return 'built for glibc (needs libc.so.6), this process uses musl';
  return undefined;
}
