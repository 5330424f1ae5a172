import assert from 'node:assert/strict';
import { ceilingAt, fasterCeiling, heldTo, type CeilingResult, type DiskRound } from '../bench/ceiling';
import { ceilingSection } from '../bench/suite';

// The ceiling's arithmetic (bench/ceiling.ts): what a missed target is held to, so a wrong
// formula would call a reachable target out of reach (or the reverse).
describe('bench ceiling', () => {
  /** `zeroCommitUs` per zeros commit, one every `every` rounds (0: none). */
  const disk = (frames: number, fdatasyncUs: number, zeroCommitUs = 0, every = 8): DiskRound => ({
    frames, rounds: 800, writeUs: 5, fdatasyncUs, zerosUs: zeroCommitUs / every, zeroCommits: zeroCommitUs > 0 ? 800 / every : 0,
  });
  const result = (jsUs: number, zeroCommitUs = 0): CeilingResult => ({
    disk: [disk(128, 90, zeroCommitUs / 2), disk(256, 100, zeroCommitUs)],
    js: [{ codec: 'raw', producers: 256, usPerEntry: jsUs }],
  });
  const us = (perSecond: number | undefined): number => Math.round(256e6 / (perSecond ?? NaN));

  it('one cohort: the round\'s fdatasync and every caller\'s JS; the write step left out', () => {
    assert.equal(us(ceilingAt(result(0.25), 'raw', 256)?.oneCohort), 100 + 64);
  });

  it('one cohort: a commit of zeros runs during the callers\' JS, and only what the JS does not cover counts', () => {
    // 64 µs of JS: a 48 µs zeros commit is covered; of a 200 µs one, 136 µs in every 8 rounds show.
    assert.equal(us(ceilingAt(result(0.25, 48), 'raw', 256)?.oneCohort), 164);
    assert.equal(us(ceilingAt(result(0.25, 200), 'raw', 256)?.oneCohort), 164 + 17);
  });

  it('two cohorts: bound by the disk at N/2 (zeros included) when JS is short, by the event loop when long', () => {
    const short = ceilingAt(result(0.25, 160), 'raw', 256);
    assert.equal(Math.round((short?.twoCohorts ?? 0) / 1000), Math.round(128 / (90 + 10) * 1000));
    const long = ceilingAt(result(1), 'raw', 256);
    assert.equal(Math.round(long?.twoCohorts ?? 0), 1e6, '128 µs of JS per cohort outlasts 90 µs of disk');
  });

  it('a target asking every caller into every round is held to one cohort; others to the faster', () => {
    const c = { oneCohort: 1e6, twoCohorts: 2e6 };
    assert.equal(heldTo(c, true), 1e6);
    assert.equal(heldTo(c, false), 2e6);
  });

  it('of two measurements, each part from the faster one', () => {
    const a = result(0.3);
    const b: CeilingResult = { disk: [disk(128, 80), disk(256, 120)], js: [{ codec: 'raw', producers: 256, usPerEntry: 0.2 }] };
    const best = fasterCeiling([a, b]);
    assert.deepEqual(best?.disk.map((d) => d.fdatasyncUs), [80, 100]);
    assert.equal(best?.js[0].usPerEntry, 0.2);
    assert.equal(fasterCeiling([]), undefined);
  });

  it('is undefined without a shape or the codec it needs', () => {
    assert.equal(ceilingAt(result(0.25), 'json', 256), undefined);
    const noHalf: CeilingResult = { ...result(0.25), disk: [disk(256, 100)] };
    assert.equal(ceilingAt(noHalf, 'raw', 256), undefined);
  });

  // A loaded machine can leave a JS floor's window with no append completed: its figure was NaN,
  // which the child's JSON line carries as null. `npm run bench -- --quick` then died in the
  // report (null.toFixed), losing the run, and a null floor counted as 0 µs of JS.
  it('a JS floor with no append measured (NaN, or null from JSON) gives no ceiling and never wins', () => {
    const unmeasured = (usPerEntry: unknown): CeilingResult => ({ ...result(0.25), js: [{ codec: 'raw', producers: 256, usPerEntry: usPerEntry as number }] });
    assert.equal(ceilingAt(unmeasured(NaN), 'raw', 256), undefined);
    assert.equal(ceilingAt(unmeasured(null), 'raw', 256), undefined);
    assert.equal(fasterCeiling([result(0.3), unmeasured(null)])?.js[0].usPerEntry, 0.3);
    assert.equal(fasterCeiling([unmeasured(NaN), result(0.3)])?.js[0].usPerEntry, 0.3);
  });

  it('the report\'s ceiling table shows an unmeasured JS floor as –, not a crash', () => {
    const unmeasured: CeilingResult = { ...result(0.25), js: [{ codec: 'raw', producers: 256, usPerEntry: null as unknown as number }] };
    const rows = ceilingSection({ ceiling: [unmeasured], durable: [] }).filter((l) => l.startsWith('| raw | 256 |'));
    assert.deepEqual(rows, ['| raw | 256 | – | – | – | – | – |']);
  });
});
