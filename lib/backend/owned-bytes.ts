// The async writes hand the thread pool raw pointers into the caller's buffers and return. The
// binding keeps the views alive, not their bytes: a buffer transferred meanwhile (postMessage,
// structuredClone with transfer) is detached, its bytes now belong to the new owner, who may let
// them be freed while the write still reads them; a resizable buffer can shrink under it. So the
// async forms write from a copy taken at the call, except for bytes only the library can reach
// (the WAL's sealed frames, its segment headers and zero runs), marked OWNED_BYTES, which stay
// zero-copy. A copy is one allocation and memcpy per call, small beside the write's syscall.

/** On a CommitSteps (or CommitPlan) whose chunks no caller can reach: written without a copy. Internal. */
export const OWNED_BYTES: unique symbol = Symbol('durability.ownedBytes');

/** The caller's bytes as they are now, in a buffer nothing else references. TypeError for anything but a Uint8Array. */
export function snapshot(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  // Not data.slice(): on a Buffer that is a view of the same bytes.
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

/** The chunks as they are now, as one buffer nothing else references (one chunk), or as they are when owned. */
export function snapshotChunks(chunks: readonly Uint8Array[], owned: boolean | undefined): readonly Uint8Array[] {
  if (!Array.isArray(chunks)) throw new TypeError('chunks must be an array of Uint8Array');
  let total = 0;
  for (const c of chunks) {
    if (!(c instanceof Uint8Array)) throw new TypeError('every chunk must be a Uint8Array');
    total += c.length;
  }
  if (owned === true) return chunks;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return [out];
}

/**
 * snapshotChunks for a commit whose last `zeroChunks` chunks are zeros ahead of the log: the data
 * and the zeros each copied into one chunk, so zeroChunks (1 after the copy) still names only the
 * zeros. Merged with the data, a plan's data was taken for its zeros (left out where there was no
 * room, the commit resolving 'zeros-skipped' without it) or its zeroChunks outnumbered its chunks.
 */
export function snapshotCommitChunks(chunks: readonly Uint8Array[], zeroChunks: number, owned: boolean | undefined): { chunks: readonly Uint8Array[]; zeroChunks: number } {
  if (owned === true || !Number.isSafeInteger(zeroChunks) || zeroChunks <= 0 || !Array.isArray(chunks) || zeroChunks > chunks.length) {
    return { chunks: snapshotChunks(chunks, owned), zeroChunks };
  }
  const cut = chunks.length - zeroChunks;
  const data = cut === 0 ? [] : snapshotChunks(chunks.slice(0, cut), false);
  return { chunks: [...data, ...snapshotChunks(chunks.slice(cut), false)], zeroChunks: 1 };
}
