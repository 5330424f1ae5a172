import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// The ESM entry (index.mjs) is a thin re-export of the CommonJS build: every runtime export is
// there by name, each is the very same object, so an error thrown through the ESM path is an
// instance of the class a CommonJS caller holds. The package's self-reference resolves both.

const root = path.resolve(__dirname, '..', '..');

type Module = Record<string, unknown>;

describe('ESM and CommonJS entries', () => {
  let cjs: Module;
  let esm: Module;
  before(async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cjs = require(path.join(root, 'dist', 'lib', 'index.js')) as Module;
    esm = (await import(pathToFileURL(path.join(root, 'index.mjs')).href)) as Module;
  });

  it('index.mjs names exactly the runtime exports of dist/lib/index.js (regenerate: node scripts/esm-entry.cjs)', () => {
    const cjsNames = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
    const esmNames = Object.keys(esm).filter((n) => n !== 'default').sort();
    assert.deepEqual(esmNames, cjsNames);
    for (const n of cjsNames) assert.equal(esm[n], cjs[n], n);
    assert.equal(esm.default, cjs);
  });

  it('jetstream.mjs names exactly the runtime exports of dist/lib/jetstream/index.js, the same objects', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const jc = require(path.join(root, 'dist', 'lib', 'jetstream', 'index.js')) as Module;
    const je = (await import(pathToFileURL(path.join(root, 'jetstream.mjs')).href)) as Module;
    const names = Object.keys(jc).filter((n) => n !== '__esModule').sort();
    assert.deepEqual(Object.keys(je).filter((n) => n !== 'default').sort(), names);
    for (const n of names) assert.equal(je[n], jc[n], n);
    assert.equal(je.JetStreamError, cjs.JetStreamError);
  });

  it('an error thrown through the ESM path is an instance of the CommonJS classes', async () => {
    const { MemoryDirectory } = esm as { MemoryDirectory: new () => { openRead(p: string): unknown } };
    const dir = new MemoryDirectory();
    const err = (() => {
      try {
        dir.openRead('../escape');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof (cjs.InvalidPathError as new (...a: never[]) => Error));
    assert.ok(err instanceof (cjs.DurabilityError as new (...a: never[]) => Error));
    assert.equal((err as unknown as { code: string }).code, 'DURABILITY_INVALID_PATH');
  });

  it("require('durability') and import('durability') resolve through the exports map to one instance", async () => {
    // Self-reference: inside the package, its own name resolves through package.json "exports".
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const required = require('durability') as Module;
    // A variable specifier keeps tsc from resolving the package's own types while it builds them.
    const self = 'durability';
    const imported = (await import(self)) as Module;
    assert.equal(required, cjs);
    assert.equal(imported.WalWriter, cjs.WalWriter);
    assert.equal(imported.default, cjs);
  });
});
