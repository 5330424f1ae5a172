import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DirectoryLock } from '../../lib/directory/directory';
import type { CrashMode, ScheduledCrash, SimulatedOperation } from '../../lib/directory/simulated';
import { SimulatedDirectory } from '../../lib/directory/simulated';
import { raw } from '../../lib/wal/codec';
import type { FlushPolicy } from '../../lib/wal/flush-policy';
import { WalMaintenance } from '../../lib/wal/maintenance';
import type { WalWriterOptions } from '../../lib/wal/options';
import { WalReader, type WalRecord } from '../../lib/wal/reader';
import { WalWriter } from '../../lib/wal/writer';
import { LogModel } from './log-model';

// Random WAL workloads on a SimulatedDirectory, run against LogModel: commands drive a writer
// and the maintenance API, power cuts land at random operation indexes (inside any call), and
// after every cut the recovered log is checked, a writer resumes it, and the workload goes on
// in the next generation.

export interface WalConfig {
  seed: number;
  sectorSize: number;
  supportsAllocate: boolean;
  maxSegmentSize: number;
  syncWindow: number | undefined;
  bufferSize: number | undefined;
  flushPolicy: FlushPolicy;
  preallocate: boolean | number;
  recycleCapacity: number;
  /** Segment age limit; the 'rotate' command moves the clock past it. undefined: no age limit. */
  ageMs: number | undefined;
}

export interface CrashSpec {
  mode: CrashMode;
  seed: number;
  /** Chance each unsynced directory operation survives. */
  keep: number;
}

export type WalCommand =
  | { kind: 'append'; size: number }
  | { kind: 'batch'; sizes: number[] }
  | { kind: 'flush'; async: boolean }
  | { kind: 'sync'; async: boolean }
  | { kind: 'rotate' }
  | { kind: 'truncate'; fraction: number; recycle: boolean }
  | { kind: 'close'; async: boolean }
  /** Closes and reopens, maybe with other options (later opens keep them). */
  | { kind: 'reopen'; change: Partial<Pick<WalConfig, 'syncWindow' | 'maxSegmentSize' | 'preallocate'>> }
  /** Replays the live log (also from an id, and by segment ranges) and checks it. */
  | { kind: 'check'; from: number }
  /** The process dies between calls: no power loss, the page cache keeps what was written; a writer resumes in a new process. */
  | { kind: 'kill' }
  /** Arms a power cut after `afterOps` more directory operations; `recoveryCut` also cuts the recovery after it. */
  | { kind: 'powerCut'; afterOps: number; crash: CrashSpec; recoveryCut: { afterOps: number; crash: CrashSpec } | null };

// ---- arbitraries ----------------------------------------------------------------------------

const crashModes: CrashMode[] = ['dropAll', 'keepPrefix', 'tear', 'reorder', 'random'];

export const crashSpecArb: fc.Arbitrary<CrashSpec> = fc.record({
  mode: fc.constantFrom(...crashModes),
  seed: fc.nat(),
  keep: fc.constantFrom(0.5, 0, 1),
});

/** Mostly small frames, sometimes ones larger than the buffer, the sync window or a segment. */
export const payloadSizeArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 120 }) },
  { weight: 1, arbitrary: fc.integer({ min: 121, max: 2500 }) },
);

export const configArb: fc.Arbitrary<WalConfig> = fc.record({
  seed: fc.nat(),
  sectorSize: fc.constantFrom(16, 64, 512),
  supportsAllocate: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  maxSegmentSize: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 200, max: 2000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 48, max: 199 }) },
    { weight: 1, arbitrary: fc.constant(64 * 1024 * 1024) },
  ),
  syncWindow: fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 16, max: 700 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  bufferSize: fc.constantFrom(undefined, 0, 40, 256, 4096),
  flushPolicy: fc.oneof(
    fc.constant<FlushPolicy>('perAppend'),
    fc.constant<FlushPolicy>('manual'),
    fc.integer({ min: 1, max: 6 }).map((everyN): FlushPolicy => ({ everyN })),
  ),
  preallocate: fc.oneof(
    { weight: 3, arbitrary: fc.constant<boolean | number>(false) },
    { weight: 1, arbitrary: fc.constant<boolean | number>(true) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 3000 }) },
  ),
  recycleCapacity: fc.integer({ min: 0, max: 3 }),
  ageMs: fc.constantFrom(undefined, 1000),
}).map((c) =>
  // Every replay reads a preallocated tail to its end: 64 MiB of zeros per replay is slow and
  // proves nothing a small preallocation does not.
  c.maxSegmentSize > 1 << 20 && c.preallocate === true ? { ...c, preallocate: 8192 } : c,
);

