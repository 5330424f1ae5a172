import assert from 'node:assert/strict';
import type { WalRecord } from '../../lib/wal/reader';

// What a WAL may legitimately hold after any crash, given what the program did to it.
//
// Ids are global across writer generations: payloads[id - 1] is what entry `id` was appended
// with most recently. A crash may drop entries past the last acknowledged one; a later
// generation then reuses those ids with new payloads, and the model forgets the old ones.
//
// A recovered log is a contiguous run of ids [first, last] (empty when last = first - 1) with:
// - every payload equal to the model's (never invented, reordered or resurrected);
// - last ≤ appended (nothing the program did not append);
// - last ≥ acked (every entry a successful sync, close or durableEntryId covered);
// - first ≥ firstRetained (segments a truncation reported removed never come back);
// - first ≤ truncatedUpTo + 1 (only a requested truncation removes entries from the front).

export class LogModel {
  /** payloads[id - 1]; its length is the number of ids handed out. */
  private readonly payloads: Uint8Array[] = [];
  /** Highest id the writer promised is durable. */
  acked = 0;
  /** Largest lastEntryId ever passed to a truncation (started, not necessarily finished). */
  truncatedUpTo = 0;
  /** The log's first id is at least this (a truncation that returned removed everything below). */
  firstRetained = 1;

  get appended(): number {
    return this.payloads.length;
  }

  get nextId(): number {
    return this.payloads.length + 1;
  }

  append(payload: Uint8Array): void {
    this.payloads.push(payload);
  }

  payload(id: number): Uint8Array {
    return this.payloads[id - 1];
  }

  ack(upTo: number): void {
    assert.ok(upTo <= this.appended, `durable id ${upTo} is past the last appended id ${this.appended}`);
    if (upTo > this.acked) this.acked = upTo;
  }

  /**
   * Checks a recovered log against the model. `nextId` is what a writer resuming it reports
   * (needed when the log holds no entry: the final segment's first id then says where it stands).
   */
  check(records: readonly WalRecord<Uint8Array>[], nextId: number | undefined, what: string): { first: number; last: number } {
    let first: number;
    let last: number;
    if (records.length > 0) {
      first = records[0].entryId;
      last = records[records.length - 1].entryId;
      if (nextId !== undefined) assert.equal(nextId, last + 1, `${what}: a resumed writer continues at ${nextId}, the log ends at ${last}`);
    } else {
      if (nextId === undefined) {
        // Where an empty log stands is unknown here; at least every acknowledged entry must have been truncated.
        assert.ok(this.acked <= this.truncatedUpTo, `${what}: the log is empty but entries up to ${this.acked} were acknowledged durable`);
        return { first: 0, last: -1 };
      }
      first = nextId;
      last = nextId - 1;
    }
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      assert.equal(r.entryId, first + i, `${what}: ids are not contiguous at position ${i}`);
      assert.ok(r.entryId <= this.appended, `${what}: entry ${r.entryId} was never appended (last appended ${this.appended})`);
      const want = this.payloads[r.entryId - 1];
      if (!sameBytes(r.payload, want)) assert.fail(`${what}: entry ${r.entryId} has ${describeBytes(r.payload)}, appended ${describeBytes(want)}`);
    }
    assert.ok(last <= this.appended, `${what}: the log ends at ${last}, past the last appended id ${this.appended}`);
    assert.ok(last >= this.acked, `${what}: the log ends at ${last} but entries up to ${this.acked} were acknowledged durable`);
    assert.ok(first >= this.firstRetained, `${what}: the log starts at ${first}, below ${this.firstRetained} (truncated away)`);
    assert.ok(first <= this.truncatedUpTo + 1, `${what}: the log starts at ${first}, but truncation was only asked up to ${this.truncatedUpTo}`);
    return { first, last };
  }

  /**
   * After recovery the log is [first, last] for good: a resumed writer has made it durable, and the
   * next generation's ids start at last + 1.
   */
  recovered(first: number, last: number): void {
    this.payloads.length = last;
    this.acked = last;
    if (first > this.firstRetained) this.firstRetained = first;
  }

  /**
   * A writer opened on the log continues after `last`, but a power cut fired inside its open, so
   * what it found is not known durable: only the entries past `last` go, which it did not find
   * (never acknowledged, or the check would have failed), and nothing more counts as acknowledged.
   */
  continuesAfter(last: number): void {
    assert.ok(this.acked <= last, `a writer continues after ${last}, but entries up to ${this.acked} were acknowledged durable`);
    if (this.payloads.length > last) this.payloads.length = last;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function describeBytes(b: Uint8Array | undefined): string {
  if (b === undefined) return 'nothing';
  return `${b.length} bytes [${Buffer.from(b.subarray(0, 8)).toString('hex')}${b.length > 8 ? '…' : ''}]`;
}
