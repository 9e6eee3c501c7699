/**
 * One model, one job at a time: `run`, `runBatch`, `encodeImage` and `generate` calls that overlap (two runs
 * started together, `Promise.all` over tasks) wait their turn, in call order.
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

  /** Runs `job` once every earlier job is done; a `signal` that aborts while waiting takes it out of the queue. */
  async run<T>(signal: AbortSignal, job: () => Promise<T>): Promise<T> {
    await this.enter(signal);
    try {
      return await job();
    } finally {
      this.leave();
    }
  }

  /** Jobs running or waiting. */
  get length(): number {
    return this.waiting.length + (this.busy ? 1 : 0);
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