export function commandArb(options: { powerCuts: boolean }): fc.Arbitrary<WalCommand> {
  const arbs: fc.WeightedArbitrary<WalCommand>[] = [
    { weight: 20, arbitrary: payloadSizeArb.map((size): WalCommand => ({ kind: 'append', size })) },
    { weight: 5, arbitrary: fc.array(payloadSizeArb, { maxLength: 6 }).map((sizes): WalCommand => ({ kind: 'batch', sizes })) },
    { weight: 4, arbitrary: fc.boolean().map((async): WalCommand => ({ kind: 'flush', async })) },
    { weight: 6, arbitrary: fc.boolean().map((async): WalCommand => ({ kind: 'sync', async })) },
    { weight: 2, arbitrary: fc.constant<WalCommand>({ kind: 'rotate' }) },
    {
      weight: 4,
      arbitrary: fc.record({ fraction: fc.integer({ min: 0, max: 100 }).map((p) => p / 100), recycle: fc.boolean() })
        .map(({ fraction, recycle }): WalCommand => ({ kind: 'truncate', fraction, recycle })),
    },
    { weight: 1, arbitrary: fc.boolean().map((async): WalCommand => ({ kind: 'close', async })) },
    {
      weight: 1,
      arbitrary: fc.record(
        { syncWindow: fc.integer({ min: 16, max: 700 }), maxSegmentSize: fc.integer({ min: 200, max: 2000 }), preallocate: fc.constantFrom<boolean | number>(false, true, 700) },
        { requiredKeys: [] },
      ).map((change): WalCommand => ({ kind: 'reopen', change })),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 100 }).map((p): WalCommand => ({ kind: 'check', from: p / 100 })) },
    { weight: 1, arbitrary: fc.constant<WalCommand>({ kind: 'kill' }) },
  ];
  if (options.powerCuts) {
    arbs.push({
      weight: 2,
      arbitrary: fc.record({
        afterOps: fc.integer({ min: 0, max: 40 }),
        crash: crashSpecArb,
        recoveryCut: fc.option(fc.record({ afterOps: fc.integer({ min: 0, max: 8 }), crash: crashSpecArb }), { freq: 4 }),
      }).map((c): WalCommand => ({ kind: 'powerCut', ...c })),
    });
  }
  return fc.oneof(...arbs);
}

// ---- the run --------------------------------------------------------------------------------

/** Payloads unique per append (a counter in the first bytes), so a resurrected stale entry is told apart. */
export function payloadFor(uniq: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (uniq * 131 + i * 7 + (i >> 8)) & 0xff;
  for (let i = 0; i < Math.min(6, size); i++) p[i] = Math.floor(uniq / 256 ** i) & 0xff;
  return p;
}

/** Which kind of call a command was making when it failed. */
export type CallPhase = 'open' | 'writer' | 'maintenance' | 'recycle' | 'read';

export class WalRun {
  dir: SimulatedDirectory;
  writer: WalWriter<Uint8Array> | undefined;
  readonly model = new LogModel();
  /** Power cuts that happened, and what they left (for failure messages). */
  crashes = 0;
  readonly trace: string[] = [];
  private config: WalConfig;
  private now = 1_000_000;
  private uniq = 1;
  private scheduled: ScheduledCrash | undefined;
  /** The call in progress (or last made) by the current command. */
  phase: CallPhase = 'writer';
  /**
   * Receives a command's failure when no power cut explains it (injected faults); returning
   * accepts it. Without a handler such a failure fails the run.
   */
  onFailure: ((cmd: WalCommand, err: unknown) => void | Promise<void>) | undefined;

