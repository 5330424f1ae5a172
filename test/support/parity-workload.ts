// The seeded workload of test/backend-parity.test.ts (appends, batches, flushes, syncs, rotation,
// preallocation, close and reopen, bad entries, truncation, record log, damage then reopen), and
// what it records after every step: shared with test/fixtures/parity-digest.ts, which digests its
// files so scripts/test-platforms.mjs can compare the bytes one platform writes with another's.

import fs from 'node:fs';
import path from 'node:path';
import type { FileBackend } from '../../lib/backend/backend';
import { FsDirectory } from '../../lib/directory/fs';
import { Prng } from '../../lib/directory/prng';
import { DurabilityError, IoError } from '../../lib/errors';
import { CheckpointPublisher } from '../../lib/publisher';
import { readRecordLog } from '../../lib/recordlog/reader';
import { RecordLogWriter } from '../../lib/recordlog/writer';
import { jsonCodec } from '../../lib/wal/codec';
import type { CohortPolicy } from '../../lib/wal/cohort-merge';
import { FRAME_HEADER_SIZE, MARK_SIZE, SEGMENT_HEADER_SIZE } from '../../lib/wal/format';
import { WalMaintenance } from '../../lib/wal/maintenance';
import type { WalWriterOptions } from '../../lib/wal/options';
import { WalReader } from '../../lib/wal/reader';
import { WalWriter } from '../../lib/wal/writer';

/** A sync mark's length field (docs/FORMAT.md): no frame can have it. */
export const MARK_LENGTH = 0x80000008;
/** One batch per run of appends, whatever the commits take: batch boundaries must not depend on the clock. */
export const ONE_BATCH_PER_RUN: CohortPolicy = { shouldMerge: () => false, runStarted() {}, runEnded() {}, commitTook() {} };

export interface Step {
  readonly result: string;
  readonly files: ReadonlyMap<string, Buffer>;
  /** No writer was open: the files are final (preallocated space trimmed). */
  readonly settled: boolean;
}

export type Entry = { readonly i: number; readonly s: string; readonly big?: bigint };

/** `marksMoved`: after group commits, where sync marks landed may differ, and with them the offsets and sizes a message names. */
export function outcome(value: unknown, root: string, marksMoved: boolean): string {
  if (value instanceof Error) {
    const io = value instanceof IoError ? ` ${value.errno} ${value.syscall}` : '';
    const code = value instanceof DurabilityError ? value.code : '';
    // The message names paths under each run's own root; offsets of damage may follow marks.
    const message = value.message.split(root).join('<root>').replace(/ @ \d+/g, ' @ N').replace(/offset \d+/g, 'offset N');
    return `${value.constructor.name} ${code}${io}: ${marksMoved ? message.replace(/\d+/g, 'N') : message}`;
  }
  return JSON.stringify(value ?? null);
}

export function filesUnder(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const name = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path.join(dir, e.name), name);
      // The pid file names the process and, on the native core, its flock (docs/FORMAT.md).
      else if (!e.name.endsWith('.pid')) out.set(name, fs.readFileSync(path.join(dir, e.name)));
    }
  };
  walk(root, '');
  return out;
}

/** [offset, length] of the header and of each frame, marks left out; `end`: where the frames end. */
export function frameSpans(b: Buffer): { spans: [number, number][]; end: number } {
  const spans: [number, number][] = [[0, Math.min(SEGMENT_HEADER_SIZE, b.length)]];
  if (b.length < SEGMENT_HEADER_SIZE) return { spans, end: b.length };
  let next = b.readBigUInt64LE(16);
  let at = SEGMENT_HEADER_SIZE;
  while (at + FRAME_HEADER_SIZE <= b.length && b.readBigUInt64LE(at + 8) === next) {
    const length = b.readUInt32LE(at + 4);
    if (length === MARK_LENGTH) {
      at += MARK_SIZE;
      continue;
    }
    if (at + FRAME_HEADER_SIZE + length > b.length) break;
    spans.push([at, FRAME_HEADER_SIZE + length]);
    at += FRAME_HEADER_SIZE + length;
    next++;
  }
  return { spans, end: at };
}

