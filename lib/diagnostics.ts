import diagnosticsChannel from 'node:diagnostics_channel';

// Node's convention for library telemetry: subscribers opt in by channel name, and publishing
// to a channel nobody listens to costs one boolean check.
export const channels = {
  /** Degraded OS features (no fallocate, no flock), backend fallback, skipped damaged files. */
  diagnostic: diagnosticsChannel.channel('durability:diagnostic'),
  append: diagnosticsChannel.channel('durability:wal:append'),
  flush: diagnosticsChannel.channel('durability:wal:flush'),
  sync: diagnosticsChannel.channel('durability:wal:sync'),
  rotate: diagnosticsChannel.channel('durability:wal:rotate'),
  truncate: diagnosticsChannel.channel('durability:wal:truncate'),
  poison: diagnosticsChannel.channel('durability:wal:poison'),
  checkpoint: diagnosticsChannel.channel('durability:checkpoint'),
  /** The JetStream forwarder (durability/jetstream): progress, reconnects, errors, resyncs. */
  jetstream: diagnosticsChannel.channel('durability:jetstream'),
} as const;

export interface DiagnosticEvent {
  /** Stable identifier, e.g. 'fallocate-unsupported', 'flock-unsupported', 'native-unavailable'. */
  readonly kind: string;
  readonly message: string;
  readonly path?: string;
  readonly error?: unknown;
}

const reported = new Set<string>();

/** Publishes a diagnostic once per (kind, key) for the life of the process. */
export function diagnoseOnce(event: DiagnosticEvent, key = ''): boolean {
  const id = `${event.kind}\0${key}`;
  if (reported.has(id)) return false;
  reported.add(id);
  if (channels.diagnostic.hasSubscribers) channels.diagnostic.publish(event);
  return true;
}

/** Test hook: forget which diagnostics were already published. */
export function resetDiagnostics(): void {
  reported.clear();
}
