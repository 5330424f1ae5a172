import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

// The record a pid-file lock holds (lockfile.ts): "<pid> <host> <start token> <nonce> [flock]",
// and whether the process that wrote one still runs. The start token tells one process lifetime
// from another with the same pid: on Linux the boot id, pid namespace and start time from /proc;
// elsewhere the process's performance.timeOrigin, which only this process can check.

interface LinuxToken {
  readonly boot: string;
  readonly ns: string;
  readonly start: string;
}

/**
 * Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat, or undefined if unreadable.
 * Absence is not proof of death: with a hidepid mount other users' processes are invisible.
 */
function linuxStartTime(pid: number | 'self'): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) is parenthesised and may itself contain spaces or ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function selfLinuxToken(): LinuxToken | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const ns = fs.readlinkSync('/proc/self/ns/pid').replace(/[^0-9]/g, '');
    const start = linuxStartTime('self');
    if (!boot || !ns || start === undefined) return undefined;
    return { boot, ns, start };
  } catch {
    return undefined;
  }
}

const SELF_LINUX = selfLinuxToken();
const SELF_TOKEN = SELF_LINUX
  ? `linux:${SELF_LINUX.boot}:${SELF_LINUX.ns}:${SELF_LINUX.start}`
  : `origin:${Math.round(performance.timeOrigin)}`;
const SELF_HOST = encodeURIComponent(os.hostname());

/** The fifth field of a record written by a holder of the file's flock (the native backend). */
const FLOCK_MARK = 'flock';

export function newRecord(flockHeld = false): string {
  return `${process.pid} ${SELF_HOST} ${SELF_TOKEN} ${randomBytes(8).toString('hex')}${flockHeld ? ` ${FLOCK_MARK}` : ''}\n`;
}

export function writtenUnderFlock(record: string): boolean {
  return record.trim().split(' ')[4] === FLOCK_MARK;
}

/**
 * Less than a whole record: empty, cut short (every record this package ever wrote ends in a
 * newline) or holding NULs (what a power cut leaves of a file whose size reached the disk before
 * its data). Records are written in full before any name leads to them, so a live writer's
 * record is never seen like this where hard links work (lockfile.ts says when that proves it dead).
 */
export function isIncompleteRecord(record: string): boolean {
  return !record.endsWith('\n') || record.includes('\0');
}

type Owner = 'alive' | 'dead' | 'unknown';

/**
 * Whether the process that wrote `record` still runs. 'unknown' (another host or pid namespace,
 * unreadable record) is treated as alive by every caller: never break what cannot be checked.
 * Records of just "<pid> <host>" are accepted and checked by pid alone.
 */
export function ownerState(record: string): Owner {
  const [pidText, host, token] = record.trim().split(' ');
  if (!pidText || !/^[1-9][0-9]{0,9}$/.test(pidText) || host === undefined) return 'unknown';
  const pid = Number(pidText);
  if (host !== SELF_HOST) return 'unknown';
  if (token !== undefined && token.startsWith('linux:')) {
    const [, boot, ns, start] = token.split(':');
    if (SELF_LINUX) {
      if (boot !== SELF_LINUX.boot) return 'dead'; // written before this host last booted
      if (ns !== SELF_LINUX.ns) return 'unknown';
      const now = linuxStartTime(pid);
      if (now !== undefined) return now === start ? 'alive' : 'dead'; // a reused pid starts later
    }
  } else if (pid === process.pid && token !== undefined && token.startsWith('origin:')) {
    return token === SELF_TOKEN ? 'alive' : 'dead';
  }
  if (pid === process.pid) return token === undefined || token === SELF_TOKEN ? 'alive' : 'unknown';
  try {
    process.kill(pid, 0);
    return 'alive';
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ESRCH') return 'dead';
    return code === 'EPERM' ? 'alive' : 'unknown';
  }
}
