import type { Packr } from 'msgpackr';

// A codec turns one entry into the payload bytes of one frame and back.
//
// encode may return a view of a buffer it reuses: the writer copies the bytes into its own
// frame buffer before calling encode again. decode receives a view the reader reuses after the
// call returns, so a codec that keeps the bytes (raw does) must copy them.

export interface Codec<E> {
  readonly name: string;
  encode(entry: E): Uint8Array;
  decode(bytes: Uint8Array): E;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

const utf8Encoder = new TextEncoder();

/** JSON text in UTF-8. Values JSON cannot express (undefined, functions, BigInt, cycles) fail to encode. */
export function jsonCodec<E>(): Codec<E> {
  // Encoded into one buffer reused from call to call (the writer copies each payload at once):
  // no allocation per entry. A UTF-16 code unit takes at most 3 bytes of UTF-8.
  let out = new Uint8Array(4096);
  return {
    name: 'json',
    encode(entry: E): Uint8Array {
      const text = JSON.stringify(entry);
      // JSON.stringify returns undefined (not a string) for undefined, functions and symbols.
      if (typeof text !== 'string') throw new TypeError(`${typeof entry} has no JSON form`);
      if (text.length * 3 > out.length) out = new Uint8Array(Math.max(text.length * 3, out.length * 2));
      return out.subarray(0, utf8Encoder.encodeInto(text, out).written);
    },
    decode(bytes: Uint8Array): E {
      return JSON.parse(utf8Decoder.decode(bytes)) as E;
    },
  };
}

// msgpackr is loaded on a msgpack codec's first encode or decode, not with this module. Loading it
// loads its native string extractor, whose loader asks detect-libc for the C library: detect-libc
// reads /proc/self/exe and closes it with fs.close, a close(2) queued on libuv's thread pool. A
// worker_thread terminated before the pool ran it cancels it at its teardown, and Node no longer
// counts that descriptor as the worker's: it stayed open for the life of the process. Loaded with
// the package, every worker that imported durability (and only wrote JSON) was exposed.
let packrClass: typeof Packr | undefined;

function newPackr(): Packr {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  packrClass ??= (require('msgpackr') as typeof import('msgpackr')).Packr;
  // copyBuffers: a decoded Uint8Array field must not alias the reader's reused view.
  // variableMapSize: fixmap for small objects (2 bytes less per object than map16, a few % slower).
  return new packrClass({ useRecords: false, copyBuffers: true, variableMapSize: true });
}

/** MessagePack through msgpackr, in the standard map form (no record extension) so other decoders read it. */
export function msgpackCodec<E>(): Codec<E> {
  let packr: Packr | undefined;
  return {
    name: 'msgpack',
    encode(entry: E): Uint8Array {
      return (packr ??= newPackr()).pack(entry);
    },
    decode(bytes: Uint8Array): E {
      return (packr ??= newPackr()).unpack(bytes) as E;
    },
  };
}

// raw.decode must copy (the reader reuses its view), but one ArrayBuffer per small payload costs
// more than the copy: small payloads are copied into a shared block instead, and each gets a view
// of its own range. A kept view keeps its block (≤ RAW_BLOCK_SIZE) alive, the usual Buffer-pool trade.
const RAW_BLOCK_SIZE = 64 * 1024;
const RAW_POOLED_MAX = 4 * 1024;
let rawBlock = new Uint8Array(RAW_BLOCK_SIZE);
let rawUsed = 0;

function copyPayload(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > RAW_POOLED_MAX) return bytes.slice();
  if (rawUsed + n > RAW_BLOCK_SIZE) {
    rawBlock = new Uint8Array(RAW_BLOCK_SIZE);
    rawUsed = 0;
  }
  const start = rawUsed;
  rawBlock.set(bytes, start);
  // 8-byte alignment keeps views usable with wider typed arrays over the same buffer.
  rawUsed = (start + n + 7) & ~7;
  return rawBlock.subarray(start, start + n);
}

/** Bytes as they are. encode hands the caller's bytes to the writer, which copies them at once. */
export const raw: Codec<Uint8Array> = {
  name: 'raw',
  encode(entry: Uint8Array): Uint8Array {
    if (!(entry instanceof Uint8Array)) throw new TypeError('the raw codec encodes Uint8Array entries only');
    return entry;
  },
  decode(bytes: Uint8Array): Uint8Array {
    return copyPayload(bytes);
  },
};

export const json: Codec<unknown> = jsonCodec<unknown>();
export const msgpack: Codec<unknown> = msgpackCodec<unknown>();
