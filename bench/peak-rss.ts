import { readFileSync } from 'node:fs';

/**
 * The peak resident set of this process, in bytes. On Linux, getrusage's maxRSS (what
 * process.resourceUsage() reports) is not this process's own: exec carries over the peak of the
 * process it replaced, which was a fork of the parent, so a child spawned by a parent holding
 * 1.8 GB reports at least 1.8 GB whatever it does (what made the hostile-stores suite fail when
 * its mocha worker had run memory-hungry files first). /proc/self/status's VmHWM is the peak of
 * this process's own memory. Where there is no /proc, maxRSS.
 */
export function peakRssBytes(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm !== null) return Number(hwm[1]) * 1024;
  } catch {
    // no /proc (macOS, Windows): fall back
  }
  return process.resourceUsage().maxRSS * 1024;
}
