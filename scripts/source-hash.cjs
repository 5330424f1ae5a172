// The hash CMakeLists.txt compiles into buildInfo.sourceHash: SHA-256 over one line
// "<file name> <sha256 hex>\n" per native/*.cc and native/*.h, sorted by name. Used by
// scripts/prebuild.mjs and the stale-prebuild test; keep the two definitions in step.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function nativeSourceHash(root) {
  const dir = path.join(root, 'native');
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.cc') || n.endsWith('.h'));
  // CMake's list(SORT) compares full paths byte-wise; the directory is common, so sort names the same way.
  names.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  let input = '';
  for (const n of names) input += `${n} ${sha256(fs.readFileSync(path.join(dir, n)))}\n`;
  return sha256(input);
}

module.exports = { nativeSourceHash };
