// A checkpoint's truncation hands the segments it removes to the log's writer for reuse, as many
// as the writer has room for (recycleCapacity), and deletes the rest: deleting a
// 64 MiB segment frees its blocks beside the log's commits (bench/RESULTS.md), a rename frees
// none, and the writer's next segments then overwrite blocks its files own. recycleCapacity 0
// deletes every one. A power cut anywhere in a publish that recycles, and in the
// rotations onto the recycled files that follow it, leaves a log recovery reads whole.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { availableBackends } from '../lib/backend/select';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { recover, type RecoveredLog } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import type { RecoverWriterOptions } from '../lib/recover';
import { withAsyncForms } from './support/async-forms';
import { overriding } from './support/overriding';

type Op = { n: number };
type State = { count: number; sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ count: s.count + 1, sum: s.sum + r.payload.n });
const stateAt = (count: number): State => ({ count, sum: (count * (count - 1)) / 2 });
const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];

function open(dir: Directory, writer: RecoverWriterOptions<Op> = {}): Promise<RecoveredLog<State, Op>> {
  return recover({ dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { count: 0, sum: 0 }, apply, writer: { maxSegmentSize: 160, recycleCapacity: 4, ...writer } });
}

const recycleFiles = (dir: Directory): string[] => dir.list('wal').filter((n) => n.startsWith('recycle-')).sort();
const segmentFiles = (dir: Directory): string[] => dir.list('wal').filter((n) => n.endsWith('.wal')).sort();

/** Appends `count` entries durably; returns the number appended in all. */
async function appendMore(log: RecoveredLog<State, Op>, from: number, count: number): Promise<number> {
  for (let i = 0; i < count; i++) await log.writer.appendDurable({ n: from + i });
  return from + count;
}

async function strictIds(dir: Directory): Promise<number[]> {
  return (await new WalReader(dir, { codec: jsonCodec<Op>() }).replay({ mode: 'strict' })).map((r) => r.entryId);
}

async function recyclesAndReuses(dir: Directory): Promise<void> {
  const log = await open(dir);
  let n = await appendMore(log, 0, 40);
  await log.checkpoint(stateAt(n));
  n = await appendMore(log, n, 40);
  // retain 2: this checkpoint's truncation removes what the first one covers.
  const published = await log.checkpoint(stateAt(n));
  assert.ok(published.truncatedSegments >= 2, `${published.truncatedSegments} segments truncated`);
  assert.equal(published.recycledSegments, Math.min(4, published.truncatedSegments));
  const kept = recycleFiles(dir);
  assert.equal(kept.length, published.recycledSegments, `recycle files ${kept.join(' ')}`);
  // The writer's next rotations take them: no new segment file is created until they are used up.
  n = await appendMore(log, n, 40);
  assert.deepEqual(recycleFiles(dir).filter((f) => kept.includes(f)), [], 'every recycle file became a segment');
  const first = (await strictIds(dir))[0];
  assert.deepEqual(await strictIds(dir), Array.from({ length: n - first + 1 }, (_, i) => first + i), 'the live log reads strictly, whole');
  await log.close();
  const again = await open(dir);
  assert.deepEqual(again.state, stateAt(n));
  await again.close();
}

