// ESM entry for durability/jetstream: re-exports the CommonJS build (one module instance, so
// error classes are shared with the core entry). Loads the `nats` client only when a forwarder starts.
import cjs from './dist/lib/jetstream/index.js';

export default cjs;
export const { BackpressureError, CURSOR_FILE, JetStreamError, JetStreamForwarder, forwardToJetStream, readCursor } = cjs;
