// Durable appends while the service checkpoints: the closed loop of durable.ts (256 producers,
// raw codec, default options) on a log opened by recover(), with a checkpoint of an 8 MiB state (by default)
// every 400 ms, each truncating the segments the older of the two retained checkpoints covers
// and pruning the oldest checkpoint. What a service sees of its checkpoints: appends/s, the tail
// of the append latency, and the event loop's longest stall (perf_hooks.monitorEventLoopDelay).
// Not part of the suite; run it beside an older tree to compare (bench/RESULTS.md).
//
//   npx tsc -p . && node dist/bench/checkpoint-under-load.js <native|ts> [producers=256] [durationMs=4000] [stateBytes=8388608]
//
// Prints one JSON line.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { recover } from '../lib/recover';
import { raw } from '../lib/wal/codec';
import { closedLoop, PAYLOAD_BYTES } from './durable';

const DEFAULT_STATE_BYTES = 8 * 1024 * 1024;
const CHECKPOINT_EVERY_MS = 400;

async function main(): Promise<void> {
  const [backendName, producersArg, durationArg, stateArg] = process.argv.slice(2);
  const STATE_BYTES = Number(stateArg ?? DEFAULT_STATE_BYTES);
  const backend = backendName === 'native' ? nativeBackend() : backendName === 'ts' ? tsBackend() : undefined;
  if (backend === undefined) throw new Error('usage: node dist/bench/checkpoint-under-load.js <native|ts> [producers] [durationMs]');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-bench-checkpoint-'));
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);
  const state = new Uint8Array(STATE_BYTES).fill(3);
  const log = await recover({
    dir: new FsDirectory(root, { backend }), codec: raw, stateCodec: raw, initial: state, apply: (s) => s, writer: true,
  });
  const checkpoints: number[] = [];
  let truncated = 0;
  let pending: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const started = process.hrtime.bigint();
    pending = log.checkpoint(state).then((c) => {
      checkpoints.push(Number(process.hrtime.bigint() - started) / 1e6);
      truncated += c.truncatedSegments;
    });
  }, CHECKPOINT_EVERY_MS);
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  try {
    const result = await closedLoop({
      mode: `recover() writer, raw codec, a checkpoint of ${STATE_BYTES} B every ${CHECKPOINT_EVERY_MS} ms`,
      append: () => log.writer.appendDurable(payload),
      close: async () => undefined,
    }, Number(producersArg ?? 256), Number(durationArg ?? 4000), 500);
    stalls.disable();
    clearInterval(timer);
    await pending;
    console.log(JSON.stringify({
      backend: backendName, producers: result.producers, perSecond: Math.round(result.perSecond),
      p50Us: result.p50Us, p99Us: result.p99Us, p999Us: result.p999Us, maxUs: Math.round(result.maxUs),
      eventLoopMaxStallMs: +(stalls.max / 1e6).toFixed(1), eventLoopP99StallMs: +(stalls.percentile(99) / 1e6).toFixed(2),
      checkpoints: checkpoints.length, checkpointMeanMs: +(checkpoints.reduce((a, b) => a + b, 0) / Math.max(1, checkpoints.length)).toFixed(1),
      segmentsTruncated: truncated,
    }));
  } finally {
    clearInterval(timer);
    await log.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();
