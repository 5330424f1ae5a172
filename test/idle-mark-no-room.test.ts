// A disk full when an idle writer writes its sync mark alone (WalWriterOptions.idleMarkMs): no
// caller waits on that mark and recovery never needs it (it is not synced), so a mark that finds
// no room is left out instead of poisoning the writer. The mark stays pending: the next write
// leads with a mark of the same size at the same place, over whatever part of the failed one
// reached the file; rotation and close cut it. The faults are injected where the real ones
// happen: the simulated directory's writes, and the pwrite of both backends under FsDirectory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { nativeBackend, tsBackend } from '../lib/backend/select';
import { channels, type DiagnosticEvent } from '../lib/diagnostics';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { SimulatedDirectory } from '../lib/directory/simulated';
import { IoError, PoisonedError } from '../lib/errors';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

const payload = (n: number): Uint8Array => new Uint8Array(100).fill(n);
const ids = (dir: Directory): number[] => new WalReader(dir, { codec: raw }).replaySync({ mode: 'strict' }).map((r) => r.entryId);

/** A writer whose idle mark the test writes itself (idleMarkMs 0: the timer never runs it). */
function writerOn(dir: Directory): { w: WalWriter<Uint8Array>; markWhileIdle: () => void } {
  const w = WalWriter.create(dir, { codec: raw, idleMarkMs: 0 });
  return { w, markWhileIdle: () => (w as unknown as { markWhileIdle(): void }).markWhileIdle() };
}

/** The diagnostics published while `fn` runs. */
function diagnosticsOf(fn: () => void): string[] {
  const kinds: string[] = [];
  const onDiagnostic = (e: unknown): void => void kinds.push((e as DiagnosticEvent).kind);
  channels.diagnostic.subscribe(onDiagnostic);
  try {
    fn();
  } finally {
    channels.diagnostic.unsubscribe(onDiagnostic);
  }
  return kinds;
}

/** How a disk with no room fails the idle mark's write: armed by `arm`, for the next write only. */
interface NoRoom {
  readonly dir: Directory;
  arm(error: 'ENOSPC' | 'EDQUOT' | 'EIO'): void;
}

/** A backend whose next pwrite, once armed, stores the first half of its bytes and fails. */
function halfWritingBackend(inner: FileBackend): { backend: FileBackend; arm: NoRoom['arm'] } {
  let armed: string | undefined;
  const backend = overriding(inner, {
    pwrite: (fd: number, data: Uint8Array, offset: number, p?: string) => {
      const errno = armed;
      if (errno === undefined) return inner.pwrite(fd, data, offset, p);
      armed = undefined;
      inner.pwrite(fd, data.subarray(0, data.length >> 1), offset, p);
      throw new IoError(errno, 'pwrite', p);
    },
  });
  return { backend, arm: (errno) => void (armed = errno) };
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

const disks: Array<{ name: string; make: () => NoRoom }> = [
  {
    name: 'SimulatedDirectory',
    make: () => {
      const dir = new SimulatedDirectory({ seed: 21 });
      return { dir, arm: (error) => void dir.injectFault({ op: 'write', error: error === 'EIO' ? 'EIO' : 'short' }) };
    },
  },
];
for (const [name, backend] of [['native', nativeBackend()], ['ts', tsBackend()]] as const) {
  if (backend === undefined) continue;
  disks.push({
    name: `FsDirectory(${name})`,
    make: () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-idle-no-room-'));
      roots.push(root);
      const half = halfWritingBackend(backend);
      return { dir: new FsDirectory(root, { backend: half.backend }), arm: half.arm };
    },
  });
}

for (const { name, make } of disks) {
  describe(`an idle mark with no room: ${name}`, () => {
    for (const errno of ['ENOSPC', 'EDQUOT'] as const) {
      if (name === 'SimulatedDirectory' && errno === 'EDQUOT') continue; // its faults are ENOSPC
      it(`half written, then ${errno}: left out with one diagnostic, the writer not poisoned; the next appends (pipelined and synchronous) write over it and read back whole`, async () => {
        const { dir, arm } = make();
        const { w, markWhileIdle } = writerOn(dir);
        w.append(payload(1));
        w.syncSync();
        const published = diagnosticsOf(() => {
          arm(errno);
          markWhileIdle();
          arm(errno);
          markWhileIdle(); // a second idle spell on the same full disk: no second diagnostic
        });
        assert.equal(w.poisoned, false, String(w.poisonCause));
        assert.deepEqual(published, ['idle-mark-skipped']);
        assert.equal(await w.appendDurable(payload(2)), 2);
        w.append(payload(3));
        w.syncSync();
        markWhileIdle();
        await w.close();
        assert.deepEqual(ids(dir), [1, 2, 3]);
      });
    }

    it('half written, then ENOSPC, then close: close cuts what reached the file and the log reads whole', async () => {
      const { dir, arm } = make();
      const { w, markWhileIdle } = writerOn(dir);
      w.append(payload(1));
      w.syncSync();
      arm('ENOSPC');
      markWhileIdle();
      assert.equal(w.poisoned, false, String(w.poisonCause));
      w.closeSync();
      assert.deepEqual(ids(dir), [1]);
    });

    it('a write of the idle mark failing with EIO still poisons the writer', async () => {
      const { dir, arm } = make();
      const { w, markWhileIdle } = writerOn(dir);
      w.append(payload(1));
      w.syncSync();
      arm('EIO');
      markWhileIdle();
      assert.ok(w.poisoned);
      assert.throws(() => w.append(payload(2)), PoisonedError);
      await assert.rejects(w.close(), PoisonedError);
    });
  });
}

describe('an idle mark with no room, then a power cut (SimulatedDirectory)', () => {
  it('whatever part of the mark survives is a torn tail: the log reads what was synced, and a writer opened on it goes on (every crash mode, 40 seeds each)', () => {
    for (const mode of ['dropAll', 'keepPrefix', 'tear', 'reorder'] as const) {
      for (let seed = 1; seed <= 40; seed++) {
        const dir = new SimulatedDirectory({ seed });
        const { w, markWhileIdle } = writerOn(dir);
        w.append(payload(1));
        w.append(payload(2));
        w.syncSync();
        dir.injectFault({ op: 'write', error: 'short' });
        markWhileIdle();
        assert.equal(w.poisoned, false, String(w.poisonCause));
        const after = dir.crash({ mode, seed });
        const kept = new WalReader(after, { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
        assert.deepEqual(kept, [1, 2], `${mode} seed ${seed}`);
        const reopened = WalWriter.open(after, { codec: raw });
        reopened.append(payload(3));
        reopened.closeSync();
        assert.deepEqual(ids(after), [1, 2, 3], `${mode} seed ${seed}`);
      }
    }
  });
});
