// What operators and other tools leave in a store's directories, for test/stray-files.test.ts:
// notes, editor backups and swap files, Finder's .DS_Store, lost+found, copies, rsync's temp
// names, and near-misses of the package's own names. None of these names is one the package
// writes. Each is planted as each kind of entry in turn.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Stray names in wal/. */
export const WAL_STRAYS = [
  'README',
  'notes.txt',
  '00000000000000000001.wal~',
  '.00000000000000000001.wal.swp',
  '.DS_Store',
  'lost+found',
  'segment.wal.bak',
  '00000000000000000001.wal.bak',
  '.~tmp~',
  '.00000000000000000002.wal.Ab12Cd', // rsync's temp name for a file it is receiving
  '00000000000000000001.wal.tmp',
  '00000000000000000001.WAL',
  '00000000000000000001.walx',
  'LOCK~',
  'LOCK.pid.bak',
  'garbage.quarantine',
  'recycle-abc',
  'recycle-',
  'recycle-1.bak',
  // Near-misses of recycle-<segment id>: the writer only ever names one after a segment id (1..2^53-1, no leading zero).
  'recycle-0',
  'recycle-007',
  'recycle-99999999999999999999',
  // .wal names no segment has: a stem that is no id.
  'notes.wal',
  'x.wal',
  '.wal',
  'segment-3.wal',
  '00000000000000000003 (copy).wal',
  '.00000000000000000001.wal',
];

/** Stray names in checkpoints/. */
export const CHECKPOINT_STRAYS = [
  'README',
  'notes.txt',
  '00000000000000000010.ckpt~',
  '00000000000000000010.ckpt.bak',
  '.DS_Store',
  'lost+found',
  'garbage.ckpt',
  '.ckpt',
  '000000000000000000010.ckpt',
  '00000000000000000010.CKPT',
  '99999999999999999999.ckpt',
  'pending.bak',
  '.pending.Ab12Cd',
];

/** Stray names in the store's root, which the package shares with its user and never lists. */
export const ROOT_STRAYS = ['README', 'notes.txt', '.DS_Store', 'lost+found', 'wal.bak', 'checkpoints.old', '.~tmp~', 'jetstream-cursor.json.bak'];

export const STRAY_BYTES = 'left here by someone else\n';

/** Each kind of entry a stray name can hold, planted at every one of `files`; `outside` is a directory beside the store. */
export const KINDS: Record<string, (files: readonly string[], outside: string) => void> = {
  'regular file': (files) => files.forEach((file) => fs.writeFileSync(file, STRAY_BYTES)),
  directory: (files) => files.forEach((file) => fs.mkdirSync(file)),
  'symbolic link': (files, outside) => files.forEach((file) => fs.symlinkSync(path.join(outside, 'target'), file)),
  'dangling symbolic link': (files, outside) => files.forEach((file) => fs.symlinkSync(path.join(outside, 'nowhere'), file)),
  // One mkfifo for them all: a process per name made planting the suite's slowest part on a busy machine.
  FIFO: (files) => {
    const r = spawnSync('mkfifo', ['--', ...files]);
    if (r.status !== 0) throw new Error(`mkfifo failed: ${String(r.stderr)}`);
  },
};

/** What sits at `file` now: its kind, and a regular file's bytes. */
export function describeEntry(file: string): string {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st === undefined) return 'missing';
  if (st.isFile()) return `regular file: ${fs.readFileSync(file, 'utf8')}`;
  if (st.isSymbolicLink()) return `symbolic link to ${fs.readlinkSync(file)}`;
  if (st.isDirectory()) return `directory of ${fs.readdirSync(file).length}`;
  if (st.isFIFO()) return 'FIFO';
  return 'other';
}
