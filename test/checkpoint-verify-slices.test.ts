import assert from 'node:assert/strict';
import type { Directory, ReadableFile } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { CHECKPOINT_HEADER_SIZE } from '../lib/checkpoint/format';
import { readCheckpointFile, verifyCheckpointFile } from '../lib/checkpoint/store';
import { recover } from '../lib/recover';
import { jsonCodec } from '../lib/wal/codec';
import { overriding } from './support/overriding';

// Before a publish truncates the log, it reads back each retained checkpoint it has not verified
// (recover() vouches only for the one it loaded). That read ran in one stretch on the event loop:
// with a large state, the first checkpoint after a restart stopped the service for the whole
// read and CRC of an older checkpoint. It now reads in slices, the event loop turning between.

type Op = { n: number };
type State = { sum: number; blob: string };
const apply = (s: State, r: { payload: Op }): State => ({ ...s, sum: s.sum + r.payload.n });
const SLICE = 1 << 20;

interface Read { path: string; bytes: number; tick: number }

/** `dir`, recording every read of a checkpoint file with the ticker's count when it happened. */
function recordingReads(dir: Directory, ticks: { n: number }): { dir: Directory; reads: Read[] } {
  const reads: Read[] = [];
  const wrap = (file: ReadableFile, path: string): ReadableFile => overriding(file, {
    read: (target: Uint8Array, position: number) => {
      const n = file.read(target, position);
      reads.push({ path, bytes: n, tick: ticks.n });
      return n;
    },
  });
  return { dir: overriding(dir, { openRead: (path: string) => wrap(dir.openRead(path), path) }), reads };
}

/** Counts turns of the event loop (one per check phase) until stopped. */
function ticker(): { ticks: { n: number }; stop: () => void } {
  const ticks = { n: 0 };
  let running = true;
  const tick = (): void => {
    ticks.n++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return { ticks, stop: () => { running = false; } };
}

describe('checkpoint read-back in slices', () => {
  it('the first publish after a restart reads an older 5 MiB checkpoint in slices, the event loop turning between them', async () => {
    const base = new MemoryDirectory();
    const blob = 'x'.repeat(5 * SLICE);
    const options = { codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0, blob }, apply, retain: 3, writer: { maxSegmentSize: 512 } };
    const first = await recover({ dir: base, ...options });
    for (let i = 1; i <= 3; i++) await first.writer.appendDurable({ n: i });
    await first.checkpoint({ sum: 6, blob });
    await first.writer.appendDurable({ n: 4 });
    await first.checkpoint({ sum: 10, blob });
    await first.close();

    const { ticks, stop } = ticker();
    const { dir, reads } = recordingReads(base, ticks);
    const log = await recover({ dir, ...options });
    try {
      assert.equal(log.state.sum, 10);
      await log.writer.appendDurable({ n: 5 });
      reads.length = 0;
      const published = await log.checkpoint({ sum: 15, blob });
      // recover() vouched for the checkpoint it loaded (entry 4); the older one (entry 3) was read
      // back and verified, so it counts toward retain 3 and the log was truncated up to it.
      assert.equal(published.truncatedThrough, 3);
      const payloadReads = reads.filter((r) => r.path.endsWith('.ckpt') && r.bytes > CHECKPOINT_HEADER_SIZE);
      assert.ok(payloadReads.length >= 5, `the payload was read in slices: ${payloadReads.map((r) => r.bytes).join(', ')}`);
      for (const r of payloadReads) assert.ok(r.bytes <= SLICE, `one read of ${r.bytes} bytes`);
      for (let i = 1; i < payloadReads.length; i++) {
        assert.ok(payloadReads[i].tick > payloadReads[i - 1].tick, `the event loop turned between slices ${i - 1} and ${i}`);
      }
    } finally {
      stop();
      await log.close();
    }
  });

  it('gives the verdict readCheckpointFile gives, whole or damaged in any slice', async () => {
    const dir = new MemoryDirectory();
    const blob = 'y'.repeat(3 * SLICE + 17);
    const log = await recover({ dir, codec: jsonCodec<Op>(), stateCodec: jsonCodec<State>(), initial: { sum: 0, blob }, apply, retain: 5, writer: {} });
    await log.writer.appendDurable({ n: 1 });
    const written = await log.checkpoint({ sum: 1, blob });
    await log.close();
    const good = dir.readFile(written.path);
    const whole = readCheckpointFile(dir, written.path, 1);
    assert.equal(whole.ok, true);
    assert.deepEqual(await verifyCheckpointFile(dir, written.path, 1), { ok: true, lastEntryId: 1 });
    // The id in the name disagreeing with the header: damaged, as for readCheckpointFile.
    assert.deepEqual(await verifyCheckpointFile(dir, written.path, 2), readCheckpointFile(dir, written.path, 2));
    for (const at of [CHECKPOINT_HEADER_SIZE, SLICE + 5, 2 * SLICE + CHECKPOINT_HEADER_SIZE, good.length - 1]) {
      const bad = good.slice();
      bad[at] ^= 0x10;
      dir.atomicWrite(written.path, bad);
      const verdict = await verifyCheckpointFile(dir, written.path, 1);
      assert.deepEqual(verdict, readCheckpointFile(dir, written.path, 1), `a bit flipped at ${at}`);
      assert.equal(verdict.ok, false);
    }
  });
});
