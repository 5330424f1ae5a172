import type { Directory } from '../../lib/directory/directory';
import type { Codec } from '../../lib/wal/codec';
import { overriding } from './overriding';

// Driving a follower deterministically: every poll of it lists wal/ once, so a test can tell
// "not yet yielded after two more looks at the log" from "not looked yet" without a clock.

/** Pulls records from the iterator until `n` arrived (or it ended). */
export async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

/** A view of `dir` that counts its list() calls: every poll of the follower lists wal/ once. */
export function countingLists(dir: Directory): { dir: Directory; lists: () => number } {
  let lists = 0;
  const view = overriding(dir, {
    list: (path) => {
      lists++;
      return dir.list(path);
    },
  });
  return { dir: view, lists: () => lists };
}

/**
 * Whether `p` has settled once the follower has polled `polls` more times (a poll is synchronous,
 * so the second one after a write started after it and saw every byte written before this call).
 */
export async function settlesAfterPolls(p: Promise<unknown>, lists: () => number, polls = 2): Promise<boolean> {
  let settled = false;
  p.then(() => void (settled = true), () => void (settled = true));
  const start = lists();
  while (!settled && lists() < start + polls) await new Promise((resolve) => setTimeout(resolve, 1));
  await new Promise(setImmediate);
  return settled;
}

/** `codec` with a decode that refuses entries whose `n` is negative: an entry a follower cannot hand on. */
export function refusingNegatives<E extends { n: number }>(codec: Codec<E>): Codec<E> {
  return {
    name: 'positive',
    encode: codec.encode,
    decode: (b) => {
      const value = codec.decode(b);
      if (value.n < 0) throw new Error('negative');
      return value;
    },
  };
}
