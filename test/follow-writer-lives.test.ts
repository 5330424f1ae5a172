import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { Prng } from '../lib/directory/prng';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { CorruptionError, RecoveryGapError } from '../lib/errors';
import { jsonCodec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import type { WalWriterOptions } from '../lib/wal/options';
import { WalReader, type WalRecord } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { countingLists } from './support/follow-polls';

// Two followers (with and without durableOnly) tail a log while its writer does everything a
// writer does, in random order: plain appends, group commits, syncs, rotation every few frames,
// truncatePrefix or truncateToRecycle + recycle (ahead of the followers now and then), a failed
// fdatasync (the tail cut back to the last sync, its ids given to new entries by the next writer),
// close and reopen; then the power goes. Each follower must yield consecutive ids from 1 (never
// one twice, never one skipped) and only entries of the log's final history, or end with the
// typed error the API names: RecoveryGapError when truncation passed it, and without durableOnly
// CorruptionError "cut back" for a cut it saw (having yielded an entry the cut took). Whatever
// durableOnly yielded is still in the log after the power cut.
type E = { v: string };
const codec = jsonCodec<E>();

interface Follower {
  readonly durableOnly: boolean;
  readonly got: WalRecord<E>[];
  error: unknown;
  ended: boolean;
}

function follow(dir: Directory, durableOnly: boolean, signal: AbortSignal): { follower: Follower; done: Promise<void> } {
  const follower: Follower = { durableOnly, got: [], error: undefined, ended: false };
  const done = (async () => {
    try {
      for await (const r of new WalReader(dir, { codec }).follow({ signal, maxPollIntervalMs: 1, durableOnly })) follower.got.push(r);
    } catch (err) {
      follower.error = err;
    } finally {
      follower.ended = true;
    }
  })();
  return { follower, done };
}

/** Until every running follower looked at the log twice more (each look lists wal/ once). */
async function twoLooks(lists: () => number, followers: readonly Follower[]): Promise<void> {
  const start = lists();
  while (lists() < start + 2 * followers.filter((f) => !f.ended).length) await new Promise((resolve) => setTimeout(resolve, 1));
}

async function run(seed: number): Promise<string[]> {
  const rng = new Prng(seed);
  const counted = countingLists(new SimulatedDirectory({ seed }));
  const dir = counted.dir as SimulatedDirectory;
  const recycling = rng.int(2) === 0;
  const options: WalWriterOptions<E> = { codec, flushPolicy: 'perAppend', maxSegmentSize: 150 + rng.int(300), recycleCapacity: recycling ? 2 : 0 };
  let w = WalWriter.create(dir, options);
  const maintenance = new WalMaintenance(dir);
  /** The log's history as its writers left it: id → payload. */
  const history = new Map<number, string>();
  let life = 0;
  const payload = (): E => ({ v: `${life}-${rng.int(1000)}`.padEnd(8 + rng.int(3) * 4, 'x') });
  const ac = new AbortController();
  const started = [false, true].map((durableOnly) => follow(dir, durableOnly, ac.signal));
  const followers = started.map((s) => s.follower);
  const looks = (): Promise<void> => twoLooks(counted.lists, followers);
  let truncatedTo = 0;
  for (let step = 0; step < 40; step++) {
    const kind = rng.int(8);
    if (kind <= 1) {
      for (let k = 1 + rng.int(4); k > 0; k--) {
        const p = payload();
        history.set(w.append(p), p.v);
      }
    } else if (kind === 2) {
      const ps = Array.from({ length: 1 + rng.int(4) }, payload);
      const ids = await Promise.all(ps.map((p) => w.appendDurable(p)));
      ids.forEach((id, i) => history.set(id, ps[i].v));
    } else if (kind === 3) {
      await w.sync();
    } else if (kind === 4) {
      // Behind the slowest follower, or now and then ahead of it (it then needs a RecoveryGapError).
      const slowest = Math.min(...followers.map((f) => f.got.at(-1)?.entryId ?? 0));
      const to = rng.int(4) === 0 ? w.durableEntryId : slowest;
      if (recycling) w.recycle(maintenance.truncateToRecycle(to));
      else maintenance.truncatePrefix(to);
      truncatedTo = Math.max(truncatedTo, to);
    } else if (kind === 5) {
      const p = payload();
      history.set(w.append(p), p.v);
      dir.injectFault({ op: 'sync', error: 'EIO' });
      await assert.rejects(w.sync());
      await w.close().catch(() => undefined); // poisoned: close reports the cause
      life++;
      w = WalWriter.open(dir, options);
      for (const id of [...history.keys()]) if (id > w.lastEntryId) history.delete(id);
    } else if (kind === 6) {
      await w.close();
      w = WalWriter.open(dir, options);
    }
    if (rng.int(2) === 0) await looks();
  }
  const closed = rng.int(2) === 0;
  if (closed) await w.close();
  await looks();
  await looks();
  ac.abort();
  await Promise.all(started.map((s) => s.done));
  const last = w.lastEntryId;
  const log = new WalReader(dir, { codec }).replaySync({ mode: closed ? 'strict' : 'bestEffortTail' });
  const after = dir.crash({ seed });
  const kept = new Map(new WalReader(after, { codec }).replaySync({ mode: 'bestEffortTail' }).map((r) => [r.entryId, r.payload.v]));

  const problems: string[] = [];
  for (const r of log) if (history.get(r.entryId) !== r.payload.v) problems.push(`the log's entry ${r.entryId} is not the one appended`);
  for (const f of followers) {
    const name = `durableOnly ${String(f.durableOnly)}`;
    const { got, error } = f;
    const skipped = got.findIndex((r, i) => r.entryId !== i + 1);
    if (skipped >= 0) problems.push(`${name}: yielded entry ${got[skipped].entryId} in place ${skipped + 1}`);
    const notInLog = got.filter((r) => history.get(r.entryId) !== r.payload.v);
    if (f.durableOnly) {
      if (notInLog.length > 0) problems.push(`${name}: yielded ${notInLog.length} entries that are not the log's`);
      const lost = got.filter((r) => kept.has(r.entryId) && kept.get(r.entryId) !== r.payload.v);
      if (lost.length > 0) problems.push(`${name}: ${lost.length} entries it yielded are other ones after the power cut`);
    }
    if (error !== undefined) {
      if (error instanceof RecoveryGapError) {
        if (error.expectedEntryId > truncatedTo) problems.push(`${name}: ${String(error)}, but the log was truncated to ${truncatedTo} only`);
      } else if (f.durableOnly || !(error instanceof CorruptionError && /cut back/.test(error.reason)) || notInLog.length === 0) {
        problems.push(`${name}: ${String(error)} (${notInLog.length} entries it yielded are not the log's)`);
      }
      continue;
    }
    if (notInLog.length > 0) problems.push(`${name}: yielded ${notInLog.length} entries that are not the log's, with no error`);
    // Unclosed, the newest entries may still wait for the mark that proves them.
    if (!f.durableOnly || closed) {
      if ((got.at(-1)?.entryId ?? 0) !== last) problems.push(`${name}: ended at entry ${got.at(-1)?.entryId ?? 0}, the log at ${last}`);
    }
  }
  return problems.map((p) => `seed ${seed}: ${p}`);
}

describe('follow() while its writer rotates, group-commits, truncates, recycles, fails and reopens', () => {
  const seeds = process.env.DURABILITY_LONG === '1' ? 1000 : 40;
  it(`yields each entry of the log's final history once, in order, or a typed error (${seeds} seeded runs)`, async function () {
    this.timeout(seeds * 2000);
    const problems: string[] = [];
    for (let seed = 1; seed <= seeds; seed++) problems.push(...(await run(seed)));
    assert.deepEqual(problems, []);
  });
});
