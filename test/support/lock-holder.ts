import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

// A writer holding a log's lock in another process (fixtures/wal-lock-holder.ts), for the tests
// of what a contender sees.

const HOLDER = path.join(__dirname, '..', 'fixtures', 'wal-lock-holder.js');

/** A process holding a writer on `root` through the backend named, once it has said so. */
export async function holdingProcess(root: string, backend: 'native' | 'ts'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [HOLDER, root, backend], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  for await (const chunk of child.stdout!) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  assert.equal(out, 'locked\n');
  return child;
}

export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
