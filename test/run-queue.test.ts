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
    const signal = new AbortController().signal;
    const results = await Promise.all(["a", "b", "c"].map((n) => queue.run(signal, job(n))));
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
    assert.equal(queue.length, 0);
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
    assert.equal(queue.length, 3);
    controller.abort(new Error("not any more"));
    await assert.rejects(waiting, /not any more/);
    await first;
    await last;
    assert.deepEqual(ran, ["first", "last"]);
    await assert.rejects(queue.run(AbortSignal.abort(), async () => "never"), (err: Error) => err.name === "AbortError");
  });
});
