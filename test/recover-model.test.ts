import assert from 'node:assert/strict';
import fc from 'fast-check';
import { listCheckpoints } from '../lib/checkpoint/store';
import { SimulatedDirectory, type CrashMode, type ScheduledCrash } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { recover, type RecoveredLog } from '../lib/recover';
import type { FlushPolicy } from '../lib/wal/flush-policy';
import { WalMaintenance } from '../lib/wal/maintenance';
import { applyOp, checkpointEntry, kvCodec, kvStateCodec, stateOf, applyKv, type KvOp, type KvState } from './fixtures/kv';

// Model-based test of the whole stack on the simulated page cache: random puts, deletes, syncs,
// checkpoints, truncations and power cuts (between commands or after any filesystem operation
// inside one). After every recovery the state must be the model's state after some prefix of
// the appended entries that includes every acknowledged (synced) one, the writer must continue
// right after that prefix, and recovery must never fail.

type Cmd =
  | { t: 'put'; key: number; value: number }
  | { t: 'del'; key: number }
  | { t: 'flush' }
  | { t: 'sync' }
  | { t: 'checkpoint' }
  | { t: 'truncate' }
  | { t: 'crash'; after: number; mode: CrashMode; seed: number; keep: number };

interface Config {
  maxSegmentSize: number;
  syncWindow: number;
  flushPolicy: FlushPolicy;
  bufferSize: number;
  retain: number;
  withEntry: boolean;
}

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('put' as const), key: fc.nat(5), value: fc.nat(999) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), key: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'flush' as const }) },
  { weight: 3, arbitrary: fc.constant({ t: 'sync' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'truncate' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('crash' as const),
      after: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 25 })),
      mode: fc.constantFrom<CrashMode>('dropAll', 'keepPrefix', 'tear', 'reorder'),
      seed: fc.nat(),
      keep: fc.constantFrom(0, 0.5, 1),
    }),
  },
);

const configArb: fc.Arbitrary<Config> = fc.record({
  maxSegmentSize: fc.integer({ min: 64, max: 400 }),
  syncWindow: fc.constantFrom(32, 100, 1 << 20),
  flushPolicy: fc.constantFrom<FlushPolicy>('perAppend', 'manual', { everyN: 3 }),
  bufferSize: fc.constantFrom(0, 64, 4096),
  retain: fc.integer({ min: 1, max: 3 }),
  withEntry: fc.boolean(),
});

class Run {
  dir: SimulatedDirectory;
  h!: RecoveredLog<KvState, KvOp>;
  /** Entries by id - 1, as the model appended them (checkpoint entries included). */
  entries: KvOp[] = [];
  /** Highest id whose durability a completed sync or checkpoint acknowledged. */
  acked = 0;
  scheduled: ScheduledCrash | undefined;
  recoveries = 0;
  readonly seen: Coverage;

  constructor(readonly cfg: Config, seed: number, seen: Coverage) {
    this.dir = new SimulatedDirectory({ seed });
    this.seen = seen;
  }

  async open(): Promise<void> {
    const c = this.cfg;
    this.h = await recover({
      dir: this.dir, codec: kvCodec, stateCodec: kvStateCodec, initial: {}, apply: applyKv,
      writer: { maxSegmentSize: c.maxSegmentSize, syncWindow: c.syncWindow, flushPolicy: c.flushPolicy, bufferSize: c.bufferSize },
      retain: c.retain, checkpointEntry: c.withEntry ? checkpointEntry : undefined,
    });
    const p = this.h.lastEntryId;
    const where = `recovery ${this.recoveries}: last entry ${p}, acknowledged ${this.acked}, appended ${this.entries.length}`;
    assert.ok(p >= this.acked && p <= this.entries.length, where);
    assert.deepEqual(this.h.state, stateOf(this.entries.slice(0, p)), where);
    assert.equal(this.h.writer.nextEntryId, p + 1, where);
    if (p < this.entries.length) this.seen.lostUnacknowledged++;
    if (p > this.acked) this.seen.keptUnacknowledged++;
    if (this.h.checkpointEntryId > 0 && this.h.replayed > 0) this.seen.checkpointThenWal++;
    if (this.h.checkpointEntryId > 0 && this.h.replayed === 0) this.seen.checkpointAlone++;
    // Entries past the recovered prefix are gone; the writer's resume made the rest durable.
    this.entries.length = p;
    this.acked = p;
    this.recoveries++;
  }

