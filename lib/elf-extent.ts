import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

// dlopen maps an ELF file's segments as its headers describe them. A file cut short (an
// interrupted install, a full disk) still has valid headers, so the mapping succeeds and the
// first touch of a page past the end kills the process with SIGBUS: no error to catch, no
// fallback. Checking that every segment and the section table lie inside the file first turns
// that into a candidate the loader can skip.

/** Why `file` cannot be a whole ELF shared object, or undefined when it may be one (or is not ELF at all). */
export function elfTruncation(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, 64, 0) < 16 || head.readUInt32BE(0) !== 0x7f454c46) return undefined; // not ELF: dlopen reports it
    const wide = head[4] === 2;
    const little = head[5] === 1;
    const u16 = (b: Buffer, o: number): number => (little ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (little ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const addr = (b: Buffer, o: number): number => (wide ? Number(little ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    if (size < (wide ? 64 : 52)) return `${size} bytes: shorter than an ELF header`;
    const phoff = addr(head, wide ? 32 : 28);
    const shoff = addr(head, wide ? 40 : 32);
    const phentsize = u16(head, wide ? 54 : 42);
    const phnum = u16(head, wide ? 56 : 44);
    const shentsize = u16(head, wide ? 58 : 46);
    const shnum = u16(head, wide ? 60 : 48);
    if (phoff + phnum * phentsize > size) return `${size} bytes: its program headers end at ${phoff + phnum * phentsize}`;
    if (shnum > 0 && shoff + shnum * shentsize > size) return `${size} bytes: its section headers end at ${shoff + shnum * shentsize}`;
    const ph = Buffer.alloc(phnum * phentsize);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      const offset = addr(ph, at + (wide ? 8 : 4));
      const filesz = addr(ph, at + (wide ? 32 : 16));
      if (offset + filesz > size) return `${size} bytes: segment ${i} ends at ${offset + filesz} (truncated)`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
