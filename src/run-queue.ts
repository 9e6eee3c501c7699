/**
 * One model, one job at a time: `run`, `runBatch`, `encodeImage` and `generate` calls that overlap (two runs
 * started together, `Promise.all` over tasks) wait their turn, in call order. The queue also owns cancellation:
 * each job gets a signal that fires on its caller's signal or when the model is disposed (`close`).
 *
 * Why not let them interleave: onnxruntime-node runs each session.run on the JavaScript thread, so overlapping
 * calls would only take turns step by step, with no gain, while every one of them held its tensors at once; they
 * would all miss the image-feature cache together and run the vision encoder once each; and each one's timings
 * would include the others' work. Queued, each call sees the model to itself, and a second task on an image finds
 * the first one's features. To decode several requests together, use `runBatch`.
 */
export class RunQueue {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  /** Every job running or waiting, so that `close` can cancel and await them. */
  private readonly jobs = new Set<{ controller: AbortController; done: Promise<unknown> }>();

  /**
   * Runs `job` once every earlier job is done. Its signal fires when `userSignal` aborts or the queue closes;
   * aborted while waiting, the job is taken out of the queue and never starts.
   */
  async run<T>(userSignal: AbortSignal | undefined, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    userSignal?.throwIfAborted();
    const controller = new AbortController();
    const forward = () => controller.abort(userSignal?.reason);
    userSignal?.addEventListener("abort", forward, { once: true });
    const done = this.inTurn(controller.signal, job);
    const entry = { controller, done };
    this.jobs.add(entry);
    try {
      return await done;
    } finally {
      this.jobs.delete(entry);
      userSignal?.removeEventListener("abort", forward);
    }
  }

  /** Cancels every job running (at its next check of the signal) or waiting with `reason`, and awaits them all. */
  async close(reason: unknown): Promise<void> {
    const jobs = [...this.jobs];
    for (const job of jobs) job.controller.abort(reason);
    await Promise.allSettled(jobs.map((job) => job.done));
  }

  private async inTurn<T>(signal: AbortSignal, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.enter(signal);
    try {
      return await job(signal);
    } finally {
      this.leave();
    }
  }

  private enter(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(turn);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(turn);
    });
  }

  /** Hands the model to the next waiting job (it stays busy), or marks it free. */
  private leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}
