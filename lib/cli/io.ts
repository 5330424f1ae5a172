import fs from 'node:fs';
import { FsDirectory } from '../directory/fs';
import { DurabilityError, describe, toIoError } from '../errors';

// What every subcommand shares: where output goes, how a failure becomes an exit code, and how
// a directory argument becomes a Directory.

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Exit codes: 0 clean / done, 1 the log is damaged or the command refused, 2 usage or environment error. */
export const EXIT_OK = 0;
export const EXIT_DAMAGED = 1;
export const EXIT_USAGE = 2;

/** A failure the CLI reports as one line and an exit code, without a stack. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_USAGE) {
    super(message);
  }
}

/** Opens an existing directory for reading a log; never creates anything. */
export function openLogDirectory(path: string | undefined): FsDirectory {
  if (path === undefined) throw new CliError('missing <dir> argument');
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch (err) {
    // Only a missing path is "no such directory": EIO or EACCES is said as such, not as an absent store.
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new CliError(`${path}: no such directory`);
    throw toIoError(err, path);
  }
  if (!stat.isDirectory()) throw new CliError(`${path}: not a directory`);
  return new FsDirectory(path);
}

export function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(`${text}\n`);
}

/**
 * The reader of stdout went away (`durability dump <dir> | head -1`). Not a failure: the
 * reader has what it wanted, so the command stops and exits 0 without a message.
 */
export class BrokenPipeError extends Error {
  constructor() {
    super('stdout closed by its reader (EPIPE)');
  }
}

export function isBrokenPipe(err: unknown): boolean {
  return err instanceof BrokenPipeError || (err instanceof Error && (err as NodeJS.ErrnoException).code === 'EPIPE');
}

type StreamState = NodeJS.WritableStream & { destroyed?: boolean; errored?: unknown };

function destroyed(stream: StreamState): boolean {
  return stream.destroyed === true;
}

/** The error that ended `stream`, once it cannot take more writes. */
function ended(stream: StreamState): unknown {
  if (stream.errored !== null && stream.errored !== undefined && !isBrokenPipe(stream.errored)) return stream.errored;
  return new BrokenPipeError();
}

/**
 * Writes one piece of streaming output and, when the stream is full, waits for it to drain, so
 * output piped into a slow reader stays in bounded memory. Throws BrokenPipeError once the
 * reader has gone (a stream destroyed by EPIPE never drains), or the stream's own error.
 */
export async function writeStreaming(stream: NodeJS.WritableStream, text: string): Promise<void> {
  const s = stream as StreamState;
  if (destroyed(s)) throw ended(s);
  if (s.write(text)) return;
  // A write that hit EPIPE destroys the stream at once (no 'drain' will ever come).
  if (destroyed(s)) throw ended(s);
  await new Promise<void>((resolve, reject) => {
    const settle = (err?: unknown): void => {
      s.removeListener('drain', onDrain);
      s.removeListener('error', onError);
      s.removeListener('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => settle();
    const onError = (err: unknown): void => settle(isBrokenPipe(err) ? new BrokenPipeError() : err);
    const onClose = (): void => settle(ended(s));
    s.on('drain', onDrain);
    s.on('error', onError);
    s.on('close', onClose);
  });
}

/** The one-line message for an error that reached the top of a command. */
export function errorLine(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof DurabilityError) return `${err.code}: ${err.message}`;
  return describe(err);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
