// By name, not by default: the emitted .d.ts must compile for consumers with esModuleInterop off.
import { channel } from 'node:diagnostics_channel';

// Node's convention for library telemetry: subscribers opt in by channel name, and publishing
// to a channel nobody listens to costs one boolean check.
export const channels = {
  /** Degraded OS features (no fallocate, no flock), backend fallback, skipped damaged files. */
  diagnostic: channel('durability:diagnostic'),
  append: channel('durability:wal:append'),
  flush: channel('durability:wal:flush'),
  sync: channel('durability:wal:sync'),
  rotate: channel('durability:wal:rotate'),
  truncate: channel('durability:wal:truncate'),
  poison: channel('durability:wal:poison'),
  checkpoint: channel('durability:checkpoint'),
  /** The JetStream forwarder (durability/jetstream): progress, reconnects, errors, resyncs. */
  jetstream: channel('durability:jetstream'),
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
