// Observer hooks that call the writer back (an onFlush that appends, an onRotate that closes, an
// admit or onAppend that appends a batch of its own). The writer delivers its events when the
// call raising them is done, so such a hook finds it between two calls: ids stay unique and a
// batch's ids consecutive, every payload is the one appended, and nothing is reported durable
// (sync, close, durableEntryId) that a power cut can take.
import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { MemoryDirectory } from '../lib/directory/memory';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { MAX_HOOK_GENERATIONS, MIN_HOOK_CALL_BUDGET } from '../lib/wal/writer-state';
import { withDiagnostics } from './support/diagnostics';

function entries(dir: Directory): [number, string][] {
  return new WalReader(dir, { codec: raw }).replaySync().map((r) => [r.entryId, Buffer.from(r.payload).toString()]);
}

function ids(dir: Directory): number[] {
  return new WalReader(dir, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
}

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

describe('observer hooks that call the writer back', () => {
  it('an append from onFlush while a frame is being placed gets an id of its own, after that frame', () => {
    const dir = new MemoryDirectory();
    let hooked = false;
    // 80-byte buffer: the second 40-byte entry does not fit, so placing it writes the first out
    // (onFlush) before it takes its id.
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw, bufferSize: 80, flushPolicy: 'manual',
      observer: {
        onFlush: () => {
          if (hooked) return;
          hooked = true;
          w.append(text('from the hook'));
        },
      },
    });
    assert.equal(w.append(text('a'.repeat(40))), 1);
    assert.equal(w.append(text('b'.repeat(40))), 2);
    assert.equal(w.lastEntryId, 3);
    w.closeSync();
    assert.deepEqual(entries(dir), [[1, 'a'.repeat(40)], [2, 'b'.repeat(40)], [3, 'from the hook']]);
  });

  it('syncSync does not report durable an entry an onFlush hook appended during it', () => {
    const dir = new SimulatedDirectory({ seed: 1 });
    let hooked = false;
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw, flushPolicy: 'manual',
      observer: {
        onFlush: () => {
          if (hooked) return;
          hooked = true;
          w.append(text('from the hook'));
        },
      },
    });
    w.append(text('first'));
    w.syncSync();
    assert.equal(w.lastEntryId, 2);
    const durable = w.durableEntryId;
    const survived = ids(dir.crash({ mode: 'dropAll' }));
    assert.ok(survived.length >= durable, `durableEntryId ${durable}, but a power cut kept ${JSON.stringify(survived)}`);
  });

  it('close() called from onRotate in the middle of a batch commits the whole batch before it resolves', async () => {
    const dir = new SimulatedDirectory({ seed: 2 });
    let closing: Promise<void> | undefined;
    // Three 24-byte frames per segment: the fourth entry of the batch rotates.
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw, maxSegmentSize: 32 + 3 * 24,
      observer: {
        onRotate: () => {
          closing ??= w.close();
        },
      },
    });
    assert.deepEqual(w.appendBatch([1, 2, 3, 4].map((n) => text(`entry 00${n}`))), [1, 2, 3, 4]);
    assert.ok(closing !== undefined);
    await closing;
    assert.equal(w.durableEntryId, 4);
    assert.deepEqual(ids(dir.crash({ mode: 'dropAll' })), [1, 2, 3, 4]);
  });

  it('a batch appended from onAppend neither splits nor overwrites the batch being appended', () => {
    const dir = new MemoryDirectory();
    let hooked = false;
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw,
      observer: {
        onAppend: () => {
          if (hooked) return;
          hooked = true;
          assert.deepEqual(w.appendBatch([text('X'.repeat(64))]), [3]);
        },
      },
    });
    assert.deepEqual(w.appendBatch([text('A'.repeat(8)), text('B'.repeat(8))]), [1, 2], 'a batch gets consecutive ids');
    w.closeSync();
    assert.deepEqual(entries(dir), [[1, 'A'.repeat(8)], [2, 'B'.repeat(8)], [3, 'X'.repeat(64)]]);
  });

  it('events raised by a hook\'s own calls come after the events already held: in the order they happened', () => {
    const dir = new MemoryDirectory();
    const seen: string[] = [];
    let hooked = false;
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw, flushPolicy: 'manual',
      observer: {
        onAppend: (id) => {
          seen.push(`append ${id}`);
          if (hooked) return;
          hooked = true;
          w.append(text('from the hook'));
          w.syncSync();
        },
        onFlush: (info) => seen.push(`flush ${info.lastEntryId}`),
        onSync: (info) => seen.push(`sync ${info.durableEntryId}`),
      },
    });
    assert.deepEqual(w.appendBatch([text('a'), text('b')]), [1, 2]);
    assert.deepEqual(seen, ['append 1', 'append 2', 'append 3', 'flush 3', 'sync 3']);
    w.closeSync();
  });

  it('a batch appended from admit while a batch is encoded does not overwrite the payloads staged so far', () => {
    const dir = new MemoryDirectory();
    let asked = 0;
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw,
      observer: {
        admit: () => {
          if (++asked === 2) w.appendBatch([text('X'.repeat(16))]);
        },
      },
    });
    // admit is asked before an entry takes its id: the hook's entry comes first.
    assert.deepEqual(w.appendBatch([text('A'.repeat(8)), text('B'.repeat(8))]), [2, 3]);
    w.closeSync();
    assert.deepEqual(entries(dir), [[1, 'X'.repeat(16)], [2, 'A'.repeat(8)], [3, 'B'.repeat(8)]]);
  });

  it('an onAppend that appends on every onAppend ends after MAX_HOOK_GENERATIONS appends instead of never returning', async () => {
    const dir = new MemoryDirectory();
    let calls = 0;
    let refusal: unknown;
    await withDiagnostics((events) => {
      const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
        codec: raw,
        observer: {
          onAppend: (id) => {
            // Bounded here so that, without the limit, the test fails instead of filling memory.
            if (++calls > 10 * MAX_HOOK_GENERATIONS) return;
            try {
              w.append(text(`after ${id}`));
            } catch (err) {
              refusal = err;
              throw err;
            }
          },
        },
      });
      assert.equal(w.append(text('first')), 1);
      assert.equal(calls, MAX_HOOK_GENERATIONS + 1, 'each generation of the chain ran its hook once, the last one refused');
      assert.equal((refusal as { code?: string } | undefined)?.code, 'DURABILITY_INVALID_STATE');
      assert.equal(w.lastEntryId, MAX_HOOK_GENERATIONS + 1);
      assert.deepEqual(events.filter((e) => e.kind === 'observer-error').map((e) => (e.error as { code?: string }).code), ['DURABILITY_INVALID_STATE']);
      // The writer is not poisoned: the caller's own calls go on (and start a chain of their own).
      assert.equal(w.append(text('after the chain')), MAX_HOOK_GENERATIONS + 2);
      assert.equal(w.lastEntryId, 2 * MAX_HOOK_GENERATIONS + 2);
      w.closeSync();
    });
    assert.equal(entries(dir).length, 2 * MAX_HOOK_GENERATIONS + 2);
  });

  it('an onAppend that appends twice on every onAppend is refused past the hooks\' call budget instead of doubling to 2^64', async () => {
    const dir = new MemoryDirectory();
    let invocations = 0;
    const refusals: unknown[] = [];
    await withDiagnostics((events) => {
      const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
        codec: raw,
        observer: {
          onAppend: (id) => {
            // Bounded here so that, without the limit, the test fails instead of running for ever.
            if (++invocations > 8 * MIN_HOOK_CALL_BUDGET) return;
            try {
              w.append(text(`left of ${id}`));
              w.append(text(`right of ${id}`));
            } catch (err) {
              refusals.push(err);
              throw err;
            }
          },
        },
      });
      assert.equal(w.append(text('first')), 1);
      assert.equal(w.lastEntryId, 1 + MIN_HOOK_CALL_BUDGET, 'the hooks made as many appends as the budget allows');
      assert.equal(invocations, 1 + MIN_HOOK_CALL_BUDGET, 'every event raised was delivered once');
      assert.ok(refusals.length > 0);
      for (const err of refusals) assert.equal((err as { code?: string }).code, 'DURABILITY_INVALID_STATE');
      assert.equal(events.filter((e) => e.kind === 'observer-error').length, refusals.length);
      // Not poisoned: the caller's next call is served, and its event starts a budget of its own.
      const next = w.append(text('after the fan-out'));
      assert.equal(next, MIN_HOOK_CALL_BUDGET + 2);
      assert.equal(w.lastEntryId, 2 * MIN_HOOK_CALL_BUDGET + 2);
      w.closeSync();
    });
    assert.equal(entries(dir).length, 2 * MIN_HOOK_CALL_BUDGET + 2);
  });

  it('hooks calling the writer once per event of a large batch, or draining a queue from onSync, are served every time', async () => {
    const dir = new MemoryDirectory();
    let flushes = 0;
    const queue: string[] = [];
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw,
      observer: {
        onAppend: () => {
          w.flushSync();
          flushes++;
        },
        onSync: () => {
          for (let item = queue.shift(); item !== undefined; item = queue.shift()) w.append(text(item));
        },
      },
    });
    const batch = Array.from({ length: 2 * MAX_HOOK_GENERATIONS * 1000 }, (_, i) => text(`entry ${i}`));
    w.appendBatch(batch);
    assert.equal(flushes, batch.length);
    for (let i = 0; i < 3 * MAX_HOOK_GENERATIONS; i++) queue.push(`queued ${i}`);
    await w.sync();
    assert.equal(queue.length, 0);
    assert.equal(w.lastEntryId, batch.length + 3 * MAX_HOOK_GENERATIONS);
    await w.close();
    assert.equal(entries(dir).length, batch.length + 3 * MAX_HOOK_GENERATIONS);
  });

  it('a chain of hooks calling the writer back shorter than the limit runs to its end', () => {
    const dir = new MemoryDirectory();
    const depth = MAX_HOOK_GENERATIONS - 1;
    let calls = 0;
    const w: WalWriter<Uint8Array> = WalWriter.create(dir, {
      codec: raw,
      observer: {
        onAppend: () => {
          if (++calls <= depth) w.append(text(`link ${calls}`));
        },
      },
    });
    w.append(text('first'));
    assert.equal(w.lastEntryId, depth + 1);
    w.closeSync();
    assert.equal(entries(dir).length, depth + 1);
  });
});
