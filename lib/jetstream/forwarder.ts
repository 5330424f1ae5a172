// Ships every entry of a log to a JetStream stream, once each and in entry-id order.
//
// The resume point is the stream itself: at start and after every failure the forwarder reads
// the stream's last sequence and the subject's last message (its Nats-Msg-Id is an entry id). It
// keeps an anchor, an entry id and the sequence the stream acknowledged for it (the cursor's, at
// start), and since every message after the anchor is the next entry (the guards below), the
// last sequence says how far shipping got even when retention removed the newest messages. A
// stream whose last sequence is below the anchor's lost messages it had acknowledged (a server
// that lost its unsynced tail): shipping goes back to what it holds and sends the rest again,
// unless the stream was created after the anchor (deleted and recreated: it continues after the
// cursor, as before). Each publish carries two guards:
//  - Nats-Msg-Id = entry id: the server drops a repeat within the stream's duplicate window;
//  - Nats-Expected-Last-Sequence = the stream sequence the previous entry got (or will get):
//    the server stores a message only directly after its predecessor, so the stream can neither
//    skip an entry nor hold one twice, however long an outage lasted (no window involved).
//    The stream-wide sequence, not the per-subject one: a clustered 2.9 server checks the
//    per-subject expectation against applied state only, which refuses every pipelined publish,
//    while the stream-wide one counts proposals in flight. Hence the stream must hold our
//    subject alone (checked at start).
// When one publish is lost (a connection drop) while later ones were sent, every later publish
// of that window is refused too; the forwarder resyncs and sends them again.
// The position advances only on acknowledgements, in order.

import type { JetStreamClient, JetStreamManager, NatsConnection, PubAck } from 'nats';
import { channels } from '../diagnostics';
import { BackpressureError, DurabilityError, InvalidStateError, JetStreamError, describe } from '../errors';
import { FRAME_HEADER_SIZE } from '../wal/format';
import type { WalObserver } from '../wal/observer';
import { WalReader } from '../wal/reader';
import { raw, type Codec } from '../wal/codec';
import { Backlog, type ForwarderStats } from './backlog';
import { readCursor, writeCursor, type ForwarderCursor } from './cursor';
import { natsClient } from './nats-client';
import { resolveForwarderOptions, type JetStreamForwarderOptions, type ResolvedForwarderOptions } from './options';

/** Headers the client adds to each message, counted against the server's max_payload. */
const HEADER_ALLOWANCE = 160;
const FIRST_RETRY_MS = 50;

interface InFlight {
  readonly id: number;
  readonly bytes: number;
  /** The stream sequence this publish stores at when the guard lets it (undefined: not known yet). */
  readonly seq: number | undefined;
  state: 'pending' | 'ok' | 'failed';
  ack?: PubAck;
  error?: unknown;
}

interface ResumePoint {
  /** Last entry the stream holds (or the cursor, when the stream says nothing). */
  readonly entryId: number;
  /** That entry's stream sequence (0: unknown). */
  readonly seq: number;
}

/** An entry id and the stream sequence the stream acknowledged for it, and when that was learned (ms since the epoch). */
interface Anchor {
  readonly entryId: number;
  readonly seq: number;
  readonly at: number;
}

/** The subject's last message, as an entry. */
interface StreamTail {
  readonly entryId: number;
  readonly seq: number;
}

/** A byte-length codec: the start-up scan needs sizes, not payloads. */
const lengthOnly: Codec<number> = { name: 'length', encode: () => new Uint8Array(0), decode: (b) => b.length };

