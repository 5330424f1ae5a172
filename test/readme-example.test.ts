import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// The README's example, executed. Between the markers it is the README text verbatim, except
// that the README imports from 'durability' (this file imports from the source tree).
import { FsDirectory, jsonCodec, recover } from '../lib/index';

async function example(dataDir: string): Promise<Record<string, number>> {
  // --- README example start ---
  type Op = { key: string; value: number | null };
  type State = Record<string, number>;
  const apply = (state: State, { payload: op }: { payload: Op }): State => {
    if (op.value === null) delete state[op.key];
    else state[op.key] = op.value;
    return state;
  };

  // Newest valid checkpoint + every WAL entry after it; a writer positioned to continue.
  const log = await recover({
    dir: new FsDirectory(dataDir, { create: true }),
    codec: jsonCodec<Op>(),
    stateCodec: jsonCodec<State>(),
    initial: {},
    apply,
    writer: true,
  });
  console.log(`replayed ${log.replayed} entries after checkpoint ${log.checkpointEntryId}`);

  // Log first, then change the state; acknowledge only after sync().
  const op: Op = { key: 'visits', value: (log.state.visits ?? 0) + 1 };
  log.writer.append(op);
  apply(log.state, { payload: op });
  await log.writer.sync();

  // Now and then: checkpoint (the WAL it covers is truncated, old checkpoints pruned).
  await log.checkpoint(log.state);
  await log.close();
  // --- README example end ---
  return log.state;
}

describe('README example', () => {
  it('runs as written, and a second run continues from the checkpoint', async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'durability-readme-')), 'data');
    const log = console.log;
    const lines: string[] = [];
    console.log = (line: string) => lines.push(line);
    try {
      assert.deepEqual(await example(root), { visits: 1 });
      assert.deepEqual(await example(root), { visits: 2 });
    } finally {
      console.log = log;
      fs.rmSync(path.dirname(root), { recursive: true, force: true });
    }
    assert.deepEqual(lines, ['replayed 0 entries after checkpoint 0', 'replayed 0 entries after checkpoint 1']);
  });
});
