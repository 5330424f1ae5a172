import type { Directory } from '../directory/directory';
import { InvalidArgumentError } from '../errors';
import { MAX_PAYLOAD_SIZE } from '../wal/format';
import { CURSOR_FILE, MAX_CURSOR_NAME_LENGTH } from './cursor';
import { checkedDirectory } from '../directory/foreign';

export interface JetStreamForwarderOptions {
  /** The directory holding the log (its wal/) and, by default, the cursor file. */
  dir: Directory;
  /** NATS server URL(s), e.g. 'nats://127.0.0.1:4222'. */
  servers: string | string[];
  /** A stream whose only subject is `subject`, fed by no source or mirror (checked at start and at every resync). */
  stream: string;
  /** Each entry is published here, message id = its entry id. */
  subject: string;
  /** Publishes awaiting their acknowledgement at most. Default 256. */
  maxInFlight?: number;
  /** Bound on bytes of the log (frames) not acknowledged yet; see onOverflow. Default: none. */
  maxUnshippedBytes?: number;
  /** Past maxUnshippedBytes: 'reject' makes appends throw BackpressureError; 'continue' only reports it. Default 'reject'. */
  onOverflow?: 'reject' | 'continue';
  /**
   * Ship only entries up to this id. Pass `() => writer.durableEntryId` when the writer lives in
   * this process, so nothing reaches the stream that a power cut could still take from the log.
   */
  durableEntryId?: () => number;
  /**
   * Ship only entries the log itself proves durable (a sync mark past them, or a later segment):
   * the same promise as durableEntryId for a forwarder in another process than the writer. The
   * newest batch then waits for the writer's next write or its idle mark (WalWriterOptions.idleMarkMs). Default false.
   */
  durableOnly?: boolean;
  /** Cursor file path inside dir. Default 'jetstream-cursor.json'. */
  cursorPath?: string;
  /** Shortest time between two cursor writes (ms). Default 1000. */
  cursorIntervalMs?: number;
  /** A publish not acknowledged within this many ms counts as failed and the forwarder resyncs. Default 5000. */
  publishTimeoutMs?: number;
  /** Longest wait between two attempts after a failure (ms; the wait doubles from 50). Default 2000. */
  maxRetryDelayMs?: number;
  /** Connection timeout at start (ms). Default 2000. */
  connectTimeoutMs?: number;
  /** The log's maxPayloadSize, if it differs from the format's limit. */
  maxPayloadSize?: number;
  /** Extra options for the NATS connection (name, user, pass, token, tls, ...). */
  connectionOptions?: Record<string, unknown>;
}

export interface ResolvedForwarderOptions {
  readonly dir: Directory;
  readonly servers: string[];
  readonly stream: string;
  readonly subject: string;
  readonly maxInFlight: number;
  readonly maxUnshippedBytes: number;
  readonly reject: boolean;
  readonly durableEntryId: (() => number) | undefined;
  readonly durableOnly: boolean;
  readonly cursorPath: string;
  readonly cursorIntervalMs: number;
  readonly publishTimeoutMs: number;
  readonly maxRetryDelayMs: number;
  readonly connectTimeoutMs: number;
  readonly maxPayloadSize: number;
  readonly connectionOptions: Record<string, unknown>;
}

function positive(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new InvalidArgumentError(`${name} must be an integer in [1, ${max}], not ${String(value)}`);
  return value;
}

function name(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CURSOR_NAME_LENGTH || /[\s*>]/.test(value)) {
    throw new InvalidArgumentError(`${what} must be a non-empty string of at most ${MAX_CURSOR_NAME_LENGTH} characters without spaces or wildcards, not ${JSON.stringify(value)}`);
  }
  return value;
}

export function resolveForwarderOptions(o: JetStreamForwarderOptions): ResolvedForwarderOptions {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('forwarder options are required ({ dir, servers, stream, subject })');
  if (o.dir === null || typeof o.dir !== 'object') throw new InvalidArgumentError('options.dir must be a Directory');
  const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new InvalidArgumentError('options.servers must be a URL or a non-empty array of URLs');
  }
  if (o.onOverflow !== undefined && o.onOverflow !== 'reject' && o.onOverflow !== 'continue') {
    throw new InvalidArgumentError(`onOverflow must be 'reject' or 'continue', not ${JSON.stringify(o.onOverflow)}`);
  }
  if (o.durableEntryId !== undefined && typeof o.durableEntryId !== 'function') throw new InvalidArgumentError('durableEntryId must be a function');
  if (o.durableOnly !== undefined && typeof o.durableOnly !== 'boolean') throw new InvalidArgumentError('durableOnly must be a boolean');
  return {
    dir: checkedDirectory(o.dir),
    servers,
    stream: name('stream', o.stream),
    subject: name('subject', o.subject),
    maxInFlight: positive('maxInFlight', o.maxInFlight, 256, 1 << 16),
    maxUnshippedBytes: positive('maxUnshippedBytes', o.maxUnshippedBytes, Number.MAX_SAFE_INTEGER),
    reject: o.onOverflow !== 'continue',
    durableEntryId: o.durableEntryId,
    durableOnly: o.durableOnly ?? false,
    cursorPath: o.cursorPath ?? CURSOR_FILE,
    cursorIntervalMs: positive('cursorIntervalMs', o.cursorIntervalMs, 1000),
    publishTimeoutMs: positive('publishTimeoutMs', o.publishTimeoutMs, 5000),
    maxRetryDelayMs: positive('maxRetryDelayMs', o.maxRetryDelayMs, 2000),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 2000),
    maxPayloadSize: positive('maxPayloadSize', o.maxPayloadSize, MAX_PAYLOAD_SIZE, MAX_PAYLOAD_SIZE),
    connectionOptions: o.connectionOptions ?? {},
  };
}
