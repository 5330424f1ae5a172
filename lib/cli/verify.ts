import path from 'node:path';
import { exclusiveFlags, parseCommand } from './args';
import type { CorruptionError } from '../errors';
import { CliError, EXIT_DAMAGED, EXIT_OK, formatBytes, line, openLogDirectory, type CliIo } from './io';
import { scanCheckpoints } from './checkpoint-scan';
import { requireLog } from './log-dir';
import { describeFollowing, describeIgnored, scanLog } from './log-scan';
import { UnknownNames } from '../unknown-names';
import { ProgressBar } from './progress';

export const usage = `durability verify <dir> [--progress | --quiet]
  Checks every frame of the log strictly, and every checkpoint file. Exit 0: clean. Exit 1:
  damaged (file and byte offset printed, and whether 'durability repair' can fix it). A progress bar is drawn on stderr for
  logs over 8 MiB when stderr is a terminal (--progress: always, --quiet: never).`;

const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

export function verify(argv: string[], io: CliIo): number {
  const { values, positionals } = parseCommand('verify', argv, { progress: { type: 'boolean' }, quiet: { type: 'boolean' } });
  exclusiveFlags(values, 'progress', 'quiet');
  if (positionals.length !== 1) throw new CliError(`verify takes one <dir>\n${usage}`);
  const dirPath = positionals[0];
  const dir = openLogDirectory(dirPath);
  requireLog(dir, dirPath);

  let bar: ProgressBar | undefined;
  const unknown = new UnknownNames();
  const report = scanLog(dir, {
    mode: 'strict',
    stopAtDamage: true,
    survey: true,
    unknown,
    onProgress: (done, total) => {
      if (bar === undefined) {
        const wanted = values.progress === true || (values.quiet !== true && io.stderr.isTTY === true && total >= PROGRESS_MIN_BYTES);
        if (!wanted) return;
        bar = new ProgressBar(io.stderr, 'verifying');
      }
      bar.update(done, total);
    },
  });
  bar?.finish();

  const scanned = scanCheckpoints(dir, unknown);
  for (const p of unknown.paths) line(io.stdout, describeIgnored(dirPath, p));
  // A name holding no regular file is no checkpoint: said, but no damage (recovery ignores it).
  for (const c of scanned.filter((x) => x.notAFile)) {
    line(io.stdout, `not a checkpoint: ${path.join(dirPath, c.path)}: ${c.reason} (recovery ignores it)`);
  }
  const checkpoints = scanned.filter((c) => !c.notAFile);
  const badCheckpoints = checkpoints.filter((c) => !c.ok);
  for (const c of badCheckpoints) {
    const where = `${path.join(dirPath, c.path)} @ ${c.offset}: ${c.reason}`;
    // A valid file of another version is no damage to pass over: falling back past it could roll the state back.
    if (c.damaged) line(io.stdout, `damaged: ${where} (recovery passes over damaged checkpoints)`);
    else line(io.stdout, `unsupported: ${where} (recovery refuses this log: written by a newer version?)`);
  }
  if (report.firstDamage === undefined) {
    if (badCheckpoints.length > 0) return EXIT_DAMAGED;
    const scans = report.segments.map((s) => s.scan).filter((s) => s !== undefined);
    const entries = scans.reduce((n, s) => n + s.frameCount, 0);
    const range = entries === 0 ? 'no entries' : `${entries} entries, ids ${scans[0].firstEntryId}..${scans[scans.length - 1].lastEntryId}`;
    const cps = checkpoints.length === 0 ? '' : `; ${checkpoints.length} checkpoint(s) valid`;
    line(io.stdout, `ok: ${range} in ${scans.length} segment(s), ${formatBytes(report.totalBytes)}${cps}`);
    return EXIT_OK;
  }
  describeDamage(io, dirPath, report.firstDamage, isTornTailOnly(dirPath));
  const following = describeFollowing(report.segments.find((s) => s.damage === report.firstDamage)?.following);
  if (following !== '') line(io.stdout, `after it: ${following}`);
  return EXIT_DAMAGED;
}

/** True when the only damage is a torn tail of the final segment (what a crash mid-write leaves). */
export function isTornTailOnly(dirPath: string): boolean {
  return scanLog(openLogDirectory(dirPath), { mode: 'bestEffortTail', stopAtDamage: true }).firstDamage === undefined;
}

function describeDamage(io: CliIo, dirPath: string, damage: CorruptionError, tornTail: boolean): void {
  line(io.stdout, `damaged: ${path.join(dirPath, damage.file)} @ ${damage.offset}: ${damage.reason}`);
  if (tornTail) {
    line(io.stdout, `torn tail: the final segment ends in an incomplete write (a crash mid-write leaves this); 'durability repair ${dirPath}' cuts it off`);
  } else {
    line(io.stdout, `mid-log damage: entries at and after this point cannot be read; 'durability repair' will not hide it ('durability repair --force' cuts there, keeping the bytes cut in a quarantine file)`);
  }
}
