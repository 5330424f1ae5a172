// Loopback load run of examples/jetstream-ingest: the endpoint alone, then with forwarding to a
// JetStream server started here. Bounded in count and time; every socket is on 127.0.0.1.
//   npx tsc -p tsconfig.json && node dist/bench/jetstream-load.js [--requests N] [--seconds S] [--concurrency C]
// Prints a Markdown table (requests/s, p50/p99 latency, how far the stream lagged).

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startServer, stopAll } from '../test/support/nats-server';

const root = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(root, 'examples', 'jetstream-ingest', 'server.mjs');

interface Stats { lastEntryId: number; forwarder: { shippedEntryId: number; lagEntries: number; lagSeconds: number } | null }

interface RunResult {
  mode: string;
  requests: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  maxLagEntries: number;
  maxLagSeconds: number;
  drainMs: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function startExample(env: NodeJS.ProcessEnv): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [EXAMPLE], { env: { ...process.env, ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (c: string) => {
      out += c;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`example exited with ${String(code)}: ${out}`)));
  });
  return { proc, port };
}

function request(agent: http.Agent, port: number, method: string, urlPath: string, body?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run(mode: string, env: NodeJS.ProcessEnv, total: number, seconds: number, concurrency: number): Promise<RunResult> {
  const { proc, port } = await startExample(env);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  let issued = 0;
  let maxLagEntries = 0;
  let maxLagSeconds = 0;
  const stats = async (): Promise<Stats> => JSON.parse(await request(agent, port, 'GET', '/stats')) as Stats;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = (await stats()).forwarder;
      if (s !== null) {
        maxLagEntries = Math.max(maxLagEntries, s.lagEntries);
        maxLagSeconds = Math.max(maxLagSeconds, s.lagSeconds);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const started = process.hrtime.bigint();
  const worker = async (w: number): Promise<void> => {
    while (issued < total && Date.now() < deadline) {
      const n = issued++;
      const body = Buffer.from(JSON.stringify({ worker: w, n, at: Date.now(), pad: 'p'.repeat(64) }));
      const t0 = process.hrtime.bigint();
      await request(agent, port, 'POST', '/events', body);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const loadEnd = Date.now();
  let drainMs = 0;
  // Bounded: the stream gets 60 s to catch up after the load stops.
  for (let i = 0; i < 600; i++) {
    const s = await stats();
    if (s.forwarder === null || s.forwarder.shippedEntryId >= s.lastEntryId) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  drainMs = Date.now() - loadEnd;
  sampling = false;
  await sampler;
  agent.destroy();
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  await exited;
  latencies.sort((a, b) => a - b);
  return {
    mode, requests: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed,
    p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), maxLagEntries, maxLagSeconds, drainMs: env.NATS_URL === undefined ? 0 : drainMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' } } });
  const total = Number(values.requests ?? 20000);
  const seconds = Number(values.seconds ?? 15);
  const concurrency = Number(values.concurrency ?? 64);
  const nats = await startServer();
  try {
    const results: RunResult[] = [];
    // Alternating, twice each: a machine shared with other work drifts between runs.
    const plan = [['endpoint alone', false], ['with forwarding', true], ['endpoint alone', false], ['with forwarding', true]] as const;
    for (const [mode, forward] of plan) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-ingest-'));
      const env: NodeJS.ProcessEnv = { DATA_DIR: dataDir };
      if (forward) Object.assign(env, { NATS_URL: nats.url, CREATE_STREAM: '1', STREAM: `LOAD${results.length}`, SUBJECT: `load.events${results.length}` });
      results.push(await run(mode, env, total, seconds, concurrency));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const load = os.loadavg()[0].toFixed(1);
    console.log(`${total} requests max, ${seconds} s max, ${concurrency} concurrent keep-alive clients, ~130 B bodies; ${os.cpus().length} CPUs, load ${load}, Node ${process.version}\n`);
    console.log('| run | requests | req/s | p50 | p99 | max stream lag (entries) | max lag (s) | catch-up after load |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const lag = r.mode === 'endpoint alone' ? '–' : undefined;
      console.log(`| ${r.mode} | ${r.requests} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${lag ?? r.maxLagEntries} | ${lag ?? r.maxLagSeconds.toFixed(2)} | ${lag ?? `${r.drainMs} ms`} |`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
