import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// README.md's examples are code users paste. The first ```ts block (quick start) is compiled
// with tsc against the package's own types (resolved through package.json "exports", as a
// dependency would be) and run as ESM. The second (recovery) must be, verbatim, the example that
// test/readme-example.test.ts runs between its markers.

const root = path.resolve(__dirname, '..', '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('README quick start', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-readme-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('compiles with tsc and runs, printing what the comments say', () => {
    fs.writeFileSync(path.join(tmp, 'quickstart.mts'), tsBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))[0]);
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'readme-check', private: true }));
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(root, path.join(tmp, 'node_modules', 'durability'), 'dir');
    fs.writeFileSync(path.join(tmp, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, outDir: 'out',
        typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'], lib: ['es2022', 'esnext.disposable'],
      },
      files: ['quickstart.mts'],
    }));
    const built = spawnSync(process.execPath, [tsc, '-p', tmp], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stdout + built.stderr);

    const run = spawnSync(process.execPath, [path.join(tmp, 'out', 'quickstart.mjs')], { cwd: tmp, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "1 { account: 'alice', amount: 100 }\n2 { account: 'bob', amount: 50 }\n");
    assert.ok(fs.existsSync(path.join(tmp, 'data', 'wal')));
  });

  it('shows the recovery example that test/readme-example.test.ts executes, verbatim', () => {
    const source = fs.readFileSync(path.join(root, 'test', 'readme-example.test.ts'), 'utf8');
    const marked = /\/\/ --- README example start ---\n([\s\S]*?) *\/\/ --- README example end ---/.exec(source);
    assert.ok(marked, 'markers missing in test/readme-example.test.ts');
    const dedented = marked[1].split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n');
    assert.equal(tsBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))[1], dedented);
  });
});
