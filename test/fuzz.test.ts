// Bounded form of the decoder fuzzer (npm run fuzz runs a million inputs; test:asan runs it under
// AddressSanitizer): random and mutated segment files, logs, record logs and checkpoints through
// every decoder with the native and TypeScript checksummers. Also checks that the harness itself
// notices what it is there to notice: disagreeing checksummers, stray error types, runaway work.
// DURABILITY_SEED replays another seed; DURABILITY_LONG=1 (npm run test:long) runs 200,000 inputs.

import assert from 'node:assert/strict';
import type { Checksummer } from '../lib/backend/backend';
import { availableBackends, nativeBackend } from '../lib/backend/select';
import { crc32c } from '../lib/crc32c';
import { jsChecksummer } from '../lib/directory/js-checksum';
import { MemoryDirectory } from '../lib/directory/memory';
import { CorruptionError } from '../lib/errors';
import { loadNative } from '../lib/native';
import { encodeRecordLogHeader, writeRecordFrame } from '../lib/recordlog/format';
import { forEachRecord } from '../lib/recordlog/reader';
import { MAX_PAYLOAD_SIZE, segmentPath } from '../lib/wal/format';
import { scanSegment } from '../lib/wal/segment-scan';
import { runFuzz } from './fuzz/driver';
import { Meter, WorkLimitExceeded, meteredDirectory } from './fuzz/meter';
import { FuzzFailure, checkError, walBufferBound } from './fuzz/wal-target';
import { LONG } from './support/fc-params';
import { buildSegment, writeSegmentFile } from './vectors/build';

const SEED = Number(process.env.DURABILITY_SEED || 0x5eed);
const INPUTS = LONG ? 200_000 : 5_000;

function checksummers(): Checksummer[] {
  const native = nativeBackend();
  return native ? [native, jsChecksummer] : [jsChecksummer];
}

