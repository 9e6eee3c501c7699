/**
 * The walkthrough's batched run: the comparison of each batched output with its own run (the same on a real
 * stand-in run; each kind of difference named), each task's share, and the summary of where the batch's time went.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Florence2, type RunOutput } from "../../src/florence2";
import { loadImageRgb } from "../../src/image/image";
import { getTask } from "../../src/text/tasks";
import { addBatchedShares, batchSummary, batchSummaryDisplay, compareBatched } from "../../src/walkthrough/batched";
import { formatTime } from "../../src/notebook/timing";
import { walkthroughInput } from "../../src/walkthrough/steps";
import type { TaskRun } from "../../src/walkthrough/timing-table";
import { writeTestImage } from "../support/images";
import { writeStandInModel } from "../support/standin";

const TASKS = ["<CAPTION>", "<OD>", "<OPEN_VOCABULARY_DETECTION>", "<REGION_TO_CATEGORY>"].map(getTask);

describe("walkthrough/batched: the tasks again as one runBatch", function () {
  this.timeout(120_000);
  let tmp: string;
  let perTask: RunOutput[];
  let batched: RunOutput[];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "batched-"));
    const folder = path.join(tmp, "model");
    await writeStandInModel(folder);
    const image = await loadImageRgb(await writeTestImage({ width: 320, height: 240, pattern: "noise", format: "png", dir: tmp, name: "photo.png" }));
    const model = await Florence2.load(folder, { device: "cpu", cacheImageFeatures: false });
    try {
      const settings = { numBeams: 2, maxNewTokens: 12, earlyStopping: false as const };
      const requests = TASKS.map((task) => ({ image, task: task.token, input: walkthroughInput(task, image) }));
      perTask = [];
      for (const r of requests) perTask.push(await model.run(r.image, r.task, r.input, settings));
      batched = await model.runBatch(requests, settings);
    } finally {
      await model.dispose();
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("finds every batched output the same as its own run on a stand-in, and says so with the largest score difference", function () {
    const c = compareBatched(perTask, batched);
    assert.deepEqual([c.same, c.total, c.differences], [4, 4, []]);
    assert.ok(c.largestScoreDifference < 1e-4);
    assert.match(c.summary, /^Batched results are the same as the per-task runs for all 4 tasks \(ids, text and parsed result; largest beam-score difference (0|\d\.\de[+-]\d+)\)\.$/);
  });

  it("names each request that differs and how: ids, text or result, beam score", function () {
    const changed = batched.map((o) => ({ ...o }));
    changed[1] = { ...changed[1], ids: [...changed[1].ids.slice(0, 3), 99999] };
    changed[2] = { ...changed[2], score: (changed[2].score as number) + 0.01 };
    changed[3] = { ...changed[3], result: { "<REGION_TO_CATEGORY>": "something else" } };
    const c = compareBatched(perTask, changed);
    assert.equal(c.same, 1);
    assert.deepEqual(c.differences, [
      `<OD> (ids differ from token 3 on: ${perTask[1].ids.length} tokens alone, 4 batched)`,
      `<OPEN_VOCABULARY_DETECTION> (beam score ${perTask[2].score} alone, ${changed[2].score} batched)`,
      "<REGION_TO_CATEGORY> (same ids, different text or result)",
    ]);
    assert.match(c.summary, /^Batched results differ from the per-task runs for 3 of 4 tasks: <OD> \(ids differ/);
    assert.throws(() => compareBatched(perTask, batched.slice(1)), /as many batched outputs as per-task runs \(4\) but received 3/);
  });

  it("gives each task its share of the batch, the shares adding up to the batch's time", function () {
    const runs: TaskRun[] = TASKS.map((task) => ({ task, times: { user: 1, sys: 0, total: 1, wall: 2 }, photo: "photo.png" }));
    addBatchedShares(runs, batched);
    const batch = batched[0].timings.batch;
    assert.ok(batch);
    const sum = runs.reduce((s, r) => s + (r.batched as number), 0);
    assert.ok(Math.abs(sum - batch.total / 1000) < 1e-9, `${sum} vs ${batch.total / 1000}`);
    assert.ok(runs.every((r) => (r.batched as number) > 0));
    assert.throws(() => addBatchedShares(runs, batched.slice(0, 2)), /one batched output per run \(4\) but received 2/);
  });

  it("sums up the batch against the runs one after another, and where its time went", function () {
    const runs: TaskRun[] = TASKS.map((task) => ({ task, times: { user: 1, sys: 0, total: 1, wall: 2 }, photo: "photo.png" }));
    const batch = batched[0].timings.batch;
    assert.ok(batch);
    const [first, second] = batchSummary(runs, perTask, batched).split("\n");
    const ratio = (batch.total / 1000 / 8).toFixed(2);
    assert.match(first, new RegExp(`^One runBatch of 4 requests: \\S+ (s|ms), against 8 s for the 4 per-task runs one after another \\(${ratio.replace(".", "\\.")}x\\)\\.$`));
    // The per-task runs had no feature cache: each ran the vision encoder; the batch ran it once for the photo.
    assert.match(second, new RegExp(`^  vision encoder \\S+ \\S+ \\(1 run for 1 photo; the per-task runs: 4 runs\\), text encoder \\S+ \\S+, decoder \\S+ \\S+ \\(${batch.decoderSteps} steps in 1 wave, up to 8 rows a step\\), reading images, prompts and post-processing \\S+ \\S+$`));
    assert.throws(() => batchSummary(runs, perTask, []), /outputs of one model\.runBatch call/);
  });

  it("for notebooks: the same two lines beside an HTML table of the stages, batch against the per-task runs' own timings", function () {
    const runs: TaskRun[] = TASKS.map((task) => ({ task, times: { user: 1, sys: 0, total: 1, wall: 2 }, photo: "photo.png" }));
    const batch = batched[0].timings.batch;
    assert.ok(batch);
    const shown = batchSummaryDisplay(runs, perTask, batched);
    assert.equal(shown.text, batchSummary(runs, perTask, batched));
    const rows = [...shown.html.matchAll(/<tr[^>]*>(<td[\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td style="[^"]*">([^<]*)<\/td>/g)].map((c) => c[1]));
    const sum = (pick: (o: RunOutput) => number) => formatTime(perTask.reduce((s, o) => s + pick(o), 0) / 1000);
    assert.deepEqual(rows, [
      ["vision encoder", formatTime(batch.vision / 1000), sum((o) => o.timings.vision)],
      ["text encoder", formatTime(batch.encoder / 1000), sum((o) => o.timings.encoder)],
      ["decoder", formatTime(batch.decoder / 1000), sum((o) => o.timings.decoder)],
      ["images, prompts, post-processing", rows[3][1], rows[3][2]],
      ["total (wall)", formatTime(batch.total / 1000), "8 s"],
    ]);
    const steps = perTask.reduce((s, o) => s + o.timings.decoderSteps, 0);
    assert.ok(shown.html.includes(`<br>vision encoder: 1 run for 1 photo (the per-task runs: 4 runs)<br>decoder: ${batch.decoderSteps} steps in 1 wave, up to 8 rows a step (the per-task runs: ${steps} steps)<br>the batch took ${(batch.total / 1000 / 8).toFixed(2)}x the per-task runs' time</caption>`), shown.html);
  });
});
