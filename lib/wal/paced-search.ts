import { witnessSearch, type FrameSearch } from '../framed/witness-search';
import type { Pacer } from './pacer';

/**
 * A witness search run in slices: with a pacer it pauses once the pacer's slice is spent, so a
 * scan that must read the rest of a large file to judge one bad frame lets the event loop turn.
 */
export class PacedSearch {
  private readonly search: Generator<number, number, void>;

  constructor(spec: FrameSearch, private readonly pacer: Pacer | undefined) {
    this.search = witnessSearch(spec);
  }

  /** Searches on: the search's result once it is done, undefined when paused (call again). */
  run(): number | undefined {
    for (;;) {
      const step = this.search.next();
      if (step.done === true) return step.value;
      if (this.pacer !== undefined) {
        this.pacer.charge(step.value);
        if (this.pacer.due) return undefined;
      }
    }
  }
}
