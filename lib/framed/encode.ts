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
  if (!(payload instanceof Uint8Array)) throw new EncodeError(`codec ${codec.name} returned ${typeof payload}, not a Uint8Array`);
  if (payload.length > limit.max) throw new EncodeError(`${named(what)} encodes to ${payload.length} bytes, more than ${limit.name} ${limit.max}`);
  return payload;
}

const named = (what: string | number): string => (typeof what === 'number' ? `entry ${what}` : what);
