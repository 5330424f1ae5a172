import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './io';

// Command-line parsing shared by the subcommands: node's parseArgs, with its errors turned into
// one-line usage errors (exit 2) and the checks it does not make (entry ids, conflicting flags).

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;

/**
 * parseArgs in strict mode. A value that starts with '-' after a string option (`--from -5`) is
 * taken as that option's value, so the option's own check can say what is wrong with it.
 */
export function parseCommand<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true): Parsed<O> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = /^--([^=]+)$/.exec(argv[i])?.[1];
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < argv.length && argv[i + 1].startsWith('-')) {
      args.push(`--${name}=${argv[++i]}`);
    } else {
      args.push(argv[i]);
    }
  }
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    // ERR_PARSE_ARGS_*: the first sentence says which option and why; the rest is node's advice.
    const message = err instanceof Error ? err.message.split(/\.\s|\n/)[0] : String(err);
    throw new CliError(`${message} (see durability ${command} --help)`);
  }
}

/** An entry id written in decimal digits, 1..2^53−1: no sign, hex, exponent, fraction or blanks. */
export function entryIdOption(option: string, value: string): number {
  const id = /^[1-9][0-9]*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(id)) throw new CliError(`${option} must be an entry id (decimal, 1..2^53-1), not ${JSON.stringify(value)}`);
  return id;
}

/** Refuses flags that ask for opposite things. */
export function exclusiveFlags(values: Record<string, unknown>, a: string, b: string): void {
  if (values[a] !== undefined && values[a] !== false && values[b] !== undefined && values[b] !== false) {
    throw new CliError(`--${a} and --${b} cannot be used together`);
  }
}
