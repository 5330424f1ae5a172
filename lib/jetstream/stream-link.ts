import type { JetStreamClient, JetStreamManager, NatsConnection, PubAck } from 'nats';
import { DurabilityError, JetStreamError, describe } from '../errors';
import { MAX_CURSOR_STAMP_LENGTH } from './cursor';
import { natsClient } from './nats-client';
import { checkStreamConfig } from './stream-config';
import { isApiCode } from './nats-errors';
import type { ResolvedForwarderOptions } from './options';
import type { StreamTail } from './log-match';
import type { StreamState } from './resume-point';

// The forwarder's connection to its stream: connecting and checking the stream, asking where it
// stands, publishing one entry, closing. What to ship, and when, is forwarder.ts's.

export class StreamLink {
  connected = false;
  reconnects = 0;
  /** The largest message the server and the stream take, as of the last look (0 before connecting). */
  maxMessage = 0;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;

  /** `event`: reports 'disconnect' and 'reconnect'. */
  constructor(private readonly o: ResolvedForwarderOptions, private readonly event: (kind: string, extra: Record<string, unknown>) => void) {}

  async connect(): Promise<void> {
    const o = this.o;
    const { connect } = natsClient();
    try {
      this.nc = await connect({
        ...o.connectionOptions, servers: o.servers, timeout: o.connectTimeoutMs,
        reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100, waitOnFirstConnect: false,
      });
    } catch (err) {
      throw new JetStreamError('unreachable', `cannot connect to NATS at ${o.servers.join(', ')}: ${describe(err)}`, { cause: err });
    }
    this.connected = true;
    this.maxMessage = this.messageLimit(undefined);
    this.js = this.nc.jetstream({ timeout: o.publishTimeoutMs });
    this.jsm = await this.nc.jetstreamManager({ timeout: o.publishTimeoutMs }).catch((err: unknown) => {
      throw new JetStreamError('unreachable', `NATS at ${o.servers.join(', ')} does not answer JetStream requests (is JetStream enabled?): ${describe(err)}`, { cause: err });
    });
    void this.watchStatus(this.nc);
  }

  /** The stream must exist and hold our subject alone (the order guard relies on nobody else publishing there). */
  async checkStream(): Promise<void> {
    const o = this.o;
    let info;
    try {
      info = await this.jsm!.streams.info(o.stream);
    } catch (err) {
      if (isApiCode(err, 10059)) throw new JetStreamError('stream-not-found', `stream ${o.stream} does not exist; create it with subjects [${o.subject}]`, { cause: err });
      throw new JetStreamError('unreachable', `cannot read stream ${o.stream}: ${describe(err)}`, { cause: err });
    }
    checkStreamConfig(info.config, o.stream, o.subject);
    this.maxMessage = this.messageLimit(info.config.max_msg_size);
  }

  /**
   * Where the stream stands now (the tail with its payload). The subjects and the message limit
   * are read again too: both can change while running, and the resume point counts every
   * sequence after the anchor as one of our entries, which holds only while nobody else can
   * publish to the stream.
   */
  async state(): Promise<StreamState & { readonly tail: StreamTail | undefined }> {
    const info = await this.jsm!.streams.info(this.o.stream);
    checkStreamConfig(info.config, this.o.stream, this.o.subject);
    this.maxMessage = this.messageLimit(info.config.max_msg_size);
    // A stamp no cursor could keep is no stamp: the creation time is then compared by the clocks.
    const stamp = typeof info.created === 'string' && info.created.length <= MAX_CURSOR_STAMP_LENGTH ? info.created : undefined;
    return { last: info.state.last_seq, tail: await this.lastMessage(), created: Date.parse(info.created), createdStamp: stamp };
  }

  /** Publishes entry `id`, stored only directly after stream sequence `expect` (0: only into a stream that never stored a message). */
  publish(id: number, payload: Uint8Array, expect: number): Promise<PubAck> {
    return this.js!.publish(this.o.subject, payload, { msgID: String(id), timeout: this.o.publishTimeoutMs, expect: { lastSequence: expect } });
  }

  /**
   * Drains the connection, within publishTimeoutMs: a server that stopped answering (a frozen
   * host, a black-holed network) would otherwise hold stop() until the client's ping timeouts.
   */
  async close(): Promise<void> {
    const nc = this.nc;
    if (nc === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.o.publishTimeoutMs);
    });
    await Promise.race([nc.drain().catch(() => undefined), late]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
    this.connected = false;
  }

  /** Closes at once, draining nothing (a start that failed). */
  async abandon(): Promise<void> {
    await this.nc?.close().catch(() => undefined);
    this.nc = undefined;
    this.connected = false;
  }

  private messageLimit(streamMax: number | undefined): number {
    const server = this.nc?.info?.max_payload ?? 1024 * 1024;
    return typeof streamMax === 'number' && streamMax > 0 ? Math.min(server, streamMax) : server;
  }

  /** The message at stream sequence `seq` as an entry (id NaN: one without an entry id; undefined: no message there). */
  async messageAt(seq: number): Promise<{ readonly id: number; readonly payload: Uint8Array } | undefined> {
    try {
      const m = await this.jsm!.streams.getMessage(this.o.stream, { seq });
      const id = Number(m.header?.get('Nats-Msg-Id') ?? NaN);
      return { id: m.subject === this.o.subject && Number.isSafeInteger(id) && id > 0 ? id : NaN, payload: m.data };
    } catch (err) {
      if (isApiCode(err, 10037)) return undefined;
      throw err;
    }
  }

  /** The subject's last message as an entry (undefined: none left). */
  private async lastMessage(): Promise<StreamTail | undefined> {
    const o = this.o;
    try {
      const m = await this.jsm!.streams.getMessage(o.stream, { last_by_subj: o.subject });
      const id = Number(m.header?.get('Nats-Msg-Id'));
      if (!Number.isSafeInteger(id) || id < 1) {
        throw new JetStreamError('stream-subjects', `the last message of ${o.subject} (seq ${m.seq}) has no entry id as Nats-Msg-Id: someone else publishes there`);
      }
      return { entryId: id, seq: m.seq, payload: m.data };
    } catch (err) {
      if (err instanceof DurabilityError) throw err;
      if (isApiCode(err, 10037)) return undefined; // no message found
      throw err;
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.event('disconnect', { server: s.data });
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.reconnects++;
        this.event('reconnect', { server: s.data });
      }
    }
  }
}
