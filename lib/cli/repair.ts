import path from 'node:path';
import { channels } from '../diagnostics';
import { parseCommand } from './args';
import type { Directory } from '../directory/directory';
import type { CorruptionError } from '../errors';
import { raw } from '../wal/codec';
import { LOCK_FILE, MARK_SIZE } from '../wal/format';
import { forceCut, type QuarantineEvent } from '../wal/quarantine';
import { listSegments } from '../wal/segment-files';
import { WalWriter } from '../wal/writer';
import { CliError, EXIT_DAMAGED, EXIT_OK, line, openLogDirectory, type CliIo } from './io';
import { requireLog } from './log-dir';
import { scanLog } from './log-scan';
import { sizeOf } from '../directory/read-whole';
import { openReadChecked } from '../directory/checked-answers';

export const usage = `durability repair <dir> [--force]
  Cuts off a torn tail (an incomplete final write, what a crash leaves) so the log verifies
  strictly again. Damage anywhere else is refused with exit 1: cutting there would drop
  entries that were acknowledged, so it needs a person (restore from a copy or a checkpoint).
  --force cuts the log at the damage anyway. Whatever is cut that still holds frames passing
  their CRC is first copied to a quarantine file in <dir>/wal/ (named in the output).
  Takes the writer's lock: fails while a writer has the log open.`;

export function repair(argv: string[], io: CliIo): number {
  const { values, positionals } = parseCommand('repair', argv, { force: { type: 'boolean' } });
  if (positionals.length !== 1) throw new CliError(`repair takes one <dir>\n${usage}`);
  const dirPath = positionals[0];
  const dir = openLogDirectory(dirPath);
  requireLog(dir, dirPath);

  const preserved: QuarantineEvent[] = [];
  const collect = (e: unknown): void => {
    if ((e as QuarantineEvent).kind === 'wal-quarantine') preserved.push(e as QuarantineEvent);
  };
  channels.diagnostic.subscribe(collect);
  /** What the repair did, for the last line; a torn tail's final size is known only after the resume. */
  let cut: (finalSize: number) => string;
  try {
    // The writer's lock from the first scan to the cut: a writer that has the log open would go
    // on acknowledging entries into files this cuts or deletes.
    const lock = dir.lock(LOCK_FILE);
    let damage: CorruptionError | undefined;
    try {
      const strict = scanLog(dir, { mode: 'strict', stopAtDamage: true });
      if (strict.firstDamage === undefined) {
        line(io.stdout, 'clean: nothing to repair');
        return EXIT_OK;
      }
      const lenient = scanLog(dir, { mode: 'bestEffortTail', stopAtDamage: true });
      damage = lenient.firstDamage;
      if (damage !== undefined && values.force !== true) {
        line(io.stderr, `refusing to repair: ${path.join(dirPath, damage.file)} @ ${damage.offset}: ${damage.reason}`);
        line(io.stderr, 'this is damage before the end of the log, not a torn tail; truncating it would drop entries that may have been acknowledged');
        line(io.stderr, `(--force cuts the log there anyway, keeping the bytes cut in a quarantine file)`);
        return EXIT_DAMAGED;
      }
      const final = lenient.segments[lenient.segments.length - 1];
      if (damage === undefined) {
        // The resume cuts at the end of the last whole frame; its close then marks the log synced,
        // so the file ends up longer than the cut: name both rather than a "cut" that grew.
        const to = final.scan?.validEnd ?? final.fileSize;
        const from = `${path.join(dirPath, final.path)} cut from ${final.fileSize} to ${to} bytes`;
        cut = (size) => (size === to ? from : `${from} (now ${size}${size === to + MARK_SIZE ? ', with the sync mark written after the cut' : ''})`);
      } else {
        const said = forcedCut(dir, dirPath, damage);
        cut = () => said;
      }
    } finally {
      lock.release();
    }
    // The writer's resume is the one place that repairs a tail (quarantine, truncate, fdatasync,
    // directory fsync, in that order); reuse it rather than cutting files here.
    if (damage === undefined || listSegments(dir).length > 0) {
      const writer = WalWriter.resume(dir, { codec: raw });
      writer.closeSync();
    }
  } finally {
    channels.diagnostic.unsubscribe(collect);
    // Said even when the repair then failed: these files hold what was cut.
    for (const q of preserved) {
      // A survey that stopped at its budget counted only some of the frames: say so, or the
      // entries past its last id would look lost when the copy holds them.
      const ids = q.undecided
        ? (q.frames === 0 ? 'frames passing their CRC not counted' : `${q.frames} or more frame(s) passing their CRC, entries ${q.firstEntryId}..${q.lastEntryId} and maybe later`)
          + ': the count stopped at its budget'
        : (q.frames === 0 ? 'no frame passing its CRC' : `${q.frames} frame(s) passing their CRC, entries ${q.firstEntryId}..${q.lastEntryId}`);
      line(io.stdout, `preserved: ${path.join(dirPath, q.file)} from byte ${q.offset} (${ids}) in ${path.join(dirPath, q.path)}`);
    }
  }
  if (listSegments(dir).length === 0) {
    line(io.stdout, `repaired: the log held nothing before the damage; every segment was cut (see the preserved files)`);
    return EXIT_OK;
  }
  const after = scanLog(dir, { mode: 'strict', stopAtDamage: true });
  if (after.firstDamage !== undefined) {
    line(io.stderr, `repair did not leave a clean log: ${after.firstDamage.message}`);
    return EXIT_DAMAGED;
  }
  const final = after.segments[after.segments.length - 1];
  line(io.stdout, `repaired: ${cut(final.fileSize)}; the log ends at entry ${final.scan?.lastEntryId ?? 0}`);
  return EXIT_OK;
}

/** Cuts the log at `damage` (forceCut) and says what happened to the damaged file. */
function forcedCut(dir: Directory, dirPath: string, damage: CorruptionError): string {
  forceCut(dir, damage.file, damage.offset);
  const where = `${path.join(dirPath, damage.file)} (damage @ ${damage.offset})`;
  if (!dir.exists(damage.file)) return `${where} removed, with every later segment`;
  const f = openReadChecked(dir, damage.file);
  try {
    return `${where} cut at the damage to ${sizeOf(f)} bytes, every later segment removed`;
  } finally {
    f.close();
  }
}
