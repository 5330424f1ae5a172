import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { Directory } from '../lib/directory/directory';
import { SimulatedDirectory, type CrashMode } from '../lib/directory/simulated';
import { recover, type RecoveredLog } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { withAsyncForms } from './support/async-forms';

// test/checkpoint-crash.test.ts cuts power after every operation of a publish on a directory
// without the async forms, with nothing else running. Here the directory has them (each step
// lets the event loop turn first, as the thread pool does on FsDirectory) and an ingestion loop
// appends and acknowledges entries all through the publish, rotating segments between its
// steps. After a cut anywhere, recovery must hold every acknowledged entry and only a prefix of
// what was appended.

type Op = { n: number };
type State = { count: number; sum: number };
const apply = (s: State, r: { payload: Op }): State => ({ count: s.count + 1, sum: s.sum + r.payload.n });
const stateAt = (count: number): State => ({ count, sum: (count * (count - 1)) / 2 });
const MODES: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder'];

function open(dir: Directory, retain: number): Promise<RecoveredLog<State, Op>> {
  return recover({
    dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { count: 0, sum: 0 }, apply,
    writer: { maxSegmentSize: 160 }, retain,
  });
}

interface Run {
  readonly sim: SimulatedDirectory;
  readonly acknowledged: number;
  readonly published: boolean;
}

/** A log with two checkpoints behind it; then a publish with appends running through it, power cut after operation `cutAt` of it (none: undefined). */
async function run(retain: number, cutAt: number | undefined): Promise<Run & { operations: number }> {
  const sim = new SimulatedDirectory({ seed: 3 });
  const log = await open(withAsyncForms(sim), retain);
  let appended = 0;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 12; i++) await log.writer.appendDurable({ n: appended++ });
    await log.checkpoint(stateAt(appended));
  }
  for (let i = 0; i < 12; i++) await log.writer.appendDurable({ n: appended++ });
  const before = sim.operations;
  const cut = cutAt === undefined ? undefined : sim.scheduleCrash(cutAt, { mode: 'dropAll' });
  let acknowledged = appended;
  let stop = false;
  const ingest = (async () => {
    while (!stop) {
      // Requests arrive from I/O: one per turn of the event loop (a simulated sync settles in microtasks).
      await tick();
      const id = await log.writer.appendDurable({ n: appended++ });
      acknowledged = id;
    }
  })().catch(() => undefined);
  const published = await log.checkpoint(stateAt(appended)).then(() => true, () => false);
  stop = true;
  await ingest;
  const operations = sim.operations - before;
  if (cut === undefined) await log.close();
  else assert.ok(cut.directory !== undefined || published, `cut after ${cutAt} happened or the publish ended first`);
  return { sim, acknowledged, published, operations };
}

for (const retain of [1, 2]) {
  describe(`publisher off the event loop: power cut with appends running (retain ${retain})`, () => {
    it('keeps every acknowledged entry and a prefix of the rest, at every cut, in every crash mode', async () => {
      const probe = await run(retain, undefined);
      assert.ok(probe.published && probe.operations >= 10, `publish and appends took ${probe.operations} operations`);
      assert.ok(probe.acknowledged > 36, 'entries were acknowledged while the checkpoint was published');
      let cases = 0;
      for (let k = 1; k <= probe.operations; k++) {
        const r = await run(retain, k);
        if (!r.sim.crashed) continue;
        for (const [m, mode] of MODES.entries()) {
          const crashed = r.sim.crash({ mode, seed: k * 31 + m });
          const where = `cut after operation ${k}, mode ${mode}`;
          const again = await open(crashed, retain);
          assert.ok(again.lastEntryId >= r.acknowledged, `${where}: ${again.lastEntryId} < acknowledged ${r.acknowledged}`);
          assert.deepEqual(again.state, stateAt(again.lastEntryId), where);
          await again.writer.appendDurable({ n: again.lastEntryId });
          await again.checkpoint(stateAt(again.lastEntryId));
          await again.close();
          const last = await recover({ dir: crashed, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { count: 0, sum: 0 }, apply });
          assert.deepEqual(last.state, stateAt(again.lastEntryId), `${where}, after continuing`);
          cases++;
        }
      }
      assert.ok(cases > 0);
    });
  });
}
