import path from 'node:path';
import { channels } from '../diagnostics';
import { parseCommand } from './args';
import { raw } from '../wal/codec';
import { forceCut, type QuarantineEvent } from '../wal/quarantine';
import { listSegments } from '../wal/segment-files';
import { WalWriter } from '../wal/writer';
import { CliError, EXIT_DAMAGED, EXIT_OK, line, openLogDirectory, type CliIo } from './io';
import { requireLog } from './log-dir';
import { scanLog } from './log-scan';

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

  const strict = scanLog(dir, { mode: 'strict', stopAtDamage: true });
  if (strict.firstDamage === undefined) {
    line(io.stdout, 'clean: nothing to repair');
    return EXIT_OK;
  }
  const lenient = scanLog(dir, { mode: 'bestEffortTail', stopAtDamage: true });
  const preserved: QuarantineEvent[] = [];
  const collect = (e: unknown): void => {
    if ((e as QuarantineEvent).kind === 'wal-quarantine') preserved.push(e as QuarantineEvent);
  };
  const d = lenient.firstDamage;
  if (d !== undefined && values.force !== true) {
    line(io.stderr, `refusing to repair: ${path.join(dirPath, d.file)} @ ${d.offset}: ${d.reason}`);
    line(io.stderr, 'this is damage before the end of the log, not a torn tail; truncating it would drop entries that may have been acknowledged');
    line(io.stderr, `(--force cuts the log there anyway, keeping the bytes cut in a quarantine file)`);
    return EXIT_DAMAGED;
  }
  const final = lenient.segments[lenient.segments.length - 1];
  const before = d === undefined ? `cut from ${final.fileSize}` : `cut at the damage (${d.file} @ ${d.offset})`;
  const finalPath = d === undefined ? final.path : d.file;
  channels.diagnostic.subscribe(collect);
  try {
    if (d !== undefined) forceCut(dir, d.file, d.offset);
    // The writer's resume is the one place that repairs a tail (quarantine, truncate, fdatasync,
    // directory fsync, in that order); reuse it rather than cutting files here.
    if (d === undefined || listSegments(dir).length > 0) {
      const writer = WalWriter.resume(dir, { codec: raw });
      writer.closeSync();
    }
  } finally {
    channels.diagnostic.unsubscribe(collect);
  }
  for (const q of preserved) {
    const ids = q.frames === 0 ? 'no frame passing its CRC' : `${q.frames} frame(s) passing their CRC, entries ${q.firstEntryId}..${q.lastEntryId}`;
    line(io.stdout, `preserved: ${path.join(dirPath, q.file)} from byte ${q.offset} (${ids}) in ${path.join(dirPath, q.path)}`);
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
  const segment = after.segments[after.segments.length - 1];
  const last = segment.scan?.lastEntryId ?? 0;
  line(io.stdout, `repaired: ${path.join(dirPath, finalPath)} ${before} to ${segment.fileSize} bytes; the log ends at entry ${last}`);
  return EXIT_OK;
}
