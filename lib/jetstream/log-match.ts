import { createHash } from 'node:crypto';
import type { Directory } from '../directory/directory';
import { JetStreamError } from '../errors';
import { raw } from '../wal/codec';
import { WalReader, type WalRecord } from '../wal/reader';
import { listSegments, readValidSegmentHeader } from '../wal/segment-files';
import { readingUnderTruncation } from './log-reads';
import type { ResumePoint } from './resume-point';

// Whether the stream is this log's. Message ids are entry ids, which every log numbers from 1, so
// a stream another log shipped to (a second forwarder on the same subject, a log started anew
// beside the old stream) looks shipped as far as its last id: taking it at its word skips this
// log's entries up to there, and lets truncation drop them. The stream's last message must be
// this log's entry of that id, byte for byte, and nothing the stream or the cursor says was
// shipped may lie past the log's end (a log that lost shipped entries, a planted cursor).

/** The stream's last message as the forwarder read it. */
export interface StreamTail extends ResumePoint {
  readonly payload: Uint8Array;
}

/** Throws JetStreamError 'log-mismatch' unless `tail` is this log's entry and the log reaches `point`. */
export async function checkStreamIsThisLog(
  dir: Directory, maxPayloadSize: number, stream: string, tail: StreamTail | undefined, point: ResumePoint,
): Promise<void> {
  if (tail !== undefined) {
    const own = await entryOf(dir, maxPayloadSize, tail.entryId);
    if (own === undefined) {
      throw new JetStreamError('log-mismatch', `stream ${stream} holds entry ${tail.entryId} (seq ${tail.seq}), past the end of this log: it belongs to another log, or this log lost entries it had shipped; ship this log to a new stream or subject`);
    }
    // A log truncated past the entry cannot vouch for it either way.
    if (own !== BEFORE_THE_LOG && !sameBytes(own.payload, tail.payload)) {
      throw new JetStreamError('log-mismatch', `stream ${stream} holds other bytes as entry ${tail.entryId} (seq ${tail.seq}) than this log: it belongs to another log; ship this log to a new stream or subject`);
    }
  }
  // The tail found in the log already proves the log reaches any point up to it.
  const provenThrough = tail?.entryId ?? 0;
  if (point.entryId > provenThrough && await entryOf(dir, maxPayloadSize, point.entryId) === undefined) {
    throw new JetStreamError('log-mismatch', `shipping would resume after entry ${point.entryId}, past the end of this log (the forwarder cursor or stream ${stream} is another log's, or this log lost entries it had shipped); move the cursor away and ship this log to a new stream or subject`);
  }
}

/** A stream message's entry id and the SHA-256 of its payload (a window of them is held at once: not their bytes). */
export interface MessageDigest {
  readonly id: number;
  readonly sha256: Buffer;
}

export function digestOf(id: number, payload: Uint8Array): MessageDigest {
  return { id, sha256: createHash('sha256').update(payload).digest() };
}

/**
 * The first of `messages` (stream messages carrying our entry ids, ascending) whose payload is not
 * this log's entry of that id; undefined when all are. One read of the log over their range, not
 * one per message: a window of several hundred may be asked after a connection drop. An id the
 * log does not hold (it starts after it) cannot be vouched for either way, as for the tail above.
 */
export async function firstNotThisLogs(dir: Directory, maxPayloadSize: number, messages: readonly MessageDigest[]): Promise<number | undefined> {
  if (messages.length === 0) return undefined;
  const wanted = new Map(messages.map((m) => [m.id, m.sha256]));
  const last = messages[messages.length - 1].id;
  return readingUnderTruncation(dir, async () => {
    const reader = new WalReader(dir, { codec: raw, maxPayloadSize });
    for await (const r of reader.records({ fromEntryId: messages[0].id, mode: 'bestEffortTail' })) {
      if (r.entryId > last) break;
      const sha256 = wanted.get(r.entryId);
      if (sha256 !== undefined && !digestOf(r.entryId, r.payload).sha256.equals(sha256)) return r.entryId;
    }
    return undefined;
  });
}

const BEFORE_THE_LOG = 'before-the-log';

/**
 * This log's entry `id`; BEFORE_THE_LOG when the log starts after it (truncated, or restarted
 * after a checkpoint: recover()), whether or not it holds an entry yet; undefined when the log
 * ends before it. A log that holds no entry still knows where it goes on: its final segment's
 * first id.
 */
async function entryOf(dir: Directory, maxPayloadSize: number, id: number): Promise<WalRecord<Uint8Array> | typeof BEFORE_THE_LOG | undefined> {
  const first = await firstEntryFrom(dir, maxPayloadSize, id);
  if (first !== undefined) return first.entryId === id ? first : BEFORE_THE_LOG;
  return id < finalFirstEntryId(dir) ? BEFORE_THE_LOG : undefined;
}

/** The first id of the segment the writer appends to (1 for a log with none; 0 when its header does not read: no proof). */
function finalFirstEntryId(dir: Directory): number {
  const segments = listSegments(dir);
  if (segments.length === 0) return 1;
  return readValidSegmentHeader(dir, segments[segments.length - 1])?.firstEntryId ?? 0;
}

async function firstEntryFrom(dir: Directory, maxPayloadSize: number, id: number): Promise<WalRecord<Uint8Array> | undefined> {
  return readingUnderTruncation(dir, async () => {
    const reader = new WalReader(dir, { codec: raw, maxPayloadSize });
    for await (const r of reader.records({ fromEntryId: id, mode: 'bestEffortTail' })) return r;
    return undefined;
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
