import assert from 'node:assert/strict';
import { CommitThreads, seededRandom } from './commit-thread';
import { SeededCohorts } from './seeded-cohorts';
import type { Directory, DirectoryLock } from '../../lib/directory/directory';
import type { ScheduledCrash, SimulatedOperation } from '../../lib/directory/simulated';
import { SimulatedDirectory } from '../../lib/directory/simulated';
import { raw } from '../../lib/wal/codec';
import { WalMaintenance } from '../../lib/wal/maintenance';
import type { WalWriterOptions } from '../../lib/wal/options';
import { WalReader, type WalRecord } from '../../lib/wal/reader';
import { InvalidStateError } from '../../lib/errors';
import { WalWriter } from '../../lib/wal/writer';
import { LogModel } from './log-model';
import { payloadFor, type CrashSpec, type WalCommand, type WalConfig } from './wal-commands';

export * from './wal-commands';

// Random WAL workloads on a SimulatedDirectory, run against LogModel: commands drive a writer
// and the maintenance API, power cuts land at random operation indexes (inside any call), and
// after every cut the recovered log is checked, a writer resumes it, and the workload goes on
// in the next generation.

/** Which kind of call a command was making when it failed. */
export type CallPhase = 'open' | 'writer' | 'maintenance' | 'recycle' | 'read';

export class WalRun {
  dir: SimulatedDirectory;
  writer: WalWriter<Uint8Array> | undefined;
  readonly model = new LogModel();
  /** Power cuts that happened, and what they left (for failure messages). */
  crashes = 0;
  readonly trace: string[] = [];
  /**
   * Paths of the production code this run went through that no single operation shows (the
   * coverage guard in wal-property.test.ts requires each): 'rotated while pipelined',
   * 'random crash mode', 'cut during recovery', 'zero-filled segment', 'batch held to merge'.
   */
  readonly reached = new Set<string>();
  private config: WalConfig;
  private now = 1_000_000;
  private uniq = 1;
  private scheduled: ScheduledCrash | undefined;
  /** A cut to arm on the directory the next cut leaves, before recovery (so recovery itself is cut). */
  private pendingRecoveryCut: { afterOps: number; crash: CrashSpec } | null = null;
  /** The crash mode the armed cut was asked for ('random' draws one when it fires). */
  private scheduledMode: string | undefined;
  /** The writer the last close/reopen command closed (its failure, if any, is the writer's). */
  closing: WalWriter<Uint8Array> | undefined;
  /** Calls left in flight (appendDurable, sync), settled before a cut is examined. */
  private inFlight: Promise<void>[] = [];
  /** A call in flight that failed with no cut to explain it. */
  private strayFailure: unknown = undefined;
  /** Counts writer lives; a call in flight only acknowledges entries of the life it was made in. */
  private life = 0;
  /**
   * Set (by a fault test) when a writer call failed: no acknowledgement may reach past it any
   * more, whatever resolves later. Cleared when a new writer life starts. Until the writer is
   * poisoned (settleCeiling) the commits the file ran ahead of the failed one may still report
   * (their fdatasync returned before it ran): acknowledgements then are held to the ceiling the
   * poison sets.
   */
  ackCeiling: number | undefined;
  private ceilingSettled = false;
  private ackedBeforeSettled = 0;
  /** Entries appended when the fault fired: none appended later can be in a commit ahead of it. */
  private appendedAtFault = 0;
  /** The last writer ended without close (kill, failure) and no successor has adopted the log yet. */
  private lostUnsynced = false;
  /** Calls in flight not settled yet. */
  private unsettled = 0;
  /** The call in progress (or last made) by the current command. */
  phase: CallPhase = 'writer';
  /**
   * Receives a command's failure when no power cut explains it (injected faults); returning
   * accepts it. Without a handler such a failure fails the run.
   */
  onFailure: ((cmd: WalCommand, err: unknown) => void | Promise<void>) | undefined;
  /** Called with each directory a power cut leaves, before recovery touches it. */
  onNewDirectory: ((dir: SimulatedDirectory) => void) | undefined;

  /** Sees every directory operation of the run (coverage statistics). */
  private readonly observe: (e: SimulatedOperation) => void;
  /** Batches of the writer's commit pipeline handed to the file and not complete, at the last operation. */
  private inFlightAtLastOp = 0;
  /** With config.commitThread: the commit threads of the writers' files. */
  private readonly commitThreads: CommitThreads | undefined;

