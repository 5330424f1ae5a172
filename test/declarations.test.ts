import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

// The .d.ts files the package ships are compiled by its users' TypeScript, with their settings.
// A default import of a Node built-in (`import fs from 'node:fs'`) in a declaration is an error
// (TS1192 "has no default export") for a CommonJS consumer on TypeScript 5 with esModuleInterop
// off and skipLibCheck off. This repository's TypeScript 7 has no such setting to try it with,
// so the shipped declarations are read for the construct itself. A type-only default import
// (`import type dc from 'node:diagnostics_channel'`) fails the same way (TS1192 on TypeScript 5.9).

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

function declarations(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return declarations(p);
    return /\.d\.c?ts$/.test(e.name) ? [p] : [];
  });
}

describe('published declarations', () => {
  it('import other packages and Node built-ins by name, never by default (consumers with esModuleInterop off)', () => {
    const files = declarations(dist);
    assert.ok(files.length > 20, `only ${files.length} declaration files under dist/lib`);
    const defaults = files.flatMap((f) =>
      [...fs.readFileSync(f, 'utf8').matchAll(/^import (?:type\s+)?(?!type\s*\{)[A-Za-z_$][\w$]*\s*(?:,|from)\s*.*?['"]([^'"]+)['"]/gm)]
        .filter((m) => !m[1].startsWith('.'))
        .map((m) => `${path.relative(dist, f)}: ${m[0]}`),
    );
    assert.deepEqual(defaults, []);
  });
});