  /** Sees every directory operation of the run (coverage statistics). */
  private readonly observe: ((e: SimulatedOperation) => void) | undefined;

  constructor(config: WalConfig, observe?: (e: SimulatedOperation) => void) {
    this.config = config;
    this.observe = observe;
    this.dir = new SimulatedDirectory({ seed: config.seed, sectorSize: config.sectorSize, supportsAllocate: config.supportsAllocate });
    this.dir.onOperation = observe;
  }

  writerOptions(): WalWriterOptions<Uint8Array> {
    const c = this.config;
    return {
      codec: raw,
      maxSegmentSize: c.maxSegmentSize,
      syncWindow: c.syncWindow,
      bufferSize: c.bufferSize,
      flushPolicy: c.flushPolicy,
      preallocate: c.preallocate,
      recycleCapacity: c.recycleCapacity,
      maxSegmentAgeMs: c.ageMs,
      clock: () => this.now,
    };
  }

  /** Runs one command; a power cut that fires inside it is followed by recovery. */
  async step(cmd: WalCommand): Promise<void> {
    this.trace.push(JSON.stringify(cmd));
    if (cmd.kind === 'powerCut') {
      this.scheduled = this.dir.scheduleCrash(cmd.afterOps, { mode: cmd.crash.mode, seed: cmd.crash.seed, entryKeepProbability: cmd.crash.keep });
      this.pendingRecoveryCut = cmd.recoveryCut;
      if (this.scheduled.directory !== undefined) await this.recoverFromCut();
      return;
    }
    try {
      await this.exec(cmd);
    } catch (err) {
      // After a cut every call may fail (EIO, then PoisonedError); a broken promise never may.
      if (err instanceof assert.AssertionError) throw err;
      if (!this.cutHappened()) {
        if (this.onFailure === undefined) throw err;
        await this.onFailure(cmd, err);
      }
    }
    if (this.cutHappened()) await this.recoverFromCut();
    else this.checkWriterState();
  }

  /** Ends the run: one more power cut, recovery, and a final append, close and strict replay. */
  async finish(crash: CrashSpec): Promise<void> {
    this.trace.push('finish');
    await this.cutNow(crash);
    const w = this.ensureWriter();
    const p = payloadFor(this.uniq++, 10);
    assert.equal(w.append(p), this.model.nextId, 'the id after recovery');
    this.model.append(p);
    w.closeSync();
    this.model.ack(this.model.appended);
    this.writer = undefined;
    const records = this.replay('strict');
    this.model.check(records, undefined, 'strict replay after the final close');
    assert.equal(records.length === 0 ? this.model.appended : records[records.length - 1].entryId, this.model.appended);
  }

  replay(mode: 'strict' | 'bestEffortTail'): WalRecord<Uint8Array>[] {
    return new WalReader<Uint8Array>(this.dir, { codec: raw }).replaySync({ mode });
  }

  ensureWriter(): WalWriter<Uint8Array> {
    if (this.writer !== undefined) return this.writer;
    this.phase = 'open';
    const w = WalWriter.open(this.dir, this.writerOptions());
    this.phase = 'writer';
    this.writer = w;
    assert.equal(w.nextEntryId, this.model.nextId, 'a reopened writer continues after the last appended entry');
    assert.equal(w.durableEntryId, w.lastEntryId, 'a reopened writer has made the log it found durable');
    this.model.ack(w.durableEntryId);
    return w;
  }

  /** The writer the last close/reopen command closed (its failure, if any, is the writer's). */
  closing: WalWriter<Uint8Array> | undefined;
  private pendingRecoveryCut: { afterOps: number; crash: CrashSpec } | null = null;

  private cutHappened(): boolean {
    return this.scheduled?.directory !== undefined;
  }

  /** Crashes now (as `finish` does) and recovers; the workload can go on afterwards. */
  async cutNow(crash: CrashSpec): Promise<void> {
    this.trace.push(`cut now ${JSON.stringify(crash)}`);
    this.scheduled = { directory: this.dir.crash({ mode: crash.mode, seed: crash.seed, entryKeepProbability: crash.keep }) };
    this.pendingRecoveryCut = null;
    await this.recoverFromCut();
  }

