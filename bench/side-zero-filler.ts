// A zero filler on a worker thread: writes zeros to files of its own beside a log (one new file
// per 64 MiB, each run fdatasynced), paced to a byte rate. It stands in for a writer that would
// keep the next segment zero-filled in the background (PostgreSQL's WAL segment pre-fill, etcd's
// file pipeline), so bench/recycled-log.ts can measure what that would cost the log's own
// commits, which share the disk and its cache flushes (bench/RESULTS.md, issue 12).

import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const FILE_BYTES = 64 * 1024 * 1024;

interface FillerSpec {
  readonly dir: string;
  readonly bytesPerSecond: number;
  readonly runBytes: number;
}

export interface FillerReport {
  readonly bytes: number;
  readonly runs: number;
  readonly fdatasyncUsPerRun: number;
}

/** Starts the filler; the returned function stops it and resolves with what it wrote. */
export function startZeroFiller(spec: FillerSpec): () => Promise<FillerReport> {
  const worker = new Worker(__filename, { workerData: spec });
  const report = new Promise<FillerReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return async () => {
    worker.postMessage('stop');
    const r = await report;
    await worker.terminate();
    return r;
  };
}

function fill({ dir, bytesPerSecond, runBytes }: FillerSpec): void {
  const zeros = Buffer.alloc(runBytes);
  const started = process.hrtime.bigint();
  let stop = false;
  let file = 0;
  let fd = fs.openSync(path.join(dir, `zero-fill-${file}`), 'w');
  let at = 0;
  let total = 0;
  let runs = 0;
  let syncNs = 0n;
  parentPort!.on('message', () => {
    stop = true;
  });
  const turn = (): void => {
    if (stop) {
      fs.closeSync(fd);
      parentPort!.postMessage({ bytes: total, runs, fdatasyncUsPerRun: runs === 0 ? 0 : Number(syncNs / BigInt(runs)) / 1000 } satisfies FillerReport);
      return;
    }
    const due = (Number(process.hrtime.bigint() - started) / 1e9) * bytesPerSecond;
    if (total >= due) {
      setTimeout(turn, 1);
      return;
    }
    fs.writeSync(fd, zeros, 0, runBytes, at);
    const t = process.hrtime.bigint();
    fs.fdatasyncSync(fd);
    syncNs += process.hrtime.bigint() - t;
    runs++;
    at += runBytes;
    total += runBytes;
    // A new file each time, as each new segment would be: truncating one to reuse it frees its
    // blocks, which (measured) stalls every commit of the log far worse than the zeros do.
    if (at >= FILE_BYTES) {
      fs.closeSync(fd);
      fd = fs.openSync(path.join(dir, `zero-fill-${++file}`), 'w');
      at = 0;
    }
    setImmediate(turn);
  };
  turn();
}

if (!isMainThread && (workerData as FillerSpec | undefined)?.runBytes !== undefined) fill(workerData as FillerSpec);
