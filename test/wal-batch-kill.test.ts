// appendBatch hands the batch to the OS before it returns (every flush policy but 'manual'), so a
// process killed right after the call keeps the whole batch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import type { FlushPolicy } from '../lib/wal/flush-policy';
import { WalReader } from '../lib/wal/reader';

const CHILD = path.join(__dirname, 'fixtures', 'batch-kill-child.js');

async function batchThenKill(root: string, backend: string, policy: FlushPolicy | undefined): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, root, backend, JSON.stringify(policy ?? { everyN: 64 })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('returned\n')) child.kill('SIGKILL');
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `child exited ${code} before the kill`);
  const reader = new WalReader(new FsDirectory(root), { codec: raw });
  return reader.replaySync({ mode: 'bestEffortTail' }).map((r) => Buffer.from(r.payload).toString());
}

for (const backend of availableBackends()) {
  describe(`appendBatch and a killed process (${backend.name})`, function () {
    this.timeout(60_000);
    let root: string;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-batch-kill-'));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    for (const policy of [undefined, { everyN: 1000 }, { intervalMs: 60_000 }, 'perAppend'] as const) {
      it(`keeps a returned batch with flushPolicy ${JSON.stringify(policy ?? 'default')}`, async () => {
        assert.deepEqual(await batchThenKill(root, backend.name, policy), ['a', 'bb', 'ccc']);
      });
    }

    it("leaves it buffered with flushPolicy 'manual' (the caller flushes), so the kill loses it", async () => {
      assert.deepEqual(await batchThenKill(root, backend.name, 'manual'), []);
    });
  });
}
