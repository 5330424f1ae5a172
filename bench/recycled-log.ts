// Durable appends on a fresh log against a log whose segments are recycled (no zeros to keep
// ahead: the commits overwrite a recycled file's blocks), each backend, raw codec, closed loop of
// N producers as in durable.ts. Not part of the suite: it measures how much of a round the zeros
// ahead of a fresh log cost, which the suite's fresh logs always pay (bench/RESULTS.md, issue 12).
// The recycled log first fills RECYCLED_SEGMENTS segments of the default 64 MiB with buffered
// appends, cuts them to recycle files (WalMaintenance.truncateToRecycle) and hands them to the
// writer (WalWriter.recycle): a 2.5 s window at a million appends/s uses about five of them.
// With a zero-fill rate (MB/s), a worker thread writes zeros to files of its own beside the log
// meanwhile (bench/side-zero-filler.ts): what keeping the next segment zero-filled in the
// background would cost the log's commits.
//
//   npx tsc -p . && node dist/bench/recycled-log.js <native|ts> <producers> <fresh|recycled> [durationMs=2500] [zeroFillMBps=0] [zeroRunKiB=256]
//
// Prints one JSON line. Alternate the four cells to compare them side by side.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalWriter } from '../lib/wal/writer';
import { closedLoop, PAYLOAD_BYTES } from './durable';
import { startZeroFiller, type FillerReport } from './side-zero-filler';

const RECYCLED_SEGMENTS = 8;

async function main(): Promise<void> {
  const [backendName, producersArg, shape, durationArg, fillArg, runArg] = process.argv.slice(2);
  const backend = backendName === 'native' ? nativeBackend() : backendName === 'ts' ? tsBackend() : undefined;
  if (backend === undefined || (shape !== 'fresh' && shape !== 'recycled')) {
    throw new Error('usage: node dist/bench/recycled-log.js <native|ts> <producers> <fresh|recycled> [durationMs]');
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-bench-recycled-'));
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);
  const dir = new FsDirectory(root, { backend });
  const writer = WalWriter.create<Uint8Array>(dir, { codec: raw, recycleCapacity: shape === 'recycled' ? RECYCLED_SEGMENTS : 0 });
  try {
    if (shape === 'recycled') {
      while (writer.currentSegmentId <= RECYCLED_SEGMENTS) for (let i = 0; i < 10_000; i++) writer.append(payload);
      await writer.sync();
      writer.recycle(new WalMaintenance(dir).truncateToRecycle(writer.lastEntryId - 1));
    }
    const firstSegment = writer.currentSegmentId;
    const fillMBps = Number(fillArg ?? 0);
    const stopFiller = fillMBps > 0 ? startZeroFiller({ dir: root, bytesPerSecond: fillMBps * 1e6, runBytes: Number(runArg ?? 256) * 1024 }) : undefined;
    const result = await closedLoop({
      mode: `WalWriter.appendDurable, raw codec, ${shape} log`,
      append: () => writer.appendDurable(payload),
      close: () => writer.close(),
      counters: (): Record<string, number> => {
        const s = backend.commitStats?.();
        return s === undefined ? {} : { backendCommits: s.commits, writeNs: s.writeNs, syncNs: s.syncNs };
      },
    }, Number(producersArg), Number(durationArg ?? 2500), 500);
    const filled: FillerReport | undefined = await stopFiller?.();
    const c = result.counters;
    console.log(JSON.stringify({
      backend: backendName, producers: result.producers, shape, perSecond: Math.round(result.perSecond), p50Us: result.p50Us, p99Us: result.p99Us,
      segmentsUsed: writer.currentSegmentId - firstSegment + 1,
      commitsPerEntry: c.backendCommits ? +(c.backendCommits / result.appends).toFixed(5) : undefined,
      writeUsPerCommit: c.backendCommits ? +(c.writeNs / c.backendCommits / 1000).toFixed(1) : undefined,
      fdatasyncUsPerCommit: c.backendCommits ? +(c.syncNs / c.backendCommits / 1000).toFixed(1) : undefined,
      sideZeroFill: filled === undefined ? undefined : { megabytes: Math.round(filled.bytes / 1e6), runs: filled.runs, fdatasyncUsPerRun: Math.round(filled.fdatasyncUsPerRun) },
    }));
  } finally {
    await writer.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();
