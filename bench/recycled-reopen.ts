// Reading and reopening a log killed while its final segment was a reused (recycled) file, the
// default shape of a log that checkpoints: past the newest frames lies the file's earlier life,
// up to a whole segment of old frames, which a strict read must tell from damage and a reopen
// must tell from frames of this life before it cuts it. Builds such a log (json entries, 64 MiB
// segments: fills three, recycles the first, appends into it), copies its directory while the
// writer is open (what a kill leaves, the page cache warm), then times a strict entry count and
// a writer's open (resume) of copies. Both backends.
//
//   npx tsc -p . && node dist/bench/recycled-reopen.js

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import type { FileBackend } from '../lib/backend/backend';
import { FsDirectory } from '../lib/directory/fs';
import { json } from '../lib/wal/codec';
import { WalMaintenance } from '../lib/wal/maintenance';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const ROUNDS = 3;

async function killedRecycledLog(root: string, backend: FileBackend): Promise<string> {
  const dir = new FsDirectory(root, { backend });
  const w = WalWriter.create<unknown>(dir, { codec: json });
  const entry = (i: number): unknown => ({ i, s: 'x'.repeat(80) });
  const fill = (): Promise<number[]> => Promise.all(Array.from({ length: 1024 }, () => w.appendDurable(entry(w.nextEntryId))));
  while (w.currentSegmentId < 3) await fill();
  const m = new WalMaintenance(dir);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[0].lastEntryId));
  while (w.currentSegmentId < 4) await fill();
  for (let i = 0; i < 10; i++) await w.appendDurable(entry(w.nextEntryId));
  const killed = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycled-reopen-killed-'));
  fs.cpSync(root, killed, { recursive: true });
  // The lock (and a pid-file lock's records: this process is alive) went with the writer.
  for (const name of fs.readdirSync(path.join(killed, 'wal'))) if (name.startsWith('LOCK')) fs.rmSync(path.join(killed, 'wal', name), { force: true });
  await w.close();
  return killed;
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  console.log(`recycled-reopen: a killed log whose final segment is a reused 64 MiB file, best of ${ROUNDS} (ms)`);
  for (const backend of availableBackends()) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycled-reopen-'));
    const copies: string[] = [];
    try {
      const killed = await killedRecycledLog(root, backend);
      copies.push(killed);
      let count = Infinity;
      let entries = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = process.hrtime.bigint();
        entries = new WalReader<unknown>(new FsDirectory(killed, { backend }), { codec: json }).entryCountSync({ mode: 'strict' });
        count = Math.min(count, ms(t0));
      }
      let open = Infinity;
      for (let i = 0; i < ROUNDS; i++) {
        const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-recycled-reopen-copy-'));
        copies.push(copy);
        fs.cpSync(killed, copy, { recursive: true });
        const t0 = process.hrtime.bigint();
        const w = WalWriter.open<unknown>(new FsDirectory(copy, { backend }), { codec: json });
        open = Math.min(open, ms(t0));
        await w.close();
      }
      console.log(`  ${backend.name}: ${entries} entries; strict entryCountSync ${count.toFixed(0)} ms; WalWriter.open (resume) ${open.toFixed(0)} ms`);
    } finally {
      for (const c of [root, ...copies]) fs.rmSync(c, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
