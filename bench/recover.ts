// Recovery time of a large log: recover() from the initial state through every WAL entry, on
// real files with the page cache warm, native and pure-TypeScript backends side by side. The
// entry codec and apply() do almost nothing, so the figure is what the library itself costs
// (open, list, read, CRC every frame, check ids, stream each entry through apply).
//
//   npx tsc -p . && node dist/bench/recover.js [logMiB=1024] [payloadBytes=1024]

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { recover } from '../lib/recover';
import { jsonCodec, raw, type Codec } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { peakRssBytes } from './peak-rss';

const ROUNDS = 3;
/** Decodes to the payload length: no copy, so the reader's own cost shows. */
const lengthOnly: Codec<number> = { name: 'length', encode: () => new Uint8Array(0), decode: (b) => b.length };
type State = { entries: number; bytes: number };

function writeLog(root: string, logBytes: number, payloadBytes: number): number {
  const w = WalWriter.create(new FsDirectory(root), { codec: raw, flushPolicy: 'manual', bufferSize: 4 << 20 });
  const payload = new Uint8Array(payloadBytes).fill(0x5a);
  const frame = 16 + payloadBytes;
  const entries = Math.max(1, Math.floor(logBytes / frame));
  for (let i = 0; i < entries; i++) w.append(payload);
  w.closeSync();
  return entries;
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 1024);
  const payloadBytes = Number(process.argv[3] ?? 1024);
  if (!(mib > 0) || !(payloadBytes >= 0)) throw new Error('usage: node dist/bench/recover.js [logMiB] [payloadBytes]');
  const root = mkdtempSync(path.join(os.tmpdir(), 'durability-recover-bench-'));
  try {
    const entries = writeLog(root, mib * 2 ** 20, payloadBytes);
    console.log(`recover: ${entries} entries x ${payloadBytes} B payload, ${mib} MiB of WAL in ${root} (page cache warm), best of ${ROUNDS}`);
    // CPU time beside wall time: on a shared machine the wall clock also counts other processes' turns.
    console.log(`${'backend'.padEnd(8)} ${'recover'.padStart(10)} ${'(cpu)'.padStart(9)} ${'GiB/s'.padStart(7)} ${'M entries/s'.padStart(12)} ${'+ open writer'.padStart(14)}`);
    for (const backend of availableBackends()) {
      const dir = new FsDirectory(root, { backend });
      const options = {
        dir, codec: lengthOnly, stateCodec: jsonCodec<State>(), initial: { entries: 0, bytes: 0 },
        apply: (s: State, r: { payload: number }) => {
          s.entries++;
          s.bytes += r.payload;
          return s;
        },
      };
      let best = Infinity;
      let bestCpu = Infinity;
      let bestWithWriter = Infinity;
      for (let round = 0; round < ROUNDS; round++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        const r = await recover({ ...options, initial: { entries: 0, bytes: 0 } });
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
        const c = process.cpuUsage(c0);
        bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
        if (r.state.entries !== entries || r.lastEntryId !== entries) throw new Error(`recovered ${r.state.entries} entries, expected ${entries}`);
        const t1 = process.hrtime.bigint();
        const h = await recover({ ...options, initial: { entries: 0, bytes: 0 }, writer: true });
        bestWithWriter = Math.min(bestWithWriter, Number(process.hrtime.bigint() - t1) / 1e6);
        await h.close();
      }
      const gib = (mib / 1024) / (best / 1000);
      console.log(
        `${backend.name.padEnd(8)} ${`${best.toFixed(0)} ms`.padStart(10)} ${`${bestCpu.toFixed(0)} ms`.padStart(9)} ${gib.toFixed(2).padStart(7)} ${(entries / best / 1000).toFixed(2).padStart(12)} ${`${bestWithWriter.toFixed(0)} ms`.padStart(14)}`,
      );
    }
    console.log(`peak RSS ${(peakRssBytes() / 1048576).toFixed(0)} MiB (recovery streams; the log is ${mib} MiB)`);
    console.log(`reproduce: npx tsc -p . && node dist/bench/recover.js ${mib} ${payloadBytes}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main();
