// A file-size limit (RLIMIT_FSIZE, bash `ulimit -f`) below maxSegmentSize: the zeros a commit
// writes ahead of the log pass it before the frames do. Like a full disk, that is no room for an
// optimisation: the zeros are left out (EFBIG, as ENOSPC and EDQUOT) and appends go on until
// their own bytes pass the limit; that append fails with EFBIG. Run in a child process under a
// real limit, so the kernel's own EFBIG (and SIGXFSZ, which Node ignores) is what the code meets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBackend } from '../lib/backend/select';
import { FsDirectory } from '../lib/directory/fs';
import { raw } from '../lib/wal/codec';
import { WalReader } from '../lib/wal/reader';

const CHILD = path.join(__dirname, 'fixtures', 'file-size-limit-child.js');
const LIMIT_KIB = 256;

if (process.platform !== 'win32') {
  describe('zeros ahead of the log under a file-size limit (ulimit -f)', () => {
    const roots: string[] = [];
    afterEach(() => {
      for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
    });

    for (const backend of nativeBackend() === undefined ? ['ts'] : ['native', 'ts']) {
      it(`${backend}: appends go on until their own bytes pass the limit (zeros left out, one diagnostic); that append fails with EFBIG; the process is not killed by SIGXFSZ`, function () {
        this.timeout(120_000);
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-fsize-'));
        roots.push(root);
        const run = spawnSync('bash', ['-c', `ulimit -f ${LIMIT_KIB} && exec "$0" "$@"`, process.execPath, CHILD, backend, root], { encoding: 'utf8' });
        assert.equal(run.signal, null, `the child was killed by ${run.signal}: ${run.stderr}`);
        assert.equal(run.status, 0, run.stderr);
        const out = JSON.parse(run.stdout) as { acked: number; errno: string; diagnostics: string[] };
        assert.equal(out.errno, 'EFBIG');
        // Each append is a 1000-byte payload, a 16-byte frame header and a 24-byte sync mark; the file starts with a 32-byte header.
        const limit = LIMIT_KIB * 1024;
        assert.ok(out.acked >= Math.floor((limit - 32) / (1000 + 16 + 24)) - 1, `only ${out.acked} appends fitted in ${limit} bytes`);
        assert.deepEqual(out.diagnostics.filter((k) => k === 'zeros-skipped'), ['zeros-skipped']);
        const kept = new WalReader(new FsDirectory(root), { codec: raw }).replaySync({ mode: 'bestEffortTail' }).map((r) => r.entryId);
        assert.deepEqual(kept.slice(0, out.acked), Array.from({ length: out.acked }, (_, i) => i + 1));
      });
    }
  });
}
