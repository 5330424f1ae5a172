// A one-line progress bar for stderr, redrawn in place with \r, at most every 100 ms.

const WIDTH = 30;
const REDRAW_MS = 100;

export function renderBar(label: string, done: number, total: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * WIDTH);
  const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.floor(fraction * 100)}% ${mib(done)}/${mib(total)} MiB`;
}

export class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WritableStream, private readonly label: string) {}

  update(done: number, total: number): void {
    const now = Date.now();
    if (this.drawn && now - this.last < REDRAW_MS && done < total) return;
    this.last = now;
    this.drawn = true;
    this.stream.write(`\r${renderBar(this.label, done, total)}`);
  }

  /** Ends the bar's line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
  }
}