describe('a checkpoint recycles the segments it truncates', () => {
  for (const backend of availableBackends()) {
    it(`up to the writer's recycleCapacity, which reuses them as its next segments (${backend.name})`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-checkpoint-recycle-'));
      try {
        await recyclesAndReuses(new FsDirectory(root, { backend }));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('up to the writer\'s recycleCapacity (memory directory)', async () => {
    await recyclesAndReuses(new MemoryDirectory());
  });

  it('deletes the segments past the writer\'s room, and every one with recycleCapacity 0', async () => {
    for (const recycleCapacity of [0, 1, 3]) {
      const dir = new MemoryDirectory();
      const log = await open(dir, { recycleCapacity });
      let n = await appendMore(log, 0, 60);
      await log.checkpoint(stateAt(n));
      n = await appendMore(log, n, 10);
      const before = segmentFiles(dir);
      const published = await log.checkpoint(stateAt(n));
      assert.ok(published.truncatedSegments > 3, `${published.truncatedSegments} segments truncated`);
      assert.equal(published.recycledSegments, recycleCapacity);
      const removed = before.slice(0, published.truncatedSegments).map((f) => Number(f.replace('.wal', '')));
      assert.deepEqual(recycleFiles(dir), removed.slice(0, recycleCapacity).map((id) => `recycle-${id}`).sort(), `recycleCapacity ${recycleCapacity}`);
      assert.ok(segmentFiles(dir).every((f) => !before.slice(0, published.truncatedSegments).includes(f)));
      await log.close();
    }
  });

  it('takes a segment the application removed between two of its renames for removed', async () => {
    const dir = new MemoryDirectory();
    let asked = 0;
    let point = 0;
    // The application's own truncation (to the same point) runs between two steps of the publisher's.
    const observer = { beforeTruncate: (): boolean => {
      if (++asked === 2) new WalMaintenance(dir).truncatePrefix(point);
      return true;
    } };
    const log = await open(dir, { observer });
    let n = await appendMore(log, 0, 40);
    point = log.writer.lastEntryId;
    await log.checkpoint(stateAt(n));
    n = await appendMore(log, n, 40);
    const published = await log.checkpoint(stateAt(n));
    assert.ok(published.truncatedSegments >= 3, `${published.truncatedSegments} segments truncated`);
    assert.equal(published.recycledSegments, 1, 'only the first was renamed before the application removed the rest');
    assert.equal(recycleFiles(dir).length, 1);
    n = await appendMore(log, n, 40);
    await log.close();
    const again = await open(dir);
    assert.deepEqual(again.state, stateAt(n));
    await again.close();
  });

  it('a rename failing with EIO rejects the publish; the next checkpoint removes what it left, and the writer goes on', async () => {
    const real = new MemoryDirectory();
    let armed = false;
    const dir = overriding<Directory>(real, {
      renameNoSync: (from: string, to: string) => {
        if (armed && to.startsWith('wal/recycle-')) {
          armed = false;
          throw new IoError('EIO', 'rename', from);
        }
        real.renameNoSync(from, to);
      },
    });
    const log = await open(dir);
    let n = await appendMore(log, 0, 40);
    await log.checkpoint(stateAt(n));
    n = await appendMore(log, n, 40);
    armed = true;
    await assert.rejects(log.checkpoint(stateAt(n)), { code: 'DURABILITY_IO', errno: 'EIO' });
    assert.deepEqual(recycleFiles(real), [], 'nothing was recycled');
    n = await appendMore(log, n, 5);
    const next = await log.checkpoint(stateAt(n));
    assert.ok(next.recycledSegments >= 2, `${next.recycledSegments} recycled`);
    n = await appendMore(log, n, 40);
    await log.close();
    const again = await open(real);
    assert.deepEqual(again.state, stateAt(n));
    await again.close();
  });

  it('hands nothing to a writer closed while the truncation ran: the files stay for the next writer to adopt', async () => {
    const dir = new MemoryDirectory();
    let asked = 0;
    let closing: Promise<void> | undefined;
    // The application closes the writer between two steps of the truncation.
    const observer = { beforeTruncate: (): boolean => {
      if (++asked === 2) closing = log.writer.close();
      return true;
    } };
    const log = await open(dir, { observer });
    let n = await appendMore(log, 0, 40);
    await log.checkpoint(stateAt(n));
    n = await appendMore(log, n, 40);
    await assert.rejects(log.checkpoint(stateAt(n)), /ClosedError|closed/);
    await closing;
    const left = recycleFiles(dir);
    assert.equal(left.length, 1, 'the first segment was recycled before the writer closed');
    const again = await open(dir);
    assert.deepEqual(again.state, stateAt(n));
    n = await appendMore(again, n, 40);
    assert.deepEqual(recycleFiles(dir).filter((f) => left.includes(f)), [], 'the next writer reused them');
    await again.close();
  });
});

interface Run {
  readonly sim: SimulatedDirectory;
  readonly acknowledged: number;
  readonly operations: number;
  readonly renames: { recycled: number; reused: number };
}

/**
 * Two checkpoints behind the log, then a publish that recycles with appends running through it
 * and on until the recycled files were reused; power cut after operation `cutAt` of that part.
 */
async function run(cutAt: number | undefined): Promise<Run> {
  const sim = new SimulatedDirectory({ seed: 5 });
  const log = await open(withAsyncForms(sim));
  let appended = 0;
  for (let round = 0; round < 2; round++) {
    appended = await appendMore(log, appended, 14);
    await log.checkpoint(stateAt(appended));
  }
  appended = await appendMore(log, appended, 14);
  const before = sim.operations;
  const renames = { recycled: 0, reused: 0 };
  sim.onOperation = (e) => {
    if (e.op === 'rename' && e.to?.includes('recycle-') === true) renames.recycled++;
    if (e.op === 'rename' && e.path.includes('recycle-')) renames.reused++;
  };
  const cut = cutAt === undefined ? undefined : sim.scheduleCrash(cutAt, { mode: 'dropAll' });
  let acknowledged = appended;
  let stop = false;
  const ingest = (async () => {
    while (!stop) {
      await tick();
      acknowledged = await log.writer.appendDurable({ n: appended++ });
    }
  })().catch(() => undefined);
  await log.checkpoint(stateAt(appended)).catch(() => undefined);
  // Appends go on until the writer rotated onto the recycle files (or the power went).
  for (let i = 0; i < 40 && !sim.crashed; i++) await tick();
  stop = true;
  await ingest;
  const operations = sim.operations - before;
  sim.onOperation = undefined;
  if (cut === undefined) await log.close();
  return { sim, acknowledged, operations, renames };
}

describe('a checkpoint that recycles: power cut after every operation, appends running', () => {
  it('keeps every acknowledged entry and a prefix of the rest, at every cut, in every crash mode', async () => {
    const probe = await run(undefined);
    assert.ok(probe.renames.recycled >= 2 && probe.renames.reused >= 2, `recycled ${probe.renames.recycled}, reused ${probe.renames.reused}`);
    let cases = 0;
    for (let k = 1; k <= probe.operations; k++) {
      const r = await run(k);
      if (!r.sim.crashed) continue;
      for (const [m, mode] of MODES.entries()) {
        const crashed = r.sim.crash({ mode, seed: k * 31 + m });
        const where = `cut after operation ${k}, mode ${mode}`;
        const again = await open(crashed);
        assert.ok(again.lastEntryId >= r.acknowledged, `${where}: ${again.lastEntryId} < acknowledged ${r.acknowledged}`);
        assert.deepEqual(again.state, stateAt(again.lastEntryId), where);
        let n = again.lastEntryId;
        n = await appendMore(again, n, 20);
        await again.checkpoint(stateAt(n));
        await again.close();
        const last = await recover({ dir: crashed, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { count: 0, sum: 0 }, apply, mode: 'strict' });
        assert.deepEqual(last.state, stateAt(n), `${where}, after continuing`);
        cases++;
      }
    }
    assert.ok(cases > 0);
  });
});
