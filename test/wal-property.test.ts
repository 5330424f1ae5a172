import fc from 'fast-check';
import { propertyParams, LONG } from './support/fc-params';
import { commandArb, configArb, crashSpecArb, runWorkload } from './support/wal-workload';

// Crash consistency of the WAL as a property: over random sequences of append, appendBatch,
// flush, sync, rotate, truncate (delete or recycle), close and reopen on a SimulatedDirectory,
// with power cuts at random operation indexes (inside any call, during recovery too), every
// recovered log is a run of the appended stream, holding every entry a sync, a close or
// durableEntryId acknowledged, starting no later than the truncation point; a writer always
// resumes it, continues the ids without a gap, and strict replay then passes.

describe('WAL crash consistency (property, SimulatedDirectory)', function () {
  if (LONG) this.timeout(0);

  it('after every power cut, replay yields a prefix of the stream holding every acknowledged entry', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(commandArb({ powerCuts: true }), { maxLength: 60, size: 'max' }), crashSpecArb, async (config, commands, final) => {
        await runWorkload(config, commands, final);
      }),
      propertyParams(1500, 75_000),
    );
  });

  it('without power cuts in the workload, a cut at the end still leaves every synced entry', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(commandArb({ powerCuts: false }), { maxLength: 80, size: 'max' }), crashSpecArb, async (config, commands, final) => {
        await runWorkload(config, commands, final);
      }),
      propertyParams(500, 25_000),
    );
  });
});
