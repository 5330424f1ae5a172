import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Where the suite's measurements put their files: one directory under os.tmpdir(), handed to
// every child as its TMPDIR, so each script's own mkdtemp lands inside it and removing the root
// also removes what a child killed before its `finally` ran (its timeout, Ctrl-C) left behind.
// The suite removes it when it ends, and on SIGINT, SIGTERM or a closed stdout/stderr (EPIPE:
// `npm run bench | head`) once the children in flight have exited, so none writes into it after.

export class Scratch {
  readonly root: string;
  private readonly children = new Set<ChildProcess>();
  private stopped = false;

  constructor() {
    this.root = mkdtempSync(path.join(os.tmpdir(), 'durability-bench-'));
  }

  /** A child's environment: its temp dirs go under the root (TMPDIR on POSIX, TMP/TEMP on Windows). */
  env(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...base, TMPDIR: this.root, TMP: this.root, TEMP: this.root };
  }

  /** Set once a signal or EPIPE began the teardown: start no more children. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** A child to stop before the root is removed. */
  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * SIGINT/SIGTERM: stop the children, remove the root, then die of the same signal (so a shell
   * sees the usual status). EPIPE on stdout or stderr: the same, then exit 0 (the reader has
   * gone; nothing is left to report to). A repeated signal while stopping is ignored.
   */
  removeOnExit(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const onSignal = (): void => void this.stop(() => {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      });
      process.on(signal, onSignal);
    }
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        void this.stop(() => process.exit(0));
      });
    }
  }

  private async stop(end: () => void): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    })));
    this.remove();
    end();
  }
}
