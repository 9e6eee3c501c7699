/**
 * The batch stopwatch: each stage timed once as the batch runs, then shared out to the requests so that any figure
 * summed over the requests gives the batch's, and the requests' totals add up to the batch's wall time.
 */
import { strict as assert } from "node:assert";
import { BatchClock, emptyGenerationStats, type ImageTime } from "../src/run-timings";

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

describe("run-timings", function () {
  it("gives each request an equal share of the wall time no stage accounts for", async function () {
    const clock = new BatchClock(2, 1);
    const image: ImageTime = { jobs: [0, 1], preprocessMs: 0, visionMs: 0, cached: false };
    await new Promise((resolve) => setTimeout(resolve, 20));
    const timings = clock.finish([image, image], [emptyGenerationStats(), emptyGenerationStats()]);
    const batch = timings[0].batch!;
    assert.ok(batch.total >= 19, `wall time ${batch.total}`);
    close(timings[0].total, batch.total / 2, "request 0's total");
    close(timings[0].total + timings[1].total, batch.total, "the totals add up to the wall time");
  });

  it("shares images, waves and steps out to the requests; the shares add up to the batch's figures", async function () {
    const clock = new BatchClock(3, 2);
    const shared: ImageTime = { jobs: [0, 1], preprocessMs: 30, visionMs: 90, cached: false };
    const cached: ImageTime = { jobs: [2], preprocessMs: 5, visionMs: 0, cached: true };
    clock.prompt(2, 1);
    clock.encoder([0, 1], 40);
    clock.encoder([2], 10);
    clock.decoder({ steps: 5, decoderMs: 100, sessionMs: 80, searchMs: 6, cacheMs: 4, maxRows: 4, stepsByRows: [{ rows: 4, steps: 5, ms: 100 }] });
    clock.decoder({ steps: 3, decoderMs: 30, sessionMs: 20, searchMs: 2, cacheMs: 1, maxRows: 1, stepsByRows: [{ rows: 1, steps: 3, ms: 30 }, { rows: 4, steps: 1, ms: 7 }] });
    for (const i of [0, 1, 2]) clock.postprocess(i, 2);
    const stats = [
      { ...emptyGenerationStats(), steps: 5, decoderMs: 70, sessionMs: 56, searchMs: 4, cacheMs: 3 },
      { ...emptyGenerationStats(), steps: 2, decoderMs: 30, sessionMs: 24, searchMs: 2, cacheMs: 1 },
      { ...emptyGenerationStats(), steps: 3, decoderMs: 30, sessionMs: 20, searchMs: 2, cacheMs: 1 },
    ];
    await new Promise((resolve) => setTimeout(resolve, 5));
    const timings = clock.finish([shared, shared, cached], stats);
    const batch = timings[0].batch!;
    assert.deepEqual([timings[0].vision, timings[1].vision, timings[2].vision], [45, 45, 0]);
    assert.deepEqual([timings[0].encoder, timings[1].encoder, timings[2].encoder], [20, 20, 10]);
    assert.deepEqual(timings.map((t) => t.imageFeaturesCached), [false, false, true]);
    assert.equal(timings[2].preprocess, 5 + 1, "its image and its own prompt");
    assert.equal(batch.visionRuns, 1);
    assert.deepEqual(batch.stepsByRows, [{ rows: 1, steps: 3, ms: 30 }, { rows: 4, steps: 6, ms: 107 }]);
    assert.equal(batch.decoderSteps, 8);
    for (const key of ["preprocess", "vision", "encoder", "decoder", "postprocess", "sessionRun", "search"] as const) {
      close(timings.reduce((sum, t) => sum + t[key], 0), batch[key], key);
    }
    assert.ok(batch.total >= 5, "the batch's wall time, measured from the clock's start");
    // These made-up stage times exceed the few milliseconds of wall time, so nothing is left unaccounted.
    for (const t of timings) close(t.total, t.preprocess + t.vision + t.encoder + t.decoder + t.postprocess, "a request's total");
  });
});
