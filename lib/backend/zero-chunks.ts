// The zeros a commit writes ahead of the log (CommitSteps.zeroChunks, CommitPlan.zeroChunks): an
// optimisation, not data, so a commit leaves them out where the file system has no room for them.

/** A plan's chunks split into the bytes it must write and the zeros it writes only where there is room (CommitPlan.zeroChunks). */
export function splitZeros(chunks: readonly Uint8Array[], zeroChunks: number): { data: readonly Uint8Array[]; zeros: readonly Uint8Array[]; dataLength: number } {
  const cut = chunks.length - zeroChunks;
  const data = zeroChunks === 0 ? chunks : chunks.slice(0, cut);
  let dataLength = 0;
  for (const c of data) dataLength += c.length;
  return { data, zeros: zeroChunks === 0 ? [] : chunks.slice(cut), dataLength };
}
