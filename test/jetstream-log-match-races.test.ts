import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Directory } from '../lib/directory/directory';
import { FsDirectory } from '../lib/directory/fs';
import { JetStreamError, NotFoundError } from '../lib/errors';
import { checkStreamIsThisLog } from '../lib/jetstream/log-match';
import { raw } from '../lib/wal/codec';
import { MAX_PAYLOAD_SIZE } from '../lib/wal/format';
import { WalMaintenance } from '../lib/wal/maintenance';
import { listSegments } from '../lib/wal/segment-files';
import { WalWriter } from '../lib/wal/writer';
import { overriding } from './support/overriding';

// log-match.ts reads the log at every resync while the application may truncate it: a
// checkpoint's truncation runs in steps off the event loop, so a segment listed by the check can
// be gone when its header is read. Only shipped segments are ever removed (the forwarder's veto),
// so the check must read the log again, not stop the forwarder.

const entry = (i: number): Uint8Array => new TextEncoder().encode(`entry ${i} ${'x'.repeat(90)}`);

describe('log-match while the log is truncated under it', () => {
  let root: string;
  beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-lmr-')); });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Entries 1..100 in segments of 4 KiB (three or more), the writer closed. */
  async function hundredEntries() {
    const dir = new FsDirectory(root);
    const w = WalWriter.open(dir, { codec: raw, maxSegmentSize: 4096 });
    for (let i = 1; i <= 100; i++) w.append(entry(i));
    await w.close();
    const segments = listSegments(dir);
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    return { dir, segments };
  }

  it('the oldest segments removed between the listing and the header reads: the stream\'s last message is still found to be this log\'s', async () => {
    const { dir, segments } = await hundredEntries();
    const ends = new WalMaintenance(dir).segmentRanges().map((r) => r.lastEntryId);
    assert.ok(ends[1] < 80, `segments end at ${ends.join(', ')}`);
    let through = ends[0];

    // A truncation of the oldest segment (all of it shipped), landing right after the check listed wal/.
    let truncated = false;
    const racing: Directory = overriding<Directory>(dir, {
      list: (p: string) => {
        const names = dir.list(p);
        if (!truncated && p === 'wal') {
          truncated = true;
          new WalMaintenance(dir).truncatePrefix(through);
        }
        return names;
      },
    });
    const tail = { entryId: 80, seq: 80, payload: entry(80) };
    await checkStreamIsThisLog(racing, MAX_PAYLOAD_SIZE, 'S', tail, { entryId: 80, seq: 80 });
    assert.ok(truncated, 'the truncation ran inside the check');

    // Another log's bytes at entry 80 are still found out under the same race.
    truncated = false;
    through = ends[1];
    const stranger = { entryId: 80, seq: 80, payload: new TextEncoder().encode('another log') };
    await assert.rejects(checkStreamIsThisLog(racing, MAX_PAYLOAD_SIZE, 'S', stranger, { entryId: 80, seq: 80 }), (e: unknown) => e instanceof JetStreamError && e.reason === 'log-mismatch');
    assert.ok(truncated, 'the second truncation ran inside the check');
  });

  it('a segment gone from the middle of the log under the check is no truncation: its NotFoundError stands', async () => {
    const { dir, segments } = await hundredEntries();
    let deleted = false;
    const racing: Directory = overriding<Directory>(dir, {
      list: (p: string) => {
        const names = dir.list(p);
        if (!deleted && p === 'wal') {
          deleted = true;
          dir.delete(segments[1].path);
        }
        return names;
      },
    });
    const tail = { entryId: 100, seq: 100, payload: entry(100) };
    await assert.rejects(checkStreamIsThisLog(racing, MAX_PAYLOAD_SIZE, 'S', tail, { entryId: 100, seq: 100 }), (e: unknown) => e instanceof NotFoundError && e.path === segments[1].path);
  });
});
