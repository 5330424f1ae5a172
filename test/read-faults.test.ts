// Every reader of a store on a disk whose reads fail: EIO at the 1st, 2nd, ... read (and open)
// of a replay, a recovery, a writer's open, a checkpoint load, a follower, pruning and a record
// log, in turn, until the run reads no more. An I/O error is neither damage nor the end of the
// log (docs/FORMAT.md): each run must fail with that IoError, leave every file as it was (but for
// the torn bytes a healthy open cuts anyway), and a later run on a healthy disk must find every
// entry. SimulatedDirectory's 'read' and 'open' faults stand for the disk.
// DURABILITY_LONG=1 adds segments of 2 MB, so that reads fail part-way through one scan too.

import assert from 'node:assert/strict';
import { loadLatestCheckpoint, writeCheckpoint } from '../lib/checkpoint/store';
import type { FaultOp } from '../lib/directory/faults';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError } from '../lib/errors';
import { recover } from '../lib/recover';
import { readRecordLog } from '../lib/recordlog/reader';
import { RecordLogWriter } from '../lib/recordlog/writer';
import { json, type Codec } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const codec = json as Codec<unknown>;

interface Shape {
  readonly name: string;
  readonly entries: number;
  readonly pad: number;
  readonly maxSegmentSize: number;
  /** The checkpoint's entry: inside the log (one past its end makes a writer restart the log, a change of its own). */
  readonly checkpointAt: number;
}

const SHAPES: Shape[] = [
  { name: 'four small segments', entries: 40, pad: 20, maxSegmentSize: 600, checkpointAt: 10 },
  ...(process.env.DURABILITY_LONG === '1' ? [{ name: 'segments of 2 MB', entries: 10, pad: 300_000, maxSegmentSize: 2 << 20, checkpointAt: 4 }] : []),
];

/** A closed log (preallocated segments), a checkpoint and a record log; `torn`: 12 bytes of a cut write end the log. */
function build(shape: Shape, torn: boolean): SimulatedDirectory {
  const dir = new SimulatedDirectory({ seed: 1 });
  const w = WalWriter.open(dir, { codec, maxSegmentSize: shape.maxSegmentSize, preallocate: true });
  for (let i = 1; i <= shape.entries; i++) w.append({ i, pad: 'x'.repeat(shape.pad) });
  w.closeSync();
  writeCheckpoint(dir, shape.checkpointAt, { upTo: shape.checkpointAt }, { codec });
  const records = RecordLogWriter.open(dir, 'records/log', { codec, bufferSize: 0 });
  for (let i = 1; i <= shape.entries; i++) records.append({ i, pad: 'y'.repeat(shape.pad) });
  records.closeSync();
  if (torn) {
    const segments = dir.list('wal').filter((n) => n.endsWith('.wal'));
    const f = dir.openAppend(`wal/${segments[segments.length - 1]}`);
    f.write(Uint8Array.from({ length: 12 }, (_, i) => i + 1));
    f.sync();
    f.close();
  }
  return dir;
}

/** Every file (lock files aside) as hex, by path. */
function files(dir: SimulatedDirectory, at = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of dir.listAll(at)) {
    const p = at === '' ? name : `${at}/${name}`;
    if (name === 'LOCK' || name.endsWith('.lock')) continue;
    if (dir.listAll(p).length > 0) for (const [k, v] of files(dir, p)) out.set(k, v);
    else out.set(p, Buffer.from(dir.readFile(p)).toString('hex'));
  }
  return out;
}

