// Summarises a V8 .cpuprofile (node --cpu-prof) as the functions with the most self time, so a
// missed target's note can say where the main thread spent its time. Only the main thread is
// sampled: time in the thread pool (fdatasync, the native commit) shows up as (idle).

import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotFunction {
  readonly name: string;
  /** Share of the sampled time, in percent. */
  readonly percent: number;
}

/** `file:line` relative to the repository for our code, the module name for node_modules, as-is for node internals. */
function where(url: string, line: number, root: string): string {
  if (url === '') return '';
  const p = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm + 'node_modules/'.length).split('/').slice(0, 2).join('/');
  const rel = path.isAbsolute(p) ? path.relative(root, p) : p;
  return `${rel}:${line + 1}`;
}

export function hotFunctions(file: string, root: string, top = 12): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined || dt <= 0) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const loc = where(url, lineNumber, root);
    // Nameless frames with no script are V8/Node internals (promise jobs, native callbacks).
    const key = loc ? `${functionName || '(anonymous)'} ${loc}` : functionName || '(anonymous, no script: V8/Node internals)';
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, t]) => ({ name, percent: (100 * t) / total }));
}
