import { channels } from '../diagnostics';

// Hooks for checkpoint events. Like WalObserver hooks they run synchronously and an exception
// they throw does not fail the operation they report: it goes to 'durability:diagnostic' as
// kind 'observer-error'.

export interface SkippedCheckpoint {
  readonly path: string;
  /** The last entry id the file name claims (undefined when the name says nothing). */
  readonly claimedLastEntryId: number;
  readonly offset: number;
  readonly reason: string;
}

export interface WrittenCheckpoint {
  readonly path: string;
  readonly lastEntryId: number;
  /** File size: header and payload. */
  readonly bytes: number;
}

export interface CheckpointObserver {
  /** Loading passed over a damaged checkpoint newer than the one it returned. */
  onSkipped?(info: SkippedCheckpoint): void;
  /** A checkpoint file is durable under its final name. */
  onWritten?(info: WrittenCheckpoint): void;
  /** WAL segments whose entries are all ≤ uptoEntryId were removed. */
  onTruncated?(info: { uptoEntryId: number; segments: number }): void;
  /** Old checkpoint files were deleted (and the deletion made durable). */
  onPruned?(info: { paths: readonly string[] }): void;
}

type Hook = keyof CheckpointObserver;
type HookArg<H extends Hook> = Parameters<NonNullable<CheckpointObserver[H]>>[0];

export function notifyCheckpoint<H extends Hook>(observer: CheckpointObserver | undefined, hook: H, arg: HookArg<H>): void {
  if (channels.checkpoint.hasSubscribers) channels.checkpoint.publish({ event: hook.slice(2).toLowerCase(), ...arg });
  const fn = observer?.[hook] as ((a: HookArg<H>) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.call(observer, arg);
  } catch (error) {
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: 'observer-error', message: `CheckpointObserver.${hook} threw`, error });
    }
  }
}
