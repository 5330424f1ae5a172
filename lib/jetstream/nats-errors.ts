import { DurabilityError, IoError, JetStreamError, describe } from '../errors';

// What the NATS client's failures mean to the forwarder: which are worth retrying, and the typed
// error each one is reported as.

/** Whether `err` is a JetStream API error with this err_code. */
export function isApiCode(err: unknown, code: number): boolean {
  const e = err as { api_error?: { err_code?: number } } | null;
  return e !== null && typeof e === 'object' && e.api_error?.err_code === code;
}

/**
 * Whether retrying cannot help: anything but an unreachable server, a refused publish or a failed
 * read of the log. A read failing with an I/O error (EIO, ESTALE on NFS, EACCES while an operator
 * fixes permissions) is not damage: the log still holds the entries, shipping resumes from the
 * stream's last message once the read succeeds, and stopping would leave the stream behind until
 * someone restarts the forwarder. Each failure is still reported (an `error` event, `errors`).
 */
export function isFatal(err: unknown): boolean {
  if (err instanceof JetStreamError) return err.reason !== 'unreachable' && err.reason !== 'publish-refused';
  if (err instanceof IoError) return false;
  // Damage or a gap in the log: retrying cannot help.
  return err instanceof DurabilityError;
}

/** What the NATS client threw, as the JetStreamError it means (DurabilityErrors pass through). */
export function typedError(err: unknown): unknown {
  if (err instanceof DurabilityError) return err;
  // The client refuses a message over the server's max_payload; the stream, one over its max_msg_size (10054).
  if ((err as { code?: unknown } | null)?.code === 'MAX_PAYLOAD_EXCEEDED' || isApiCode(err, 10054)) {
    return new JetStreamError('payload-too-large', `the server refuses the next entry as too large (its limit was lowered?): ${describe(err)}; shipping stops before it`, { cause: err });
  }
  const api = (err as { api_error?: unknown } | null)?.api_error;
  if (api !== undefined) return new JetStreamError('publish-refused', `JetStream refused a publish: ${describe(err)}`, { cause: err });
  return new JetStreamError('unreachable', `JetStream did not answer: ${describe(err)}`, { cause: err });
}
