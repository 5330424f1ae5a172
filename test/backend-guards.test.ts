// The backends' guards on what they open (lib/backend/file-type.ts) and the pid-file record the
// native lock marks as written under flock (lib/backend/lockfile.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OpenMode } from '../lib/backend/backend';
import { pidFilePath } from '../lib/backend/lockfile';
import { availableBackends } from '../lib/backend/select';
import { NotRegularFileError } from '../lib/errors';

const MODES: OpenMode[] = ['read', 'readWrite', 'create', 'createNew', 'truncate'];

describe('backends open only regular files, without following links or blocking', () => {
  let dir: string;
  let victim: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-guards-'));
    victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'outside bytes');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function planted(kind: string): string {
    const file = path.join(dir, `planted-${kind}`);
    if (kind === 'symlink') fs.symlinkSync(victim, file);
    else if (kind === 'dangling symlink') fs.symlinkSync(path.join(dir, 'nowhere'), file);
    else if (kind === 'directory') fs.mkdirSync(file);
    else assert.equal(spawnSync('mkfifo', [file]).status, 0);
    return file;
  }

  const expectedType: Record<string, string> = {
    symlink: 'symbolic link', 'dangling symlink': 'symbolic link', directory: 'directory', FIFO: 'FIFO',
  };

  for (const backend of availableBackends()) {
    for (const kind of Object.keys(expectedType)) {
      it(`${backend.name}: every open mode refuses a ${kind}`, () => {
        const file = planted(kind);
        for (const mode of MODES) {
          assert.throws(
            () => backend.close(backend.open(file, mode)),
            (err) => err instanceof NotRegularFileError && err.fileType === expectedType[kind] && err.path === file,
            `${mode} on a ${kind}`,
          );
        }
        assert.equal(fs.readFileSync(victim, 'utf8'), 'outside bytes');
        assert.equal(fs.existsSync(path.join(dir, 'nowhere')), false);
      });
    }
  }
});

describe('a pid file written under flock', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-guards-'));
    file = path.join(dir, 'LOCK');
    fs.writeFileSync(file, '');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A record naming this (live) process, as a lock taken in a worker since torn down leaves it. */
  function ownRecord(flock: boolean): string {
    const held = availableBackends().find((b) => b.name === 'ts')!;
    const fd = held.open(file, 'create');
    try {
      assert.equal(held.tryLock(fd, file).acquired, true);
      const record = fs.readFileSync(pidFilePath(file), 'latin1');
      held.unlock(fd, file);
      return flock ? `${record.trim()} flock\n` : record;
    } finally {
      held.close(fd);
    }
  }

  for (const backend of availableBackends()) {
    for (const flock of [true, false]) {
      const breaks = backend.name === 'native' && flock;
      it(`${backend.name}: a live owner's record ${flock ? 'marked' : 'not marked'} "flock" is ${breaks ? 'broken by the flock holder' : 'respected'}`, () => {
        fs.writeFileSync(pidFilePath(file), ownRecord(flock));
        const fd = backend.open(file, 'create');
        try {
          assert.equal(backend.tryLock(fd, file).acquired, breaks);
          if (breaks) assert.match(fs.readFileSync(pidFilePath(file), 'latin1'), / flock\n$/, 'replaced by its own marked record');
        } finally {
          backend.close(fd);
        }
        if (breaks) assert.equal(fs.existsSync(pidFilePath(file)), false, 'closing released it');
      });
    }
  }

  it('a directory where the pid file belongs is a NotRegularFileError, not a held lock', () => {
    const backend = availableBackends()[0];
    fs.mkdirSync(pidFilePath(file));
    const fd = backend.open(file, 'create');
    try {
      assert.throws(() => backend.tryLock(fd, file), (err) => err instanceof NotRegularFileError && err.fileType === 'directory');
    } finally {
      backend.close(fd);
    }
  });
});

describe('backends fsync only directories', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-guards-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const select = path.join(__dirname, '..', 'lib', 'backend', 'select.js');
  for (const backend of availableBackends()) {
    it(`${backend.name}: fsyncDir of a FIFO fails with ENOTDIR instead of waiting for a writer`, () => {
      const fifo = path.join(dir, 'fifo');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      // In a child under a watchdog: a regression would block its thread for good.
      const script = `
        const b = require(${JSON.stringify(select)}).backendByName(${JSON.stringify(backend.name)});
        const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.errno; } };
        const sync = code(() => b.fsyncDir(process.argv[1]));
        b.fsyncDirAsync(process.argv[1]).then(() => 'ok', (e) => e.errno).then((async) => console.log(sync, async));`;
      const r = spawnSync(process.execPath, ['-e', script, fifo], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
      assert.equal(r.signal, null, 'fsyncDir blocked on the FIFO');
      assert.equal(r.stdout, 'ENOTDIR ENOTDIR\n', r.stderr);
    });
  }
});