function entryIds(dir: SimulatedDirectory): number[] {
  return new WalReader(dir, { codec }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
}

async function drain(records: AsyncIterable<unknown>, stopAfter = Infinity, stop?: () => void): Promise<number> {
  let n = 0;
  for await (const r of records) {
    void r;
    if (++n === stopAfter) stop?.();
  }
  return n;
}

type Reader = (dir: SimulatedDirectory, shape: Shape) => Promise<unknown>;

const READERS: Record<string, Reader> = {
  'WalWriter.open': async (d) => WalWriter.open(d, { codec }).closeSync(),
  'WalWriter.resume': async (d) => WalWriter.resume(d, { codec }).closeSync(),
  'replaySync (strict)': async (d) => new WalReader(d, { codec }).replaySync({ mode: 'strict' }),
  'replay (bestEffortTail)': async (d) => new WalReader(d, { codec }).replay({ mode: 'bestEffortTail' }),
  'records()': async (d) => drain(new WalReader(d, { codec }).records({ mode: 'bestEffortTail' })),
  entryCountSync: async (d) => new WalReader(d, { codec }).entryCountSync({ mode: 'bestEffortTail' }),
  'follow()': async (d, shape) => {
    const stop = new AbortController();
    return drain(new WalReader(d, { codec }).follow({ signal: stop.signal, maxPollIntervalMs: 1 }), shape.entries, () => stop.abort());
  },
  recover: async (d) => recover({ dir: d, codec, stateCodec: codec, initial: {}, apply: (s) => s }),
  'recover with a writer': async (d) => (await recover({ dir: d, codec, stateCodec: codec, initial: {}, apply: (s) => s, writer: true })).close(),
  loadLatestCheckpoint: async (d) => loadLatestCheckpoint(d, { codec }),
  'WalMaintenance.truncatePrefix': async (d) => new WalMaintenance(d).truncatePrefix(5),
  'RecordLogWriter.open': async (d) => RecordLogWriter.open(d, 'records/log', { codec }).closeSync(),
  readRecordLog: async (d) => readRecordLog(d, 'records/log', { codec, mode: 'bestEffortTail' }),
};

/** What `read` does on a healthy disk: its error's text, or undefined. */
async function outcome(read: Reader, dir: SimulatedDirectory, shape: Shape): Promise<string | undefined> {
  try {
    await read(dir, shape);
    return undefined;
  } catch (err) {
    return String(err);
  }
}

describe('readers on a disk whose reads fail', function () {
  this.timeout(600_000);
  for (const shape of SHAPES) {
    for (const torn of [false, true]) {
      for (const op of ['read', 'open'] as FaultOp[]) {
        for (const [name, read] of Object.entries(READERS)) {
          it(`${name}, ${shape.name}${torn ? ' with a torn tail' : ''}: EIO at each ${op} in turn`, async () => {
            const healthy = await outcome(read, build(shape, torn), shape);
            const want = entryIds(build(shape, torn));
            const problems: string[] = [];
            for (let k = 0; ; k++) {
              const dir = build(shape, torn);
              const before = files(dir);
              const fault = dir.injectFault({ op, error: 'EIO', after: k });
              let failure: unknown;
              try {
                await read(dir, shape);
              } catch (err) {
                failure = err;
              }
              dir.clearFaults();
              if (fault.fired === 0) {
                // Past the last read: the run is the healthy one.
                assert.equal(failure === undefined ? undefined : String(failure), healthy);
                assert.ok(k > 0, 'the reader reads');
                break;
              }
              if (!(failure instanceof IoError && failure.errno === 'EIO')) problems.push(`#${k}: ${failure === undefined ? 'succeeded' : String(failure)}`);
              const after = files(dir);
              for (const p of new Set([...before.keys(), ...after.keys()])) {
                const [was, is] = [before.get(p), after.get(p)];
                if (was === is) continue;
                // An open that cut the torn bytes (as a healthy one does) may fail on a read after the cut.
                const tornCut = torn && is !== undefined && was !== undefined && was.startsWith(is) && was.length - is.length === 24;
                // What a healthy run changes: a writer's sync mark or new segment, pruning's deletes.
                const healthyChange = failure === undefined;
                if (!tornCut && !healthyChange) problems.push(`#${k}: ${p} changed`);
              }
              const ids = entryIds(dir);
              if (ids.length < want.length || ids.slice(0, want.length).some((id, i) => id !== want[i])) problems.push(`#${k}: the log holds ${ids.length} entries, not ${want.length}`);
            }
            assert.deepEqual(problems, []);
          });
        }
      }
    }
  }
});
