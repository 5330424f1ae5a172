import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends } from '../lib/backend/select';
import { Prng } from '../lib/directory/prng';
import { FsDirectory } from '../lib/directory/fs';
import { recover } from '../lib/recover';
import { WalReader } from '../lib/wal/reader';
import { applyIngest, ingestCodec, ingestStateCodec } from './fixtures/recover-ingest';

// Real processes, real SIGKILLs: a child ingests with durable appends and checkpoints, telling
// us each acknowledged sequence number; we kill it at random moments (also during its own
// recovery), recover, and check that every acknowledged number is there and none is missing
// in between. SIGKILL keeps the page cache, so this covers process crashes; power loss is the
// simulated directory's job (recover-model.test.ts). `npm test` runs 12 lives (both backends,
// kills before and after the child's recovery); DURABILITY_LONG=1 (npm run test:long) 1000.

const long = process.env.DURABILITY_LONG === '1';
const KILLS = long ? 1000 : 12;
const CHILD = path.join(__dirname, 'fixtures', 'recover-child.js');

interface Life {
  child: ChildProcess;
  started: number | undefined;
  acked: number;
  exit: Promise<unknown[]>;
}

function spawnChild(root: string, backend: string): Life {
  const child = spawn(process.execPath, [CHILD, root, backend], { stdio: ['ignore', 'pipe', 'pipe'] });
  const life: Life = { child, started: undefined, acked: 0, exit: once(child, 'exit') };
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('start ')) life.started = Number(line.slice(6));
      else life.acked = Math.max(life.acked, Number(line));
    }
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    err += c;
  });
  void life.exit.then(([code]) => {
    if (code !== null) process.stderr.write(`recover-child exited with ${String(code)}: ${err}\n`);
  });
  return life;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('recovery after SIGKILL (real processes)', () => {
  it(`keeps every acknowledged entry, without gaps, over ${KILLS} kills`, async function () {
    this.timeout(long ? 3_600_000 : 120_000);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-kill-'));
    const backends = availableBackends();
    const prng = new Prng(0xc0ffee);
    let acked = 0;
    let killedBeforeStart = 0;
    try {
      for (let k = 0; k < KILLS; k++) {
        const backend = backends[k % backends.length];
        const life = spawnChild(root, backend.name);
        if (prng.nextUint32() % 5 === 0) {
          // Anywhere, including during the child's own recovery.
          await sleep(prng.nextUint32() % 150);
        } else {
          while (life.started === undefined && life.child.exitCode === null) await sleep(2);
          await sleep(5 + (prng.nextUint32() % 80));
        }
        if (life.started === undefined) killedBeforeStart++;
        life.child.kill('SIGKILL');
        const [code, signal] = await life.exit;
        assert.equal(signal, 'SIGKILL', `life ${k} ended by itself (code ${String(code)})`);
        if (life.started !== undefined) assert.ok(life.started >= acked, `life ${k} recovered ${life.started}, but ${acked} had been acknowledged`);
        acked = Math.max(acked, life.acked);

        const dir = new FsDirectory(root, { backend });
        const r = await recover({ dir, codec: ingestCodec, stateCodec: ingestStateCodec, initial: { seq: 0, gaps: 0 }, apply: applyIngest });
        assert.equal(r.state.gaps, 0, `after kill ${k}: a gap in the sequence`);
        assert.ok(r.state.seq >= acked, `after kill ${k}: recovered up to ${r.state.seq}, ${acked} acknowledged`);
        // The entry ids themselves are contiguous too (the reader checks every id on the way).
        assert.equal(r.lastEntryId - r.checkpointEntryId, r.replayed);
      }
      assert.ok(acked > KILLS, `${acked} entries acknowledged over ${KILLS} lives`);
      if (process.env.DURABILITY_VERBOSE === "1") console.log(`${acked} acknowledged, ${killedBeforeStart} kills before start`);
      const final = new WalReader(new FsDirectory(root), { codec: ingestCodec }).replaySync({ mode: 'bestEffortTail' });
      assert.ok(final.length > 0);
      assert.ok(killedBeforeStart < KILLS);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
