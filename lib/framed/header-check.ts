// What a header check finds, in one shape for every framed format, and the one rule for a
// header a crash may have torn (docs/FORMAT.md, "Telling a torn tail from damage").

/**
 * 'ok': a whole, valid header. 'torn': bytes a crash while the header was being created can
 * leave (mayBeTornHeader); the file then holds nothing, unless a frame behind the header
 * validates (headers are synced before any frame). 'bad': anything else. `crcValid`: the
 * header's CRC holds, so these are bytes a writer of this format produced (a value this reader
 * does not accept, or, with `header`, a header naming another file); otherwise damage, or a
 * file of another format.
 */
export type HeaderCheck<H> =
  | { readonly kind: 'ok'; readonly header: H }
  | { readonly kind: 'torn'; readonly offset: number; readonly reason: string }
  | { readonly kind: 'bad'; readonly offset: number; readonly reason: string; readonly crcValid: boolean; readonly header?: H };

/**
 * Whether `bytes`, the first min(size, headerSize) bytes of a file, can be what a crash left
 * while the file's header was being created. The file is created empty and its header written
 * and synced before anything else, so until that write is durable the file holds a prefix of
 * it, or zeros (the size reached the disk, the data did not). The magic is the part of every
 * header known in advance: a shorter file must start with a prefix of it, or be all zero; a
 * whole-length one must be all zero. Anything else was not written by a crashed creation: a
 * foreign file, or damage.
 */
export function mayBeTornHeader(bytes: Uint8Array, headerSize: number, magic: number): boolean {
  if (bytes.every((v) => v === 0)) return true;
  if (bytes.length >= headerSize) return false;
  for (let i = 0; i < Math.min(4, bytes.length); i++) {
    if (bytes[i] !== ((magic >>> (8 * i)) & 0xff)) return false;
  }
  return true;
}
