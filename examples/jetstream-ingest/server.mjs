// An ingestion endpoint: POST /events appends the body to a local write-ahead log and answers
// only once it is durable (appendDurable); a forwarder ships every entry to a NATS JetStream
// stream, once each, in order. GET /stats shows how far the stream lags.
//
//   DATA_DIR=./data NATS_URL=nats://127.0.0.1:4222 STREAM=EVENTS SUBJECT=events.ingest \
//     PORT=8080 node examples/jetstream-ingest/server.mjs
//
// Without NATS_URL it runs the endpoint alone (no forwarding). CREATE_STREAM=1 creates the
// stream (file storage, one replica unless REPLICAS says otherwise) when it does not exist.
// MAX_UNSHIPPED_BYTES bounds the log's unshipped bytes (default 1 GiB): past it, 503.
import fs from 'node:fs';
import http from 'node:http';
import { BackpressureError, FsDirectory, WalWriter, raw } from 'durability';
import { JetStreamError, JetStreamForwarder } from 'durability/jetstream';

const env = process.env;
const dataDir = env.DATA_DIR ?? './data';
const host = '127.0.0.1';
const port = Number(env.PORT ?? 8080);
const stream = env.STREAM ?? 'EVENTS';
const subject = env.SUBJECT ?? 'events.ingest';
const MAX_BODY = 64 * 1024;

fs.mkdirSync(dataDir, { recursive: true });
const dir = new FsDirectory(dataDir);

if (env.NATS_URL !== undefined && env.CREATE_STREAM === '1') await createStream(env.NATS_URL);

let writer;
const forwarder = env.NATS_URL === undefined ? undefined : new JetStreamForwarder({
  dir, servers: env.NATS_URL.split(','), stream, subject,
  maxUnshippedBytes: Number(env.MAX_UNSHIPPED_BYTES ?? 1024 ** 3),
  // Ship only what a power cut cannot take back from the log.
  durableEntryId: () => writer.durableEntryId,
});
writer = WalWriter.open(dir, { codec: raw, observer: forwarder?.observer });
await forwarder?.start();
forwarder?.done.catch((err) => {
  console.error(`forwarder stopped: ${err.message}`);
});

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    reply(res, 200, { lastEntryId: writer.lastEntryId, forwarder: forwarder?.stats() ?? null });
    return;
  }
  if (req.method !== 'POST' || req.url !== '/events') {
    reply(res, 404, { error: 'POST /events or GET /stats' });
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      reply(res, 413, { error: `body over ${MAX_BODY} bytes` });
      req.destroy();
    } else {
      chunks.push(c);
    }
  });
  req.on('end', () => {
    if (size > MAX_BODY) return;
    writer.appendDurable(Buffer.concat(chunks)).then(
      (id) => reply(res, 200, { id }),
      (err) => {
        if (err instanceof BackpressureError) reply(res, 503, { error: err.message }, { 'retry-after': '1' });
        else if (err instanceof JetStreamError && err.reason === 'payload-too-large') reply(res, 413, { error: err.message });
        else reply(res, 500, { error: String(err?.message ?? err) });
      },
    );
  });
});

function reply(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function createStream(url) {
  const { connect } = await import('nats');
  const nc = await connect({ servers: url.split(',') });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.info(stream).catch(() => jsm.streams.add({ name: stream, subjects: [subject], num_replicas: Number(env.REPLICAS ?? 1) }));
  } finally {
    await nc.close();
  }
}

server.listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port}${forwarder ? `, forwarding to ${stream} (${subject})` : ''}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    Promise.resolve(forwarder?.stop()).then(() => writer.close()).then(() => process.exit(0));
  });
}
