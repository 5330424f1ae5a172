// peakRssBytes (bench/peak-rss.ts), which the hostile-stores suite bounds: a child's own peak,
// whatever its parent held when it spawned the child. The parent here is a process of its own
// holding 640 MiB, so the mocha worker stays small.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const PEAK_RSS = path.join(__dirname, '..', 'bench', 'peak-rss.js');
const HELD = 640 * 1024 * 1024;

describe('peakRssBytes', function () {
  this.timeout(60_000);

  it('is the child\'s own peak, not its parent\'s at the spawn', () => {
    const parent = `
      const { execFileSync } = require('node:child_process');
      const held = Buffer.alloc(${HELD}, 1);
      const child = 'const { peakRssBytes } = require(process.argv[1]); console.log(JSON.stringify({ peak: peakRssBytes() }))';
      process.stdout.write(execFileSync(process.execPath, ['-e', child, ${JSON.stringify(PEAK_RSS)}]));
      if (held[${HELD - 1}] !== 1) process.exit(1);
    `;
    const { peak } = JSON.parse(execFileSync(process.execPath, ['-e', parent]).toString()) as { peak: number };
    // getrusage's maxRSS, which the suite used before, reports at least the parent's 640 MiB on Linux.
    assert.ok(peak > 0 && peak < HELD / 2, `peak ${peak} bytes: the child holds a bare node, far below its parent's ${HELD}`);
  });
});
