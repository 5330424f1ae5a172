// A crash while a holder of the lock file's flock probes whether hard links work
// (lib/backend/lockfile.ts, hardLinksWork) leaves `<lock>.pid.probe.<16 hex>` and maybe its
// `.link` behind. Only flock holders probe, so the next holder of the flock removes them: those
// exact names, regular files only. A lock taken without flock (the node:fs backend) removes
// nothing: a flock holder may be probing right then.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileBackend } from '../lib/backend/backend';
import { availableBackends } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { describeEntry } from './support/stray-names';

/** Leftovers of a crashed probe: regular files of exactly the probe's names. */
const LEFTOVERS = ['LOCK.pid.probe.0123456789abcdef', 'LOCK.pid.probe.0123456789abcdef.link', 'LOCK.pid.probe.fedcba9876543210'];

/** Names and kinds no probe leaves: never removed. */
const KEPT: Record<string, (file: string) => void> = {
  'LOCK.pid.probe.0123456789ABCDEF': (f) => fs.writeFileSync(f, ''),
  'LOCK.pid.probe.0123456789abcde': (f) => fs.writeFileSync(f, ''),
  'LOCK.pid.probe.0123456789abcdef.bak': (f) => fs.writeFileSync(f, ''),
  'LOCK.pid.probe.0123456789abcdef.link.link': (f) => fs.writeFileSync(f, ''),
  'LOCK.pid.probes.0123456789abcdef': (f) => fs.writeFileSync(f, ''),
  'OTHER.pid.probe.0123456789abcdef': (f) => fs.writeFileSync(f, ''),
  'LOCK.pid.probe.1111111111111111': (f) => fs.mkdirSync(f),
  'LOCK.pid.probe.2222222222222222': (f) => fs.symlinkSync('LOCK.pid.probe.0123456789ABCDEF', f),
  'LOCK.pid.probe.3333333333333333': (f) => fs.symlinkSync('nowhere', f),
};

/** Whether `backend` takes flock on the lock file (the native core, where the file system has it). */
function takesFlock(backend: FileBackend, dir: string): boolean {
  const lock = new FsDirectory(dir, { backend }).lock('probe-flock-check');
  try {
    return fs.readFileSync(path.join(dir, 'probe-flock-check.pid'), 'latin1').trimEnd().endsWith(' flock');
  } finally {
    lock.release();
    fs.rmSync(path.join(dir, 'probe-flock-check'));
  }
}

for (const backend of availableBackends()) {
  describe(`hard-link probe leftovers beside the lock file (${backend.name})`, () => {
    let root: string;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-probe-'));
      fs.mkdirSync(path.join(root, 'wal'));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it('taking the lock removes them only under flock, and only regular files of the probe names', () => {
      const wal = path.join(root, 'wal');
      for (const name of LEFTOVERS) fs.writeFileSync(path.join(wal, name), '');
      for (const [name, make] of Object.entries(KEPT)) make(path.join(wal, name));
      const kept = Object.fromEntries(Object.keys(KEPT).map((n) => [n, describeEntry(path.join(wal, n))]));
      const flock = takesFlock(backend, root);

      const lock = new FsDirectory(root, { backend }).lock('wal/LOCK');
      lock.release();

      for (const name of LEFTOVERS) assert.equal(fs.existsSync(path.join(wal, name)), !flock, `${name} (flock: ${flock})`);
      assert.deepEqual(Object.fromEntries(Object.keys(KEPT).map((n) => [n, describeEntry(path.join(wal, n))])), kept);
    });
  });
}
