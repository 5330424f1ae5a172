import { splitZeros } from '../../lib/backend/zero-chunks';
import type { CommitPlan, CommitResult, Directory, WritableFile } from '../../lib/directory/directory';
import type { BaseWritableFile } from '../../lib/directory/writable-base';
import { InvalidStateError } from '../../lib/errors';
import { xorshift32 } from '../crc32c-oracle';
import { overriding, wrappingFiles } from './overriding';

// A simulated commit thread: files of a directory (a SimulatedDirectory) that run their group
// commits as the native core does, in order on a thread of their own, instead of within
// microtasks. The writer then sees commits (of zeros too: ActiveSegment.zeroAheadAsync) still
// in flight when a synchronous call comes, and takes the paths only the native core reaches:
// syncSync/closeSync waiting for them (waitCommitsSync) and leaving the pipeline early.

interface Job {
  readonly plan: CommitPlan;
  readonly resolve: (result: CommitResult) => void;
  readonly reject: (err: unknown) => void;
  /** A synchronous call (waitCommitsSync, sync, close) saw it run: it no longer holds writes back. */
  seen: boolean;
}

/** One file's commit thread: its queue of commits and the first failure, which fails every later one unrun. */
class FileCommitThread {
  private readonly jobs: Job[] = [];
  private failure: { cause: unknown } | undefined;
  private scheduled = false;
  private halted = false;
  /** Commits run whose completion has not reached JS yet. */
  private undelivered = 0;
  /** Commits not yet settled in JS, queued or run (see refuseWhileCommitting). */
  private readonly unsettled = new Set<Job>();

  constructor(
    private readonly file: WritableFile,
    private readonly syncDir: (path: string) => void,
    private readonly random: () => number,
  ) {}

  commit(plan: CommitPlan): Promise<CommitResult> {
    // The chunks are the writer's buffers: copied, as the native core copies them before it returns.
    const copied: CommitPlan = { ...plan, chunks: plan.chunks.map((c) => c.slice()) };
    return new Promise<CommitResult>((resolve, reject) => {
      const job: Job = {
        plan: copied,
        resolve: (result) => {
          this.unsettled.delete(job);
          resolve(result);
        },
        reject: (err) => {
          this.unsettled.delete(job);
          reject(err);
        },
        seen: false,
      };
      this.unsettled.add(job);
      this.jobs.push(job);
      this.schedule();
    });
  }

  /**
   * As every WritableFile does (writable-base.ts): a call that changes the file from the JS thread
   * while a commit is in flight, not seen run by a synchronous call, is refused. The wrapped
   * file's own check cannot see these commits (they bypass its commitAsync), so the writer's
   * paths on a commit thread are held to the rule here.
   */
  refuseWhileCommitting(call: string): void {
    for (const job of this.unsettled) {
      if (!job.seen) throw new InvalidStateError(`${call}() while a commit on the simulated commit thread is in flight`);
    }
  }

  /** Whether a commit is queued, or ran and its completion is still to reach JS. */
  get busy(): boolean {
    return this.jobs.length > 0 || this.undelivered > 0;
  }

  /** Runs every queued commit now (waitCommitsSync, close: a synchronous call blocks on the thread) and throws the first failure. */
  runAll(): void {
    while (this.jobs.length > 0) this.runOne();
    for (const job of this.unsettled) job.seen = true;
    if (this.failure !== undefined) throw this.failure.cause;
  }

  /** The process died: queued commits never run, and no completion reaches the dead writer (which would go on committing). */
  halt(): void {
    this.halted = true;
    this.jobs.length = 0;
  }

  /**
   * Runs the oldest commit: its write, its zeros where there is room (as the native core: reserved,
   * then written, left out for want of room), cut, fdatasync and directory fsyncs; its completion
   * reaches JS a turn later.
   */
  private runOne(): void {
    const job = this.jobs.shift();
    if (job === undefined) return;
    let result: CommitResult = undefined;
    if (this.failure === undefined) {
      try {
        const { data, zeros, dataLength } = splitZeros(job.plan.chunks, job.plan.zeroChunks ?? 0);
        let at = job.plan.position;
        for (const chunk of data) {
          if (chunk.length > 0) this.file.writeAt(chunk, at);
          at += chunk.length;
        }
        if (!(this.file as BaseWritableFile).writeZerosAt(zeros, job.plan.position + dataLength)) result = 'zeros-skipped';
        if (job.plan.truncateTo !== undefined) this.file.truncate(job.plan.truncateTo);
        this.file.sync();
        for (const d of job.plan.syncDirs ?? []) this.syncDir(d);
      } catch (err) {
        this.failure = { cause: err };
      }
    }
    const failure = this.failure;
    // A completion reaches JS a turn later, unless the process died meanwhile (halt).
    if (failure === undefined) {
      this.undelivered++;
      setImmediate(() => {
        this.undelivered--;
        if (!this.halted) job.resolve(result);
      });
      return;
    }
    // Failed: the thread fails the commits queued behind it at once, without waiting for the disk.
    const failed = [job, ...this.jobs.splice(0)];
    this.undelivered += failed.length;
    setImmediate(() => {
      this.undelivered -= failed.length;
      if (this.halted) return;
      for (const j of failed) j.reject(failure.cause);
    });
  }

  private schedule(): void {
    if (this.scheduled || this.halted) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.halted) return;
      // The disk takes its time: a commit runs on about every other turn of the event loop.
      if (this.failure !== undefined || this.random() < 0.5) this.runOne();
      if (this.jobs.length > 0) this.schedule();
    });
  }
}

/**
 * Wraps directories so their files run commits on a commit thread each (seeded by `random`, so a
 * run replays): commitAsync queues, waitsForCommits is true, waitCommitsSync, sync and close
 * first run what is queued. halt() stops every thread, as a process kill does.
 */
export class CommitThreads {
  private readonly threads: FileCommitThread[] = [];

  constructor(private readonly random: () => number) {}

  wrap(inner: Directory): Directory {
    return wrappingFiles(inner, (file) => {
      const thread = new FileCommitThread(file, (d) => inner.syncDir(d), this.random);
      this.threads.push(thread);
      return overriding(file, {
        waitsForCommits: true,
        commitAsync: (plan) => thread.commit(plan),
        waitCommitsSync: () => thread.runAll(),
        write: (data) => {
          thread.refuseWhileCommitting('write');
          file.write(data);
        },
        writev: (chunks) => {
          thread.refuseWhileCommitting('writev');
          file.writev(chunks);
        },
        writeAt: (data, position) => {
          thread.refuseWhileCommitting('writeAt');
          file.writeAt(data, position);
        },
        allocate: (length) => {
          thread.refuseWhileCommitting('allocate');
          return file.allocate(length);
        },
        truncate: (length) => {
          thread.refuseWhileCommitting('truncate');
          file.truncate(length);
        },
        writeAsync: async (data) => {
          thread.refuseWhileCommitting('writeAsync');
          return file.writeAsync(data);
        },
        sync: () => {
          thread.runAll();
          file.sync();
        },
        // Joins the thread (runs what is queued, its failure not reported here) before closing.
        close: () => {
          try {
            thread.runAll();
          } catch {
            // The commit that failed reports it to its caller.
          }
          file.close();
        },
      });
    });
  }

  /** Whether a thread has a commit queued, or one whose completion is still to reach JS. */
  get busy(): boolean {
    return this.threads.some((t) => t.busy);
  }

  halt(): void {
    for (const t of this.threads) t.halt();
    this.threads.length = 0;
  }
}

/** The commit threads' timing in [0, 1), replayed by the seed (xorshift32). */
export function seededRandom(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32;
}
