import { setImmediate as tick } from 'node:timers/promises';
import type { Directory } from '../../lib/directory/directory';
import type { SimulatedDirectory } from '../../lib/directory/simulated';
import { overriding } from './overriding';

/** `sim` with the async forms FsDirectory has, each running its synchronous steps after the event loop turned. */
export function withAsyncForms(sim: SimulatedDirectory): Directory {
  return overriding<Directory>(sim, {
    atomicWriteAsync: async (path: string, data: Uint8Array) => {
      await tick();
      sim.atomicWrite(path, data);
    },
    deleteNoSyncAsync: async (path: string) => {
      await tick();
      sim.deleteNoSync(path);
    },
    syncDirAsync: async (path: string) => {
      await tick();
      sim.syncDir(path);
    },
  });
}
