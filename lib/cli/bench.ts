import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommand } from './args';
import { CliError, EXIT_OK, line, type CliIo } from './io';
import { packageRoot } from '../package-root';

export const usage = `durability bench [<name>...] [-- <args>]
  Runs benchmark scripts from a checkout of the repository (not in the npm package; npm run
  build:ts compiles them to dist/bench/). Arguments after -- go to the scripts.
  With no <name>: the full suite (dist/bench/suite.js, as npm run bench), about 5 minutes of
  measurements, preceded the first time by an npm install of the peer stores (lmdb,
  classic-level, better-sqlite3) into bench/peers. It prints a markdown report on stdout and
  writes bench/results/<date>.json, <date>.md and concurrency.svg. Suite options after --:
  --quick (about 1 minute), --no-peers, --profile, --record (also rewrites bench/RESULTS.md).
  Ctrl-C, SIGTERM or closing its output stops it and removes its temp files.
  With names: dist/bench/<name>.js for each, one after another (append, crc32c, durable,
  fdatasync, replay, ...: see bench/README.md). Lists the available names when there is no suite.`;

export async function bench(argv: string[], io: CliIo): Promise<number> {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const passed = split < 0 ? [] : argv.slice(split + 1);
  const { positionals } = parseCommand('bench', own, {});
  const benchDir = path.join(packageRoot(), 'dist', 'bench');
  const available = fs.existsSync(benchDir) ? fs.readdirSync(benchDir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort() : [];
  if (available.length === 0) {
    throw new CliError('no benchmarks here: they live in the repository (npm run build:ts compiles them to dist/bench/), not in the npm package');
  }
  const names = positionals.length > 0 ? positionals : available.includes('suite') ? ['suite'] : [];
  if (names.length === 0) {
    line(io.stdout, `benchmarks: ${available.join(', ')}\nrun: durability bench <name>...`);
    return EXIT_OK;
  }
  for (const name of names) {
    if (!available.includes(name)) throw new CliError(`no benchmark ${JSON.stringify(name)} (have: ${available.join(', ')})`);
  }
  for (const name of names) {
    const status = await runScript(path.join(benchDir, `${name}.js`), passed);
    if (status !== 0) return status;
  }
  return EXIT_OK;
}

/**
 * Runs one script with this process's stdio. SIGINT and SIGTERM sent to this process are passed
 * on, so the suite can remove its temp files (it ignores a repeat, as when Ctrl-C reaches both).
 * Returns the exit status, or 128 + the signal number when the script died of a signal.
 */
function runScript(file: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.removeListener('SIGINT', forward);
      process.removeListener('SIGTERM', forward);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : code ?? 1);
    });
  });
}
