import diagnosticsChannel from 'node:diagnostics_channel';
import { channels, type DiagnosticEvent } from '../../lib/diagnostics';

/** The events published on a channel (the diagnostic one by default) from now until `stop()`. */
export function collectEvents<T = DiagnosticEvent>(channel: string | symbol = channels.diagnostic.name): { events: T[]; stop(): void } {
  const events: T[] = [];
  const listener = (message: unknown): void => {
    events.push(message as T);
  };
  diagnosticsChannel.subscribe(channel, listener);
  return { events, stop: () => diagnosticsChannel.unsubscribe(channel, listener) };
}

/** Runs `body` with the diagnostic events published meanwhile collected, and stops listening after it. */
export async function withDiagnostics<T>(body: (events: DiagnosticEvent[]) => Promise<T> | T): Promise<T> {
  const { events, stop } = collectEvents();
  try {
    return await body(events);
  } finally {
    stop();
  }
}