export class JetStreamForwarder {
  readonly options: ResolvedForwarderOptions;
  /**
   * Pass as (or call from) the WalWriter's observer: it counts appended bytes, refuses appends past
   * maxUnshippedBytes (onOverflow 'reject'), and vetoes truncating segments not shipped yet.
   */
  readonly observer: WalObserver;
  private readonly backlog: Backlog;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private maxMessage = 0;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private readonly stopper = new AbortController();
  private session: AbortController | undefined;
  private running: Promise<void> | undefined;
  /** A start() in progress; stop() lets it finish (or give up) before closing. */
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private anchor: Anchor | undefined;
  private fatal: unknown;
  private inflight: InFlight[] = [];
  private expectSeq: number | undefined;
  private cursorWrittenAt = 0;
  private cursorEntry = 0;
  private reconnects = 0;
  private errors = 0;
  private connected = false;
  private overflowing = false;
  private wakeWindow: (() => void) | undefined;
  private wakeDurable: (() => void) | undefined;
  private scanned = false;

  constructor(options: JetStreamForwarderOptions) {
    this.options = resolveForwarderOptions(options);
    const cursor = readCursor(this.options.dir, this.options.cursorPath);
    if (cursor !== undefined && (cursor.stream !== this.options.stream || cursor.subject !== this.options.subject)) {
      throw new JetStreamError('stream-subjects', `${this.options.cursorPath} belongs to stream ${cursor.stream} subject ${cursor.subject}, not ${this.options.stream} ${this.options.subject}; move it away to ship this log elsewhere`);
    }
    this.cursorEntry = cursor?.entryId ?? 0;
    if (cursor !== undefined && cursor.seq > 0 && cursor.entryId > 0) this.anchor = { entryId: cursor.entryId, seq: cursor.seq, at: cursor.updatedAt };
    this.backlog = new Backlog(this.cursorEntry);
    const self = this;
    this.observer = {
      admit(frameBytes: number): void { self.admit(frameBytes); },
      onAppend(entryId: number, frameBytes: number): void { self.backlog.appended(entryId, frameBytes); },
      onSync(): void { self.wakeDurable?.(); },
      beforeTruncate(info): boolean { return info.lastEntryId <= self.backlog.shipped; },
    };
  }

