// Real nats-server processes for the JetStream tests: loopback ports, temporary directories,
// stopped and removed by stopAll() (call it from an after hook, so a failing test stops them too).
// A missing nats-server binary is a test failure with instructions, never a skip.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NATS_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';

export function requireNatsServer(): string {
  const r = spawnSync(NATS_BIN, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`nats-server is required by the JetStream tests and was not found (${NATS_BIN}): install it with ` +
      '`apt-get install -y nats-server` (.ci/run does) or set NATS_SERVER_BIN');
  }
  return r.stdout.trim();
}

/**
 * A loopback port free right now, chosen below the kernel's ephemeral range (32768+), where
 * outgoing connections take their local ports, so a server restarted on it later is unlikely to
 * find it taken. Bounded: 200 tries.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const srv = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      srv.close();
      await once(srv, 'close');
      return port;
    }
  }
  throw new Error('no free loopback port found in 20000..31999');
}

/** Retries `start` (bounded: 5 times) when a port it picked was taken meanwhile by another process. */
async function withPortRetry<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 5 || !/address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

const running = new Set<NatsNode>();

export class NatsNode {
  private proc: ChildProcess | undefined;
  private log = '';

  constructor(readonly name: string, readonly port: number, readonly configPath: string) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.proc !== undefined;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the server and waits until it accepts clients (bounded: 20 s). */
  async start(): Promise<void> {
    if (this.proc !== undefined) return;
    const proc = spawn(NATS_BIN, ['-c', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    running.add(this);
    this.log = '';
    const onData = (c: Buffer): void => { this.log = (this.log + c.toString('utf8')).slice(-20000); };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', () => {
      if (this.proc === proc) {
        this.proc = undefined;
        running.delete(this);
      }
    });
    const deadline = Date.now() + 20000;
    while (!this.log.includes('Server is ready')) {
      if (this.proc !== proc) throw new Error(`nats-server ${this.name} exited at start:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`nats-server ${this.name} not ready after 20 s:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL (a crash) or SIGTERM (a clean shutdown); waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
  }

  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  output(): string {
    return this.log;
  }

  /**
   * SIGSTOP / SIGCONT: a server that stops answering without closing its connections (a frozen
   * host). Freezing resolves once every thread of the server is stopped (bounded: 10 s): kill(2)
   * only queues SIGSTOP, and each thread stops when it next runs, so on a loaded machine a server
   * just "frozen" went on answering for milliseconds (and acknowledged a publish sent after it).
   * SIGCONT resumes every thread before kill(2) returns.
   */
  async freeze(frozen: boolean): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    proc.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
    const deadline = Date.now() + 10000;
    while (frozen && this.proc === proc && !allThreadsStopped(proc.pid!)) {
      if (Date.now() > deadline) throw new Error(`nats-server ${this.name} (pid ${String(proc.pid)}) not stopped 10 s after SIGSTOP`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** The JetStream store directory (servers started by startServer). */
  get storeDir(): string {
    return path.join(path.dirname(this.configPath), 'js');
  }
}

/**
 * Whether every thread of process `pid` is stopped (SIGSTOP): each one's state in
 * /proc/<pid>/task on Linux, elsewhere the process's as ps(1) reports it.
 */
export function allThreadsStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
    return ps.stdout.trim().startsWith('T');
  }
  return tasks.every((task) => {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${task}/stat`, 'latin1');
    } catch {
      return true; // the thread is gone
    }
    // The state follows the parenthesised command name, which may itself hold ') '.
    const state = stat[stat.lastIndexOf(')') + 2];
    return state === 'T' || state === 't';
  });
}

const tempDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed by stopAll(). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** One JetStream server on a free loopback port; `extra` lines go into its config file. */
export async function startServer(extra = '', jetstream = true): Promise<NatsNode> {
  requireNatsServer();
  return withPortRetry(() => startServerOnce(extra, jetstream));
}

async function startServerOnce(extra: string, jetstream: boolean): Promise<NatsNode> {
  const dir = tempDir('durability-nats-');
  const port = await freePort();
  const config = path.join(dir, 'server.conf');
  const js = jetstream ? `jetstream { store_dir: "${path.join(dir, 'js')}" }` : '';
  fs.writeFileSync(config, `listen: 127.0.0.1:${port}\n${js}\n${extra}\n`);
  const node = new NatsNode('single', port, config);
  await node.start();
  return node;
}

/** A 3-node JetStream cluster, every port on 127.0.0.1. */
export async function startCluster(): Promise<NatsNode[]> {
  requireNatsServer();
  return withPortRetry(startClusterOnce);
}

async function startClusterOnce(): Promise<NatsNode[]> {
  const dir = tempDir('durability-nats-cluster-');
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const nodes = ports.map((port, i) => {
    const name = `n${i + 1}`;
    const config = path.join(dir, `${name}.conf`);
    const peers = routes.filter((_, j) => j !== i).map((r) => `nats-route://127.0.0.1:${r}`).join(', ');
    fs.writeFileSync(config, [
      `server_name: ${name}`, `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: "${path.join(dir, name)}" }`,
      `cluster { name: durability, listen: 127.0.0.1:${routes[i]}, routes: [${peers}] }`, '',
    ].join('\n'));
    return new NatsNode(name, port, config);
  });
  const started = await Promise.allSettled(nodes.map((n) => n.start()));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  return nodes;
}

/** Kills every server this process started, then removes every tempDir() (tests' after hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((n) => n.stop('SIGKILL')));
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A loopback TCP relay in front of a server, whose connections a test can cut at will. */
export class Relay {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;

  constructor(private readonly target: () => number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target(), '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Drops every connection through the relay (as a network cut would). */
  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    if (this.server !== undefined) {
      this.server.close();
      await once(this.server, 'close');
    }
  }
}

/**
 * In the calling describe(): one nats-server for its tests (handed to `use` once started), and
 * after each test the server thawed and restarted where the test froze or killed it, and the
 * forwarders pushed onto `stop` stopped.
 */
export function usingNatsServer(use: (server: NatsNode) => void, stop: { stop(): Promise<unknown> }[]): void {
  let server: NatsNode | undefined;
  before(async () => {
    requireNatsServer();
    server = await startServer();
    use(server);
  });
  afterEach(async () => {
    if (server === undefined) return;
    await server.freeze(false);
    if (!server.alive) await server.start();
    for (const f of stop.splice(0)) await f.stop();
  });
  after(stopAll);
}
