import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FaultError } from '../../lib/directory/faults';
import type { SimulatedDirectory, SimulatedOperation } from '../../lib/directory/simulated';
import { channels, type DiagnosticEvent } from '../../lib/diagnostics';
import { IoError, PoisonedError } from '../../lib/errors';
import type { WalWriter } from '../../lib/wal/writer';
import { commandArb, configArb, crashSpecArb, type CrashSpec, type WalCommand, type WalConfig, WalRun } from './wal-workload';

// One injected I/O fault in a random WAL workload, and what must hold around it (see
// test/wal-faults.test.ts).

export type Site = 'create' | 'write' | 'allocate' | 'sync' | 'syncDir' | 'rename' | 'delete' | 'truncate';
export const SITES: readonly Site[] = ['create', 'write', 'allocate', 'sync', 'syncDir', 'rename', 'delete', 'truncate'];
export const ERRORS: readonly FaultError[] = ['EIO', 'ENOSPC', 'short'];

/** Configurations under which every site occurs: small segments, preallocation, recycling. */
export const faultConfigArb: fc.Arbitrary<WalConfig> = configArb.chain((c) =>
  fc.record({
    maxSegmentSize: fc.integer({ min: 200, max: 600 }),
    preallocate: fc.constantFrom<boolean | number>(true, 1500),
    recycleCapacity: fc.integer({ min: 1, max: 2 }),
  }).map((forced) => ({ ...c, ...forced, supportsAllocate: true })),
);

/** A workload that rotates, truncates both ways and closes somewhere among random commands. */
export const faultCommandsArb: fc.Arbitrary<WalCommand[]> = fc
  .tuple(
    fc.array(commandArb({ powerCuts: true }), { minLength: 10, maxLength: 40, size: 'max' }),
    fc.array(fc.integer({ min: 10, max: 200 }), { minLength: 16, maxLength: 16 }),
    fc.nat(),
  )
  .map(([random, sizes, at]) => {
    // Enough bytes to rotate several times, then each kind of truncation and a close.
    const block: WalCommand[] = [
      ...sizes.map((size): WalCommand => ({ kind: 'append', size })),
      { kind: 'sync', async: true },
      { kind: 'truncate', fraction: 0.7, recycle: true },
      { kind: 'append', size: 300 },
      { kind: 'truncate', fraction: 0.9, recycle: false },
      { kind: 'close', async: false },
    ];
    const cmds = [...random];
    cmds.splice(at % (cmds.length + 1), 0, ...block);
    return cmds;
  });

export interface FaultCase {
  site: Site;
  error: FaultError;
  config: WalConfig;
  commands: WalCommand[];
  /** Which occurrence of the site fails, as a fraction of the occurrences in the workload. */
  at: number;
  /** After a writer failed: cut the power, or open a new writer in this process (the page cache may hold bytes the disk lost). */
  afterPoison: 'cut' | 'reopen';
  crash: CrashSpec;
  final: CrashSpec;
}

/**
 * The fault property of one site: a workload of `commands` under `config`, one occurrence of the
 * site failing with each error, and every check of runFaultCase. Workloads that never reach the
 * site (a truncation that removes nothing) are skipped.
 */
export async function assertFaultProperty(
  site: Site,
  config: fc.Arbitrary<WalConfig>,
  commands: fc.Arbitrary<WalCommand[]>,
  params: fc.Parameters<[FaultCase]>,
): Promise<void> {
  const caseArb = fc.record({
    site: fc.constant(site),
    error: fc.constantFrom(...ERRORS),
    config,
    commands,
    at: fc.integer({ min: 0, max: 999 }).map((n) => n / 1000),
    afterPoison: fc.constantFrom<'cut' | 'reopen'>('cut', 'reopen'),
    crash: crashSpecArb,
    final: crashSpecArb,
  });
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      const occurrences = await countSite(c);
      fc.pre(occurrences > 0);
      await runFaultCase(c, occurrences);
    }),
    params,
  );
}

