import assert from 'node:assert/strict';
import { allThreadsStopped, requireNatsServer, startServer, stopAll, type NatsNode } from './support/nats-server';
import { withConnection } from './support/jetstream-stream';

// The JetStream tests freeze their server (SIGSTOP) to hold every answer back while they act.
// kill(2) only queues SIGSTOP: each thread stops when it next runs, so on a loaded machine the
// server kept answering for milliseconds after freeze(true) returned, and a publish sent then
// was acknowledged ("stop() while a resync waits" in jetstream-attack timed out waiting for a
// publish timeout that never came, 1 run in 25 at load 10).

describe('test support: a frozen nats-server (real nats-server)', function () {
  this.timeout(60000);
  let server: NatsNode;

  before(async () => {
    requireNatsServer();
    server = await startServer();
  });
  after(stopAll);

  it('freeze(true) resolves once every thread of the server is stopped; freeze(false) lets it answer again', async () => {
    const pid = server.pid!;
    for (let i = 0; i < 20; i++) {
      await server.freeze(true);
      assert.ok(allThreadsStopped(pid), `freeze ${i}: a thread of the server still runs`);
      await server.freeze(false);
      assert.ok(!allThreadsStopped(pid), `thaw ${i}: the server is still stopped`);
    }
    await withConnection(server.url, async (nc) => { await nc.flush(); });
  });
});
