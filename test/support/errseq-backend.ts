import type { CommitSteps, FileBackend } from '../../lib/backend/backend';
import { tsBackend } from '../../lib/backend/select';
import { IoError } from '../../lib/errors';
import { overriding } from './overriding';

// A FileBackend over real files (the node:fs backend) that models how Linux reports a writeback
// error to fdatasyncs racing on one descriptor (errseq, "fsyncgate" within one process). The
// error is recorded once per open file description and handed to the first fdatasync that checks
// after it; an fdatasync running at the same time returns 0, although the pages it was to make
// durable were dropped. Real disks give us neither the failure nor the race on demand, so:
// - off-thread fdatasyncs (fdatasyncAsync, and the fdatasync step of commitAsync) are held until
//   the test delivers them (deliver, loseWriteback);
// - loseWriteback() fails the writeback they all wait for: the oldest held one gets EIO, every
//   other one held with it returns 0, and those successes are delivered first (the order in which
//   a caller trusting a 0 hears "durable" before anyone hears the data is gone);
// - a synchronous fdatasync made while one is held races it too: it returns 0 at once, the error
//   going to the held one when the test calls loseWriteback.
// `overlaps` counts the fdatasyncs started while another was in flight on the same descriptor:
// the code under test must keep it at 0. With `ordersCommits` the double runs each descriptor's
// commits one after another in call order, failing every later one after a failure, as the
// native core's commit thread does (its commits never race each other, only other fdatasyncs).

interface HeldSync {
  readonly fd: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class ErrseqBackend {
  readonly backend: FileBackend;
  /** fdatasyncs that started while another fdatasync of the same descriptor was in flight. */
  overlaps = 0;
  /** fdatasyncs started (synchronous and off-thread). */
  syncs = 0;
  private readonly held: HeldSync[] = [];
  /** Per descriptor, the commit the next one runs after (ordersCommits). */
  private readonly commitTail = new Map<number, Promise<void>>();

  constructor(options: { ordersCommits?: boolean } = {}) {
    const real = tsBackend();
    const ordersCommits = options.ordersCommits === true;
    const overrides: Partial<FileBackend> = {
      ordersCommits,
      fdatasync: (fd: number, path?: string) => {
        this.started(fd);
        real.fdatasync(fd, path);
      },
      fdatasyncAsync: (fd: number) => this.hold(fd),
      commitAsync: (fd: number, steps: CommitSteps, path?: string) => {
        if (!ordersCommits) return this.commitSteps(real, fd, steps, path);
        const previous = this.commitTail.get(fd) ?? Promise.resolve();
        const commit = previous.then(() => this.commitSteps(real, fd, steps, path));
        this.commitTail.set(fd, commit);
        return commit;
      },
    };
    this.backend = overriding(real, overrides);
  }

  /** fdatasyncs held off the thread, not yet delivered. */
  get heldSyncs(): number {
    return this.held.length;
  }

  /** Every held fdatasync returns 0 (the writeback succeeded). */
  deliver(): void {
    for (const h of this.held.splice(0)) h.resolve();
  }

  /** Delivers every fdatasync as it is held until `p` settles; throws if two were ever held at once. */
  async deliverUntil(p: Promise<unknown>): Promise<void> {
    let settled = false;
    p.then(() => (settled = true), () => (settled = true));
    while (!settled) {
      if (this.held.length > 1) throw new Error(`${this.held.length} fdatasyncs held at once`);
      this.deliver();
      await this.settle();
    }
  }

  /**
   * The writeback the held fdatasyncs wait for fails: the oldest reports EIO, the others 0, and
   * the successes reach their callers (one event loop turn) before the failure does.
   */
  async loseWriteback(): Promise<void> {
    const [first, ...racing] = this.held.splice(0);
    if (first === undefined) throw new Error('no fdatasync is held');
    for (const h of racing) h.resolve();
    await this.settle();
    first.reject(new IoError('EIO', 'fdatasync', undefined));
    await this.settle();
  }

  /** Lets every callback and promise reaction queued so far run. */
  settle(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  private started(fd: number): void {
    this.syncs++;
    if (this.held.some((h) => h.fd === fd)) this.overlaps++;
  }

  private hold(fd: number): Promise<void> {
    this.started(fd);
    return new Promise<void>((resolve, reject) => {
      this.held.push({ fd, resolve, reject });
    });
  }

  private async commitSteps(real: FileBackend, fd: number, steps: CommitSteps, path: string | undefined): Promise<void> {
    let at = steps.offset;
    for (const chunk of steps.chunks) {
      if (chunk.length > 0) real.pwrite(fd, chunk, at, path);
      at += chunk.length;
    }
    if (steps.truncateTo !== undefined) real.ftruncate(fd, steps.truncateTo, path);
    await this.hold(fd);
    for (const dir of steps.dirs) await real.fsyncDirAsync(dir);
  }
}
