import { json, msgpack, raw, type Codec } from '../wal/codec';
import { WalReader } from '../wal/reader';
import { entryIdOption, parseCommand } from './args';
import { CliError, EXIT_OK, openLogDirectory, writeStreaming, type CliIo } from './io';
import { requireLog } from './log-dir';

export const usage = `durability dump <dir> [--from <id>] [--codec json|msgpack|raw] [--best-effort]
  Writes every entry (from entry id <id>, in decimal) as one JSON line {"entryId":…,"payload":…} to stdout, streaming.
  --codec (default json) decodes payloads; raw prints them as {"base64":…}, as are byte strings inside
  msgpack values; BigInts print as strings. Strict by default: damage stops the
  dump with exit 1; --best-effort ends quietly at a torn tail instead.`;

const codecs: Record<string, Codec<unknown>> = { json, msgpack, raw: raw as Codec<unknown> };

export async function dump(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand('dump', argv, {
    from: { type: 'string' }, codec: { type: 'string', default: 'json' }, 'best-effort': { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new CliError(`dump takes one <dir>\n${usage}`);
  const codec = codecs[values.codec];
  if (codec === undefined) throw new CliError(`unknown codec ${JSON.stringify(values.codec)} (json, msgpack or raw)`);
  const from = values.from === undefined ? 1 : entryIdOption('--from', values.from);
  const dir = openLogDirectory(positionals[0]);
  requireLog(dir, positionals[0]);

  const reader = new WalReader(dir, { codec });
  const out = io.stdout;
  for await (const record of reader.records({ fromEntryId: from, mode: values['best-effort'] === true ? 'bestEffortTail' : 'strict' })) {
    // Throws BrokenPipeError when the reader goes away (dump | head): leaving the loop closes the files.
    await writeStreaming(out, `${JSON.stringify({ entryId: record.entryId, payload: record.payload }, jsonSafe)}\n`);
  }
  return EXIT_OK;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  // Buffer has toJSON, which runs before the replacer sees it: turn its {type,data} form back.
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { base64: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}
