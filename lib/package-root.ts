import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/**
 * The package directory (the one whose package.json is named "durability"), wherever dist/ was
 * put: the native loader finds prebuilds/ and the version there, the CLI the benchmarks.
 */
export function packageRoot(): string {
  root ??= findPackageRoot(__dirname);
  return root;
}

/** The package's version, or undefined when its package.json is not where dist/ expects it (a bundler moved dist/). */
export function packageVersion(): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function findPackageRoot(start: string): string {
  for (let dir = start; ; ) {
    if (isThisPackage(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    // Not found (a bundler moved this file): dist/lib/ is two levels below the root.
    if (up === dir) return path.resolve(start, '..', '..');
    dir = up;
  }
}

/**
 * Whether `manifest` is this package's package.json. The search walks up through directories
 * that are not ours (a bundler's output, an app): a manifest there that does not parse is not
 * ours, and must not throw out of the loader, which falls back instead.
 */
function isThisPackage(manifest: string): boolean {
  try {
    // Node and npm read a package.json that starts with a byte-order mark; JSON.parse does not.
    const text = fs.readFileSync(manifest, 'utf8').replace(/^\uFEFF/, '');
    return (JSON.parse(text) as { name?: unknown } | null)?.name === 'durability';
  } catch {
    return false;
  }
}
