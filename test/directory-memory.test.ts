import assert from 'node:assert/strict';
import { MemoryDirectory } from '../lib/directory/memory';
import { Prng } from '../lib/directory/prng';
import { SparseBytes } from '../lib/directory/sparse-bytes';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { assertCode, bytes, directoryContract } from './directory-contract';

directoryContract('MemoryDirectory', () => ({ dir: new MemoryDirectory() }));
directoryContract('SimulatedDirectory', () => ({ dir: new SimulatedDirectory({ seed: 7 }) }));
directoryContract('SimulatedDirectory (sector 4096, no fallocate)', () => ({
  dir: new SimulatedDirectory({ seed: 8, sectorSize: 4096, supportsAllocate: false }),
}));

describe('MemoryDirectory specifics', () => {
  it('has no OS path and a kind', () => {
    const dir = new MemoryDirectory();
    assert.equal(dir.kind, 'memory');
    assert.equal(dir.filePath('a'), undefined);
  });

  it('keeps a 64 MiB preallocation sparse (length only) and reads zeros', () => {
    const dir = new MemoryDirectory();
    const f = dir.create('seg');
    assert.equal(f.allocate(64 << 20), true);
    f.writeAt(bytes('tail'), (64 << 20) - 4);
    assert.equal(f.size(), 64 << 20);
    const r = dir.openRead('seg');
    const buf = new Uint8Array(8);
    assert.equal(r.read(buf, (64 << 20) - 8), 8);
    assert.deepEqual([...buf], [0, 0, 0, 0, 116, 97, 105, 108]);
    f.close();
  });

  it('truncating below written data and growing again reads zeros, not old bytes', () => {
    const dir = new MemoryDirectory();
    const f = dir.create('a');
    f.write(new Uint8Array(10000).fill(7));
    f.truncate(5000);
    f.truncate(10000);
    const all = dir.readFile('a');
    assert.ok(all.subarray(0, 5000).every((b) => b === 7));
    assert.ok(all.subarray(5000).every((b) => b === 0));
    f.close();
  });

  it('rename and delete of a directory are refused', () => {
    const dir = new MemoryDirectory();
    dir.mkdirp('d');
    assertCode(() => dir.delete('d'), 'DURABILITY_IO', 'EISDIR');
    assertCode(() => dir.atomicRename('d', 'e'), 'DURABILITY_IO', 'EISDIR');
  });
});

describe('SparseBytes (file content of the in-memory directories)', () => {
  it('matches a plain byte array under random writes, truncations and reads across page edges', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const prng = new Prng(seed);
      const sparse = new SparseBytes();
      let model = new Uint8Array(0);
      for (let step = 0; step < 200; step++) {
        const roll = prng.int(10);
        if (roll < 6) {
          const position = prng.int(3 * 4096 + 100);
          const data = new Uint8Array(prng.int(5000)).map(() => prng.int(256));
          sparse.write(position, data);
          if (position + data.length > model.length) {
            const grown = new Uint8Array(position + data.length);
            grown.set(model);
            model = grown;
          }
          model.set(data, position);
        } else if (roll < 8) {
          const length = prng.chance(0.5) ? prng.int(3) * 4096 : prng.int(4 * 4096);
          sparse.setLength(length);
          const next = new Uint8Array(length);
          next.set(model.subarray(0, Math.min(length, model.length)));
          model = next;
        } else {
          const position = prng.int(model.length + 10);
          const target = new Uint8Array(prng.int(6000));
          const n = sparse.read(target, position);
          assert.equal(n, Math.max(0, Math.min(target.length, model.length - position)));
          assert.deepEqual(target.subarray(0, n), model.subarray(position, position + n));
        }
        assert.equal(sparse.length, model.length);
      }
      assert.deepEqual(sparse.toBytes(), model);
      assert.deepEqual(sparse.clone().toBytes(), model);
    }
  });
});
