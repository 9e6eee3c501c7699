import * as assert from "node:assert/strict";
import { RunQueue } from "../src/run-queue";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("run-queue: one job at a time, in call order", () => {
  it("runs overlapping jobs one after the other, in call order", async () => {
    const queue = new RunQueue();
    const log: string[] = [];
    const job = (name: string) => async () => {
      log.push(`${name} start`);
      await tick();
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all(["a", "b", "c"].map((n) => queue.run(undefined, job(n))));
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
  });

  it("goes on after a job fails", async () => {
    const queue = new RunQueue();
    const signal = new AbortController().signal;
    const failing = queue.run(signal, async () => {
      await tick();
      throw new Error("boom");
    });
    const next = queue.run(signal, async () => "next");
    await assert.rejects(failing, /boom/);
    assert.equal(await next, "next");
  });

  it("takes a waiting job out when its signal aborts, and refuses an aborted signal at once", async () => {
    const queue = new RunQueue();
    const ran: string[] = [];
    const free = new AbortController().signal;
    const controller = new AbortController();
    const first = queue.run(free, async () => {
      await tick();
      ran.push("first");
    });
    const waiting = queue.run(controller.signal, async () => void ran.push("waiting"));
    const last = queue.run(free, async () => void ran.push("last"));
    controller.abort(new Error("not any more"));
    await assert.rejects(waiting, /not any more/);
    await first;
    await last;
    assert.deepEqual(ran, ["first", "last"]);
    await assert.rejects(queue.run(AbortSignal.abort(), async () => "never"), (err: Error) => err.name === "AbortError");
  });

  it("close cancels the running job through its signal and the waiting ones before they start, and awaits them", async () => {
    const queue = new RunQueue();
    const ran: string[] = [];
    const running = queue.run(undefined, async (signal) => {
      ran.push("running");
      while (!signal.aborted) await tick();
      await tick(); // cleaning up after the abort takes a while: close must wait for it
      ran.push("cleaned up");
      signal.throwIfAborted();
    });
    const waiting = queue.run(undefined, async () => void ran.push("waiting"));
    await tick();
    await queue.close(new Error("disposed"));
    assert.deepEqual(ran, ["running", "cleaned up"], "the waiting job never started; close awaited the running one");
    await assert.rejects(running, /disposed/);
    await assert.rejects(waiting, /disposed/);
    assert.equal(await queue.run(undefined, async () => "after"), "after", "the queue is free again");
  });
});
