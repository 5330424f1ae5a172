// Ships every entry of a log to a JetStream stream, once each and in entry-id order.
//
// The resume point is the stream itself: at start and after every failure the forwarder reads
// the stream's last sequence and the subject's last message (its Nats-Msg-Id is an entry id) and
// continues where they say (resume-point.ts: retention that removed the newest messages, a
// stream that lost acknowledged ones), once it has checked that the stream is this log's
// (log-match.ts: entry ids alone cannot tell two logs apart). Each publish carries two guards:
//  - Nats-Msg-Id = entry id: the server drops a repeat within the stream's duplicate window;
//  - Nats-Expected-Last-Sequence = the stream sequence the previous entry got (or will get), 0
//    for the first message of a stream that never stored one:
//    the server stores a message only directly after its predecessor, so the stream can neither
//    skip an entry nor hold one twice, however long an outage lasted (no window involved).
//    The stream-wide sequence, not the per-subject one: a clustered 2.9 server checks the
//    per-subject expectation against applied state only, which refuses every pipelined publish,
//    while the stream-wide one counts proposals in flight. Hence the stream must hold our
//    subject alone (checked at start).
// When one publish is lost (a connection drop) while later ones were sent, every later publish
// of that window is refused too; the forwarder resyncs and sends them again.
// The position advances only on acknowledgements, in order.

import { channels } from '../diagnostics';
import { DurabilityError, InvalidStateError, JetStreamError, describe } from '../errors';
import type { WalObserver } from '../wal/observer';
import { WalReader } from '../wal/reader';
import { FRAME_HEADER_SIZE } from '../wal/format';
import { raw } from '../wal/codec';
import { HEADER_ALLOWANCE, ShippingAdmission } from './admission';
import { Backlog, type ForwarderStats } from './backlog';
import type { InFlight } from './window-check';
import { CursorKeeper, keptVerdictError } from './cursor-keeper';
import { Backoff, sleep } from './sleep';
import { checkStreamIsThisLog } from './log-match';
import { DuplicateToCheck, EntryNotHeld, checkWindowStored, provenDuplicates } from './window-check';
import { frameSizes, readingUnderTruncation } from './log-reads';
import { isFatal, typedError } from './nats-errors';
import { resumePoint, type Anchor, type ResumePoint } from './resume-point';
import { StreamLink } from './stream-link';
import { resolveForwarderOptions, type JetStreamForwarderOptions, type ResolvedForwarderOptions } from './options';

const FIRST_RETRY_MS = 50;


export class JetStreamForwarder {
  readonly options: ResolvedForwarderOptions;
  /**
   * Pass as (or call from) the WalWriter's observer: it counts appended bytes, refuses appends past
   * maxUnshippedBytes (onOverflow 'reject'), and vetoes truncating segments not shipped yet.
   */
  readonly observer: WalObserver;
  private readonly backlog: Backlog;
  private readonly link: StreamLink;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private readonly stopper = new AbortController();
  private session: AbortController | undefined;
  private running: Promise<void> | undefined;
  /** A start() in progress; stop() lets it finish (or give up) before closing. */
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private anchor: Anchor | undefined;
  /** The stream's `created` stamp as of the last resync: the stream every later acknowledgement came from. */
  private streamCreated: string | undefined;
  private fatal: unknown;
  private inflight: InFlight[] = [];
  private expectSeq: number | undefined;
  private readonly cursor: CursorKeeper;
  private errors = 0;
  /** Starts over at each acknowledged publish, not at a resync: a server refusing every publish is still retried ever more slowly. */
  private readonly backoff: Backoff;
  private readonly admission: ShippingAdmission;
  private wakeWindow: (() => void) | undefined;
  private wakeDurable: (() => void) | undefined;
  private scanned = false;

