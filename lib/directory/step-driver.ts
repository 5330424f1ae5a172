// Work that must run both synchronously and off the event loop (a checkpoint's truncation and
// pruning, atomicWrite) is written once, as a generator of the disk steps it takes in order, with
// its decisions, cleanup and error handling around them; a driver runs each step and sends the
// outcome back in: the step's result, or its error thrown at the yield (so the generator's own
// try/catch sees it). The synchronous and the asynchronous form then differ only in how a step runs.

/** Runs every step of `steps` with `run`, on the calling thread; returns what the generator returns. */
export function runSteps<S, R, N>(steps: Generator<S, R, N>, run: (step: S) => N): R {
  let next = steps.next();
  while (next.done !== true) {
    let result: N;
    try {
      result = run(next.value);
    } catch (err) {
      next = steps.throw(err);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/** runSteps, awaiting each step: the steps run off the event loop where `run`'s promises do. */
export async function runStepsAsync<S, R, N>(steps: Generator<S, R, N>, run: (step: S) => Promise<N>): Promise<R> {
  let next = steps.next();
  while (next.done !== true) {
    let result: N;
    try {
      result = await run(next.value);
    } catch (err) {
      next = steps.throw(err);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}
