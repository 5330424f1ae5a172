import assert from 'node:assert/strict';
import { ceilingAt, type CeilingResult } from '../bench/ceiling';

// The ceiling's arithmetic (bench/ceiling.ts): what a target is held to when it is missed, so a
// wrong formula would call a reachable target out of reach.
describe('bench ceiling', () => {
  const disk = (frames: number, fdatasyncUs: number, zerosUs: number) => ({ frames, rounds: 1000, writeUs: 5, fdatasyncUs, zerosUs });
  const result = (jsUs: number): CeilingResult => ({
    disk: [disk(128, 90, 10), disk(256, 100, 20)],
    js: [{ codec: 'raw', producers: 256, usPerEntry: jsUs }],
  });

  it('one cohort: N over the round\'s fdatasync, zeros and every caller\'s JS; the write step left out', () => {
    const c = ceilingAt(result(0.25), 'raw', 256);
    // 256 / (100 + 20 + 256 × 0.25) µs
    assert.ok(c !== undefined);
    assert.equal(Math.round(c.oneCohort), Math.round((256 / 184) * 1e6));
  });

  it('two cohorts: bound by the disk at N/2 when JS is short, by the event loop when it is long', () => {
    const short = ceilingAt(result(0.25), 'raw', 256);
    assert.equal(Math.round(short?.twoCohorts ?? 0), Math.round((128 / 100) * 1e6));
    const long = ceilingAt(result(1), 'raw', 256);
    // (N/2) × JS = 128 µs > 100 µs of disk: the event loop serves both cohorts in turn.
    assert.equal(Math.round(long?.twoCohorts ?? 0), 1e6);
  });

  it('is undefined without the shapes or the codec it needs', () => {
    assert.equal(ceilingAt(result(0.25), 'json', 256), undefined);
    assert.equal(ceilingAt(result(0.25), 'raw', 64), undefined);
  });
});
