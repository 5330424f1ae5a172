// Crafted stores for test/hostile-files.test.ts: a valid log (entries 1..ENTRIES over several
// segments, a checkpoint at CHECKPOINT_AT) with one hostile change each. `outside` is a
// directory beside the store holding the victim files links point at; nothing may touch it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { FileBackend } from '../../lib/backend/backend';
import { writeCheckpoint } from '../../lib/checkpoint/store';
import { FsDirectory } from '../../lib/directory/fs';
import { json, type Codec } from '../../lib/wal/codec';
import { WalWriter } from '../../lib/wal/writer';

export const ENTRIES = 60;
export const CHECKPOINT_AT = 20;
/** A file outside the store that links point at; its bytes, size and mtime must never change. */
export const VICTIM = 'victim';
/** A name outside the store that nothing exists at; a dangling link points here. */
export const NOWHERE = 'created-through-a-link';

export interface Entry {
  readonly n: number;
  readonly pad: string;
}

export function entry(n: number): Entry {
  return { n, pad: 'x'.repeat(60) };
}

/** What a store holds: the state recovery rebuilds is the count of entries applied. */
export interface State {
  readonly count: number;
}

/** Resources a builder left running (a listening socket), released after the operation. */
export type Cleanup = () => void;

interface Store {
  readonly root: string;
  readonly wal: string;
  readonly outside: string;
  /** Segment file names, oldest first. */
  readonly segments: readonly string[];
  /** Checkpoint file names, oldest first. */
  readonly checkpoints: readonly string[];
}