/** Runs seed's workload on `backend` under `root`; `durable`: group commits (appendDurable, sync(), close(), checkpoints) too. */
export async function runWorkload(seed: number, backend: FileBackend, root: string, durable: boolean): Promise<Step[]> {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const dir = new FsDirectory(root, { backend });
  const rng = new Prng(seed);
  const steps: Step[] = [];
  let writer: WalWriter<Entry> | undefined;
  let publisher: CheckpointPublisher<{ n: number }, Entry> | undefined;
  let records: RecordLogWriter | undefined;
  let n = 0;
  const entry = (): Entry => ({ i: n++, s: 'x'.repeat(rng.chance(0.05) ? 3000 + rng.int(3000) : rng.int(200)) });
  const options = (): WalWriterOptions<Entry> => ({
    codec: jsonCodec<Entry>(),
    maxSegmentSize: rng.pick([2048, 4096, 16384]),
    flushPolicy: rng.pick(['perAppend', 'manual', { everyN: 3 }] as const),
    syncWindow: rng.pick([undefined, 4096]),
    preallocate: rng.pick([undefined, true, 8192]),
    bufferSize: rng.pick([undefined, 300]),
    maxPayloadSize: rng.pick([undefined, 5000]),
    recycleCapacity: rng.pick([0, 2]),
    idleMarkMs: 0,
    groupCommit: { cohorts: ONE_BATCH_PER_RUN, pollMicros: 0, maxBatchEntries: rng.pick([undefined, 3]) },
  });
  const open = (): boolean => writer !== undefined && !writer.closed;
  const run = async (op: () => unknown): Promise<string> => {
    try {
      return outcome(await op(), root, durable);
    } catch (err) {
      return outcome(err, root, durable);
    }
  };
  const closeWriter = async (): Promise<unknown> => {
    const w = writer as WalWriter<Entry>;
    if (durable) await w.close();
    else w.closeSync();
    return w.lastEntryId;
  };

  for (let i = 0; i < 30; i++) {
    const k = rng.int(100);
    let result: string;
    if (!open() && k < 30) {
      const how = rng.pick(['open', 'open', 'resume', 'create'] as const);
      const opts = options();
      result = await run(() => {
        writer = WalWriter[how](dir, opts);
        publisher = durable ? new CheckpointPublisher(dir, { writer, stateCodec: jsonCodec<{ n: number }>(), retain: 1 }) : undefined;
        return [how, writer.nextEntryId, writer.currentSegmentId];
      });
    } else if (!open() && k < 40) {
      // Damage a closed log at the same frame on both (marks skipped): open, replay and repair must agree.
      const segments = fs.existsSync(path.join(root, 'wal')) ? fs.readdirSync(path.join(root, 'wal')).filter((f) => f.endsWith('.wal')).sort() : [];
      if (segments.length === 0) continue;
      const file = path.join(root, 'wal', rng.pick(segments));
      const bytes = fs.readFileSync(file);
      // In the header or a frame, not after them: stale bytes of a recycled file sit where its marks put them.
      const [at, length] = rng.pick(frameSpans(bytes).spans);
      const where = at + rng.int(Math.max(1, length));
      // After group commits a flipped byte is damage or a torn tail depending on whether a sync
      // mark follows it, and where marks land depends on timing: there, cuts only.
      if (!durable && rng.chance(0.5)) {
        bytes[where] ^= 1 << rng.int(8);
        fs.writeFileSync(file, bytes);
      } else {
        fs.truncateSync(file, where);
      }
      result = `damaged ${path.basename(file)}`;
    } else if (!open() && k < 50) {
      result = await run(() => new WalReader(dir, { codec: jsonCodec<Entry>() }).replaySync({ mode: rng.pick(['strict', 'bestEffortTail'] as const) }).map((r) => r.entryId));
    } else if (k >= 88 || !open()) {
      if (records === undefined) {
        const opts = { bufferSize: rng.pick([undefined, 0, 100]), syncWindow: rng.pick([undefined, 64]), maxRecordSize: rng.pick([undefined, 500]), idleMarkMs: 0 };
        result = await run(() => {
          records = RecordLogWriter.open(dir, 'records/log', opts);
          return records.repaired;
        });
      } else {
        const r = records;
        const which = rng.int(5);
        if (which === 0) {
          records = undefined;
          result = await run(() => r.closeSync());
        } else if (which === 1) result = await run(() => r.syncSync());
        else if (which === 2) result = await run(() => readRecordLog(dir, 'records/log', { mode: 'bestEffortTail' }).records.length);
        else result = await run(() => [r.append(Buffer.alloc(rng.int(700), 0x61 + rng.int(26))), r.size, r.durableSize]);
      }
    } else {
      const w = writer as WalWriter<Entry>;
      if (k < 55) result = await run(() => w.append(entry()));
      else if (k < 60) result = await run(() => w.appendBatch(Array.from({ length: rng.int(4) }, entry)));
      else if (k < 62) result = await run(() => w.appendBatch([entry(), { i: -1, s: '', big: 1n }]));
      else if (k < 64) result = await run(() => w.append({ i: n++, s: 'y'.repeat(6000) }));
      else if (k < 67) result = await run(() => w.flushSync());
      // With group commits, the awaited form: plain appends made behind commits of zeros (native
      // only) that fill a batch or rotate still make syncSync refuse there, not on node:fs.
      else if (k < 71) result = await run(() => (durable ? w.sync() : w.syncSync()));
      else if (k < 74) result = await run(closeWriter);
      else if (k < 76) {
        result = await run(() => {
          const segments = new WalMaintenance(dir).segmentRanges();
          return segments.length > 1 ? new WalMaintenance(dir).truncatePrefix(segments[rng.int(segments.length - 1)].lastEntryId).removed.length : 0;
        });
      } else if (durable) {
        // A run of durable appends and syncs, all awaited: their batches are cut the same way on both.
        const waits: Promise<unknown>[] = [];
        for (let j = 1 + rng.int(4); j > 0; j--) {
          const kind = rng.int(8);
          if (kind < 5) waits.push(w.appendDurable(entry()));
          else if (kind < 6) waits.push(w.appendBatchDurable([entry(), entry()]));
          else if (kind < 7) waits.push(w.sync().then(() => 'synced'));
          else if (publisher !== undefined) {
            const p = publisher;
            waits.push(p.checkpoint({ n: w.lastEntryId }).then((c) => [c.lastEntryId, c.truncatedSegments]));
          }
        }
        const settled = await Promise.allSettled(waits);
        result = settled.map((s) => (s.status === 'fulfilled' ? outcome(s.value, root, durable) : outcome(s.reason, root, durable))).join(', ');
      } else {
        result = await run(() => w.append(entry()));
      }
    }
    steps.push({ result, files: filesUnder(root), settled: !open() });
  }
  if (open()) steps.push({ result: await run(closeWriter), files: filesUnder(root), settled: true });
  if (records !== undefined) (records as RecordLogWriter).closeSync();
  return steps;
}
