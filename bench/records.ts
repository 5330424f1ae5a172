// Every recorded suite run side by side: issue 12's targets, checked by the suite's own `checks`
// on each bench/results/<date>.json that measured them, one column per run, and how many runs met
// each. One run says little on this disk (targets flip between runs an hour apart on the same
// code); this shows which targets hold run after run, which flip, and which no run has met.
//
//   npx tsc -p . && node dist/bench/records.js [results dir=bench/results]

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './peers/targets';
import { checks, type Results } from './suite';

interface Column {
  readonly label: string;
  readonly results: Map<string, Outcome>;
}

interface Outcome {
  readonly measured: string;
  readonly pass: boolean | undefined;
  /** A missed ratio's ceiling ÷ the other store in that run (the suite says it beside the figure). */
  readonly ceiling: string | undefined;
}

/** A target's name without what varies between runs (the reference's p50, the limit's rate). */
const targetKey = (codec: string, what: string): string => `${codec} · ${what.replace(/\s*\([^)]*\)/g, '')}`;

/** The measured figure without the notes after it (the ceiling, the bare loop). */
const figure = (measured: string): string => measured.split(';')[0].replace(/ of \d+$/, '');

function column(file: string): Column | undefined {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
  // Runs before the ceiling, or with peers left out, cannot answer every target.
  if (!Array.isArray(r.durable) || !Array.isArray(r.ceiling) || r.ceiling.length === 0) return undefined;
  const results = new Map<string, Outcome>();
  for (const c of checks(r)) {
    const ceiling = /; the ceiling [^:]*: ([\d.]+×)/.exec(c.measured)?.[1];
    results.set(targetKey(c.codec, c.what), { measured: figure(c.measured), pass: c.pass, ceiling });
  }
  const load = r.load?.start?.[0];
  return { label: `${r.date.slice(5, 16).replace('T', ' ')} ${String(r.machine.commit).slice(0, 7)}${load === undefined ? '' : ` (${load.toFixed(1)})`}`, results };
}

export function recordsTable(dir: string): string[] {
  const columns = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => column(path.join(dir, f))).filter((c): c is Column => c !== undefined);
  const keys = [...new Set(columns.flatMap((c) => [...c.results.keys()]))];
  const L = [
    `| target | ${columns.map((c) => c.label).join(' | ')} | met |`,
    `|---|${columns.map(() => '---:').join('|')}|---:|`,
  ];
  for (const key of keys) {
    const cells = columns.map((c) => c.results.get(key));
    const met = cells.filter((x) => x?.pass === true).length;
    const asked = cells.filter((x) => x?.pass !== undefined).length;
    L.push(`| ${key} | ${cells.map((x) => (x === undefined ? '–' : `${x.measured} ${x.pass === true ? '✓' : x.pass === false ? '✗' : ''}`)).join(' | ')} | ${met} of ${asked} |`);
  }
  const all = columns.map((c) => [...c.results.values()].filter((x) => x.pass === true).length);
  L.push(`| **targets met in the run** | ${all.map((n, i) => `${n} of ${columns[i].results.size}`).join(' | ')} | |`);
  // The ceiling of a missed ratio target (bench/ceiling.ts: no write syscall, no thread wake-up,
  // none of the writer's code) over the other store: below the target, no writer could meet it.
  const bounded = keys.filter((k) => columns.some((c) => c.results.get(k)?.ceiling !== undefined));
  if (bounded.length > 0) {
    L.push('', `| the ceiling ÷ the other store, where the target was missed | ${columns.map((c) => c.label).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`);
    for (const key of bounded) L.push(`| ${key} | ${columns.map((c) => c.results.get(key)?.ceiling ?? '–').join(' | ')} |`);
  }
  return L;
}

if (require.main === module) {
  const dir = process.argv[2] ?? path.join(repoRoot(), 'bench', 'results');
  console.log(recordsTable(dir).join('\n'));
  console.log(`\n(load average at each run's start in parentheses)\nReproduce: npx tsc -p . && node dist/bench/records.js`);
}
