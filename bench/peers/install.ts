// Installs the peer stores into bench/peers/node_modules on demand (npm ci from the committed
// lockfile), once per lockfile: a stamp holding the lockfile's hash marks a finished install.
// Every peer is an optionalDependency, so one whose build fails is left out and npm ci still
// succeeds; any failure here (no registry, no compiler) becomes a note, never a failed bench.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { peersDir } from './targets';

export interface PeerInstall {
  /** 'cached': an earlier install of the same lockfile; 'installed' now; 'failed' (see note). */
  readonly status: 'cached' | 'installed' | 'failed';
  readonly seconds: number;
  readonly note?: string;
}

/** The parent `npm run` exports its own package's settings as npm_* variables: keep only real config. */
function childEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_nodedir', 'npm_config_userconfig', 'npm_config_globalconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') || keep.has(k)) env[k] = v;
  // Only the npm registry is used: better-sqlite3's prebuild-install would fetch a binary from
  // GitHub, so it is told to build from source (the name form leaves the prebuilds that lmdb and
  // classic-level ship inside their packages alone), and node-gyp, which would download Node's
  // headers, is pointed at the ones installed beside node when there are any.
  env.npm_config_build_from_source = 'better-sqlite3';
  const prefix = path.dirname(path.dirname(process.execPath));
  if (env.npm_config_nodedir === undefined && existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix;
  return env;
}

export function ensurePeers(log: (line: string) => void): PeerInstall {
  const dir = peersDir();
  const lock = readFileSync(path.join(dir, 'package-lock.json'));
  const hash = createHash('sha256').update(lock).digest('hex');
  const stamp = path.join(dir, 'node_modules', '.durability-bench-installed');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return { status: 'cached', seconds: 0 };

  log('installing peer stores (npm ci in bench/peers; once per lockfile, better-sqlite3 may compile for a few minutes)...');
  const started = Date.now();
  const npmCli = process.env.npm_execpath;
  const [cmd, args] = npmCli !== undefined && npmCli.endsWith('.js')
    ? [process.execPath, [npmCli, 'ci', '--no-audit', '--no-fund']]
    : ['npm', ['ci', '--no-audit', '--no-fund']];
  const r = spawnSync(cmd, args, { cwd: dir, env: childEnv(), encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 64 << 20 });
  const seconds = (Date.now() - started) / 1000;
  const logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'durability-bench-peers-')), 'npm-ci.log');
  writeFileSync(logFile, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}`);
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `npm ci exited ${r.status ?? r.signal}`;
    return { status: 'failed', seconds, note: `peer install failed (${why}); log: ${logFile}` };
  }
  writeFileSync(stamp, `${hash}\n`);
  return { status: 'installed', seconds, note: `npm ci log: ${logFile}` };
}
