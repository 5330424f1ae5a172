import { channels } from './diagnostics';

// Names in the package's own directories (wal/, checkpoints/) that it never writes: an
// operator's notes, an editor's backup or swap file, .DS_Store, lost+found, a copy, another
// tool's temp file. As etcd ("ignored file in WAL directory") and RocksDB do, the package leaves
// them alone: never read, counted or deleted. Each is reported as an 'unknown-file' diagnostic
// once per open (a writer's open, a replay, a follow, a checkpoint load, a recover() call), so
// that a file put there by mistake (a segment restored under the wrong name) does not go unseen.

export const UNKNOWN_FILE = 'unknown-file';

/** The stray names one open has met, each reported when first met. */
export class UnknownNames {
  private readonly met = new Set<string>();

  /** Every path reported so far, in the order met. */
  get paths(): string[] {
    return [...this.met];
  }

  report(path: string): void {
    if (this.met.has(path)) return;
    this.met.add(path);
    if (channels.diagnostic.hasSubscribers) {
      channels.diagnostic.publish({ kind: UNKNOWN_FILE, message: `${path} is not a file this package writes: ignored (not read, counted or deleted)`, path });
    }
  }
}

/**
 * Internal option key: the reporter an open shares with the opens it makes (recover() loads a
 * checkpoint, replays and opens a writer: one open, one report per name).
 */
export const UNKNOWN_NAMES = Symbol('durability.unknownNames');

type Carrier = { readonly [UNKNOWN_NAMES]?: UnknownNames };

/** The reporter `options` carries, or a new one: the caller is an open of its own. */
export function unknownNamesOf(options: object | undefined): UnknownNames {
  return (options as Carrier | undefined)?.[UNKNOWN_NAMES] ?? new UnknownNames();
}

/** A copy of `options` that carries `names`. */
export function carryingUnknownNames<T extends object>(options: T, names: UnknownNames): T {
  return { ...options, [UNKNOWN_NAMES]: names };
}
