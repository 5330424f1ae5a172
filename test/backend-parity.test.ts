// The native core and the node:fs backend must leave the same files and report the same results
// and errors. One seeded workload (appends, batches, flushes, syncs, rotation, preallocation,
// close and reopen, bad entries, truncation, record log, damage then reopen) runs on an
// FsDirectory over each backend, in two directories; after every step the two results (a
// value, or the error's class, code, errno and syscall) and the two sets of files are compared.
//
// Synchronous writes must match byte for byte (while a writer is open, up to the zeros native
// preallocation leaves past the end). With group commits the segments are compared entry for
// entry once the writer closed: where a sync mark lands and the watermark it carries depend on
// when a commit completed relative to the next batch's cut (docs/FORMAT.md, "Sync mark"), and
// while the native core's commits of zeros run, plain appends wait in the pipeline; both differ
// between backends and runs. DURABILITY_SEED=<n> runs that seed first.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends, tsBackend } from '../lib/backend/select';
import { type Step, frameSpans, runWorkload } from './support/parity-workload';

/** The header and frames as hex, then what follows them (but zeros): a recycled file's stale bytes. */
function withoutMarks(b: Buffer): string[] {
  const { spans, end } = frameSpans(b);
  const out = spans.map(([at, length]) => b.subarray(at, at + length).toString('hex'));
  if (b.subarray(end).some((x) => x !== 0)) out.push('stale bytes');
  return out;
}

function withoutTrailingZeros(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.subarray(0, end);
}

function compareSteps(seed: number, native: Step[], ts: Step[], bytewise: boolean): void {
  assert.equal(native.length, ts.length, `seed ${seed}: step count`);
  for (let i = 0; i < native.length; i++) {
    const where = `seed ${seed}, step ${i}`;
    assert.equal(ts[i].result, native[i].result, `${where}: result`);
    assert.deepEqual([...ts[i].files.keys()].sort(), [...native[i].files.keys()].sort(), `${where}: file names`);
    for (const [name, a] of native[i].files) {
      const b = ts[i].files.get(name) as Buffer;
      if (!name.endsWith('.wal') && !/recycle-\d+$/.test(name)) {
        assert.ok(a.equals(b), `${where}: ${name} differs`);
      } else if (!bytewise) {
        // Only once the writer closed: until its commits of zeros ahead (native) have run, frames
        // of plain appends wait in the pipeline (docs/API.md, "While commits are pending").
        if (native[i].settled) assert.deepEqual(withoutMarks(b), withoutMarks(a), `${where}: ${name} holds other entries`);
      } else if (native[i].settled) {
        assert.ok(a.equals(b), `${where}: ${name} differs (native ${a.length} B, ts ${b.length} B)`);
      } else {
        assert.ok(withoutTrailingZeros(a).equals(withoutTrailingZeros(b)), `${where}: ${name} differs before its zeros`);
      }
    }
  }
}

const native = availableBackends().find((b) => b.name === 'native');
const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
if (process.env.DURABILITY_SEED) SEEDS.unshift(Number(process.env.DURABILITY_SEED));

if (native !== undefined) {
  describe('backend parity: the same workload on the native core and on node:fs', () => {
    let root: string;
    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-parity-'));
    });
    after(() => {
      fs.rmSync(root, { recursive: true, force: true });
    });

    it(`synchronous writes leave the same bytes and report the same results (${SEEDS.length} seeds)`, async () => {
      for (const seed of SEEDS) {
        const a = await runWorkload(seed, native, path.join(root, 'native'), false);
        const b = await runWorkload(seed, tsBackend(), path.join(root, 'ts'), false);
        compareSteps(seed, a, b, true);
      }
    });

    const durableSeeds = SEEDS.slice(0, Math.ceil(SEEDS.length / 2));
    it(`group commits and checkpoints leave the same entries and report the same results (${durableSeeds.length} seeds)`, async () => {
      for (const seed of durableSeeds) {
        const a = await runWorkload(seed, native, path.join(root, 'native'), true);
        const b = await runWorkload(seed, tsBackend(), path.join(root, 'ts'), true);
        compareSteps(seed, a, b, false);
      }
    });
  });
}