  constructor(config: WalConfig, observe?: (e: SimulatedOperation) => void) {
    this.config = config;
    this.observe = (e) => {
      observe?.(e);
      this.noteInFlight();
    };
    this.dir = new SimulatedDirectory({ seed: config.seed, sectorSize: config.sectorSize, supportsAllocate: config.supportsAllocate });
    this.dir.onOperation = this.observe;
    if (config.commitThread === true) this.commitThreads = new CommitThreads(seededRandom(config.seed * 7919 + 1));
  }

  /** The directory writers open: the run's, with commit threads when the config asks for them. */
  private writerDirectory(): Directory {
    return this.commitThreads === undefined ? this.dir : this.commitThreads.wrap(this.dir);
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
      zeroFill: c.zeroFill,
      maxSegmentAgeMs: c.ageMs,
      // The 'idle' command writes the idle mark at a step of the workload, not at a wall-clock time.
      idleMarkMs: 0,
      clock: () => this.now,
      // Seeded per writer life, so a replay makes the same batches.
      groupCommit: { cohorts: new SeededCohorts(c.seed + this.life) },
      observer: {
        onRotate: () => {
          // Reached into: whether the rotation happened inside the group-commit pipeline.
          if ((this.writer as unknown as { pipelined?: boolean } | undefined)?.pipelined === true) this.reached.add('rotated while pipelined');
          if (c.zeroFill) this.reached.add('zero-filled segment');
        },
      },
    };
  }

  /** Runs one command; a power cut that fires inside it is followed by recovery. */
  async step(cmd: WalCommand): Promise<void> {
    this.trace.push(JSON.stringify(cmd));
    if (cmd.kind === 'powerCut') {
      // A cut armed earlier may have fired in work left in flight since the last step.
      if (this.cutHappened()) {
        await this.settle();
        await this.recoverFromCut();
      }
      this.scheduled = this.dir.scheduleCrash(cmd.afterOps, { mode: cmd.crash.mode, seed: cmd.crash.seed, entryKeepProbability: cmd.crash.keep });
      this.scheduledMode = cmd.crash.mode;
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
    if (this.cutHappened()) {
      await this.settle();
      await this.recoverFromCut();
    } else {
      await this.takeStray(cmd);
      this.checkWriterState();
    }
    // Group commits left running between steps count as writer calls.
    this.phase = 'writer';
  }

  /** Ends the run: one more power cut, recovery, and a final append, close and strict replay. */
  async finish(crash: CrashSpec): Promise<void> {
    this.trace.push('finish');
    await this.settle();
    if (!this.cutHappened()) await this.takeStray({ kind: 'settle' });
    await this.cutNow(crash);
    const w = this.ensureWriter();
    const p = payloadFor(this.uniq++, 10);
    assert.equal(w.append(p), this.model.nextId, 'the id after recovery');
    this.model.append(p);
    w.closeSync();
    this.model.ack(this.model.appended);
    this.writer = undefined;
    this.checkNoOpenHandles('after the final close');
    const records = this.replay('strict');
    this.model.check(records, undefined, 'strict replay after the final close');
    assert.equal(records.length === 0 ? this.model.appended : records[records.length - 1].entryId, this.model.appended);
  }

  /**
   * With no writer left (closed, or its open failed), nothing may hold a file of this directory.
   * A writer whose close is still pending elsewhere (an earlier failed close) is not waited for:
   * only a run where none is pending checks.
   */
  checkNoOpenHandles(where: string): void {
    if (this.dir.crashed) return;
    assert.deepEqual(this.dir.openHandles.paths(), [], `file handles left open ${where}`);
  }

  replay(mode: 'strict' | 'bestEffortTail'): WalRecord<Uint8Array>[] {
    return new WalReader<Uint8Array>(this.dir, { codec: raw }).replaySync({ mode });
  }

  ensureWriter(): WalWriter<Uint8Array> {
    if (this.writer !== undefined) return this.writer;
    if (this.lostUnsynced) {
      // The last writer died with entries maybe never written; its successor's open failed.
      this.life++;
      this.writer = this.resumeChecked('a retried open', false);
      this.lostUnsynced = false;
      return this.writer;
    }
    this.phase = 'open';
    let w: WalWriter<Uint8Array>;
    try {
      w = WalWriter.open(this.writerDirectory(), this.writerOptions());
    } catch (err) {
      this.checkNoOpenHandles('after a failed open');
      throw err;
    }
    this.phase = 'writer';
    this.writer = w;
    this.life++;
    this.clearCeiling();
    assert.equal(w.nextEntryId, this.model.nextId, 'a reopened writer continues after the last appended entry');
    assert.equal(w.durableEntryId, w.lastEntryId, 'a reopened writer has made the log it found durable');
    this.model.ack(w.durableEntryId);
    return w;
  }

  /** Coverage: what the commit pipeline was doing at each operation, so at the one a cut follows. */
  private noteInFlight(): void {
    // Reached into: the group-commit queue's batches handed to the file and not yet complete.
    const commits = (this.writer as unknown as { pipeline?: { commits?: { inFlight?: unknown[]; batchesHeld?: number } } } | undefined)?.pipeline?.commits;
    this.inFlightAtLastOp = commits?.inFlight?.length ?? 0;
    if ((commits?.batchesHeld ?? 0) > 0) this.reached.add('batch held to merge');
  }

  private cutHappened(): boolean {
    return this.scheduled?.directory !== undefined;
  }

  /** Crashes now (as `finish` does) and recovers; the workload can go on afterwards. */
  async cutNow(crash: CrashSpec): Promise<void> {
    this.trace.push(`cut now ${JSON.stringify(crash)}`);
    await this.settle();
    this.scheduled = { directory: this.dir.crash({ mode: crash.mode, seed: crash.seed, entryKeepProbability: crash.keep }) };
    this.scheduledMode = crash.mode;
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
          this.ack(w.durableEntryId);
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
          else await this.blocking(() => w.syncSync());
          this.ack(cover);
          assert.ok(w.durableEntryId >= cover, 'durableEntryId covers a completed sync');
        } finally {
          this.ack(w.durableEntryId);
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
        const before = m.segmentRanges();
        let removedIds: number[];
        if (cmd.recycle) {
          const paths = m.truncateToRecycle(upTo);
          removedIds = paths.map((p) => Number(/recycle-(\d+)$/.exec(p)?.[1]));
          this.phase = 'recycle';
          if (this.writer !== undefined) this.writer.recycle(paths);
          this.phase = 'maintenance';
        } else {
          const result = m.truncatePrefix(upTo);
          assert.equal(result.vetoed, undefined);
          removedIds = result.removed.map((r) => r.segmentId);
        }
        const ranges = m.segmentRanges();
        if (ranges.length === 0) {
          assert.deepEqual(before, [], 'truncation keeps the final segment');
          assert.equal(model.appended, 0, 'a log with no segment holds no entry');
          return;
        }
        // A final segment with no entry yet may be being created (its header not on disk yet): the
        // segment before it carries the ids until then, and stays (WalMaintenance.removeCovered).
        const final = ranges[ranges.length - 1];
        const closed = ranges.slice(0, final.lastEntryId < final.firstEntryId ? -2 : -1);
        for (const r of closed) assert.ok(r.lastEntryId > upTo, `segment ${r.segmentId} (up to ${r.lastEntryId}) survived truncation to ${upTo}`);
        // What this call removed is durably gone; what an earlier failed call removed may come back.
        const last = before.filter((r) => removedIds.includes(r.segmentId)).pop();
        assert.equal(removedIds.length, before.filter((r) => removedIds.includes(r.segmentId)).length, 'removed segments were in the log');
        if (last !== undefined && last.lastEntryId + 1 > model.firstRetained) model.firstRetained = last.lastEntryId + 1;
        return;
      }
      case 'close': {
        const w = this.writer;
        if (w === undefined) return;
        // A close that fails still releases the writer: the next command opens a new one.
        this.writer = undefined;
        this.closing = w;
        if (cmd.async) await w.close();
        else await this.blocking(() => w.closeSync());
        this.ack(model.appended);
        this.checkNoOpenHandles('after a close');
        return;
      }
      case 'reopen': {
        const w = this.writer;
        if (w !== undefined) {
          this.writer = undefined;
          this.closing = w;
          await w.close();
          this.ack(model.appended);
        }
        this.config = { ...this.config, ...cmd.change };
        this.ensureWriter();
        return;
      }
      case 'appendDurable': {
        const w = this.ensureWriter();
        const payloads = cmd.sizes.map((s) => payloadFor(this.uniq++, s));
        const before = w.lastEntryId;
        let call: Promise<number[]>;
        try {
          call = cmd.batch ? w.appendBatchDurable(payloads) : w.appendDurable(payloads[0]).then((id) => [id]);
        } finally {
          for (let i = 0; i < w.lastEntryId - before; i++) model.append(payloads[i]);
        }
        const expected = payloads.map((_, i) => before + 1 + i);
        const done = this.track(call.then((ids) => {
          assert.deepEqual(ids, expected, 'appendDurable resolves with the ids it assigned');
          return expected[expected.length - 1] ?? before;
        }), cmd.wait);
        if (cmd.wait) await done;
        return;
      }
      case 'syncInFlight': {
        const w = this.ensureWriter();
        const cover = model.appended;
        this.track(w.sync().then(() => cover));
        return;
      }
      case 'settle':
        await this.settle();
        return;
      case 'idle': {
        // What the idle timer does (WalWriterOptions.idleMarkMs), at this step.
        const w = this.writer;
        if (w !== undefined) (w as unknown as { markWhileIdle(): void }).markWhileIdle();
        return;
      }
      case 'kill': {
        const w = this.writer;
        if (w === undefined) return;
        // A dead process does no more I/O: let what it had in flight (group commits the flush
        // policy started included) finish first; on a simulated directory that takes a turn, on
        // a commit thread as many as its queue needs (a commit whose failure never reached the
        // writer would be a fault nobody could report).
        await this.quiesce();
        for (let turn = 0; this.commitThreads?.busy === true; turn++) {
          assert.ok(turn < 1000, 'the commit threads never drained');
          await this.quiesce();
        }
        await this.takeStray(cmd);
        if (this.writer !== w || this.cutHappened()) return;
        if (w.poisoned && this.onFailure !== undefined) {
          // A group commit failed with no call to report it: the failure handler sees it first.
          this.phase = 'writer';
          await this.onFailure(cmd, w.poisonCause);
          return;
        }
        this.writer = undefined;
        // The OS drops a dead process's lock and its timers; a writer has no API for dying, so reach in.
        (w as unknown as { state: { lock: DirectoryLock } }).state.lock.release();
        (w as unknown as { timers: { stop(): void } }).timers.stop();
        // ... and closes its descriptors; its commit threads die with it.
        this.commitThreads?.halt();
        this.dir.openHandles.closeAllOnExit();
        this.life++;
        this.clearCeiling();
        this.trace.push('-- process killed');
        // A kill keeps the page cache: a healthy writer's log (a recycled final segment
        // included) reads strictly to its end before anyone resumes it.
        if (!w.poisoned) this.replay('strict');
        this.lostUnsynced = true;
        this.writer = this.resumeChecked('a process kill', false);
        this.lostUnsynced = false;
        return;
      }
      case 'check': {
        this.phase = 'read';
        const records = this.replay('bestEffortTail');
        const { first, last } = model.check(records, undefined, 'best-effort replay of the live log');
        // A live, healthy writer's log (a recycled final segment included) reads strictly to its
        // end between commits (a commit in flight may be creating a segment's header).
        this.noteInFlight();
        if (this.writer !== undefined && !this.writer.poisoned && !this.lostUnsynced && this.onFailure === undefined && this.inFlightAtLastOp === 0) {
          assert.deepEqual(this.replay('strict').map((r) => r.entryId), records.map((r) => r.entryId), 'strict replay of the live log');
        }
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

  /**
   * Follows a call left in flight: when it resolves with the id it covered, those entries are
   * acknowledged (if the writer it was made on is still the current life). A rejection is a
   * failure unless a cut explains it. The returned promise settles like the call.
   */
  private track(call: Promise<number>, awaited = false): Promise<void> {
    const life = this.life;
    const followed = call.then(
      (cover) => {
        if (life === this.life) this.ack(cover);
      },
      (err: unknown) => {
        if (err instanceof assert.AssertionError) this.strayFailure ??= err;
        // An awaited call's failure reaches the step that awaits it.
        else if (!awaited && life === this.life && !this.cutHappened()) this.strayFailure ??= err;
        throw err;
      },
    );
    this.unsettled++;
    const quiet = followed.catch(() => {}).finally(() => {
      this.unsettled--;
    });
    this.inFlight.push(quiet);
    return followed;
  }

  /** Waits until every call in flight has settled (a simulated directory never blocks). */
  private async settle(): Promise<void> {
    while (this.inFlight.length > 0) {
      const pending = this.inFlight;
      this.inFlight = [];
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hang'>((resolve) => {
        timer = setTimeout(() => resolve('hang'), 2000);
      });
      const outcome = await Promise.race([Promise.all(pending).then(() => 'ok' as const), hang]);
      clearTimeout(timer);
      if (outcome === 'hang') assert.fail(`${pending.length} call(s) in flight never settled`);
    }
  }

  /**
   * Opens a new writer in this process after the last one failed (no power cut): the log it
   * finds is checked like one found after a cut, and the model adopts it once the writer made it durable.
   */
  reopenAfterFailure(): void {
    this.writer = undefined;
    this.life++;
    this.clearCeiling();
    this.trace.push('-- reopened after a failure');
    this.lostUnsynced = true;
    this.writer = this.resumeChecked('reopening after a failure', false);
    this.lostUnsynced = false;
  }

  /** Whether a power cut armed by the workload has fired and awaits recovery. */
  get cutPending(): boolean {
    return this.cutHappened();
  }

  /** Recovers from a power cut that fired in work left in flight after the last step. */
  async recoverIfCut(): Promise<void> {
    if (!this.cutHappened()) return;
    await this.settle();
    await this.recoverFromCut();
  }

  /** Cancels a power cut armed but not fired (a fault test handling a failure wants no cut in the middle). */
  disarmCut(): void {
    if (this.scheduled === undefined || this.cutHappened()) return;
    this.scheduled = this.dir.scheduleCrash(Number.MAX_SAFE_INTEGER - this.dir.operations);
    this.pendingRecoveryCut = null;
  }

  /** Settles the calls in flight and lets group commits started by the flush policy finish (a turn of the event loop). */
  async quiesce(): Promise<void> {
    await this.settle();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Reports a call in flight that failed with no cut to explain it: to onFailure, or as the run's failure. */
  async takeStray(cmd: WalCommand): Promise<void> {
    const err = this.strayFailure;
    if (err === undefined || this.cutHappened()) return;
    this.strayFailure = undefined;
    if (err instanceof assert.AssertionError) throw err;
    if (this.onFailure === undefined) throw new Error(`a call in flight failed: ${String(err)}`, { cause: err });
    this.phase = 'writer';
    await this.onFailure(cmd, err);
  }

  /**
   * Runs syncSync or closeSync. They refuse (InvalidStateError) while group commits are in
   * flight. On a simulated directory commits complete within microtasks, and a batch held to
   * merge with the next run (cohort-merge.ts) is cut a turn after the commit ahead of it, so within
   * a few turns the call must go through (bounded: a pipeline that never drains fails the run). On
   * a commit thread (config.commitThread) a commit runs on about every other turn, so the bound is
   * that many turns for each of a few dozen commits.
   */
  private async blocking(call: () => void): Promise<void> {
    const turns = this.commitThreads === undefined ? 4 : 200;
    for (let turn = 0; ; turn++) {
      try {
        call();
        return;
      } catch (err) {
        if (!(err instanceof InvalidStateError) || turn === turns) throw err;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** A fault fired in the writer's I/O with `durable` of `appended` entries durable (see ackCeiling); the first one counts. */
  setCeiling(durable: number, appended: number): void {
    if (this.ackCeiling !== undefined) return;
    this.ackCeiling = durable;
    this.appendedAtFault = appended;
    this.ceilingSettled = false;
    this.ackedBeforeSettled = 0;
  }

  /**
   * The writer was poisoned with `durable` entries durable: what it reported since the fault, and
   * reports from now on, stay within that and within what was appended when the fault fired.
   */
  settleCeiling(durable: number): void {
    if (this.ackCeiling === undefined || this.ceilingSettled) return;
    this.ackCeiling = Math.max(this.ackCeiling, Math.min(durable, this.appendedAtFault));
    this.ceilingSettled = true;
    this.checkAck(this.ackedBeforeSettled);
  }

  /**
   * The fault hit an operation the writer could do without: a preallocation, or the reservation or
   * write of zeros ahead of the log (the commit left them out), with no room for it.
   * What the writer reports from then on is durable: no ceiling (recovery still checks every report).
   */
  faultAbsorbed(): void {
    this.ackCeiling = undefined;
  }

  /** A new writer life: what the last one acknowledged after its fault must be within its ceiling. */
  private clearCeiling(): void {
    if (this.ackCeiling !== undefined && !this.ceilingSettled) this.checkAck(this.ackedBeforeSettled);
    this.ackCeiling = undefined;
  }

  private checkAck(upTo: number): void {
    assert.ok(this.ackCeiling === undefined || upTo <= this.ackCeiling, `entries up to ${upTo} reported durable after the writer failed with ${this.ackCeiling} durable`);
  }

  private ack(upTo: number): void {
    if (this.ackCeiling !== undefined && !this.ceilingSettled) this.ackedBeforeSettled = Math.max(this.ackedBeforeSettled, upTo);
    else this.checkAck(upTo);
    this.model.ack(upTo);
  }

  private checkWriterState(): void {
    const w = this.writer;
    if (w === undefined) return;
    // With faults injected, a group commit may poison the writer between calls; the fault test checks that.
    if (this.onFailure === undefined) assert.equal(w.poisoned, false, `the writer is poisoned without a fault: ${String(w.poisonCause)}`);
    assert.equal(w.lastEntryId, this.model.appended);
  }

  /** The cut fired: check what the disk holds, resume a writer on it (maybe cut again), and go on. */
  private async recoverFromCut(): Promise<void> {
    for (;;) {
      const crashed = this.scheduled?.directory;
      assert.ok(crashed !== undefined);
      this.crashes++;
      this.life++;
      this.clearCeiling();
      this.scheduled = undefined;
      this.writer = undefined;
      this.dir = crashed;
      this.dir.onOperation = this.observe;
      this.onNewDirectory?.(crashed);
      this.trace.push(`-- power cut (${crashed.crashMode})`);
      if (this.scheduledMode === 'random') this.reached.add('random crash mode');
      if (this.inFlightAtLastOp >= 2) this.reached.add('cut with two commits in flight');
      const cut = this.pendingRecoveryCut;
      this.pendingRecoveryCut = null;
      this.scheduledMode = cut?.crash.mode;
      try {
        // Everything on the disk after a cut is durable, so what the replay finds must survive whatever comes next.
        this.writer = this.resumeChecked(`power cut ${this.crashes} (${crashed.crashMode})`, true, cut);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        if (this.cutHappened()) {
          if (cut !== null) this.reached.add('cut during recovery');
          continue;
        }
        if (this.onFailure === undefined) throw err;
        // An injected fault failed the recovery: the next open tries again.
        this.lostUnsynced = true;
        await this.onFailure({ kind: 'settle' }, err);
        return;
      }
      // A cut after the resume's last operation leaves the writer fine but its disk gone.
      if (this.cutHappened()) {
        if (cut !== null) this.reached.add('cut during recovery');
        continue;
      }
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
    // resume needs a log; a cut before the first segment's entry was durable leaves none.
    const hasLog = this.dir.list('wal').some((n) => n.endsWith('.wal'));
    // With no segment at all the log stands at its very start (whatever opens it begins at id 1):
    // the model forgets the entries it held (none may have been acknowledged) even if that open fails.
    const { first, last } = this.model.check(records, hasLog ? undefined : 1, `best-effort replay after ${what}`);
    if ((durable && records.length > 0) || !hasLog) this.model.recovered(first, last);
    if (cut !== null) this.scheduled = this.dir.scheduleCrash(cut.afterOps, { mode: cut.crash.mode, seed: cut.crash.seed, entryKeepProbability: cut.crash.keep });
    this.phase = 'open';
    const w = hasLog ? WalWriter.resume(this.writerDirectory(), this.writerOptions()) : WalWriter.open(this.writerDirectory(), this.writerOptions());
    this.phase = 'writer';
    if (this.cutHappened()) {
      // The model must still stand where this writer continues (the calls after it run on it until
      // the cut is recovered): after a kill whose reopen failed, it held the dead process's
      // unsynced entries, which this open did not find (wal-faults, seed 2053181505).
      this.model.continuesAfter(w.nextEntryId - 1);
      return w;
    }
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
