import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseCommand } from './args';
import { CHECKPOINT_DIR } from '../checkpoint/store';
import { FsDirectory } from '../directory/fs';
import { describe } from '../errors';
import { recover } from '../recover';
import { WAL_DIR } from '../wal/format';
import { applyEntry, entryCodec, initialState, stateCodec, type DemoEntry, type DemoState } from './demo-model';
import { CliError, EXIT_DAMAGED, EXIT_OK, line, type CliIo } from './io';

export const usage = `durability demo [--dir <path>] [--seconds <s>] [--keep]
  Crash and recover, end to end: a child process appends entries from 64 concurrent clients,
  each acknowledged only once durable, checkpoints its state twice a second, and is killed with
  SIGKILL mid-stream; this process then recovers (newest checkpoint + WAL replay) and compares
  what was acknowledged with what came back.
  --dir: where the log goes, a new or empty directory, kept afterwards (default: a fresh
  temporary directory, removed afterwards unless --keep); --seconds: how long to ingest before
  the kill (default 3).`;

interface Ingest {
  backend: string;
  acknowledged: number;
  checkpoints: number;
  ingestMs: number;
  exitSignal: NodeJS.Signals | null;
}

export async function demo(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand('demo', argv, { dir: { type: 'string' }, seconds: { type: 'string', default: '3' }, keep: { type: 'boolean' } }, false);
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60)) throw new CliError(`--seconds must be in (0, 60], not ${JSON.stringify(values.seconds)}`);
  const chosen = values.dir !== undefined;
  const dirPath = chosen ? path.resolve(values.dir as string) : fs.mkdtempSync(path.join(os.tmpdir(), 'durability-demo-'));
  if (chosen) requireNewOrEmpty(dirPath);
  try {
    line(io.stdout, `demo: log in ${dirPath}`);
    const ingest = await runChild(dirPath, seconds * 1000);
    line(io.stdout, `ingest: ${ingest.acknowledged} entries acknowledged as durable in ${(ingest.ingestMs / 1000).toFixed(1)} s ` +
      `(${Math.round(ingest.acknowledged / (ingest.ingestMs / 1000))} durable appends/s, 64 concurrent clients, ${ingest.backend} backend)`);
    line(io.stdout, `crash: child killed with ${ingest.exitSignal} mid-stream`);

    const started = process.hrtime.bigint();
    // Newest valid checkpoint, then the WAL after it; opening the writer repairs the torn tail.
    const log = await recover<DemoState, DemoEntry>({
      dir: new FsDirectory(dirPath), codec: entryCodec, stateCodec, initial: initialState(), apply: applyEntry, writer: true,
    });
    const recovered = log.writer.lastEntryId;
    await log.close();
    const recoveryMs = Number(process.hrtime.bigint() - started) / 1e6;

    const lost = Math.max(0, ingest.acknowledged - recovered);
    const consistent = log.state.count === recovered;
    const from = log.checkpointEntryId === 0 ? 'no checkpoint' : `the checkpoint at entry ${log.checkpointEntryId}`;
    line(io.stdout, `recover: ${recovered} entries in ${recoveryMs.toFixed(0)} ms (from ${from}, then ${log.replayed} WAL entries replayed; ` +
      `${ingest.checkpoints} checkpoints were taken during ingest)`);
    line(io.stdout, `state: ${log.state.count} entries applied, amounts sum to ${log.state.total} ` +
      `(${consistent ? 'each entry applied exactly once' : 'MISMATCH: entries applied twice or skipped'})`);
    line(io.stdout, `result: acknowledged ${ingest.acknowledged}, recovered ${recovered} ` +
      `(${recovered - Math.min(recovered, ingest.acknowledged)} more were written but not yet acknowledged), lost ${lost}`);
    line(io.stdout, 'note: SIGKILL is a process crash (the page cache survives); power loss is modelled by SimulatedDirectory in the tests.');
    return lost === 0 && consistent ? EXIT_OK : EXIT_DAMAGED;
  } finally {
    if (!chosen && values.keep !== true) fs.rmSync(dirPath, { recursive: true, force: true });
    else line(io.stdout, `demo: log kept in ${dirPath} (try: durability inspect ${dirPath})`);
  }
}

/**
 * The demo writes its log into --dir and leaves it there, so only a new or empty directory will
 * do: anything else is the user's. A checkpoints/ left without wal/ would even be recovered from
 * and then pruned by the demo's own checkpoints.
 */
function requireNewOrEmpty(dirPath: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dirPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CliError(`cannot use ${dirPath} for the demo: ${describe(err)}`);
  }
  if (names.includes(WAL_DIR) || names.includes(CHECKPOINT_DIR)) throw new CliError(`${dirPath} already holds a log; the demo wants an empty directory`);
  if (names.length > 0) throw new CliError(`${dirPath} is not empty (it holds ${names.length} entries, e.g. ${names[0]}); the demo wants a new or empty directory`);
}

function runChild(dirPath: string, ingestMs: number): Promise<Ingest> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'demo-child.js'), dirPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let backend = '?';
    let acknowledged = 0;
    let checkpoints = 0;
    let started = 0;
    let killedAt = 0;
    createInterface({ input: child.stdout }).on('line', (text) => {
      const [word, value] = text.split(' ');
      if (word === 'ack') acknowledged = Math.max(acknowledged, Number(value));
      else if (word === 'checkpoint') checkpoints++;
      else if (word === 'ready') {
        backend = value;
        started = Date.now();
        timer = setTimeout(() => {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }, ingestMs);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const failed = ingestFailure(started > 0, killedAt > 0, code, signal);
      if (failed !== undefined) return reject(new CliError(failed));
      resolve({ backend, acknowledged, checkpoints, ingestMs: killedAt - started, exitSignal: signal });
    });
  });
}

/**
 * Why the ingest child's end demonstrates nothing, or undefined when it is the crash the demo
 * stages: killed by the demo's own SIGKILL. A child that failed by itself (a full disk, say) is
 * an error to report, not a crash to recover from.
 */
export function ingestFailure(started: boolean, killed: boolean, code: number | null, signal: NodeJS.Signals | null): string | undefined {
  const how = signal !== null ? `died of ${signal}` : `exited with code ${code}`;
  if (!started) return `the ingest process ${how} before starting`;
  if (!killed || signal !== 'SIGKILL') return `the ingest process ${how} before the demo killed it (its error is above); nothing was demonstrated`;
  return undefined;
}