  constructor(options: JetStreamForwarderOptions) {
    this.options = resolveForwarderOptions(options);
    this.backoff = new Backoff(FIRST_RETRY_MS, this.options.maxRetryDelayMs);
    this.link = new StreamLink(this.options, (kind, extra) => this.publish(kind, extra));
    this.cursor = new CursorKeeper(this.options, (err) => {
      // The stream stays the resume point; a stale cursor only matters after retention.
      this.errors++;
      this.publish('error', { error: err, fatal: false });
    });
    const cursor = this.cursor.found;
    if (cursor !== undefined && cursor.seq > 0 && cursor.entryId > 0) {
      this.anchor = { entryId: cursor.entryId, seq: cursor.seq, at: cursor.updatedAt, streamCreated: cursor.streamCreated };
    }
    this.backlog = new Backlog(this.cursor.entryId);
    this.admission = new ShippingAdmission(this.link, this.backlog, this.options, (kind, extra) => this.publish(kind, extra));
    const self = this;
    this.observer = {
      admit(frameBytes: number): void { self.admission.admit(frameBytes); },
      onAppend(entryId: number, frameBytes: number): void { self.admission.appended(entryId, frameBytes); },
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
      const verdict = this.cursor.verdict;
      if (verdict !== undefined) throw keptVerdictError(verdict, this.options);
      await this.link.connect();
      stillWanted();
      await this.link.checkStream();
      stillWanted();
      await this.resume();
      stillWanted();
    } catch (err) {
      await this.link.abandon();
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
    await this.link.close();
    this.state = 'stopped';
  }

  /** Resolves when the forwarder is stopped; rejects with the error that stopped it on its own. */
  get done(): Promise<void> {
    return (this.running ?? Promise.resolve()).then(() => {
      if (this.fatal !== undefined) throw this.fatal;
    });
  }

  /** Largest payload a message may carry on this server (known after start). */
  get maxPayload(): number {
    return this.link.maxMessage;
  }

  stats(): ForwarderStats {
    const b = this.backlog;
    const pending = Math.max(0, b.lastEntryId - b.shipped);
    return {
      shippedEntryId: b.shipped, shippedEntries: b.shippedEntries, shippedBytes: b.shippedBytes,
      pendingEntries: pending, pendingBytes: b.pendingBytes, lagEntries: pending, lagSeconds: b.lagSeconds(),
      lastEntryId: b.lastEntryId, inFlight: this.inflight.filter((f) => f.state === 'pending').length, reconnects: this.link.reconnects, errors: this.errors,
      connected: this.link.connected,
    };
  }

  /** Asks the stream where it stands and sets where shipping continues (resume-point.ts). */
  private async resume(): Promise<ResumePoint> {
    const stream = await this.link.state();
    const last = stream.last;
    await checkWindowStored(this.link, this.options, this.inflight, last).catch((err: unknown) => {
      // A start after this stop would have no window to go by: the stream's sequences, counted
      // from the anchor, or our entries stored behind the message at its sequence would count the entry.
      if (err instanceof EntryNotHeld) this.cursor.write(this.backlog.shipped, 0, this.streamCreated, { entryId: err.entryId, reason: err.reason });
      throw err;
    });
    const point = resumePoint(stream, this.anchor, this.cursor.entryId, this.cursor.at, this.cursor.streamCreated);
    this.streamCreated = stream.createdStamp;
    await checkStreamIsThisLog(this.options.dir, this.options.maxPayloadSize, this.options.stream, stream.tail, point);
    // Publishes of a failed session that the stream did store count as shipped.
    const duplicates = provenDuplicates(this.inflight, this.backlog.shipped, point.entryId);
    for (const f of this.inflight) if (f.id <= point.entryId && f.id > this.backlog.shipped) this.backlog.acked(f.id, f.bytes);
    this.inflight = [];
    if (duplicates.length > 0) this.publish('duplicate', { entryId: duplicates[0].id, seq: duplicates[0].seq, count: duplicates.length });
    if (point.entryId < this.backlog.shipped) await this.rewind(point, last);
    else this.backlog.skipTo(point.entryId);
    this.anchor = point.seq > 0 ? { entryId: point.entryId, seq: point.seq, at: Date.now(), streamCreated: this.streamCreated } : undefined;
    this.expectSeq = last > 0 ? last : undefined;
    if (!this.scanned) await this.scanBacklog(point.entryId);
    this.publish('resync', { entryId: point.entryId, seq: point.seq });
    return point;
  }

  /**
   * The stream holds less than it acknowledged: the entries after `point` are pending again, and
   * the cursor, which must never be ahead of the stream, says so at once. If the log no longer
   * holds them, following it stops the forwarder with RecoveryGapError.
   */
  private async rewind(point: ResumePoint, last: number): Promise<void> {
    const lost = this.backlog.shipped;
    const bytes = await readingUnderTruncation(this.options.dir, async () => {
      let sum = 0;
      await frameSizes(this.options.dir, this.options.maxPayloadSize, point.entryId + 1, (id, frameBytes) => {
        if (id > lost) return false;
        sum += frameBytes;
        return true;
      });
      return sum;
    });
    this.backlog.rewindTo(point.entryId, bytes);
    this.publish('rewind', { fromEntryId: lost, toEntryId: point.entryId, streamLastSeq: last });
    this.cursor.write(point.entryId, point.seq, this.streamCreated);
  }

  /** Counts the bytes of entries already in the log that wait to be shipped (once, at start). */
  private async scanBacklog(after: number): Promise<void> {
    this.scanned = true;
    // Read again from the start under a truncation: see() counts each entry once.
    await readingUnderTruncation(this.options.dir, () => frameSizes(this.options.dir, this.options.maxPayloadSize, after + 1, (id, frameBytes) => {
      if (this.backlog.firstHooked !== undefined && id >= this.backlog.firstHooked) return false;
      this.backlog.see(id, frameBytes);
      return true;
    }));
  }

  private async loop(): Promise<void> {
    let first = true;
    while (!this.stopper.signal.aborted) {
      try {
        if (!first) await this.resume();
        first = false;
        await this.ship();
      } catch (thrown) {
        await this.settleAll();
        if (this.stopper.signal.aborted) break;
        // A retry after a lost acknowledgement is normal on a real network: the resync checks it
        // at once, and reports a stranger there as the error it is.
        if (thrown instanceof DuplicateToCheck) continue;
        const err = typedError(thrown);
        if (isFatal(err)) {
          this.fatal = err;
          this.errors++;
          this.publish('error', { error: err, fatal: true });
          break;
        }
        this.errors++;
        const delay = this.backoff.next();
        this.publish('error', { error: err, fatal: false, retryInMs: delay });
        await sleep(delay, this.stopper.signal);
      }
    }
    // Stopping: publishes already sent still count once acknowledged (bounded by their timeout).
    await this.settleAll();
    this.saveCursor(true);
    // Stopped on its own: nothing will be published again, and a connection left open (its
    // reconnect timers) would keep the process alive for as long as nobody calls stop().
    if (this.fatal !== undefined) await this.link.close();
  }

  /** One session: follows the log from the resume point until a publish fails or stop(). */
  private async ship(): Promise<void> {
    const session = new AbortController();
    this.session = session;
    const stop = (): void => session.abort();
    this.stopper.signal.addEventListener('abort', stop);
    // stop() during the resync before this session: its abort event is gone, and it aborted the
    // previous session only. Following on would hold stop() for ever.
    if (this.stopper.signal.aborted) session.abort();
    const reader = new WalReader(this.options.dir, { codec: raw, maxPayloadSize: this.options.maxPayloadSize });
    let failure: unknown;
    this.failSession = (err) => {
      if (failure === undefined) failure = err;
      session.abort();
      this.wakeWindow?.();
      this.wakeDurable?.();
    };
    try {
      for await (const record of reader.follow({ fromEntryId: this.backlog.shipped + 1, signal: session.signal, durableOnly: this.options.durableOnly })) {
        const id = record.entryId;
        const bytes = record.payload.length + FRAME_HEADER_SIZE;
        this.backlog.see(id, bytes);
        if (record.payload.length + HEADER_ALLOWANCE > this.link.maxMessage) {
          throw new JetStreamError('payload-too-large', `entry ${id} holds ${record.payload.length} bytes, more than the server's ${this.link.maxMessage}-byte messages take (with headers): it cannot be shipped, and shipping stops before it`);
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
    // Into a stream that never stored a message, 0: "store it only as the first". Another log
    // starting on the subject at the same time may have stored its entry 1 since the stream was
    // read, and once the duplicate window forgot that id nothing else would refuse ours.
    this.link.publish(id, payload, expect ?? 0).then(
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
      // Whichever stream captures the subject stores the message: ours deleted and another made
      // on the subject while running, its last sequence where ours was, passes the sequence guard.
      if (ack.stream !== this.options.stream) {
        f.state = 'failed';
        this.failSession?.(new JetStreamError('stream-subjects', `entry ${f.id} was stored by stream ${ack.stream}, not ${this.options.stream}: another stream captures subject ${this.options.subject} (ours deleted and another created?), so it does not count as shipped, and shipping stops`));
        break;
      }
      // The server checks the message id before the sequence guard: a duplicate acknowledgement
      // names where the id was stored once, which is where this entry belongs only if it is the
      // sequence this publish expected. Otherwise that message is gone (purged) and the window
      // still remembers its id: nothing was stored, so nothing counts. Even there it may be a
      // stranger's message with our id: the resync compares its bytes (checkWindowStored).
      if (ack.duplicate) {
        f.state = 'failed';
        this.failSession?.(ack.seq === f.seq
          ? new DuplicateToCheck(f.id, ack.seq)
          : new JetStreamError('publish-refused', `entry ${f.id} was not stored: the stream's de-duplication window remembers message id ${f.id} (sequence ${ack.seq}) but the stream does not hold it there; retrying until the window forgets it`));
        break;
      }
      this.inflight.shift();
      if (this.expectSeq === undefined) this.expectSeq = ack.seq;
      this.backlog.acked(f.id, f.bytes);
      this.anchor = { entryId: f.id, seq: ack.seq, at: Date.now(), streamCreated: this.streamCreated };
      moved = true;
    }
    if (moved) {
      this.backoff.reset();
      this.saveCursor(false);
      if (channels.jetstream.hasSubscribers) this.publish('progress', {});
      this.wakeWindow?.();
    }
  }

  private saveCursor(force: boolean): void {
    const shipped = this.backlog.shipped;
    // The stamp of the stream that acknowledged `shipped`: a resync that then failed may have read another.
    const anchored = this.anchor?.entryId === shipped ? this.anchor : undefined;
    this.cursor.save(shipped, anchored?.seq ?? 0, anchored === undefined ? this.streamCreated : anchored.streamCreated, force);
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

/** Creates a forwarder and starts it. */
export async function forwardToJetStream(options: JetStreamForwarderOptions): Promise<JetStreamForwarder> {
  const f = new JetStreamForwarder(options);
  await f.start();
  return f;
}
