import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, EXIT_OK, line, type CliIo } from './io';
import { packageRoot } from './package-root';

export const usage = `durability bench [<name>...]
  Runs benchmark scripts from a checkout of the repository (they are not in the npm package):
  dist/bench/<name>.js for each name, or dist/bench/suite.js when no name is given.
  Arguments after -- go to the scripts. Lists the available names when there is no suite.`;

export function bench(argv: string[], io: CliIo): number {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const passed = split < 0 ? [] : argv.slice(split + 1);
  const { positionals } = parseArgs({ args: own, allowPositionals: true, options: {} });
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
    const r = spawnSync(process.execPath, [path.join(benchDir, `${name}.js`), ...passed], { stdio: 'inherit' });
    if (r.status !== 0) return r.status ?? 1;
  }
  return EXIT_OK;
}
