import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { FsDirectory } from '../lib/directory/fs';
import { Prng } from '../lib/directory/prng';
import { JetStreamForwarder } from '../lib/jetstream/index';
import { raw } from '../lib/wal/codec';
import { WalWriter } from '../lib/wal/writer';
import { Relay, requireNatsServer, startCluster, startServer, stopAll, tempDir, type NatsNode } from './support/nats-server';
import { assertStreamMatchesLog, createStream, withConnection } from './support/jetstream-stream';

// Exactly once across crashes, with real processes and real servers: an ingestion process
// (appendDurable + forwarder) is SIGKILLed at random moments while the NATS server is killed and
// restarted, the connection is cut (a relay in between drops every socket), and one outage
// outlasts the stream's 1 s de-duplication window. Then a drain process ships the rest and the
// stream is compared with the log entry by entry: nothing lost, nothing twice, in order.
// `npm test` runs the bounded form: five rounds, the first four one of each disruption, and one
// leader failover on the cluster; DURABILITY_LONG=1 (npm run test:long) 150 rounds and 8 failovers.
// The rounds' disruptions and sleeps are drawn from a seed: fixed for npm test, new each long run,
// and named by any failure with the disruptions so far; DURABILITY_SEED=<n> draws them again (the
// timing of real processes is not replayed, so a replay meets the same disruptions, not the same race).

const long = process.env.DURABILITY_LONG === '1';
const SEED = process.env.DURABILITY_SEED ? Number(process.env.DURABILITY_SEED) >>> 0 : long ? (Date.now() ^ process.pid) >>> 0 : 0x5eed;
const ROUNDS = long ? 150 : 5;
const FAILOVERS = long ? 8 : 1;
/** Every run meets each disruption once first; the rounds after those draw theirs at random. */
const FIRST_ACTIONS = ['kill', 'outage', 'restart', 'cut'];
const CHILD = path.join(__dirname, 'fixtures', 'jetstream-child.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  out: string;
  exit: Promise<unknown[]>;
}

