// A disk with no room to preallocate a new segment: preallocation is an optimisation, so a
// fallocate failing with ENOSPC leaves the segment unreserved, as where fallocate is unsupported,
// and the writer opens (or rotates) and appends; only its one diagnostic tells. It failed
// WalWriter.open on the native core (and on a simulated directory), where node:fs, which has no
// fallocate, opened.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const payload = (i: number): Uint8Array => new Uint8Array(1000).fill(1 + (i % 250));
const ids = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('no room to preallocate a segment', () => {
  it('SimulatedDirectory: fallocate failing with ENOSPC leaves the segment unreserved; the writer opens, rotates and appends', async () => {
    const dir = new SimulatedDirectory({ seed: 5 });
    dir.injectFault({ op: 'allocate', error: 'ENOSPC', persistent: true });
    const published: string[] = [];
    const onDiagnostic = (e: unknown): void => void published.push((e as DiagnosticEvent).kind);
    channels.diagnostic.subscribe(onDiagnostic);
    let acked = 0;
    try {
      const w = WalWriter.create(dir, { codec: raw, preallocate: true, maxSegmentSize: 100_000 });
      for (let i = 0; i < 300; i++) acked = await w.appendDurable(payload(i));
      w.append(payload(0));
      w.closeSync();
      acked++;
    } finally {
      channels.diagnostic.unsubscribe(onDiagnostic);
    }
    assert.deepEqual(published.filter((k) => k === 'fallocate-no-space'), ['fallocate-no-space']);
    assert.deepEqual(ids(dir), upTo(acked));
  });

  for (const backend of availableBackends()) {
    it(`FsDirectory(${backend.name}): fallocate failing with ENOSPC leaves the segment unreserved; the writer opens, rotates and appends`, () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-no-space-'));
      try {
        const full = overriding(backend, { fallocate: (_fd, _offset, _length, p) => { throw new IoError('ENOSPC', 'fallocate', p); } });
        const dir = new FsDirectory(root, { backend: full });
        const w = WalWriter.create(dir, { codec: raw, preallocate: true, maxSegmentSize: 100_000 });
        for (let i = 0; i < 300; i++) w.append(payload(i));
        w.closeSync();
        assert.deepEqual(ids(dir), upTo(300));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
