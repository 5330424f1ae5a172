// A caller's buffer detached (transferred) or shrunk while an async write is in flight. The
// thread pool reads the bytes after writeAsync / commitAsync return; a transfer hands them to a
// new owner, and once that owner is collected they are freed. The async writes therefore write
// from a copy taken at the call (lib/backend/owned-bytes.ts): the file gets the bytes as they
// were, and nothing reads freed memory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';

const LIB = path.join(__dirname, '..', 'lib');
const SIZE = 4 << 20; // above malloc's mmap threshold: a freed backing store is unmapped, not reused quietly
const ROUNDS = 4;

// Runs in a child with --expose-gc and one thread-pool thread, kept busy by a pbkdf2 while each
// write is queued: the write cannot start before its buffer is detached, its new owner dropped
// and collected, and the freed memory taken by a fresh allocation filled with 0xee.
const CHILD = `
const crypto = require('node:crypto');
const { backendByName } = require(${JSON.stringify(path.join(LIB, 'backend', 'select'))});
const { FsDirectory } = require(${JSON.stringify(path.join(LIB, 'directory', 'fs'))});
const [dirPath, backendName, size, rounds] = process.argv.slice(1);
const SIZE = Number(size);
const occupy = () => new Promise((resolve) => crypto.pbkdf2('p', 's', 300000, 32, 'sha256', resolve));
const detach = (view) => {
  structuredClone(view.buffer, { transfer: [view.buffer] }); // the clone owns the bytes, and is garbage at once
  if (view.byteLength !== 0) throw new Error('not detached');
  globalThis.gc();
  return new Uint8Array(SIZE).fill(0xee);
};
(async () => {
  const dir = new FsDirectory(dirPath, { create: true, backend: backendByName(backendName) });
  const junk = [];
  for (let round = 0; round < Number(rounds); round++) {
    const f = dir.create('file' + round);
    const busy = occupy();
    const a = Buffer.alloc(SIZE, 2 * round + 1); // a Buffer: its slice() would be a view, not a copy
    const written = f.writeAsync(a);
    junk.push(detach(a));
    const b = new Uint8Array(SIZE / 2).fill(2 * round + 2);
    const c = new Uint8Array(new ArrayBuffer(SIZE / 2, { maxByteLength: SIZE })).fill(2 * round + 2);
    const committed = f.commitAsync({ chunks: [b, c], position: SIZE });
    junk.push(detach(b));
    c.buffer.resize(0);
    await Promise.all([busy, written, committed]);
    f.close();
  }
  console.log(JSON.stringify({ junk: junk.length }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

for (const backend of availableBackends()) {
  describe(`async writes from a buffer detached or shrunk mid-operation (${backend.name} backend)`, () => {
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-detach-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('writeAsync and commitAsync write the bytes as they were at the call, and nothing crashes', () => {
      const child = spawnSync(process.execPath, ['--expose-gc', '-e', CHILD, tmp, backend.name, String(SIZE), String(ROUNDS)], {
        encoding: 'utf8',
        env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
      });
      assert.equal(child.status, 0, `child exited ${child.status} (${child.signal}):\n${child.stderr}`);
      for (let round = 0; round < ROUNDS; round++) {
        const bytes = fs.readFileSync(path.join(tmp, `file${round}`));
        assert.equal(bytes.length, 2 * SIZE);
        for (const [from, to, value] of [[0, SIZE, 2 * round + 1], [SIZE, 2 * SIZE, 2 * round + 2]]) {
          const bad = bytes.subarray(from, to).findIndex((x) => x !== value);
          assert.equal(bad, -1, `round ${round}: byte ${from + bad} is ${bytes[from + bad]}, not ${value}`);
        }
      }
    });
  });
}
