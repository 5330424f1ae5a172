import { Writable } from 'node:stream';
import { main } from '../../lib/cli/main';

/** Runs the CLI in this process with `env` added for the call; its exit code and what it printed. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => new Writable({
    write(chunk: Buffer, _enc, done) {
      append(chunk.toString());
      done();
    },
  });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
    return { code, out, err };
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}
