import fs from 'node:fs';

/** This process's open descriptors and what each links to ("socket:[…]", a path, "anon_inode:[eventfd]"), to name one left open. */
export function openDescriptors(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the listing's own descriptor, or one closed between the listing and the link
    }
  }
  return out;
}
