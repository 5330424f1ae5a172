import { describe, EncodeError } from '../errors';

/** What encodePayload needs of a codec (wal/codec.ts's Codec has it). */
export interface PayloadEncoder<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
}

/**
 * Encodes one entry or record and checks the result before any byte is framed: a Uint8Array of
 * at most `limit.max` bytes. Anything else is an EncodeError, so a failed encode leaves the log
 * untouched. `what` names the value in messages: a string ("a record"), or the id of the entry
 * (named "entry 7" only when a message is built: a name made per call would cost every append).
 */
export function encodePayload<T>(codec: PayloadEncoder<T>, value: T, what: string | number, limit: { readonly max: number; readonly name: string }): Uint8Array {
  let payload: unknown;
  try {
    payload = codec.encode(value);
  } catch (err) {
    throw new EncodeError(`codec ${codec.name} could not encode ${named(what)}: ${describe(err)}`, { cause: err });
  }
  if (!isWholeBytes(payload)) throw new EncodeError(`codec ${codec.name} returned ${kindOf(payload)}, not a Uint8Array of bytes it holds`);
  if (payload.length > limit.max) throw new EncodeError(`${named(what)} encodes to ${payload.length} bytes, more than ${limit.name} ${limit.max}`);
  return payload;
}

const TYPED_ARRAY_LENGTH = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!;
const NO_BYTES = new Uint8Array(0);

/**
 * A Uint8Array the writer can copy as it is: a real one (a Proxy passes instanceof, and throws
 * when the writer reads its length), whose length property is its length (a subclass that claims
 * another makes the frame hold fewer bytes, or bytes no encode wrote), and, when empty, not a view
 * of a detached ArrayBuffer (transferred to a worker or freed: its bytes are gone, and copying it
 * throws a TypeError). Costs a call and a compare per entry; no allocation.
 */
function isWholeBytes(payload: unknown): payload is Uint8Array {
  if (!(payload instanceof Uint8Array) || !ArrayBuffer.isView(payload)) return false;
  try {
    const length = TYPED_ARRAY_LENGTH.call(payload) as number;
    if (payload.length !== length) return false;
    if (length === 0) NO_BYTES.set(payload);
    return true;
  } catch {
    return false;
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (v instanceof Uint8Array && ArrayBuffer.isView(v)) return 'a Uint8Array whose length is not its own, or a view of a detached ArrayBuffer';
  if (ArrayBuffer.isView(v)) return v instanceof DataView ? 'a DataView' : 'a typed array of another kind';
  return v instanceof Uint8Array ? 'a Proxy or lookalike of a Uint8Array' : 'an object';
}

const named = (what: string | number): string => (typeof what === 'number' ? `entry ${what}` : what);
