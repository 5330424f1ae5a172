import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { requireNatsServer, startServer, stopAll, tempDir, type NatsNode } from './support/nats-server';
import { createStream, until } from './support/jetstream-stream';

// Shutdown from outside the process: a forwarder stopped while its publishes wait on a server
// that is gone, and one that stopped on its own, must leave nothing that keeps the process alive
// (a socket, a reconnect timer): the child process exits by itself once its main returns.

const CHILD = path.join(__dirname, 'fixtures', 'jetstream-stop-child.js');
/** Far beyond what either run needs (publishTimeoutMs 1000: stop() takes at most about 3 s). */
const EXIT_WITHIN_MS = 15000;

interface Run {
  out: () => string;
  exited: Promise<{ code: number | null; hung: boolean }>;
}

function run(root: string, url: string, stream: string, subject: string, mode: string): Run {
  const proc = spawn(process.execPath, [CHILD, root, url, stream, subject, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
  let hung = false;
  const timer = setTimeout(() => { hung = true; proc.kill('SIGKILL'); }, EXIT_WITHIN_MS);
  const exited = once(proc, 'exit').then(([code]) => {
    clearTimeout(timer);
    return { code: code as number | null, hung };
  });
  return { out: () => out, exited };
}

describe('JetStream forwarder shutdown (a real process, a real nats-server)', function () {
  this.timeout(60000);
  before(() => requireNatsServer());
  after(stopAll);

  it('stop() while publishes wait on a killed server settles, and the process then exits on its own', async () => {
    const server: NatsNode = await startServer();
    const root = tempDir('durability-jsd-');
    await createStream(server.url, { name: 'SD1', subjects: ['wal.sd1'] });
    const child = run(root, server.url, 'SD1', 'wal.sd1', 'unreachable');
    await until('5 shipped', () => child.out().includes('shipped'));
    await server.stop('SIGKILL');
    fs.writeFileSync(path.join(root, 'go'), '');
    const { code, hung } = await child.exited;
    assert.equal(hung, false, `the process was still alive ${EXIT_WITHIN_MS} ms after its main returned: ${child.out()}`);
    assert.equal(code, 0, child.out());
    assert.match(child.out(), /stopped \d+ inFlight=0 connected=false/);
  });

  it('a forwarder that stopped on its own (done rejected) leaves nothing behind, without a stop() call', async () => {
    const server: NatsNode = await startServer('max_payload: 4096');
    const root = tempDir('durability-jsd-');
    await createStream(server.url, { name: 'SD2', subjects: ['wal.sd2'] });
    const child = run(root, server.url, 'SD2', 'wal.sd2', 'fatal');
    const { code, hung } = await child.exited;
    assert.match(child.out(), /fatal payload-too-large/);
    assert.equal(hung, false, `the process was still alive ${EXIT_WITHIN_MS} ms after done rejected: ${child.out()}`);
    assert.equal(code, 0, child.out());
  });
});
