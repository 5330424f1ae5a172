import { watch, type FSWatcher } from 'node:fs';
import type { Directory } from '../directory/directory';
import { WAL_DIR } from './format';

// How a follower waits for a log to change: fs.watch on wal/ where the directory has an OS path,
// plus the caller's backoff timer (the only mechanism for memory and simulated directories, and
// a safety net for missed events). wake() ends a wait at once (an event, or an abort).
export class LogWatch {
  private watcher: FSWatcher | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(dir: Directory) {
    const osPath = dir.filePath(WAL_DIR);
    if (osPath === undefined) return;
    try {
      this.watcher = watch(osPath, { persistent: false }, () => this.wake());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // No wal/ yet, or no watch support: the timer alone polls.
      this.watcher = undefined;
    }
  }

  /** Resolves after `ms`, or sooner on wake(). */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  wake(): void {
    this.wakeUp?.();
  }

  close(): void {
    this.watcher?.close();
  }
}
