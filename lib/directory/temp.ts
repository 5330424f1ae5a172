import { baseName } from './path';

// atomicWrite stages its bytes in `<path>.tmp-<16 hex digits>`. A power cut can leave such a file
// behind (its create reached the disk, the rename or the cleanup did not), so:
// - list() never shows these names: nothing above the Directory layer has to know they exist;
// - the next atomicWrite of the same path deletes leftovers of earlier attempts, so at most one
//   generation of debris exists per target.

const TEMP = /\.tmp-[0-9a-f]{16}$/;

export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

/** True when `name` (an entry name) is a leftover temp file of atomicWrite(`target`). */
export function isTempOf(name: string, target: string): boolean {
  const base = baseName(target);
  return name.length === base.length + 21 && name.startsWith(`${base}.tmp-`) && isTempName(name);
}

export function tempPath(target: string, suffix: string): string {
  return `${target}.tmp-${suffix}`;
}

/** Sixteen lowercase hex digits from two 32-bit numbers. */
export function hexSuffix(high: number, low: number): string {
  return (high >>> 0).toString(16).padStart(8, '0') + (low >>> 0).toString(16).padStart(8, '0');
}
