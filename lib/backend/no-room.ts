import { IoError } from '../errors';

/**
 * A failure for want of room: the disk (ENOSPC) or the user's quota (EDQUOT) is full, or the
 * bytes would pass the largest file allowed (EFBIG: the process's file-size limit, RLIMIT_FSIZE,
 * or the file system's own; Node ignores the SIGXFSZ that comes with it). What the writer can do
 * without (a preallocation, zeros ahead of the log, an idle sync mark) is given up on it; data is
 * not.
 */
export function isNoRoom(err: unknown): boolean {
  return err instanceof IoError && (err.errno === 'ENOSPC' || err.errno === 'EDQUOT' || err.errno === 'EFBIG');
}
