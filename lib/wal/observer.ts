import { channels } from '../diagnostics';

// Hooks for metrics and coordination. They run synchronously on the writer's path, so keep them
// cheap. A writer call delivers the events it raised (onAppend, onFlush, onRotate, onSync) as it
// ends, so a hook may call the writer back: it finds it between two calls, never with a frame
// half placed (WriterState.holdEvents). An exception thrown by a notification hook does not undo
// or fail the operation it reports (the entry is already appended; failing the call would invite
// a duplicate retry): it is published on the 'durability:diagnostic' channel as kind
// 'observer-error'.

export interface WalObserver {
  /**
   * Asked before an entry is given an id (after it is encoded). Throwing refuses the append: the
   * error reaches the caller and the log is untouched (for a batch, no entry of it is appended).
   */
  admit?(frameBytes: number): void;
  /** An entry was framed into the buffer; `frameBytes` includes the 16-byte frame header. */
  onAppend?(entryId: number, frameBytes: number): void;
  /** Buffered frames were written to the OS (not yet durable). */
  onFlush?(info: { segmentId: number; bytes: number; lastEntryId: number }): void;
  /** Every entry up to `durableEntryId` is on stable storage. */
  onSync?(info: { durableEntryId: number }): void;
  /** The writer moved from one segment file to the next. */
  onRotate?(info: { fromSegmentId: number; toSegmentId: number; firstEntryId: number }): void;
  /**
   * Asked before truncation deletes (or recycles) a segment. Return false to keep it: the
   * truncation then stops there, because only a prefix of the log may go (a gap would break it).
   * An exception also keeps the segment and is rethrown by the truncation.
   */
  beforeTruncate?(info: { segmentId: number; path: string; firstEntryId: number; lastEntryId: number }): boolean | void;
}

/** Calls one hook, isolating the caller from its failure. */
export function notify<A>(observer: WalObserver | undefined, hook: 'onAppend' | 'onFlush' | 'onSync' | 'onRotate', arg: A, arg2?: number): void {
  const fn = observer?.[hook] as ((a: A, b?: number) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.call(observer, arg, arg2);
  } catch (error) {
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'observer-error', message: `WalObserver.${hook} threw`, error });
    }
  }
}

const EVENT_CHANNELS = { onFlush: channels.flush, onSync: channels.sync, onRotate: channels.rotate } as const;

/** One writer event, to the observer's hook and to its diagnostics channel: every event goes to both. */
export function publishEvent<A>(observer: WalObserver | undefined, hook: keyof typeof EVENT_CHANNELS, info: A): void {
  if (observer?.[hook] !== undefined) notify(observer, hook, info);
  const channel = EVENT_CHANNELS[hook];
  if (channel.hasSubscribers) channel.publish(info);
}
