import type fc from 'fast-check';

// Run counts and replay for property tests. `npm test` runs the short counts; `npm run test:long`
// (or test:long:wal for the WAL properties alone; DURABILITY_LONG=1) the long ones. A failure
// prints fast-check's seed and path: replay it with DURABILITY_SEED=<seed> DURABILITY_PATH=<path>
// MOCHA_GREP=<test title> node scripts/test.cjs <file>. DURABILITY_SEED alone seeds every
// property (.ci/run draws one per run for test:long:wal and prints it).

export const LONG = process.env.DURABILITY_LONG === '1';

export function propertyParams<T>(shortRuns: number, longRuns: number): fc.Parameters<T> {
  const params: fc.Parameters<T> = { numRuns: LONG ? longRuns : shortRuns, endOnFailure: false };
  const seed = process.env.DURABILITY_SEED;
  if (seed !== undefined && seed !== '') {
    params.seed = Number(seed);
    const path = process.env.DURABILITY_PATH;
    if (path !== undefined && path !== '') params.path = path;
  }
  return params;
}
