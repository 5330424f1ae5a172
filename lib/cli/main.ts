#!/usr/bin/env node
import { bench, usage as benchUsage } from './bench';
import { demo, usage as demoUsage } from './demo';
import { dump, usage as dumpUsage } from './dump';
import { inspect, usage as inspectUsage } from './inspect';
import { CliError, EXIT_DAMAGED, EXIT_OK, EXIT_USAGE, errorLine, isBrokenPipe, line, type CliIo } from './io';
import { repair, usage as repairUsage } from './repair';
import { verify, usage as verifyUsage } from './verify';
import { CorruptionError, DecodeError, LockedError, NotRegularFileError } from '../errors';
import { defaultBackend, nativeBackend, nativeLoadAttempts } from '../backend/select';
import { loadNative } from '../native';
import { packageVersion } from '../package-root';

// `durability <command> ...`: one file per command; this one only dispatches and turns
// failures into an exit code and one line on stderr.

type Command = (argv: string[], io: CliIo) => number | Promise<number>;

const commands: Record<string, { run: Command; usage: string }> = {
  inspect: { run: inspect, usage: inspectUsage },
  verify: { run: verify, usage: verifyUsage },
  dump: { run: dump, usage: dumpUsage },
  repair: { run: repair, usage: repairUsage },
  bench: { run: bench, usage: benchUsage },
  demo: { run: demo, usage: demoUsage },
};

function help(): string {
  return `usage: durability <command> [options]\n       durability --version\n\n${Object.values(commands).map((c) => c.usage).join('\n\n')}\n\n` +
    'Exit codes: 0 ok or clean, 1 damaged or refused, 2 usage or environment error.';
}

/** The package's version, then which backend FsDirectory takes here and why: what a bug report needs first. */
function version(): string {
  const name = defaultBackend().name;
  const backend = name === 'native'
    ? `native core ${loadNative().path ?? ''}`
    : nativeBackend() === undefined
      ? `pure TypeScript (no native core loads: ${nativeLoadAttempts().join('; ')})`
      : 'pure TypeScript (DURABILITY_BACKEND=ts)';
  return `durability ${packageVersion() ?? 'unknown'}\nbackend: ${backend}`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    line(name === undefined ? io.stderr : io.stdout, help());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    try {
      line(io.stdout, version());
      return 0;
    } catch (err) {
      line(io.stderr, `durability: ${errorLine(err)}`);
      return EXIT_USAGE;
    }
  }
  const command = commands[name];
  if (command === undefined) {
    line(io.stderr, `durability: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    line(io.stdout, command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    // The reader of our output has what it wanted (`dump | head`); stopping is the right end.
    if (isBrokenPipe(err)) return EXIT_OK;
    line(io.stderr, `durability ${name}: ${errorLine(err)}`);
    if (err instanceof CliError) return err.exitCode;
    // Damage met while reading (dump, a segment list that is itself wrong, something not a file
    // where a segment or checkpoint belongs) is the log's state, not a usage error.
    if (err instanceof CorruptionError || err instanceof DecodeError || err instanceof LockedError || err instanceof NotRegularFileError) {
      return EXIT_DAMAGED;
    }
    // Bad options (parseArgs' ERR_PARSE_ARGS_*) and I/O failures.
    return EXIT_USAGE;
  }
}

if (require.main === module) {
  // A reader that closes the pipe early makes stdout emit EPIPE; unhandled, that is an uncaught
  // exception. Streaming commands notice the closed stream at their next write and stop. Other
  // stdout failures (ENOSPC into a file) lose output: reported once, exit 2, unless the
  // command already failed on them.
  let stdoutError: unknown;
  process.stdout.on('error', (err) => {
    if (!isBrokenPipe(err)) stdoutError ??= err;
  });
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      if (stdoutError !== undefined && code !== EXIT_USAGE) {
        process.stderr.write(`durability: writing to stdout failed: ${errorLine(stdoutError)}\n`);
        code = EXIT_USAGE;
      }
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`durability: ${String(err)}\n`);
      process.exitCode = EXIT_USAGE;
    },
  );
}
