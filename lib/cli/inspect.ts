import path from 'node:path';
import { parseCommand } from './args';
import { CliError, EXIT_DAMAGED, EXIT_OK, formatBytes, line, openLogDirectory, type CliIo } from './io';
import { scanCheckpoints } from './checkpoint-scan';
import { forwarderPosition } from './forwarder-position';
import { requireLog } from './log-dir';
import { describeFollowing, describeIgnored, scanLog, type SegmentReport } from './log-scan';
import { UnknownNames } from '../unknown-names';

export const usage = `durability inspect <dir> [--json]
  Lists the log's segments (entry-id range, frame count, size, and how each ends: clean, torn,
  or damaged at a byte offset, with how many frames passing their CRC follow that offset), its
  checkpoints (entries covered, size, valid or damaged) and, when a JetStream forwarder keeps a
  cursor there, how far it has shipped.
  A torn tail of the final segment is reported, not an error. Exit 0 when every segment and
  checkpoint reads, 1 when one is damaged.`;

interface SegmentRow {
  segmentId: number;
  file: string;
  bytes: number;
  entries: number;
  firstEntryId: number | null;
  lastEntryId: number | null;
  /** 'clean' | 'torn' | 'damaged' */
  state: string;
  /** Byte offset where reading stopped, for torn and damaged segments. */
  offset: number | null;
  reason: string | null;
  /** Frames passing their CRC after that offset (null: clean, or not known). */
  following: number | null;
}

