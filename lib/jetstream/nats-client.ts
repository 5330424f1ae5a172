// Loads the `nats` client on first use, so that `durability/jetstream` itself loads without it
// and a missing optional peer dependency is a typed error with the fix, not MODULE_NOT_FOUND.
import { JetStreamError } from '../errors';

let client: typeof import('nats') | undefined;

export function natsClient(): typeof import('nats') {
  if (client !== undefined) return client;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    client = require('nats') as typeof import('nats');
  } catch (err) {
    throw new JetStreamError('client-missing', "the NATS client is not installed: the forwarder needs the optional peer dependency `nats` (npm install nats@^2.29)", { cause: err });
  }
  return client;
}
