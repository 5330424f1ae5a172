// Peer stores for the durable-append benchmark, each driven in its durable mode with one write
// per producer call. They live in bench/peers/node_modules (see bench/README.md), never in the
// package's own dependency tree, and are loaded with require from there; their APIs are typed
// here by the few members used.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Target } from '../durable';

export const PEER_TARGETS = ['lmdb', 'classic-level', 'better-sqlite3'] as const;
export type PeerName = (typeof PEER_TARGETS)[number];

/** The repository root: the nearest ancestor of this file holding bench/peers/package.json. */
export function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'bench', 'peers', 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no bench/peers/package.json above ${__dirname}`);
  }
}

export const peersDir = (): string => path.join(repoRoot(), 'bench', 'peers');

function requirePeer<T>(name: string): T {
  return createRequire(path.join(peersDir(), 'package.json'))(name) as T;
}

/** Installed version of a peer, or undefined when it is not installed. */
export function peerVersion(name: string): string | undefined {
  // Read from disk: some peers (lmdb) do not export their package.json.
  try {
    return (JSON.parse(readFileSync(path.join(peersDir(), 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

interface LmdbDatabase {
  put(key: number, value: Uint8Array): Promise<boolean>;
  readonly flushed: Promise<void>;
  close(): Promise<void>;
}

interface LevelDatabase {
  open(): Promise<void>;
  put(key: string, value: Uint8Array, options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

interface SqliteStatement {
  run(...params: unknown[]): unknown;
}
interface SqliteDatabase {
  pragma(source: string, options?: { simple: boolean }): unknown;
  exec(source: string): void;
  prepare(source: string): SqliteStatement;
  close(): void;
}

/**
 * lmdb: put() resolves when its transaction commits. With overlappingSync off the commit
 * fdatasyncs before it resolves (LMDB's durable commit); on (the Linux default) it resolves
 * before the flush, so that mode would not be a durable append.
 */
function openLmdb(root: string, payload: Uint8Array): Target {
  const { open } = requirePeer<{ open(options: object): LmdbDatabase }>('lmdb');
  const db = open({ path: path.join(root, 'lmdb'), overlappingSync: false, encoding: 'binary', keyEncoding: 'uint32' });
  let key = 0;
  return {
    mode: 'put(), overlappingSync: false (commit syncs before resolving)',
    append: () => db.put(key++, payload),
    close: () => db.close(),
  };
}

/** classic-level: put with { sync: true } (LevelDB fsyncs its log before the callback). */
async function openLevel(root: string, payload: Uint8Array): Promise<Target> {
  const { ClassicLevel } = requirePeer<{ ClassicLevel: new (location: string, options: object) => LevelDatabase }>('classic-level');
  const db = new ClassicLevel(path.join(root, 'level'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  let key = 0;
  return {
    mode: 'put(key, value, { sync: true })',
    append: () => db.put(`k${(key++).toString(36).padStart(8, '0')}`, payload, { sync: true }),
    close: () => db.close(),
  };
}

/**
 * better-sqlite3 is synchronous, so it serves one call at a time: calls queue (FIFO) and a
 * drain loop runs one INSERT per call, yielding a microtask after each so the caller it just
 * served resumes (and takes its completion time) before the next INSERT. With N producers a
 * call's latency is then its wait in the queue plus its own INSERT, as in a server that runs
 * requests on one synchronous connection.
 */
function openSqlite(root: string, payload: Uint8Array): Target {
  const Database = requirePeer<new (file: string) => SqliteDatabase>('better-sqlite3');
  const db = new Database(path.join(root, 'sqlite.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO log (payload) VALUES (?)');
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let queue: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  let draining = false;
  const drain = async (): Promise<void> => {
    draining = true;
    while (queue.length > 0) {
      const calls = queue;
      queue = [];
      for (const call of calls) {
        try {
          insert.run(view);
          call.resolve();
        } catch (err) {
          call.reject(err);
        }
        await null;
      }
    }
    draining = false;
  };
  return {
    mode: 'WAL mode, synchronous=FULL, one INSERT per call, calls served in turn (synchronous API)',
    append: () => new Promise<void>((resolve, reject) => {
      queue.push({ resolve, reject });
      if (!draining) void drain();
    }),
    close: async () => db.close(),
  };
}

export async function openPeer(name: string, root: string, payload: Uint8Array): Promise<Target> {
  switch (name) {
    case 'lmdb':
      return openLmdb(root, payload);
    case 'classic-level':
      return openLevel(root, payload);
    case 'better-sqlite3':
      return openSqlite(root, payload);
    default:
      throw new Error(`unknown target ${name}`);
  }
}
