import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as activeSegment from '../lib/wal/active-segment';
import { PipelinedCommits } from '../lib/wal/pipelined-commits';
import { propertyParams, LONG } from './support/fc-params';
import { assertFaultProperty, countSite, faultCommandsArb, runFaultCase, type FaultCase, type Site } from './support/fault-run';
import { commandArb, configArb, crashSpecArb, payloadSizeArb, runWorkload, type WalCommand } from './support/wal-workload';

// The writer's early leave from group commit, under the crash-consistency properties. On the
// native core commits run on a thread of their own, and commits of zeros (zeroAheadAsync) and
// the plain appends committed behind them (Batch.behindZeros) may still be in flight when
// syncSync or closeSync comes: the call then waits for them (settleUnawaitedSync), books them and
// leaves the pipeline. A SimulatedDirectory runs commits within microtasks, so the other property
// suites never get there; here the writers' files run them on a simulated commit thread
// (config.commitThread, support/commit-thread.ts), and the zeros kept ahead are a few sectors,
// so the small segments of the generated workloads see commits of zeros all the time. The same
// workloads, power cuts and one-shot faults as wal-property and wal-faults, the same checks: the
// log is a prefix of the stream holding every acknowledged entry after every cut and failure.

/** The sizes of the zeros ahead, shrunk from 256 KiB and 1 MiB to fit segments of a few hundred bytes. */
const SMALL_ZERO_AHEAD = 192;
const SMALL_INLINE_ZERO_AHEAD = 256;

/** The faults that can hit a syncSync/closeSync waiting behind the zeros, or what it does after. */
const LEAVE_SITES: readonly Site[] = ['write', 'sync', 'truncate', 'syncDir'];

/**
 * What leads to the early leave: a group commit someone awaits completes (commits of zeros may
 * still be in flight behind it), a few plain appends follow, then syncSync or closeSync.
 */
const leaveBurstArb: fc.Arbitrary<WalCommand[]> = fc
  .tuple(
    fc.array(payloadSizeArb, { minLength: 1, maxLength: 3 }),
    fc.array(fc.oneof(
      payloadSizeArb.map((size): WalCommand => ({ kind: 'append', size })),
      fc.array(payloadSizeArb, { maxLength: 4 }).map((sizes): WalCommand => ({ kind: 'batch', sizes })),
    ), { maxLength: 3 }),
    fc.constantFrom<WalCommand>({ kind: 'sync', async: false }, { kind: 'sync', async: false }, { kind: 'close', async: false }),
  )
  .map(([sizes, appends, call]) => [{ kind: 'appendDurable', sizes, batch: sizes.length > 1, wait: true }, ...appends, call]);

/** `commands` with bursts that lead to the early leave inserted at random places. */
function withLeaveBursts(commands: fc.Arbitrary<WalCommand[]>): fc.Arbitrary<WalCommand[]> {
  return fc.tuple(commands, fc.array(fc.tuple(fc.nat(), leaveBurstArb), { maxLength: 8 })).map(([cmds, bursts]) => {
    const all = [...cmds];
    for (const [at, burst] of bursts) all.splice(at % (all.length + 1), 0, ...burst);
    return all;
  });
}

/**
 * Run counts as the other properties' (support/fc-params.ts); the short runs of `npm test` are
 * seeded, so they reach the early leave every time (the tests require it). DURABILITY_SEED
 * replays any run; the long runs draw a seed each.
 */
function leaveParams<T>(shortRuns: number, longRuns: number): fc.Parameters<T> {
  const params = propertyParams<T>(shortRuns, longRuns);
  if (!LONG && params.seed === undefined) params.seed = SHORT_RUN_SEED;
  return params;
}
const SHORT_RUN_SEED = 20261205;

