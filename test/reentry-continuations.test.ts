// Writer calls made from where user code runs mid-flight: the continuation of an appendDurable
// promise, and the onSync / onFlush / onAppend / onRotate hooks (observer-reentry.test.ts has the
// hook cases that once broke). Each call either works or fails with a typed error, nothing hangs,
// and every entry whose appendDurable (or the hook's own appendDurable) resolved survives a power
// cut of a SimulatedDirectory.

import assert from 'node:assert/strict';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { DurabilityError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import type { WalObserver } from '../lib/wal/observer';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

const CALLS: Record<string, (w: WalWriter<Uint8Array>) => unknown> = {
  append: (w) => w.append(bytes('c')),
  appendDurable: (w) => w.appendDurable(bytes('c')),
  appendBatchDurable: (w) => w.appendBatchDurable([bytes('c'), bytes('d')]),
  sync: (w) => w.sync(),
  syncSync: (w) => w.syncSync(),
  flushSync: (w) => w.flushSync(),
  close: (w) => w.close(),
  closeSync: (w) => w.closeSync(),
  recycle: (w) => w.recycle([]),
};

const PLACES = ['the continuation of appendDurable', 'onSync', 'onFlush', 'onAppend', 'onRotate'] as const;

describe('writer calls from promise continuations and observer hooks', () => {
  for (const place of PLACES) {
    it(`from ${place}: every call works or fails typed, and every entry reported durable survives a power cut`, async () => {
      for (const [name, call] of Object.entries(CALLS)) {
        const dir = new SimulatedDirectory({ seed: 3 });
        const durable: number[] = [];
        const failures: unknown[] = [];
        let called = false;
        let w: WalWriter<Uint8Array> | undefined;
        const callOnce = (): void => {
          if (called || w === undefined) return;
          called = true;
          try {
            const result = call(w);
            if (result instanceof Promise) {
              result.then((v: unknown) => {
                if (name.startsWith('append')) durable.push(...([] as number[]).concat(v as number | number[]));
              }, (err: unknown) => failures.push(err));
            }
          } catch (err) {
            failures.push(err);
          }
        };
        const observer: WalObserver | undefined = place === 'the continuation of appendDurable' ? undefined : { [place]: callOnce };
        w = WalWriter.create(dir, { codec: raw, maxSegmentSize: 256, observer });
        for (let i = 0; i < 12; i++) {
          try {
            durable.push(await w.appendDurable(bytes(`e${i}${'x'.repeat(40)}`)));
          } catch (err) {
            failures.push(err);
            break;
          }
          if (place === 'the continuation of appendDurable' && i === 3) callOnce();
        }
        await w.close().catch((err: unknown) => failures.push(err));
        // The hook's own promise settles within microtasks of the close (memory-speed commits).
        await new Promise((resolve) => setImmediate(resolve));
        assert.ok(called, `${name}: the call was made`);
        for (const err of failures) assert.ok(err instanceof DurabilityError, `${name}: ${String(err)}`);
        const survived = new Set(new WalReader(dir.crash({ seed: 1 }), { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId));
        for (const id of durable) assert.ok(survived.has(id), `${name}: entry ${id} was reported durable and is gone after the power cut`);
      }
    });
  }
});
