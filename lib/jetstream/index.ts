// durability/jetstream: ships a log to NATS JetStream. A separate entry point because it loads
// the `nats` client (an optional peer dependency); the core package never does.
export { JetStreamForwarder, forwardToJetStream } from './forwarder';
export type { JetStreamForwarderOptions } from './options';
export type { ForwarderStats } from './backlog';
export { CURSOR_FILE, readCursor, type ForwarderCursor } from './cursor';
export { BackpressureError, JetStreamError, type JetStreamErrorReason } from '../errors';