export function inspect(argv: string[], io: CliIo): number {
  const { values, positionals } = parseCommand('inspect', argv, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new CliError(`inspect takes one <dir>\n${usage}`);
  const dirPath = positionals[0];
  const dir = openLogDirectory(dirPath);
  requireLog(dir, dirPath);
  const unknown = new UnknownNames();
  const report = scanLog(dir, { mode: 'bestEffortTail', stopAtDamage: false, survey: true, unknown });
  const rows = report.segments.map(toRow);
  const entries = rows.reduce((n, r) => n + r.entries, 0);
  const withEntries = rows.filter((r) => r.entries > 0);
  const checkpoints = scanCheckpoints(dir, unknown);
  const lastEntryId = withEntries[withEntries.length - 1]?.lastEntryId ?? null;
  const forwarder = forwarderPosition(dir, lastEntryId ?? 0);
  const damaged = rows.some((r) => r.state === 'damaged') || (report.firstDamage !== undefined && rows.length === 0) ||
    checkpoints.some((c) => !c.ok && !c.notAFile);

  if (values.json === true) {
    line(io.stdout, JSON.stringify({
      dir: path.resolve(dirPath),
      backend: dir.backend.name,
      segments: rows,
      entries,
      firstEntryId: withEntries[0]?.firstEntryId ?? null,
      lastEntryId,
      bytes: report.totalBytes,
      checkpoints,
      forwarder: forwarder ?? null,
      ignored: unknown.paths,
      damage: report.firstDamage === undefined ? null : { file: report.firstDamage.file, offset: report.firstDamage.offset, reason: report.firstDamage.reason },
    }));
    return damaged ? EXIT_DAMAGED : EXIT_OK;
  }

  line(io.stdout, `log ${path.resolve(dirPath)} (read with the ${dir.backend.name} backend)`);
  const table = [['segment', 'file', 'size', 'entries', 'ids', 'end']];
  for (const r of rows) {
    const ids = r.firstEntryId === null || r.lastEntryId === null || r.entries === 0 ? '-' : `${r.firstEntryId}..${r.lastEntryId}`;
    const end = r.state === 'clean' ? 'clean' : `${r.state} @ ${r.offset}${r.reason === null ? '' : `: ${r.reason}`}`;
    table.push([String(r.segmentId), r.file, formatBytes(r.bytes), String(r.entries), ids, end]);
  }
  for (const t of alignColumns(table)) line(io.stdout, t);
  const range = withEntries.length === 0 ? 'no entries' : describeRange(entries, withEntries[0].firstEntryId!, lastEntryId!);
  line(io.stdout, `total: ${range} in ${rows.length} segment(s), ${formatBytes(report.totalBytes)}`);
  if (checkpoints.length === 0) line(io.stdout, 'checkpoints: none');
  for (const c of checkpoints) {
    const state = c.ok ? 'valid' : c.notAFile ? `not a checkpoint: ${c.reason} (recovery ignores it)`
      : `${c.damaged ? 'damaged' : 'unsupported (recovery refuses it)'} @ ${c.offset}: ${c.reason}`;
    line(io.stdout, `checkpoint ${c.path}  covers entries ..${c.lastEntryId}  ${formatBytes(c.bytes)}  ${state}`);
  }
  for (const p of unknown.paths) line(io.stdout, describeIgnored(dirPath, p));
  if (forwarder !== undefined) {
    line(io.stdout, forwarder.error !== undefined ? `forwarder: ${forwarder.error}`
      : `forwarder: stream ${forwarder.stream} subject ${forwarder.subject}, shipped through entry ${forwarder.entryId} (seq ${forwarder.seq}), ` +
        `${forwarder.unshippedEntries} entries behind the log, cursor written ${new Date(forwarder.updatedAt!).toISOString()}` +
        (forwarder.unprovenEntryId === undefined ? '' : `; stopped over entry ${forwarder.unprovenEntryId} (${forwarder.unprovenReason}): it does not start until the cursor is moved away`));
  }
  if (report.firstDamage !== undefined && rows.every((r) => r.state !== 'damaged')) {
    line(io.stdout, `damaged: ${report.firstDamage.message}`);
  }
  return damaged ? EXIT_DAMAGED : EXIT_OK;
}

/** "N entries, ids a..b", saying so when they are not a..b without a gap (damage between). */
function describeRange(entries: number, first: number, last: number): string {
  const gap = entries === last - first + 1 ? '' : ' (not contiguous: the damage above cuts the log)';
  return `${entries} entries, ids ${first}..${last}${gap}`;
}

function toRow(s: SegmentReport): SegmentRow {
  if (s.scan === undefined) {
    const d = s.damage;
    // The frames before the damage read (a reader returns them before its error): counted, so the
    // totals hold every entry the log still gives.
    const read = s.beforeDamage !== undefined && s.beforeDamage.count > 0 ? s.beforeDamage : undefined;
    return {
      segmentId: s.segmentId, file: s.path, bytes: s.fileSize, entries: read?.count ?? 0,
      firstEntryId: read?.firstEntryId ?? null, lastEntryId: read?.lastEntryId ?? null,
      state: 'damaged', offset: d?.offset ?? 0, reason: withFollowing(d?.reason ?? null, s),
      following: s.following?.count ?? null,
    };
  }
  const scan = s.scan;
  const torn = scan.tail === 'torn';
  const past = scan.fileSize - scan.validEnd;
  return {
    segmentId: s.segmentId, file: s.path, bytes: s.fileSize, entries: scan.frameCount,
    firstEntryId: scan.firstEntryId, lastEntryId: scan.frameCount === 0 ? null : scan.lastEntryId,
    state: torn ? 'torn' : 'clean', offset: torn ? scan.validEnd : null,
    reason: torn
      ? withFollowing(`incomplete final write, ${past} byte(s) past the last good frame`, s)
      // A recycled file being written (or left by a killed writer): the end is clean, and says why the file is longer.
      : scan.tail === 'stale' ? `a recycled file: ${past} byte(s) of its earlier life past the end (a writer that resumes cuts them)` : null,
    following: torn ? s.following?.count ?? null : null,
  };
}

function withFollowing(reason: string | null, s: SegmentReport): string | null {
  const f = describeFollowing(s.following);
  return f === '' ? reason : `${reason ?? 'damaged'}; ${f}`;
}

function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
}