function spawnChild(root: string, url: string, stream: string, subject: string, mode: 'ingest' | 'drain'): Child {
  const proc = spawn(process.execPath, [CHILD, root, url, stream, subject, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { proc, out: '', exit: once(proc, 'exit') };
  proc.stdout!.on('data', (c: Buffer) => { child.out += c.toString('utf8'); });
  proc.stderr!.on('data', (c: Buffer) => { child.out += c.toString('utf8'); });
  return child;
}

async function kill(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await child.exit;
}

async function drain(root: string, url: string, stream: string, subject: string): Promise<void> {
  const child = spawnChild(root, url, stream, subject, 'drain');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 90000);
  const [code] = await child.exit;
  clearTimeout(timer);
  assert.equal(code, 0, `drain failed: ${child.out}`);
}

const children = new Set<Child>();

describe('JetStream forwarder: exactly once across crashes (real processes, real servers)', function () {
  this.timeout(long ? 1800000 : 120000);

  before(() => requireNatsServer());
  afterEach(async () => {
    for (const c of children) await kill(c);
    children.clear();
  });
  after(stopAll);

  it(`SIGKILLed ingest process, NATS restarts, cut connections, an outage past the dedup window: ${ROUNDS} rounds`, async () => {
    const server = await startServer();
    const relay = new Relay(() => server.port);
    await relay.start();
    try {
      const root = tempDir('durability-js-crash-');
      const stream = 'CRASH';
      const subject = 'wal.crash';
      await createStream(server.url, { name: stream, subjects: [subject], duplicate_window: 1_000_000_000 });
      const rng = new Prng(SEED);
      const events: string[] = [];
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const child = spawnChild(root, relay.url, stream, subject, 'ingest');
          children.add(child);
          await sleep(200 + rng.int(500));
          const action = FIRST_ACTIONS[round] ?? ['kill', 'kill', 'restart', 'cut'][rng.int(4)];
          events.push(action);
          if (action === 'restart') {
            await server.restart('SIGKILL');
            await sleep(rng.int(300));
          } else if (action === 'cut') {
            relay.cut();
            await sleep(rng.int(300));
          } else if (action === 'outage') {
            // Longer than the 1 s duplicate window: only the sequence guard stops a repeat now.
            await server.stop('SIGKILL');
            await sleep(1500);
            await server.start();
            await sleep(100 + rng.int(300));
          }
          await kill(child);
          children.delete(child);
          assert.ok(!child.out.includes('Error'), `ingest process failed: ${child.out}`);
        }
        await drain(root, relay.url, stream, subject);
        const n = await assertStreamMatchesLog(server.url, stream, new FsDirectory(root));
        assert.ok(n > ROUNDS, `only ${n} entries were written`);
      } catch (err) {
        throw new Error(`seed ${SEED} (DURABILITY_SEED=${SEED} draws these rounds again), after ${events.length} rounds (${events.join(' ')}): ${String(err)}`, { cause: err });
      }
    } finally {
      await relay.close();
    }
  });

  it('an R3 stream on a 3-node cluster: the stream leader is killed and restarted while shipping', async function () {
    const nodes = await startCluster();
    const urls = nodes.map((n) => n.url);
    const stream = 'R3';
    const subject = 'wal.r3';
    await waitForMeta(urls);
    await createStream(urls, { name: stream, subjects: [subject], num_replicas: 3 });
    const root = tempDir('durability-js-r3-');
    const dir = new FsDirectory(root);
    let writer: WalWriter<Uint8Array> | undefined;
    const f = new JetStreamForwarder({
      dir, servers: urls, stream, subject, maxInFlight: 64, publishTimeoutMs: 1000, maxRetryDelayMs: 200,
      durableEntryId: () => writer?.durableEntryId ?? 0,
    });
    writer = WalWriter.open(dir, { codec: raw, observer: f.observer });
    await f.start();
    try {
      let n = 0;
      const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
      const writeFor = async (ms: number): Promise<void> => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          await writer!.appendDurable(enc(`r3 ${n++}`));
          if (n % 8 === 0) await sleep(1);
        }
      };
      await writeFor(500);
      for (let failover = 0; failover < FAILOVERS; failover++) {
        const leader = await streamLeader(urls, stream, nodes);
        await leader.stop('SIGKILL');
        await writeFor(1500);
        await leader.start();
        await writeFor(500);
      }
      const last = writer.lastEntryId;
      for (let i = 0; i < 1500 && f.stats().shippedEntryId < last; i++) await sleep(20);
      assert.equal(f.stats().shippedEntryId, last, `shipped ${f.stats().shippedEntryId} of ${last}`);
      await f.stop();
      await writer.close();
      await assertStreamMatchesLog(urls, stream, dir);
    } finally {
      await f.stop();
      await writer.close();
    }
  });
});

/** Waits (bounded) until the cluster's JetStream meta group has a leader. */
async function waitForMeta(urls: string[]): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      await withConnection(urls, async (nc) => {
        const jsm = await nc.jetstreamManager({ timeout: 2000 });
        await jsm.getAccountInfo();
      });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('the cluster elected no JetStream meta leader');
}

/** The node leading the stream's Raft group, once it has one (bounded wait). */
async function streamLeader(urls: string[], stream: string, nodes: NatsNode[]): Promise<NatsNode> {
  let name: string | undefined;
  for (let i = 0; i < 100; i++) {
    name = await withConnection(urls, async (nc) => {
      const jsm = await nc.jetstreamManager({ timeout: 5000 });
      return (await jsm.streams.info(stream)).cluster?.leader;
    }).catch(() => undefined);
    const node = nodes.find((n) => n.name === name);
    if (node !== undefined) return node;
    await sleep(100);
  }
  throw new Error(`no leader for ${stream} (${String(name)})`);
}
