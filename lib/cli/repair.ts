import path from 'node:path';
import { parseCommand } from './args';
import { raw } from '../wal/codec';
import { WalWriter } from '../wal/writer';
import { CliError, EXIT_DAMAGED, EXIT_OK, line, openLogDirectory, type CliIo } from './io';
import { requireLog } from './log-dir';
import { scanLog } from './log-scan';

export const usage = `durability repair <dir>
  Cuts off a torn tail (an incomplete final write, what a crash leaves) so the log verifies
  strictly again. Damage anywhere else is refused with exit 1: cutting there would silently drop
  entries that were acknowledged, so it needs a person (restore from a copy or a checkpoint).
  Takes the writer's lock: fails while a writer has the log open.`;

export function repair(argv: string[], io: CliIo): number {
  const { positionals } = parseCommand('repair', argv, {});
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
  if (lenient.firstDamage !== undefined) {
    const d = lenient.firstDamage;
    line(io.stderr, `refusing to repair: ${path.join(dirPath, d.file)} @ ${d.offset}: ${d.reason}`);
    line(io.stderr, 'this is damage before the end of the log, not a torn tail; truncating it would drop entries that may have been acknowledged');
    return EXIT_DAMAGED;
  }
  const final = lenient.segments[lenient.segments.length - 1];
  const before = final.fileSize;
  // The writer's resume is the one place that repairs a tail (truncate, fdatasync, directory
  // fsync, in that order); reuse it rather than cutting files here.
  const writer = WalWriter.resume(dir, { codec: raw });
  writer.closeSync();
  const after = scanLog(dir, { mode: 'strict', stopAtDamage: true });
  if (after.firstDamage !== undefined) {
    line(io.stderr, `repair did not leave a clean log: ${after.firstDamage.message}`);
    return EXIT_DAMAGED;
  }
  const segment = after.segments[after.segments.length - 1];
  const last = segment.scan?.lastEntryId ?? 0;
  line(io.stdout, `repaired: ${path.join(dirPath, final.path)} cut from ${before} to ${segment.fileSize} bytes; the log ends at entry ${last}`);
  return EXIT_OK;
}
