import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../../lib/backend/select';
import type { Directory } from '../../lib/directory/directory';
import { FsDirectory } from '../../lib/directory/fs';
import { MemoryDirectory } from '../../lib/directory/memory';
import { raw } from '../../lib/wal/codec';
import { WalMaintenance } from '../../lib/wal/maintenance';
import { WalWriter } from '../../lib/wal/writer';

/**
 * Two entries of ten bytes (each with its sync mark) fill a segment, so two runs of the same
 * appends lay out every segment alike: same first entry id, same frame offsets.
 */
export const RESTARTED_LOG_OPTIONS = { maxSegmentSize: 32 + 3 * 26, recycleCapacity: 1 };

/**
 * A log's first run: twelve durable entries (payload: ten bytes of 0xA0 + n) in six segments,
 * closed, then segments 1 and 2 truncated to recycle files, which stay in wal/ as leftovers.
 */
export async function firstRunWithLeftovers(dir: Directory): Promise<string[]> {
  const w = WalWriter.create<Uint8Array>(dir, { codec: raw, ...RESTARTED_LOG_OPTIONS });
  for (let n = 1; n <= 12; n++) await w.appendDurable(new Uint8Array(10).fill(0xa0 + n));
  await w.close();
  return new WalMaintenance(dir).truncateToRecycle(4);
}

/**
 * The directories a recycled-segment test runs on: FsDirectory on every backend this machine has
 * (in a temp dir named from `prefix`; `root` is for the test to remove), and a MemoryDirectory.
 */
export function recycleDirectories(prefix: string): Array<{ name: string; make: () => { dir: Directory; root?: string } }> {
  const fsDirs = availableBackends().map((backend) => ({
    name: `FsDirectory, ${backend.name}`,
    make: () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), `durability-${prefix}-`));
      return { dir: new FsDirectory(root, { backend }), root };
    },
  }));
  return [...fsDirs, { name: 'MemoryDirectory', make: () => ({ dir: new MemoryDirectory() }) }];
}

/** A file's size as the directory reports it. */
export function fileSizeIn(dir: Directory, p: string): number {
  const f = dir.openRead(p);
  try {
    return f.size();
  } finally {
    f.close();
  }
}

/**
 * Appends in rounds of 256 concurrent durable appends until segment 3, recycles segment 1, then
 * appends until segment 4 (the recycled file) and ten entries more: a final segment whose earlier
 * life lies past the log.
 */
export async function intoRecycledFourth(dir: Directory, w: WalWriter<Uint8Array>, entry: (id: number) => Uint8Array): Promise<void> {
  const fill = async (): Promise<void> => {
    await Promise.all(Array.from({ length: 256 }, () => w.appendDurable(entry(w.nextEntryId))));
  };
  while (w.currentSegmentId < 3) await fill();
  const m = new WalMaintenance(dir);
  w.recycle(m.truncateToRecycle(m.segmentRanges()[0].lastEntryId));
  while (w.currentSegmentId < 4) await fill();
  for (let i = 0; i < 10; i++) await w.appendDurable(entry(w.nextEntryId));
}

/** How a recycled-segment test makes its entries durable: the pipelined appendDurable, or append + syncSync. */
export type DurableMode = 'group commit' | 'synchronous';

/** Appends `bytes` and waits until it is durable, the way `mode` says. */
export async function appendDurablyIn(w: WalWriter<Uint8Array>, mode: DurableMode, bytes: Uint8Array): Promise<void> {
  if (mode === 'group commit') {
    await w.appendDurable(bytes);
    return;
  }
  w.append(bytes);
  w.syncSync();
}
