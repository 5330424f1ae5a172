// A file under a segment name past a gap in the ids (planted, or left by a half-restored backup)
// makes a log no reader accepts. The writer reads only the final segment, but must refuse such a
// log as the reader does, changing nothing: repairing that file and appending to it would
// acknowledge entries as durable that no recovery can return.

import assert from 'node:assert/strict';
import type { Directory } from '../lib/directory/directory';
import { CorruptionError } from '../lib/errors';
import { json, type Codec } from '../lib/wal/codec';
import { WAL_DIR, segmentPath } from '../lib/wal/format';
import { WalReader } from '../lib/wal/reader';
import { WalWriter } from '../lib/wal/writer';
import { dirKinds } from './fixtures/wal-dirs';

interface Entry {
  readonly n: number;
  readonly pad: string;
}

const codec = json as Codec<Entry>;

/** Every file under wal/ with its size. */
function walFiles(dir: Directory): string[] {
  return dir.list(WAL_DIR).map((name) => `${name} ${dir.readFile(`${WAL_DIR}/${name}`).length}`);
}

for (const kind of dirKinds()) {
  describe(`a segment name past a gap in the ids, on ${kind.name}`, () => {
    let dir: Directory;
    beforeEach(() => {
      dir = kind.make();
      const w = WalWriter.create<Entry>(dir, { codec, maxSegmentSize: 1024 });
      for (let n = 1; n <= 40; n++) w.append({ n, pad: 'x'.repeat(40) });
      w.closeSync();
      assert.ok(dir.list(WAL_DIR).filter((name) => name.endsWith('.wal')).length < 7);
    });
    afterEach(() => kind.cleanup());

    const PLANTS: Record<string, [name: string, bytes: Uint8Array]> = {
      'an empty file': [segmentPath(7), new Uint8Array(0)],
      'a zero-filled file': [segmentPath(7), new Uint8Array(4096)],
      'an empty file under an unpadded name': [`${WAL_DIR}/7.wal`, new Uint8Array(0)],
    };
    for (const [what, [name, bytes]] of Object.entries(PLANTS)) {
      it(`${what}: the writer refuses the log as the reader does, and changes nothing`, async () => {
        const f = dir.create(name);
        if (bytes.length > 0) f.write(bytes);
        f.sync();
        f.close();
        const before = walFiles(dir);
        assert.throws(() => new WalReader<Entry>(dir, { codec }).replaySync({ mode: 'bestEffortTail' }), CorruptionError);
        assert.throws(() => WalWriter.open<Entry>(dir, { codec }), (err: unknown) => err instanceof CorruptionError && /segment id gap: 7 follows/.test(err.message));
        assert.throws(() => WalWriter.resume<Entry>(dir, { codec }), CorruptionError);
        assert.deepEqual(walFiles(dir).filter((n) => !n.startsWith('LOCK')), before.filter((n) => !n.startsWith('LOCK')));
      });
    }
  });
}