  /** Connects, checks the stream, finds the resume point and starts shipping. Typed errors: JetStreamError. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new InvalidStateError('the forwarder was already started');
    this.state = 'running';
    const opening = this.open();
    this.starting = opening.then(() => undefined, () => undefined);
    return opening;
  }

  private async open(): Promise<void> {
    // stop() may come while start() waits on the server: it wins, and no connection is left behind.
    const stillWanted = (): void => {
      if (this.stopper.signal.aborted) throw new InvalidStateError('stop() was called while the forwarder was starting');
    };
    try {
      await this.connect();
      stillWanted();
      await this.checkStream();
      stillWanted();
      await this.resume();
      stillWanted();
    } catch (err) {
      await this.nc?.close().catch(() => undefined);
      this.nc = undefined;
      this.connected = false;
      if (this.stopper.signal.aborted) return; // start() resolves, the forwarder stopped
      // Back to 'new': the caller may try again (the observer keeps working meanwhile).
      this.state = 'new';
      if (err instanceof DurabilityError) throw err;
      throw new JetStreamError('unreachable', `JetStream did not answer while starting: ${describe(err)}`, { cause: err });
    }
    this.running = this.loop();
  }

  /** Stops following, waits for publishes in flight, writes the cursor and closes the connection. */
  stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.state = 'stopping';
    this.stopper.abort();
    this.session?.abort();
    this.wakeWindow?.();
    this.wakeDurable?.();
    await this.starting;
    await this.running;
    this.saveCursor(true);
    await this.closeConnection();
    this.state = 'stopped';
  }

  /**
   * Drains the connection, within publishTimeoutMs: a server that stopped answering (a frozen
   * host, a black-holed network) would otherwise hold stop() until the client's ping timeouts.
   */
  private async closeConnection(): Promise<void> {
    const nc = this.nc;
    if (nc === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.publishTimeoutMs);
    });
    await Promise.race([nc.drain().catch(() => undefined), late]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
    this.connected = false;
  }

  /** Resolves when the forwarder is stopped; rejects with the error that stopped it on its own. */
  get done(): Promise<void> {
    return (this.running ?? Promise.resolve()).then(() => {
      if (this.fatal !== undefined) throw this.fatal;
    });
  }

  /** Largest payload a message may carry on this server (known after start). */
  get maxPayload(): number {
    return this.maxMessage;
  }

  stats(): ForwarderStats {
    const b = this.backlog;
    const pending = Math.max(0, b.lastEntryId - b.shipped);
    return {
      shippedEntryId: b.shipped, shippedEntries: b.shippedEntries, shippedBytes: b.shippedBytes,
      pendingEntries: pending, pendingBytes: b.pendingBytes, lagEntries: pending, lagSeconds: b.lagSeconds(),
      lastEntryId: b.lastEntryId, inFlight: this.inflight.filter((f) => f.state === 'pending').length, reconnects: this.reconnects, errors: this.errors,
      connected: this.connected,
    };
  }

  private admit(frameBytes: number): void {
    if (this.maxMessage > 0 && frameBytes - FRAME_HEADER_SIZE + HEADER_ALLOWANCE > this.maxMessage) {
      throw new JetStreamError('payload-too-large', `entry of ${frameBytes - FRAME_HEADER_SIZE} bytes cannot be shipped: the server takes messages up to ${this.maxMessage} bytes (payload + headers)`);
    }
    const limit = this.options.maxUnshippedBytes;
    const total = this.backlog.pendingBytes + frameBytes;
    if (total <= limit) {
      this.overflowing = false;
      return;
    }
    if (this.options.reject) throw new BackpressureError(this.backlog.pendingBytes, limit);
    if (!this.overflowing) {
      this.overflowing = true;
      this.publish('overflow', { limit });
    }
  }

  private async connect(): Promise<void> {
    const o = this.options;
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

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.publish('disconnect', { server: s.data });
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.reconnects++;
        this.publish('reconnect', { server: s.data });
      }
    }
  }

  private async checkStream(): Promise<void> {
    const o = this.options;
    let info;
    try {
      info = await this.jsm!.streams.info(o.stream);
    } catch (err) {
      if (isCode(err, 10059)) throw new JetStreamError('stream-not-found', `stream ${o.stream} does not exist; create it with subjects [${o.subject}]`, { cause: err });
      throw new JetStreamError('unreachable', `cannot read stream ${o.stream}: ${describe(err)}`, { cause: err });
    }
    const subjects = info.config.subjects ?? [];
    if (subjects.length !== 1 || subjects[0] !== o.subject) {
      throw new JetStreamError('stream-subjects', `stream ${o.stream} has subjects [${subjects.join(', ')}]; the forwarder needs a stream whose only subject is ${o.subject} (the order guard relies on nobody else publishing there)`);
    }
    this.maxMessage = this.messageLimit(info.config.max_msg_size);
  }

  /** The largest message the server and the stream take now (both can change while the forwarder runs). */
  private messageLimit(streamMax: number | undefined): number {
    const server = this.nc?.info?.max_payload ?? 1024 * 1024;
    return typeof streamMax === 'number' && streamMax > 0 ? Math.min(server, streamMax) : server;
  }

  /** Asks the stream where it stands and sets where shipping continues (see the top of this file). */
  private async resume(): Promise<ResumePoint> {
    const o = this.options;
    const info = await this.jsm!.streams.info(o.stream);
    this.maxMessage = this.messageLimit(info.config.max_msg_size);
    const last = info.state.last_seq;
    const tail = await this.lastMessage();
    const point = this.resumePoint(last, tail, Date.parse(info.created));
    // Publishes of a failed session that the stream did store count as shipped.
    for (const f of this.inflight) if (f.id <= point.entryId && f.id > this.backlog.shipped) this.backlog.acked(f.id, f.bytes);
    this.inflight = [];
    if (point.entryId < this.backlog.shipped) await this.rewind(point, last);
    else this.backlog.skipTo(point.entryId);
    this.anchor = point.seq > 0 ? { entryId: point.entryId, seq: point.seq, at: Date.now() } : undefined;
    this.expectSeq = last > 0 ? last : undefined;
    if (!this.scanned) await this.scanBacklog(point.entryId);
    this.publish('resync', { entryId: point.entryId, seq: point.seq });
    return point;
  }

  /** The subject's last message as an entry (undefined: none left). */
  private async lastMessage(): Promise<StreamTail | undefined> {
    const o = this.options;
    try {
      const m = await this.jsm!.streams.getMessage(o.stream, { last_by_subj: o.subject });
      const id = Number(m.header?.get('Nats-Msg-Id'));
      if (!Number.isSafeInteger(id) || id < 1) {
        throw new JetStreamError('stream-subjects', `the last message of ${o.subject} (seq ${m.seq}) has no entry id as Nats-Msg-Id: someone else publishes there`);
      }
      return { entryId: id, seq: m.seq };
    } catch (err) {
      if (err instanceof DurabilityError) throw err;
      if (isCode(err, 10037)) return undefined; // no message found
      throw err;
    }
  }

  /** `last`: the stream's last sequence; `created`: when the stream was created (ms since the epoch). */
  private resumePoint(last: number, tail: StreamTail | undefined, created: number): ResumePoint {
    const anchor = this.anchor;
    if (anchor !== undefined && last < anchor.seq && !(created > anchor.at)) {
      // The stream lost messages it had acknowledged: ship again after what it still holds.
      return tail ?? { entryId: 0, seq: 0 };
    }
    if (anchor !== undefined && last >= anchor.seq && (tail === undefined || anchor.entryId + (tail.seq - anchor.seq) === tail.entryId)) {
      // Every sequence after the anchor was the next entry, so the last sequence counts them,
      // the last message included, or not (retention removed the newest messages).
      return { entryId: anchor.entryId + (last - anchor.seq), seq: last };
    }
    // Nothing to count from (no anchor, a recreated stream, or one the stream contradicts): the
    // last message, or the cursor when retention removed it (do not send those again).
    if (tail !== undefined && tail.entryId >= this.cursorEntry) return tail;
    return { entryId: this.cursorEntry, seq: 0 };
  }

  /**
   * The stream holds less than it acknowledged: the entries after `point` are pending again, and
   * the cursor, which must never be ahead of the stream, says so at once. If the log no longer
   * holds them, following it stops the forwarder with RecoveryGapError.
   */
  private async rewind(point: ResumePoint, last: number): Promise<void> {
    const lost = this.backlog.shipped;
    let bytes = 0;
    const reader = new WalReader(this.options.dir, { codec: lengthOnly, maxPayloadSize: this.options.maxPayloadSize });
    for await (const r of reader.records({ fromEntryId: point.entryId + 1, mode: 'bestEffortTail' })) {
      if (r.entryId > lost) break;
      bytes += r.payload + FRAME_HEADER_SIZE;
    }
    this.backlog.rewindTo(point.entryId, bytes);
    this.publish('rewind', { fromEntryId: lost, toEntryId: point.entryId, streamLastSeq: last });
    this.writeCursorNow(point.entryId, point.seq);
  }

  /** Counts the bytes of entries already in the log that wait to be shipped (once, at start). */
  private async scanBacklog(after: number): Promise<void> {
    this.scanned = true;
    const reader = new WalReader(this.options.dir, { codec: lengthOnly, maxPayloadSize: this.options.maxPayloadSize });
    for await (const r of reader.records({ fromEntryId: after + 1, mode: 'bestEffortTail' })) {
      if (this.backlog.firstHooked !== undefined && r.entryId >= this.backlog.firstHooked) break;
      this.backlog.see(r.entryId, r.payload + FRAME_HEADER_SIZE);
    }
  }

  private async loop(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    let first = true;
    while (!this.stopper.signal.aborted) {
      try {
        if (!first) await this.resume();
        first = false;
        await this.ship();
        delay = FIRST_RETRY_MS;
      } catch (thrown) {
        await this.settleAll();
        if (this.stopper.signal.aborted) break;
        const err = typedError(thrown);
        if (isFatal(err)) {
          this.fatal = err;
          this.errors++;
          this.publish('error', { error: err, fatal: true });
          break;
        }
        this.errors++;
        this.publish('error', { error: err, fatal: false });
        await sleep(delay, this.stopper.signal);
        delay = Math.min(this.options.maxRetryDelayMs, delay * 2);
      }
    }
    // Stopping: publishes already sent still count once acknowledged (bounded by their timeout).
    await this.settleAll();
    this.saveCursor(true);
  }

  /** One session: follows the log from the resume point until a publish fails or stop(). */
  private async ship(): Promise<void> {
    const session = new AbortController();
    this.session = session;
    const stop = (): void => session.abort();
    this.stopper.signal.addEventListener('abort', stop);
    const reader = new WalReader(this.options.dir, { codec: raw, maxPayloadSize: this.options.maxPayloadSize });
    let failure: unknown;
    this.failSession = (err) => {
      if (failure === undefined) failure = err;
      session.abort();
      this.wakeWindow?.();
      this.wakeDurable?.();
    };
    try {
      for await (const record of reader.follow({ fromEntryId: this.backlog.shipped + 1, signal: session.signal })) {
        const id = record.entryId;
        const bytes = record.payload.length + FRAME_HEADER_SIZE;
        this.backlog.see(id, bytes);
        if (record.payload.length + HEADER_ALLOWANCE > this.maxMessage) {
          throw new JetStreamError('payload-too-large', `entry ${id} holds ${record.payload.length} bytes, more than the server's ${this.maxMessage}-byte messages take (with headers): it cannot be shipped, and shipping stops before it`);
        }
        await this.waitDurable(id, session.signal);
        // Until the stream's sequence is known (an empty stream) one publish goes at a time.
        await this.waitWindow(this.expectSeq === undefined ? 1 : this.options.maxInFlight, session.signal);
        if (session.signal.aborted) break;
        this.send(id, bytes, record.payload);
      }
      await this.waitWindow(1, session.signal);
    } finally {
      this.stopper.signal.removeEventListener('abort', stop);
      this.failSession = undefined;
    }
    if (failure !== undefined) throw failure;
  }

  private failSession: ((err: unknown) => void) | undefined;

  private send(id: number, bytes: number, payload: Uint8Array): void {
    const expect = this.expectSeq;
    const f: InFlight = { id, bytes, seq: expect === undefined ? undefined : expect + 1, state: 'pending' };
    this.inflight.push(f);
    if (expect !== undefined) this.expectSeq = expect + 1;
    const opts = { msgID: String(id), timeout: this.options.publishTimeoutMs, ...(expect === undefined ? {} : { expect: { lastSequence: expect } }) };
    this.js!.publish(this.options.subject, payload, opts).then(
      (ack) => { f.state = 'ok'; f.ack = ack; this.advance(); },
      (err: unknown) => { f.state = 'failed'; f.error = err; this.advance(); },
    );
  }

  /** Takes acknowledged publishes off the head of the window, in order. */
  private advance(): void {
    let moved = false;
    while (this.inflight.length > 0 && this.inflight[0].state !== 'pending') {
      const f = this.inflight[0];
      if (f.state === 'failed') {
        this.failSession?.(f.error);
        break;
      }
      const ack = f.ack!;
      // The server checks the message id before the sequence guard: a duplicate acknowledgement
      // names where the id was stored once, which is where this entry belongs only if it is the
      // sequence this publish expected. Otherwise that message is gone (purged) and the window
      // still remembers its id: nothing was stored, so nothing counts.
      if (ack.duplicate && ack.seq !== f.seq) {
        f.state = 'failed';
        this.failSession?.(new JetStreamError('publish-refused', `entry ${f.id} was not stored: the stream's de-duplication window remembers message id ${f.id} (sequence ${ack.seq}) but the stream does not hold it there; retrying until the window forgets it`));
        break;
      }
      this.inflight.shift();
      if (this.expectSeq === undefined) this.expectSeq = ack.seq;
      this.backlog.acked(f.id, f.bytes);
      this.anchor = { entryId: f.id, seq: ack.seq, at: Date.now() };
      moved = true;
    }
    if (moved) {
      this.saveCursor(false);
      if (channels.jetstream.hasSubscribers) this.publish('progress', {});
      this.wakeWindow?.();
    }
  }

  private saveCursor(force: boolean): void {
    const now = Date.now();
    if (this.backlog.shipped <= this.cursorEntry || (!force && now - this.cursorWrittenAt < this.options.cursorIntervalMs)) return;
    const shipped = this.backlog.shipped;
    this.writeCursorNow(shipped, this.anchor?.entryId === shipped ? this.anchor.seq : 0);
  }

  /** `seq`: the stream sequence of `entryId`'s message (0: unknown). */
  private writeCursorNow(entryId: number, seq: number): void {
    const now = Date.now();
    const cursor: ForwarderCursor = { version: 1, stream: this.options.stream, subject: this.options.subject, entryId, seq, updatedAt: now };
    try {
      writeCursor(this.options.dir, cursor, this.options.cursorPath);
      this.cursorEntry = cursor.entryId;
      this.cursorWrittenAt = now;
    } catch (err) {
      // The stream stays the resume point; a stale cursor only matters after retention.
      this.errors++;
      this.publish('error', { error: err, fatal: false });
    }
  }

  private async waitWindow(size: number, signal: AbortSignal): Promise<void> {
    while (this.inflight.length >= size && !signal.aborted) {
      await new Promise<void>((resolve) => { this.wakeWindow = resolve; });
      this.wakeWindow = undefined;
    }
  }

  private async waitDurable(id: number, signal: AbortSignal): Promise<void> {
    const durable = this.options.durableEntryId;
    if (durable === undefined) return;
    while (durable() < id && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.wakeDurable = () => { clearTimeout(timer); resolve(); };
      });
      this.wakeDurable = undefined;
    }
  }

  /** After a failure: lets every publish of the session settle before the stream is asked where it stands. */
  private async settleAll(): Promise<void> {
    const deadline = Date.now() + this.options.publishTimeoutMs + 1000;
    while (this.inflight.some((f) => f.state === 'pending') && Date.now() < deadline) await sleep(20);
  }

  private publish(kind: string, extra: Record<string, unknown>): void {
    if (!channels.jetstream.hasSubscribers) return;
    channels.jetstream.publish({ kind, stream: this.options.stream, subject: this.options.subject, ...extra, stats: this.stats() });
  }
}