describe('fuzz: decoders on random and mutated files', () => {
  it(`${INPUTS} inputs (seed ${SEED}): typed errors only, bounded work and buffers, backends agree`, function () {
    // The long form takes about 90 s on 2 cores at load 6: busier, it outlasted mocha's 120 s and
    // failed runs that found nothing. The run is synchronous, so a timeout could never stop it, only
    // fail it once done; each input's work is bounded by the meter instead.
    if (LONG) this.timeout(0);
    const stats = runFuzz({
      seed: SEED, inputs: INPUTS, checksummers: checksummers(), native: loadNative().binding, fsBackends: availableBackends(), fsRate: 0.005,
      largeRate: 0.0005,
    });
    assert.equal(stats.inputs, INPUTS);
    // The generators must keep reaching the interesting outcomes, not only "bad magic".
    const keys = [...stats.outcomes.keys()];
    const reached = (pattern: RegExp): boolean => keys.some((k) => pattern.test(k));
    for (const p of [
      /^wal scan: clean$/, /^wal scan: torn$/, /^wal scan: torn header$/, /^wal replay: ok$/,
      /^wal scan: .*frame CRC mismatch; the valid frame at offset N ends more than/,
      /^wal scan: .*validates, so the header had been synced/,
      /^wal scan: .*exceeds the maximum/, /^wal scan: .*entry id above N\^N-N/, /^wal scan: .*segment id mismatch/,
      /^wal replay: .*segment id gap/, /^wal replay: DecodeError/,
      /^record log: clean$/, /^record log: torn$/, /^record log: .*CRC mismatch/,
      /^checkpoint: ok$/, /^checkpoint: damaged/, /^checkpoint load: loaded$/,
      /^fs reads: ts$/,
    ]) {
      assert.ok(reached(p), `no input reached ${p}; outcomes: ${keys.join(' | ')}`);
    }
    if (nativeBackend()) {
      for (const k of ['native crc: kernels', 'native crc: ranges', 'native crc: refused', 'native crc: aliased', 'fs reads: native']) {
        assert.ok(stats.outcomes.has(k), `no ${k} case ran`);
      }
    }
  });

  it('fails the run when two checksummers disagree', () => {
    // Wrong only for 5-byte inputs: most files still read alike, so the harness has to look.
    const skewed: Checksummer = {
      name: 'ts',
      crc32c: (data, crc) => (data.length === 5 ? 1 : 0) ^ crc32c(data, crc),
      crc32cRanges(data, ranges, count, out, seed) {
        jsChecksummer.crc32cRanges(data, ranges, count, out, seed);
        for (let i = 0; i < count; i++) if (ranges[2 * i + 1] === 12 + 5) out[i] ^= 1;
      },
    };
    assert.throws(() => runFuzz({ seed: SEED, inputs: 2_000, checksummers: [jsChecksummer, skewed] }), (err: unknown) => {
      assert.ok(err instanceof FuzzFailure);
      assert.match(err.message, /fuzz input \d+ of seed \d+ \(replay: npm run fuzz -- --seed \d+ --only \d+\)/);
      return true;
    });
  });

  it('accepts only the named DurabilityError classes', () => {
    assert.ok(checkError(new CorruptionError('f', 3, 'x'), [CorruptionError], 'here', 10) instanceof CorruptionError);
    assert.throws(() => checkError(new RangeError('offset is out of bounds'), [CorruptionError], 'here'), FuzzFailure);
    assert.throws(() => checkError(new CorruptionError('f', 11, 'x'), [CorruptionError], 'here', 10), /outside the file/);
  });

  it('stops a decoder that runs past its work limit, and measures the buffers it reads into', () => {
    const meter = new Meter();
    const dir = new MemoryDirectory();
    const f = dir.create('f');
    f.write(new Uint8Array(100));
    f.close();
    const metered = meteredDirectory(dir, meter);
    meter.reset(10_000);
    const r = metered.openRead('f');
    const big = new Uint8Array(1 << 20);
    assert.equal(r.read(big.subarray(5, 20), 0), 15);
    assert.equal(meter.largestBuffer, 1 << 20, 'a view is charged for its whole ArrayBuffer');
    assert.throws(() => {
      for (;;) metered.checksum.crc32c(new Uint8Array(0));
    }, WorkLimitExceeded);
    r.close();
  });

  it('a WAL scan and a record log read grow their buffers no further than the largest legal frame', () => {
    // Frames past the 1 MiB chunk, each larger than the last, with more file behind them: doubling
    // the buffer would overshoot the limit (it reached 4 MiB for a 2.5 MiB limit before the cap).
    const sizes = [1.5, 2.5, 2.5].map((m) => Math.round(m * (1 << 20)));
    const payloads = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
    const limit = sizes[1] + 10;
    const meter = new Meter();

    const dir = new MemoryDirectory();
    writeSegmentFile(dir, 1, buildSegment({ segmentId: 1, firstEntryId: 1, syncWindow: 1 << 20, payloads }, dir.checksum).bytes);
    meter.reset(Infinity);
    const scan = scanSegment(meteredDirectory(dir, meter), { segmentId: 1, path: segmentPath(1) }, { isFinal: true, mode: 'strict', maxPayloadSize: limit });
    assert.equal(scan.frameCount, 3);
    assert.ok(meter.largestBuffer <= limit + 16, `WAL scan buffer ${meter.largestBuffer} > ${limit + 16}`);

    const log = new Uint8Array(16 + sizes.reduce((a, n) => a + 8 + n, 0));
    log.set(encodeRecordLogHeader(1 << 20, dir.checksum), 0);
    payloads.reduce((off, p) => writeRecordFrame(log, off, p, dir.checksum), 16);
    dir.atomicWrite('records', log);
    meter.reset(Infinity);
    const read = forEachRecord(meteredDirectory(dir, meter), 'records', { maxRecordSize: limit }, () => {});
    assert.equal(read.count, 3);
    assert.ok(meter.largestBuffer <= limit + 8, `record log buffer ${meter.largestBuffer} > ${limit + 8}`);
  });

  it('bounds scan buffers by the file and by one chunk or one largest frame', () => {
    assert.equal(walBufferBound(10, MAX_PAYLOAD_SIZE), 32);
    assert.equal(walBufferBound(5000, MAX_PAYLOAD_SIZE), 5000);
    assert.equal(walBufferBound(100 << 20, MAX_PAYLOAD_SIZE), MAX_PAYLOAD_SIZE + 16);
    assert.equal(walBufferBound(100 << 20, 4096), 1 << 20);
  });
});
