import { IoError } from '../errors';

/**
 * A failure for want of room: the disk (ENOSPC) or the user's quota (EDQUOT) is full. What the
 * writer can do without (a preallocation, zeros ahead of the log) is given up on it; data is not.
 */
export function isNoRoom(err: unknown): boolean {
  return err instanceof IoError && (err.errno === 'ENOSPC' || err.errno === 'EDQUOT');
}