  private async exec(cmd: Exclude<WalCommand, { kind: 'powerCut' }>): Promise<void> {
    const model = this.model;
    this.phase = 'writer';
    switch (cmd.kind) {
      case 'append':
      case 'batch': {
        const w = this.ensureWriter();
        const sizes = cmd.kind === 'append' ? [cmd.size] : cmd.sizes;
        const payloads = sizes.map((s) => payloadFor(this.uniq++, s));
        const before = w.lastEntryId;
        try {
          const ids = cmd.kind === 'append' ? [w.append(payloads[0])] : w.appendBatch(payloads);
          assert.deepEqual(ids, payloads.map((_, i) => before + 1 + i), 'append returns consecutive ids');
        } finally {
          // An append that failed after framing (its flush hit the cut) still handed out ids.
          for (let i = 0; i < w.lastEntryId - before; i++) model.append(payloads[i]);
          model.ack(w.durableEntryId);
        }
        return;
      }
      case 'flush': {
        const w = this.ensureWriter();
        if (cmd.async) await w.flush();
        else w.flushSync();
        return;
      }
      case 'sync': {
        const w = this.ensureWriter();
        const cover = model.appended;
        try {
          if (cmd.async) await w.sync();
          else w.syncSync();
          model.ack(cover);
          assert.ok(w.durableEntryId >= cover, 'durableEntryId covers a completed sync');
        } finally {
          model.ack(w.durableEntryId);
        }
        return;
      }
      case 'rotate':
        if (this.config.ageMs !== undefined) this.now += this.config.ageMs;
        return;
      case 'truncate': {
        const upTo = Math.floor(cmd.fraction * model.appended);
        if (upTo > model.truncatedUpTo) model.truncatedUpTo = upTo;
        const m = new WalMaintenance(this.dir);
        this.phase = 'maintenance';
        if (cmd.recycle) {
          const paths = m.truncateToRecycle(upTo);
          this.phase = 'recycle';
          if (this.writer !== undefined) this.writer.recycle(paths);
          this.phase = 'maintenance';
        } else {
          const result = m.truncatePrefix(upTo);
          assert.equal(result.vetoed, undefined);
        }
        const ranges = m.segmentRanges();
        if (ranges.length === 0) {
          assert.equal(model.appended, 0, 'truncation keeps the final segment');
          return;
        }
        for (const r of ranges.slice(0, -1)) assert.ok(r.lastEntryId > upTo, `segment ${r.segmentId} (up to ${r.lastEntryId}) survived truncation to ${upTo}`);
        if (ranges[0].firstEntryId > model.firstRetained) model.firstRetained = ranges[0].firstEntryId;
        return;
      }
      case 'close': {
        const w = this.writer;
        if (w === undefined) return;
        // A close that fails still releases the writer: the next command opens a new one.
        this.writer = undefined;
        this.closing = w;
        if (cmd.async) await w.close();
        else w.closeSync();
        model.ack(model.appended);
        return;
      }
      case 'reopen': {
        const w = this.writer;
        if (w !== undefined) {
          this.writer = undefined;
          this.closing = w;
          w.closeSync();
          model.ack(model.appended);
        }
        this.config = { ...this.config, ...cmd.change };
        this.ensureWriter();
        return;
      }
      case 'kill': {
        const w = this.writer;
        if (w === undefined) return;
        this.writer = undefined;
        // The OS drops a dead process's lock; a writer has no API for dying, so reach in.
        (w as unknown as { lock: DirectoryLock }).lock.release();
        this.trace.push('-- process killed');
        this.writer = this.resumeChecked('a process kill', false);
        return;
      }
      case 'check': {
        this.phase = 'read';
        const records = this.replay('bestEffortTail');
        const { first, last } = model.check(records, undefined, 'best-effort replay of the live log');
        if (records.length === 0) return;
        const reader = new WalReader<Uint8Array>(this.dir, { codec: raw });
        const from = first + Math.floor(cmd.from * (last - first + 1));
        const tail = reader.replaySync({ mode: 'bestEffortTail', fromEntryId: from });
        assert.deepEqual(tail.map((r) => r.entryId), records.filter((r) => r.entryId >= from).map((r) => r.entryId), `replay from ${from}`);
        const ranges = new WalMaintenance(this.dir).segmentRanges();
        assert.equal(ranges[0].firstEntryId, first, 'the first segment range starts where replay does');
        assert.equal(ranges[ranges.length - 1].lastEntryId, last, 'the last segment range ends where replay does');
        for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i].firstEntryId, ranges[i - 1].lastEntryId + 1, 'segment ranges are contiguous');
        return;
      }
    }
  }

  private checkWriterState(): void {
    const w = this.writer;
    if (w === undefined) return;
    assert.equal(w.poisoned, false, `the writer is poisoned without a fault: ${String(w.poisonCause)}`);
    assert.equal(w.lastEntryId, this.model.appended);
  }

  /** The cut fired: check what the disk holds, resume a writer on it (maybe cut again), and go on. */
  private async recoverFromCut(): Promise<void> {
    for (;;) {
      const crashed = this.scheduled?.directory;
      assert.ok(crashed !== undefined);
      this.crashes++;
      this.scheduled = undefined;
      this.writer = undefined;
      this.dir = crashed;
      this.dir.onOperation = this.observe;
      this.trace.push(`-- power cut (${crashed.crashMode})`);
      const cut = this.pendingRecoveryCut;
      this.pendingRecoveryCut = null;
      try {
        // Everything on the disk after a cut is durable, so what the replay finds must survive whatever comes next.
        this.writer = this.resumeChecked(`power cut ${this.crashes} (${crashed.crashMode})`, true, cut);
      } catch (err) {
        if (this.cutHappened() && !(err instanceof assert.AssertionError)) continue;
        throw err;
      }
      // A cut after the resume's last operation leaves the writer fine but its disk gone.
      if (this.cutHappened()) continue;
      // A recovery cut that has not fired yet stays armed: it lands in the next generation's work.
      return;
    }
  }

  /**
   * Checks the log on the disk with best-effort replay, resumes a writer on it, and checks that
   * strict replay then reads the same. `durable`: the disk holds only durable state (after a
   * cut), so the replayed entries count as acknowledged before the resume runs.
   */
  private resumeChecked(what: string, durable: boolean, cut: { afterOps: number; crash: CrashSpec } | null = null): WalWriter<Uint8Array> {
    const records = this.replay('bestEffortTail');
    const { first, last } = this.model.check(records, undefined, `best-effort replay after ${what}`);
    if (durable && records.length > 0) this.model.recovered(first, last);
    if (cut !== null) this.scheduled = this.dir.scheduleCrash(cut.afterOps, { mode: cut.crash.mode, seed: cut.crash.seed, entryKeepProbability: cut.crash.keep });
    this.phase = 'open';
    // resume needs a log; a cut before the first segment's entry was durable leaves none.
    const hasLog = this.dir.list('wal').some((n) => n.endsWith('.wal'));
    const w = hasLog ? WalWriter.resume(this.dir, this.writerOptions()) : WalWriter.open(this.dir, this.writerOptions());
    this.phase = 'writer';
    if (this.cutHappened()) return w;
    const after = this.model.check(records, w.nextEntryId, `resume after ${what}`);
    this.model.recovered(after.first, after.last);
    assert.equal(w.durableEntryId, after.last, 'a resumed writer reports what it found as durable');
    const strict = this.replay('strict');
    assert.deepEqual(strict.map((r) => r.entryId), records.map((r) => r.entryId), 'strict replay after resume sees what best-effort replay saw');
    this.model.check(strict, w.nextEntryId, 'strict replay after resume');
    return w;
  }

}

/** Runs a whole generated workload. */
export async function runWorkload(config: WalConfig, commands: readonly WalCommand[], final: CrashSpec): Promise<WalRun> {
  const run = new WalRun(config);
  for (const cmd of commands) await run.step(cmd);
  await run.finish(final);
  return run;
}
