import { describe, EncodeError } from '../errors';

/** What encodePayload needs of a codec (wal/codec.ts's Codec has it). */
export interface PayloadEncoder<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
}

/**
 * Encodes one entry or record and checks the result before any byte is framed: a Uint8Array of
 * at most `limit.max` bytes. Anything else is an EncodeError, so a failed encode leaves the log
 * untouched. `what` names the value in messages ("entry 7", "a record").
 */
export function encodePayload<T>(codec: PayloadEncoder<T>, value: T, what: string, limit: { readonly max: number; readonly name: string }): Uint8Array {
  let payload: unknown;
  try {
    payload = codec.encode(value);
  } catch (err) {
    throw new EncodeError(`codec ${codec.name} could not encode ${what}: ${describe(err)}`, { cause: err });
  }
  if (!(payload instanceof Uint8Array)) throw new EncodeError(`codec ${codec.name} returned ${typeof payload}, not a Uint8Array`);
  if (payload.length > limit.max) throw new EncodeError(`${what} encodes to ${payload.length} bytes, more than ${limit.name} ${limit.max}`);
  return payload;
}