function isCode(err: unknown, code: number): boolean {
  const e = err as { api_error?: { err_code?: number } } | null;
  return e !== null && typeof e === 'object' && e.api_error?.err_code === code;
}

function isFatal(err: unknown): boolean {
  if (err instanceof JetStreamError) return err.reason !== 'unreachable' && err.reason !== 'publish-refused';
  // Damage or a gap in the log: retrying cannot help.
  return err instanceof DurabilityError;
}

/** What the NATS client threw, as the JetStreamError it means (DurabilityErrors pass through). */
function typedError(err: unknown): unknown {
  if (err instanceof DurabilityError) return err;
  // The client refuses a message over the server's max_payload; the stream, one over its max_msg_size (10054).
  if ((err as { code?: unknown } | null)?.code === 'MAX_PAYLOAD_EXCEEDED' || isCode(err, 10054)) {
    return new JetStreamError('payload-too-large', `the server refuses the next entry as too large (its limit was lowered?): ${describe(err)}; shipping stops before it`, { cause: err });
  }
  const api = (err as { api_error?: unknown } | null)?.api_error;
  if (api !== undefined) return new JetStreamError('publish-refused', `JetStream refused a publish: ${describe(err)}`, { cause: err });
  return new JetStreamError('unreachable', `JetStream did not answer: ${describe(err)}`, { cause: err });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Creates a forwarder and starts it. */
export async function forwardToJetStream(options: JetStreamForwarderOptions): Promise<JetStreamForwarder> {
  const f = new JetStreamForwarder(options);
  await f.start();
  return f;
}
