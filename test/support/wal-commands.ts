import fc from 'fast-check';
import type { CrashMode } from '../../lib/directory/simulated';
import type { FlushPolicy } from '../../lib/wal/flush-policy';

// The vocabulary of the WAL property tests: writer configurations, commands and power cuts, and
// the fast-check arbitraries that generate them (WalRun in wal-workload.ts runs them).

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
  /** New segment files written full of zeros before use (WalWriterOptions.zeroFill). */
  zeroFill: boolean;
  /** Segment age limit; the 'rotate' command moves the clock past it. undefined: no age limit. */
  ageMs: number | undefined;
  /** The writer's files run their commits on a simulated commit thread, as the native core does (commit-thread.ts). */
  commitThread?: boolean;
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
  /** appendDurable / appendBatchDurable, awaited or left in flight. */
  | { kind: 'appendDurable'; sizes: number[]; batch: boolean; wait: boolean }
  /** sync() left in flight while the workload goes on. */
  | { kind: 'syncInFlight' }
  /** Waits for every call left in flight. */
  | { kind: 'settle' }
  /** The writer has been idle long enough to write its idle sync mark (WalWriterOptions.idleMarkMs). */
  | { kind: 'idle' }
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
  zeroFill: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  ageMs: fc.constantFrom(undefined, 1000),
}).map((c) => {
  // Every replay reads a preallocated or zero-filled tail to its end: 64 MiB of zeros per replay
  // is slow and proves nothing small segments do not.
  if (c.maxSegmentSize <= 1 << 20) return c;
  return { ...c, preallocate: c.preallocate === true ? 8192 : c.preallocate, zeroFill: false };
});

export function commandArb(options: { powerCuts: boolean; inFlight?: boolean }): fc.Arbitrary<WalCommand> {
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
    { weight: 2, arbitrary: fc.constant<WalCommand>({ kind: 'idle' }) },
  ];
  if (options.inFlight !== false) {
    arbs.push(
      {
        weight: 6,
        arbitrary: fc.record({ sizes: fc.array(payloadSizeArb, { minLength: 1, maxLength: 4 }), batch: fc.boolean(), wait: fc.boolean() })
          .map(({ sizes, batch, wait }): WalCommand => ({ kind: 'appendDurable', sizes: batch ? sizes : sizes.slice(0, 1), batch, wait })),
      },
      { weight: 2, arbitrary: fc.constant<WalCommand>({ kind: 'syncInFlight' }) },
      { weight: 1, arbitrary: fc.constant<WalCommand>({ kind: 'settle' }) },
    );
  }
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

/** Payloads unique per append (a counter in the first bytes), so a resurrected stale entry is told apart. */
export function payloadFor(uniq: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (uniq * 131 + i * 7 + (i >> 8)) & 0xff;
  for (let i = 0; i < Math.min(6, size); i++) p[i] = Math.floor(uniq / 256 ** i) & 0xff;
  return p;
}