function segmentName(id: number): string {
  return `${String(id).padStart(20, '0')}.wal`;
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${String(r.stderr)}`);
}

/** Replaces `name` in the store by a link to a copy of it outside (so a write through it would show). */
function linkOut(s: Store, dirPath: string, name: string): void {
  const inside = path.join(dirPath, name);
  const victim = path.join(s.outside, VICTIM);
  fs.copyFileSync(inside, victim);
  // A torn tail on the copy: anything that repairs through the link would cut it.
  fs.appendFileSync(victim, Buffer.from([7, 7, 7, 7, 7]));
  fs.rmSync(inside);
  fs.symlinkSync(victim, inside);
}

function replaceBy(file: string, make: (file: string) => void): void {
  fs.rmSync(file);
  make(file);
}

function lastSegment(s: Store): string {
  return path.join(s.wal, s.segments[s.segments.length - 1]);
}

function nextSegment(s: Store): string {
  return path.join(s.wal, segmentName(s.segments.length + 1));
}

function newestCheckpoint(s: Store): string {
  return path.join(s.root, 'checkpoints', s.checkpoints[s.checkpoints.length - 1]);
}

function patchU32(file: string, offset: number, value: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    fs.writeSync(fd, b, 0, 4, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** Listens on a unix socket at `file`; the returned cleanup closes it. */
async function socketAt(file: string): Promise<Cleanup> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, resolve);
  });
  server.unref();
  return () => server.close();
}

type Build = (s: Store) => void | Promise<void | Cleanup>;

/**
 * Each case, and what the operations named must answer (an error code); operations not named
 * may answer anything that is a typed error or a correct result.
 */
export const CASES: Record<string, { build: Build; expect?: Record<string, string> }> = {
  clean: { build: () => undefined },
  'final segment is a symlink out of the root': {
    build: (s) => linkOut(s, s.wal, s.segments[s.segments.length - 1]),
    expect: notRegularForWal(),
  },
  'middle segment is a symlink out of the root': {
    build: (s) => linkOut(s, s.wal, s.segments[1]),
    expect: notRegularForWal(),
  },
  'wal/LOCK is a symlink out of the root': {
    build: (s) => {
      fs.writeFileSync(path.join(s.outside, VICTIM), 'do not lock me\n');
      replaceBy(path.join(s.wal, 'LOCK'), (f) => fs.symlinkSync(path.join(s.outside, VICTIM), f));
    },
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'wal/LOCK is a dangling symlink': {
    build: (s) => replaceBy(path.join(s.wal, 'LOCK'), (f) => fs.symlinkSync(path.join(s.outside, NOWHERE), f)),
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'wal/LOCK.pid is a symlink out of the root': {
    build: (s) => {
      fs.writeFileSync(path.join(s.outside, VICTIM), `${process.pid} ${'x'.repeat(10)}\n`);
      fs.symlinkSync(path.join(s.outside, VICTIM), path.join(s.wal, 'LOCK.pid'));
    },
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'wal/LOCK.pid is a dangling symlink': {
    build: (s) => fs.symlinkSync(path.join(s.outside, NOWHERE), path.join(s.wal, 'LOCK.pid')),
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'a recycle file is a symlink out of the root': {
    build: (s) => {
      fs.writeFileSync(path.join(s.outside, VICTIM), Buffer.alloc(8192, 1));
      fs.symlinkSync(path.join(s.outside, VICTIM), path.join(s.wal, 'recycle-7'));
    },
  },
  'a recycle file is a FIFO': { build: (s) => mkfifo(path.join(s.wal, 'recycle-7')) },
  'final segment is a FIFO': { build: (s) => replaceBy(lastSegment(s), mkfifo), expect: notRegularForWal() },
  'middle segment is a FIFO': { build: (s) => replaceBy(path.join(s.wal, s.segments[1]), mkfifo), expect: notRegularForWal() },
  'wal/LOCK is a FIFO': {
    build: (s) => replaceBy(path.join(s.wal, 'LOCK'), mkfifo),
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'wal/LOCK.pid is a FIFO': {
    build: (s) => mkfifo(path.join(s.wal, 'LOCK.pid')),
    expect: { writer: 'DURABILITY_NOT_REGULAR_FILE', 'recover+writer': 'DURABILITY_NOT_REGULAR_FILE' },
  },
  'a directory named like the next segment': { build: (s) => fs.mkdirSync(nextSegment(s)), expect: notRegularForWal() },
  'a socket named like the next segment': { build: (s) => socketAt(nextSegment(s)), expect: notRegularForWal() },
  'newest checkpoint is a FIFO': {
    build: (s) => replaceBy(newestCheckpoint(s), mkfifo),
    expect: { recover: 'a result', 'recover+writer': 'a result' }, // no checkpoint: recovery passes over it
  },
  'newest checkpoint is a symlink out of the root': {
    build: (s) => linkOut(s, path.join(s.root, 'checkpoints'), s.checkpoints[s.checkpoints.length - 1]),
    expect: { recover: 'a result', 'recover+writer': 'a result' }, // no checkpoint: recovery passes over it
  },
  'a directory named like a newer checkpoint': {
    build: (s) => fs.mkdirSync(path.join(s.root, 'checkpoints', `${String(ENTRIES).padStart(20, '0')}.ckpt`)),
    expect: { recover: 'a result', 'recover+writer': 'a result' },
  },
  'a sparse hole after the final segment\'s frames': {
    build: (s) => fs.truncateSync(lastSegment(s), fs.statSync(lastSegment(s)).size + 16 * 1024 * 1024),
  },
  'a frame length field that lies (2^32-16)': { build: (s) => patchU32(path.join(s.wal, s.segments[1]), 32, 0xfffffff0) },
  'a final frame length field that lies (2^32-16)': {
    build: (s) => {
      const file = lastSegment(s);
      fs.appendFileSync(file, Buffer.alloc(16));
      patchU32(file, fs.statSync(file).size - 16, 0xfffffff0);
    },
  },
  'a segment file named with an id its header does not hold': {
    build: (s) => fs.copyFileSync(path.join(s.wal, s.segments[0]), nextSegment(s)),
  },
  'a segment named beyond 2^53': {
    build: (s) => fs.copyFileSync(lastSegment(s), path.join(s.wal, '99999999999999999999.wal')),
  },
  'an empty file named like the next segment': { build: (s) => fs.writeFileSync(nextSegment(s), '') },
  'the final segment replaced by a directory': { build: (s) => replaceBy(lastSegment(s), (f) => fs.mkdirSync(f)), expect: notRegularForWal() },
  'a FIFO named like the next segment': { build: (s) => mkfifo(nextSegment(s)), expect: notRegularForWal() },
  'two empty files named like the next segments': {
    build: (s) => {
      fs.writeFileSync(nextSegment(s), '');
      fs.writeFileSync(path.join(s.wal, segmentName(s.segments.length + 2)), '');
    },
    // A segment exists only once the one before it has its header synced: an empty one before another is damage.
    expect: { strict: 'DURABILITY_CORRUPTION', bestEffortTail: 'DURABILITY_CORRUPTION', recover: 'DURABILITY_CORRUPTION' },
  },
  'the final segment renamed without its zero padding': {
    build: (s) => fs.renameSync(lastSegment(s), path.join(s.wal, `${s.segments.length}.wal`)),
    expect: { strict: 'a result', recover: 'a result', 'recover+writer': 'a result', writer: 'a result' },
  },
  'a segment copied under a name of another width': {
    build: (s) => fs.copyFileSync(lastSegment(s), path.join(s.wal, `0${s.segments.length}.wal`)),
    expect: { strict: 'DURABILITY_CORRUPTION', recover: 'DURABILITY_CORRUPTION', writer: 'DURABILITY_CORRUPTION' },
  },
  'temp file leftovers beside segments and checkpoints': {
    build: (s) => {
      fs.writeFileSync(path.join(s.wal, `${s.segments[0]}.tmp`), 'junk');
      fs.writeFileSync(path.join(s.wal, `${segmentName(s.segments.length + 1)}.tmp-0123456789abcdef`), 'junk');
      fs.writeFileSync(path.join(s.root, 'checkpoints', `${s.checkpoints[1]}.tmp-0123456789abcdef`), 'junk');
    },
    expect: { strict: 'a result', recover: 'a result', 'recover+writer': 'a result', writer: 'a result' },
  },
  'a directory named like a checkpoint beyond the log': {
    build: (s) => fs.mkdirSync(path.join(s.root, 'checkpoints', `${String(ENTRIES + 100).padStart(20, '0')}.ckpt`)),
    expect: { recover: 'a result', 'recover+writer': 'a result' }, // no checkpoint: its name claims no entries
  },
  'a FIFO named like a checkpoint beyond the log': {
    build: (s) => mkfifo(path.join(s.root, 'checkpoints', `${String(ENTRIES + 100).padStart(20, '0')}.ckpt`)),
    expect: { recover: 'a result', 'recover+writer': 'a result' }, // no checkpoint: its name claims no entries
  },
};

function notRegularForWal(): Record<string, string> {
  const code = 'DURABILITY_NOT_REGULAR_FILE';
  return {
    strict: code, bestEffortTail: code, records: code, follow: code, writer: code, recover: code, 'recover+writer': code,
    truncatePrefix: code, inspect: code, verify: code, dump: code, repair: code,
  };
}

/** Writes the valid log every case starts from (once; buildCase copies it). */
export function writeBaseStore(root: string, backend: FileBackend): void {
  const dir = new FsDirectory(root, { backend, create: true });
  const writer = WalWriter.create<Entry>(dir, { codec: json as Codec<Entry>, maxSegmentSize: 2048 });
  for (let n = 1; n <= ENTRIES; n++) {
    writer.append(entry(n));
    if (n === CHECKPOINT_AT / 2 || n === CHECKPOINT_AT) {
      writer.syncSync();
      writeCheckpoint<State>(dir, n, { count: n }, { codec: json as Codec<State> });
    }
  }
  writer.closeSync();
}

/** A copy of the base store at `root`, and where its files are. */
export function copyBaseStore(base: string, root: string, outside: string): Store {
  fs.cpSync(base, root, { recursive: true });
  const wal = path.join(root, 'wal');
  const segments = fs.readdirSync(wal).filter((n) => n.endsWith('.wal')).sort();
  const checkpoints = fs.readdirSync(path.join(root, 'checkpoints')).filter((n) => n.endsWith('.ckpt')).sort();
  if (segments.length < 3 || checkpoints.length !== 2) throw new Error(`base store: ${segments.length} segments, ${checkpoints.length} checkpoints`);
  return { root, wal, outside, segments, checkpoints };
}

/** Builds case `name` at `root` from the base store; returns what must be released after the operation. */
export async function buildCase(name: string, base: string, root: string, outside: string): Promise<Cleanup> {
  const cleanup = await CASES[name].build(copyBaseStore(base, root, outside));
  return typeof cleanup === 'function' ? cleanup : () => undefined;
}