describe('WAL crash consistency when syncSync/closeSync leave group commit early (property, commit thread)', function () {
  if (LONG) this.timeout(0);

  // The compiled module reads these from its exports at each use, so they can be shrunk here.
  const tunables = activeSegment as unknown as { ZERO_AHEAD: number; INLINE_ZERO_AHEAD: number };
  const saved = { zeroAhead: tunables.ZERO_AHEAD, inlineZeroAhead: tunables.INLINE_ZERO_AHEAD };
  const settleUnawaitedSync = PipelinedCommits.prototype.settleUnawaitedSync;
  /** Early leaves (settleUnawaitedSync calls) since the last reset: the properties must reach the path they are about. */
  let earlyLeaves = 0;

  before(() => {
    tunables.ZERO_AHEAD = SMALL_ZERO_AHEAD;
    tunables.INLINE_ZERO_AHEAD = SMALL_INLINE_ZERO_AHEAD;
    PipelinedCommits.prototype.settleUnawaitedSync = function (this: PipelinedCommits<unknown>): void {
      earlyLeaves++;
      settleUnawaitedSync.call(this);
    };
  });
  after(() => {
    tunables.ZERO_AHEAD = saved.zeroAhead;
    tunables.INLINE_ZERO_AHEAD = saved.inlineZeroAhead;
    PipelinedCommits.prototype.settleUnawaitedSync = settleUnawaitedSync;
  });
  beforeEach(() => {
    earlyLeaves = 0;
  });

  /** Segments that hold several commits of zeros ahead (each commit is at most a few hundred bytes). */
  const threadedConfigArb = configArb.chain((c) =>
    fc.integer({ min: 600, max: 4000 }).map((maxSegmentSize) => ({ ...c, maxSegmentSize, commitThread: true })),
  );

  it('after every power cut, replay yields a prefix of the stream holding every acknowledged entry', async () => {
    await fc.assert(
      fc.asyncProperty(threadedConfigArb, withLeaveBursts(fc.array(commandArb({ powerCuts: true }), { maxLength: 60, size: 'max' })), crashSpecArb, async (config, commands, final) => {
        await runWorkload(config, commands, final);
      }),
      leaveParams(60, 10_000),
    );
    assert.ok(earlyLeaves > 0, 'no syncSync/closeSync left group commit early');
  });

  for (const site of LEAVE_SITES) {
    it(`a failed ${site} (EIO, ENOSPC, short write) poisons or is reported, and recovery keeps every acknowledged entry`, async () => {
      await assertFaultProperty(site, threadedConfigArb, withLeaveBursts(faultCommandsArb), leaveParams(25, 2_500));
      assert.ok(earlyLeaves > 0, 'no syncSync/closeSync left group commit early');
    });
  }

  it('a failed fdatasync in the syncSync that left early keeps the entries it booked as durable (found by the long run)', async () => {
    // With ActiveSegment.committedTo reverted (commit "a commit booked by syncSync/closeSync behind
    // the zeros counts as synced at once"), the long run found this after 133 cases: syncSync
    // booked the commits behind the zeros as durable, its own fdatasync then failed, and the
    // poisoned writer cut the file back to before them; the power cut after it left the log at 26
    // with 28 acknowledged.
    const c: FaultCase = {
      site: 'sync',
      error: 'EIO',
      config: { seed: 277271935, sectorSize: 16, supportsAllocate: true, maxSegmentSize: 600, syncWindow: 231, bufferSize: 40, flushPolicy: { everyN: 1 }, preallocate: false, recycleCapacity: 2, zeroFill: false, ageMs: 1000, commitThread: true },
      commands: [
        { kind: 'appendDurable', sizes: [53, 113, 67], batch: true, wait: true }, { kind: 'append', size: 48 }, { kind: 'batch', sizes: [93] },
        { kind: 'append', size: 4 }, { kind: 'sync', async: false }, { kind: 'appendDurable', sizes: [31], batch: false, wait: true },
        { kind: 'sync', async: false }, { kind: 'appendDurable', sizes: [121], batch: false, wait: true }, { kind: 'append', size: 59 },
        { kind: 'sync', async: false }, { kind: 'close', async: false }, { kind: 'append', size: 198 }, { kind: 'append', size: 26 },
        { kind: 'append', size: 13 }, { kind: 'append', size: 32 }, { kind: 'append', size: 16 }, { kind: 'append', size: 59 }, { kind: 'append', size: 102 },
        { kind: 'append', size: 65 }, { kind: 'append', size: 17 }, { kind: 'append', size: 180 }, { kind: 'append', size: 12 }, { kind: 'append', size: 176 },
        { kind: 'append', size: 56 }, { kind: 'append', size: 195 }, { kind: 'append', size: 10 }, { kind: 'append', size: 10 }, { kind: 'sync', async: true },
        { kind: 'appendDurable', sizes: [25], batch: false, wait: true }, { kind: 'append', size: 79 }, { kind: 'append', size: 97 },
        { kind: 'sync', async: false }, { kind: 'truncate', fraction: 0.7, recycle: true }, { kind: 'append', size: 300 },
        { kind: 'truncate', fraction: 0.9, recycle: false }, { kind: 'close', async: false },
        { kind: 'powerCut', afterOps: 0, crash: { mode: 'dropAll', seed: 0, keep: 0.5 }, recoveryCut: null }, { kind: 'idle' }, { kind: 'sync', async: false },
        { kind: 'sync', async: false }, { kind: 'append', size: 0 }, { kind: 'appendDurable', sizes: [0], batch: false, wait: false },
        { kind: 'append', size: 0 }, { kind: 'appendDurable', sizes: [0], batch: false, wait: false }, { kind: 'sync', async: false },
        { kind: 'syncInFlight' }, { kind: 'append', size: 0 }, { kind: 'appendDurable', sizes: [0], batch: false, wait: false },
        { kind: 'flush', async: false },
      ],
      at: 0.8,
      afterPoison: 'cut',
      crash: { mode: 'reorder', seed: 1985865537, keep: 0.5 },
      final: { mode: 'dropAll', seed: 0, keep: 0.5 },
    };
    await runFaultCase(c, await countSite(c));
    assert.ok(earlyLeaves > 0, 'no syncSync/closeSync left group commit early');
  });
});