/** Whether an operation is one a fault on `site` counts (taking the lock creates wal/LOCK, but a fault sees that as 'open'). */
function isSite(site: Site, e: SimulatedOperation): boolean {
  return e.op === site && !(e.op === 'create' && e.path.endsWith('LOCK'));
}

/** Occurrences of `site` when the workload runs without faults (the simulation is deterministic). */
export async function countSite(c: FaultCase): Promise<number> {
  let n = 0;
  const run = new WalRun(c.config, (e: SimulatedOperation) => {
    if (isSite(c.site, e)) n++;
  });
  for (const cmd of c.commands) await run.step(cmd);
  return n;
}

/** The diagnostics of a no-room failure the writer absorbs instead of failing. */
const ABSORBED_KINDS = new Set(['fallocate-no-space', 'zeros-skipped', 'idle-mark-skipped']);

/** Every call of a poisoned writer fails with PoisonedError and nothing about it moves. */
async function checkPoisoned(w: WalWriter<Uint8Array>, cause: unknown): Promise<void> {
  assert.ok(w.poisoned, 'a failed writer call poisons the writer');
  assert.equal(w.poisonCause, cause, 'the poison cause is the error the failing call threw');
  const last = w.lastEntryId;
  const durable = w.durableEntryId;
  const isPoisoned = (e: unknown) => e instanceof PoisonedError && e.cause === cause;
  if (!w.closed) {
    assert.throws(() => w.append(new Uint8Array(3)), isPoisoned);
    assert.throws(() => w.appendBatch([new Uint8Array(1), new Uint8Array(2)]), isPoisoned);
    assert.throws(() => w.flushSync(), isPoisoned);
    await assert.rejects(w.flush(), isPoisoned);
    assert.throws(() => w.syncSync(), isPoisoned);
    await assert.rejects(w.sync(), isPoisoned);
    assert.throws(() => w.recycle([]), isPoisoned);
    await assert.rejects(w.close(), isPoisoned);
  }
  assert.equal(w.lastEntryId, last);
  assert.equal(w.durableEntryId, durable, 'no sync succeeds after the failure');
  assert.ok(w.closed);
}

