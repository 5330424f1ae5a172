// Rewrites the committed vectors (test/vectors/*.hex and vectors.json) from cases.ts.
// Only on explicit request, never from a normal test run:
//   npx tsc -p . && UPDATE_VECTORS=1 node dist/test/vectors/generate.js

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { jsChecksummer } from '../../lib/directory/js-checksum';
import { toAnnotatedHex } from './build';
import { vectorCases } from './cases';

/** The source directory of the vectors (this file runs from dist/test/vectors). */
export const VECTOR_DIR = path.resolve(__dirname, '..', '..', '..', 'test', 'vectors');

function main(): void {
  if (process.env.UPDATE_VECTORS !== '1') {
    console.error('refusing to rewrite test/vectors without UPDATE_VECTORS=1');
    process.exitCode = 1;
    return;
  }
  const index: Record<string, unknown> = {};
  for (const c of vectorCases(jsChecksummer)) {
    writeFileSync(path.join(VECTOR_DIR, `${c.name}.hex`), `# ${c.name}: ${c.description}\n${toAnnotatedHex(c.bytes, c.marks)}`);
    index[c.name] = {
      description: c.description, file: `${c.name}.hex`, segmentId: c.segmentId, size: c.bytes.length,
      entries: c.entries, strict: c.strict, bestEffortTail: c.bestEffortTail,
    };
  }
  writeFileSync(path.join(VECTOR_DIR, 'vectors.json'), JSON.stringify(index, null, 2) + '\n');
  console.log(`wrote ${Object.keys(index).length} vectors to ${VECTOR_DIR}`);
}

if (require.main === module) main();