  async step(cmd: Cmd): Promise<void> {
    const h = this.h;
    switch (cmd.t) {
      case 'put':
      case 'del': {
        const op: KvOp = cmd.t === 'put' ? { op: 'put', key: `k${cmd.key}`, value: cmd.value } : { op: 'del', key: `k${cmd.key}` };
        const id = h.writer.append(op);
        assert.equal(id, this.entries.length + 1);
        this.entries.push(op);
        applyOp(h.state, op);
        return;
      }
      case 'flush':
        return h.writer.flush();
      case 'sync': {
        const upTo = h.writer.lastEntryId;
        await h.writer.sync();
        this.acked = Math.max(this.acked, upTo);
        return;
      }
      case 'checkpoint': {
        const covered = h.writer.lastEntryId;
        try {
          await h.checkpoint(h.state);
          this.acked = Math.max(this.acked, h.writer.lastEntryId);
          assert.ok(listCheckpoints(this.dir).length <= this.cfg.retain, `at most ${this.cfg.retain} checkpoints after a publish`);
        } finally {
          // A power cut later in the sequence still leaves the checkpoint entry appended.
          if (h.writer.lastEntryId > covered) this.entries.push(checkpointEntry(covered));
          assert.equal(h.writer.lastEntryId, this.entries.length);
        }
        return;
      }
      case 'truncate': {
        // A user truncating up to the newest checkpoint (more than the publisher would).
        const files = listCheckpoints(this.dir);
        if (files.length > 0) new WalMaintenance(this.dir).truncatePrefix(files[files.length - 1].lastEntryId);
        return;
      }
      case 'crash':
        if (cmd.after === 0) return this.powerCut(this.dir.crash({ mode: cmd.mode, seed: cmd.seed, entryKeepProbability: cmd.keep }));
        this.scheduled = this.dir.scheduleCrash(cmd.after, { mode: cmd.mode, seed: cmd.seed, entryKeepProbability: cmd.keep });
        return;
    }
  }

  async execute(cmd: Cmd): Promise<void> {
    try {
      await this.step(cmd);
    } catch (err) {
      // The only failures allowed are those of a machine that lost power.
      if (!(this.dir.crashed && (err instanceof IoError || err instanceof PoisonedError))) throw err;
    }
    if (this.scheduled?.directory !== undefined) {
      const crashed = this.scheduled.directory;
      this.scheduled = undefined;
      this.seen.cutInsideOperation++;
      await this.powerCut(crashed);
    }
  }

  async powerCut(next: SimulatedDirectory): Promise<void> {
    this.dir = next;
    this.scheduled = undefined;
    await this.open();
  }
}

const long = process.env.DURABILITY_LONG === '1';
const seed = process.env.DURABILITY_SEED === undefined ? undefined : Number(process.env.DURABILITY_SEED);

/** What the recoveries of one property run went through; each kind must occur (see below). */
interface Coverage {
  lostUnacknowledged: number;
  keptUnacknowledged: number;
  checkpointThenWal: number;
  checkpointAlone: number;
  cutInsideOperation: number;
}

describe('recovery model (simulated power cuts)', () => {
  it(`matches the key-value model after every recovery (${long ? "50,000" : "2,000"} cases)`, async () => {
    const seen: Coverage = { lostUnacknowledged: 0, keptUnacknowledged: 0, checkpointThenWal: 0, checkpointAlone: 0, cutInsideOperation: 0 };
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(cmdArb, { minLength: 1, maxLength: 60 }), fc.nat(), async (cfg, cmds, dirSeed) => {
        const run = new Run(cfg, dirSeed, seen);
        await run.open();
        for (const cmd of cmds) await run.execute(cmd);
        await run.powerCut(run.dir.crash({ mode: 'random' }));
        await run.h.close();
      }),
      { numRuns: long ? 50_000 : 2_000, seed },
    );
    // A property that never reached these states proved nothing about them: a generator change
    // that stops producing them fails here instead of passing quietly.
    for (const [kind, count] of Object.entries(seen)) assert.ok(count > 0, `no recovery went through ${kind}: ${JSON.stringify(seen)}`);
  });
});
