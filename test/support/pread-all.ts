import type { FileBackend } from '../../lib/backend/backend';

/** pread of `file` from 0 into a buffer `spare` bytes longer than `length` (the read must stop at the end). */
export function preadAll(backend: FileBackend, file: string, length: number, spare = 10): { n: number; bytes: Buffer } {
  const fd = backend.open(file, 'read');
  try {
    const bytes = Buffer.alloc(length + spare);
    return { n: backend.pread(fd, bytes, 0, file), bytes };
  } finally {
    backend.close(fd);
  }
}
