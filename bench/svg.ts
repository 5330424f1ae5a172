// A hand-written SVG line chart: durable appends/s against concurrent producers, both axes
// logarithmic, one line per target. No dependencies; the output is a standalone file.

export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<readonly [x: number, y: number]>;
  readonly color: string;
  /** Dashed: a reference rather than a measured store. */
  readonly dashed?: boolean;
}

const W = 760;
const H = 460;
const M = { left: 78, right: 210, top: 48, bottom: 56 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function siLabel(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

export function throughputChart(title: string, subtitle: string, xs: readonly number[], series: readonly Series[]): string {
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0 && Number.isFinite(y));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys, 1e3)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 1e4)));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const px = (x: number): number => M.left + (xMax === xMin ? 0 : (Math.log(x / xMin) / Math.log(xMax / xMin)) * plotW);
  const py = (y: number): number => M.top + plotH - (Math.log(y / yMin) / Math.log(yMax / yMin)) * plotH;
  const f = (n: number): string => n.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${M.left}" y="22" font-size="15" font-weight="600">${esc(title)}</text>`);
  out.push(`<text x="${M.left}" y="38" fill="#555">${esc(subtitle)}</text>`);
  // Grid and axes: decades on y, the measured producer counts on x.
  for (let y = yMin; y <= yMax * 1.0001; y *= 10) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${f(py(y))}" y2="${f(py(y))}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 8}" y="${f(py(y) + 4)}" text-anchor="end">${siLabel(y)}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${f(px(x))}" x2="${f(px(x))}" y1="${M.top}" y2="${M.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${f(px(x))}" y="${M.top + plotH + 18}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">concurrent producers (log scale)</text>`);
  out.push(`<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">durable appends/s (log scale)</text>`);
  // Lines, then the legend in the right margin.
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => y > 0 && Number.isFinite(y));
    if (pts.length > 0) {
      const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${f(px(x))},${f(py(y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      if (!s.dashed) for (const [x, y] of pts) out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${s.color}"/>`);
    }
    const ly = M.top + 10 + i * 20;
    const lx = M.left + plotW + 14;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