/** `trace` sees every directory operation (for debugging a counterexample). */
export async function runFaultCase(c: FaultCase, occurrences: number, trace?: (e: SimulatedOperation) => void): Promise<void> {
  const after = Math.min(occurrences - 1, Math.floor(c.at * occurrences));
  let run: WalRun | undefined = undefined;
  // The site's occurrences are counted across power cuts; each directory a cut leaves gets the
  // fault again, due after the occurrences still to come.
  let counted = 0;
  let fired = false;
  let firedInLife = -1;
  const r = new WalRun(c.config, (e: SimulatedOperation) => {
    trace?.(e);
    if (isSite(c.site, e)) counted++;
    if (!e.failed) return;
    fired = true;
    firedInLife = r.crashes;
    // The moment the fault fires in a writer's I/O, nothing later may be reported durable ...
    if (run !== undefined && run.phase === 'writer' && run.writer !== undefined) run.setCeiling(run.writer.durableEntryId, run.writer.lastEntryId);
  });
  run = r;
  // ... but the commits ahead of the failed one in the file's order: their fdatasync returned
  // before it ran, so the writer may still report them, up to the moment it is poisoned.
  const onPoison = (): void => {
    const w = r.writer;
    if (w !== undefined && w.poisoned) r.settleCeiling(w.durableEntryId);
  };
  // A failure for want of space of an optimisation is absorbed: a preallocation (the segment
  // grows as it is written), the reservation or write of zeros ahead of the log (the commit
  // leaves them out and goes on), or an idle writer's sync mark (left out, the next write carries
  // it). The diagnostic is the report; the rest of the run checks every promise still holds.
  let absorbed = false;
  const onDiagnostic = (e: unknown): void => {
    const kind = (e as DiagnosticEvent).kind;
    if (!ABSORBED_KINDS.has(kind) || !fired || absorbed) return;
    absorbed = true;
    r.faultAbsorbed();
  };
  channels.poison.subscribe(onPoison);
  channels.diagnostic.subscribe(onDiagnostic);
  try {
    await runFaultSteps();
  } finally {
    channels.poison.unsubscribe(onPoison);
    channels.diagnostic.unsubscribe(onDiagnostic);
  }

  async function runFaultSteps(): Promise<void> {
    const arm = (dir: SimulatedDirectory): void => {
      if (!fired && counted <= after) dir.injectFault({ op: c.site, error: c.error, after: after - counted });
    };
    arm(r.dir);
    r.onNewDirectory = arm;
    const errno = c.error === 'EIO' ? 'EIO' : 'ENOSPC';
    let seen: unknown = undefined;
    let cutAfterStep = false;
    let reopenAfterStep = false;
    const handle = async (cmd: WalCommand, err: unknown): Promise<void> => {
      // A group commit that fails between calls poisons the writer; later calls report it as the cause.
      const cause = err instanceof PoisonedError && r.phase === 'writer' ? err.cause : err;
      // Several calls in flight may each report the one failure.
      if (seen !== undefined && cause === seen) return;
      assert.equal(seen, undefined, `a second failure after the one-shot fault: ${String(err)}`);
      assert.equal(r.cutPending, false, 'failures a power cut explains are not reported here');
      r.disarmCut();
      assert.ok(fired, `${cmd.kind} failed with no fault injected: ${String(err)}`);
      seen = cause;
      assert.ok(cause instanceof IoError && cause.errno === errno, `${cmd.kind} (${r.phase}) threw ${String(err)}, not the injected ${errno}`);
      const failed = r.writer ?? r.closing;
      switch (r.phase) {
        case 'writer':
          assert.ok(failed !== undefined);
          await r.quiesce();
          await checkPoisoned(failed, cause);
          r.writer = undefined;
          if (c.afterPoison === 'cut') cutAfterStep = true;
          else reopenAfterStep = true;
          break;
        case 'open':
          assert.equal(r.writer, undefined);
          // The lock was released: taking it here would throw LockedError otherwise.
          r.dir.lock('wal/LOCK').release();
          // Retried in process whatever failed, a failed fdatasync included: the resume rewrites
          // the tail it cannot vouch for (and redoes its cut) before it trusts it.
          break;
        case 'maintenance':
        case 'recycle':
          if (r.writer !== undefined) assert.equal(r.writer.poisoned, false, 'a maintenance failure does not poison the writer');
          break;
        case 'read':
          assert.fail(`a replay failed: ${String(err)}`);
      }
    };
    r.onFailure = handle;
    for (const cmd of c.commands) {
      await r.step(cmd);
      // A power cut after the fault fired and before anything reported it leaves nothing to report.
      if (fired && seen === undefined && r.crashes > firedInLife) seen = 'superseded by a power cut';
      if (fired && seen === undefined && absorbed) seen = 'absorbed: no room';
      if (fired && seen === undefined) {
        // Pipelined writes fail off the caller's path: after the commits ran, a call in flight
        // has reported it, or the writer is poisoned; a fault nobody noticed would be a lie.
        await r.quiesce();
        await r.takeStray(cmd);
        if (seen === undefined && absorbed) seen = 'absorbed: no room';
        if (seen === undefined && r.cutPending) {
          // An armed cut fired in the commits that ran meanwhile: it decides what the disk holds.
          await r.recoverIfCut();
          seen = 'superseded by a power cut';
        }
        if (seen === undefined) {
          const w = r.writer;
          assert.ok(w !== undefined && w.poisoned, `the fault fired during ${JSON.stringify(cmd)} but no call reported it and no writer is poisoned`);
          r.phase = 'writer';
          await handle(cmd, w.poisonCause);
        }
      }
      if (cutAfterStep) {
        cutAfterStep = false;
        await r.cutNow(c.crash);
      }
      if (reopenAfterStep) {
        reopenAfterStep = false;
        r.reopenAfterFailure();
      }
    }
    assert.ok(fired, 'the fault fired');
    await r.finish(c.final);
  }
}

