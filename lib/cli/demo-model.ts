import { jsonCodec, type Codec } from '../wal/codec';
import type { WalRecord } from '../wal/reader';

// The demo's application: each entry moves an amount for a client; the state counts entries
// and sums amounts. Both processes of the demo share this, so recovery applies entries exactly
// as ingest did.

export interface DemoEntry {
  client: number;
  seq: number;
  amount: number;
}

export interface DemoState {
  /** Entries applied: equals the last entry id when nothing was applied twice or skipped. */
  count: number;
  total: number;
}

export const entryCodec: Codec<DemoEntry> = jsonCodec<DemoEntry>();
export const stateCodec: Codec<DemoState> = jsonCodec<DemoState>();
export const CLIENTS = 64;
/** Small segments, so the demo rotates and checkpoints truncate the log. */
export const SEGMENT_BYTES = 256 * 1024;

export function initialState(): DemoState {
  return { count: 0, total: 0 };
}

export function applyEntry(state: DemoState, record: WalRecord<DemoEntry> | { payload: DemoEntry }): DemoState {
  state.count++;
  state.total += record.payload.amount;
  return state;
}
