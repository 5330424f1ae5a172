// The native core's pread (PreadFull, native/platform_*.cc) on a failing disk, through the test
// build's fault hook: an error is an IoError naming pread and the file, a read cut short is
// continued to the end of the file, EINTR is read again; and a writer's open over such a disk
// cuts nothing it would not cut on a healthy one. The node:fs backend: node-fs-pread.test.ts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { IoError } from '../lib/errors';
import { json, type Codec } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { preadAll as preadWhole } from './support/pread-all';
import { TEST_BUILD, usingFaultHooks } from './support/test-binding';

const codec = json as Codec<unknown>;
const { EIO, EINTR } = os.constants.errno;

if (nativeBackend() !== undefined) {
  describe(`native pread on a failing disk ${TEST_BUILD}`, () => {
    const hooks = usingFaultHooks('durability-native-pread-');

    const content = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
    function preadAll(): { n: number; bytes: Buffer } {
      const file = path.join(hooks.root, 'f');
      fs.writeFileSync(file, content);
      return preadWhole(hooks.native, file, content.length);
    }

    it('continues reads cut short to the end of the file', () => {
      hooks.binding.__setFaultInjection({ op: 'pread', short: true, persistent: true });
      const got = preadAll();
      assert.equal(got.n, content.length);
      assert.deepEqual(got.bytes.subarray(0, got.n), content);
    });

    it('fails with the error after reads cut short, naming pread and the file', () => {
      // Three reads of one byte each, then EIO.
      hooks.binding.__setFaultInjection({ op: 'pread', short: true, errno: EIO, after: 3 });
      assert.throws(preadAll, (err: unknown) => {
        assert.ok(err instanceof IoError, String(err));
        assert.equal(err.errno, 'EIO');
        assert.equal(err.syscall, 'pread');
        assert.equal(err.path, path.join(hooks.root, 'f'));
        return true;
      });
    });

    it('reads again after EINTR', () => {
      hooks.binding.__setFaultInjection({ op: 'pread', errno: EINTR });
      const got = preadAll();
      assert.equal(got.n, content.length);
      assert.deepEqual(got.bytes.subarray(0, got.n), content);
    });

    it('ends with IoError EINTR when every read is interrupted, instead of reading again forever', () => {
      // A FUSE server that answers EINTR to every read: the loop would hold the event loop for good.
      hooks.binding.__setFaultInjection({ op: 'pread', errno: EINTR, persistent: true });
      assert.throws(preadAll, (err: unknown) => {
        assert.ok(err instanceof IoError, String(err));
        assert.equal(err.errno, 'EINTR');
        assert.equal(err.syscall, 'pread');
        assert.equal(err.path, path.join(hooks.root, 'f'));
        return true;
      });
    });

    /** Three segments of 30 entries, closed; 12 bytes of a cut write end the last. */
    function tornLog(store: string): FsDirectory {
      fs.rmSync(store, { recursive: true, force: true });
      const dir = new FsDirectory(store, { backend: hooks.native, create: true });
      const w = WalWriter.open(dir, { codec, maxSegmentSize: 600 });
      for (let i = 1; i <= 30; i++) w.append({ i, pad: 'x'.repeat(20) });
      w.closeSync();
      const segments = fs.readdirSync(path.join(store, 'wal')).filter((n) => n.endsWith('.wal')).sort();
      fs.appendFileSync(path.join(store, 'wal', segments[segments.length - 1]), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
      return dir;
    }

    function segmentBytes(store: string): Map<string, string> {
      const wal = path.join(store, 'wal');
      return new Map(fs.readdirSync(wal).filter((n) => n.endsWith('.wal')).map((n) => [n, fs.readFileSync(path.join(wal, n)).toString('hex')]));
    }

    it("a writer's open with EIO at each read in turn fails with it and cuts no entry; a healthy open then finds all", function () {
      this.timeout(60_000);
      const store = path.join(hooks.root, 'store');
      const problems: string[] = [];
      for (let k = 0; ; k++) {
        const dir = tornLog(store);
        const before = segmentBytes(store);
        hooks.binding.__setFaultInjection({ op: 'pread', errno: EIO, after: k });
        let failure: unknown;
        try {
          WalWriter.open(dir, { codec }).closeSync();
        } catch (err) {
          failure = err;
        }
        // Still armed (the probe read fails): the open read fewer than k+1 times, and ran as on a healthy disk.
        const stillArmed = !(() => {
          const probe = Buffer.alloc(1);
          const fd = hooks.native.open(path.join(store, 'wal', [...before.keys()][0]), 'read');
          try {
            hooks.native.pread(fd, probe, 0);
            return true;
          } catch {
            return false;
          } finally {
            hooks.native.close(fd);
          }
        })();
        hooks.binding.__setFaultInjection(null);
        if (stillArmed) {
          assert.equal(failure, undefined);
          assert.ok(k > 0, 'the open reads');
          break;
        }
        if (!(failure instanceof IoError && failure.errno === 'EIO' && failure.syscall === 'pread')) problems.push(`#${k}: ${String(failure)}`);
        for (const [name, is] of segmentBytes(store)) {
          const was = before.get(name);
          // The 12 torn bytes may be cut before a later read fails, as a healthy open cuts them.
          if (is !== was && !(was?.startsWith(is) === true && was.length - is.length === 24)) problems.push(`#${k}: ${name} changed`);
        }
        if (segmentBytes(store).size !== before.size) problems.push(`#${k}: segments ${[...segmentBytes(store).keys()].join(' ')}`);
        const ids = new WalReader(dir, { codec }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
        if (ids.length !== 30) problems.push(`#${k}: ${ids.length} entries`);
      }
      assert.deepEqual(problems, []);
    });

    it("a writer's open over reads cut short finds every entry and cuts only the torn bytes", () => {
      const store = path.join(hooks.root, 'store');
      const dir = tornLog(store);
      const before = segmentBytes(store);
      hooks.binding.__setFaultInjection({ op: 'pread', short: true, persistent: true });
      const w = WalWriter.open(dir, { codec });
      hooks.binding.__setFaultInjection(null);
      assert.equal(w.append({ i: 31 }), 31);
      w.closeSync();
      const last = [...before.keys()].pop() as string;
      const torn = before.get(last) as string;
      assert.ok(segmentBytes(store).get(last)?.startsWith(torn.slice(0, torn.length - 24)), 'the entries before the torn bytes are kept');
      assert.deepEqual(new WalReader(dir, { codec }).replaySync({ mode: 'strict' }).map((r) => r.entryId), Array.from({ length: 31 }, (_, i) => i + 1));
    });
  });
}
