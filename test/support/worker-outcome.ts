import type { EventEmitter } from 'node:events';

// Follows a worker_thread from start to exit, with every listener attached at once. A worker that
// exits right after posting has, when the main thread is slow to look, its pending messages
// drained and 'exit' emitted in one synchronous turn (Node's Worker[kOnExit]): a listener added
// after awaiting the message never sees the exit, and the test hangs until its timeout.

export interface WorkerOutcome<M> {
  readonly messages: M[];
  readonly errors: unknown[];
  readonly code: number;
}

/** What followWorker needs of a Worker. */
export type WorkerEvents = Pick<EventEmitter, 'on'> & { terminate(): Promise<number> };

interface Followed {
  readonly name: string;
  readonly worker: WorkerEvents;
  readonly messages: unknown[];
  readonly errors: unknown[];
}

/** Workers followed that have not exited yet: a failed test reports and ends them. */
const live = new Set<Followed>();

/** Collects the worker's messages and errors; settles (never rejects) on 'exit'. */
export function followWorker<M>(worker: WorkerEvents, name: string): Promise<WorkerOutcome<M>> {
  const followed: Followed = { name, worker, messages: [], errors: [] };
  live.add(followed);
  worker.on('message', (m: unknown) => followed.messages.push(m));
  worker.on('error', (e: unknown) => followed.errors.push(e));
  return new Promise((resolve) => {
    worker.on('exit', (code: number) => {
      live.delete(followed);
      resolve({ messages: followed.messages as M[], errors: followed.errors, code });
    });
  });
}

/**
 * For a test that failed (a timeout included): one line per followed worker still running, with
 * what it posted and raised so far and `detail(name)` (e.g. the step it reports through shared
 * memory); then terminates them, so they do not keep the process alive.
 */
export async function endLiveWorkers(detail: (name: string) => string = () => ''): Promise<string[]> {
  const stuck = [...live];
  live.clear();
  const lines = stuck.map((w) => {
    const extra = detail(w.name);
    const errors = w.errors.map(String).join('; ');
    return `${w.name} never exited: ${w.messages.length} message(s), errors [${errors}]${extra === '' ? '' : `, ${extra}`}`;
  });
  await Promise.all(stuck.map((w) => w.worker.terminate()));
  return lines;
}
