/**
 * The timing table: this run's times beside the seed's T4 times, with each task's photo, the device, the model and
 * the settings named.
 */
import { strict as assert } from "node:assert";
import { getTask } from "../../src/text/tasks";
import { SEED_TIMINGS } from "../../src/walkthrough/seed-timings";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";
import { deviceText, modelText, timingTable, type RunContext, type TaskRun } from "../../src/walkthrough/timing-table";

/** A regular expression that matches `text` itself, e.g. the dot in "1.66 s". */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const CPU = { provider: "cpu", hardware: "AMD EPYC 7B13, 2 threads", label: "CPU" };
const GPU = { provider: "cuda", hardware: "Tesla T4", label: "Tesla T4" };

describe("walkthrough/timing-table", function () {
  const runs: TaskRun[] = [
    { task: getTask("<CAPTION>"), times: { user: 2, sys: 0.5, total: 2.5, wall: 1.25 }, photo: "sample.jpg" },
    { task: getTask("<OCR>"), times: { user: 4, sys: 1, total: 5, wall: 3.5 }, photo: "sample2.jpg" },
  ];
  const context: RunContext = { model: "m/x", dtype: "q8", settings: WALKTHROUGH_SETTINGS, device: CPU, standin: false };

  it("tabulates this run's times beside the seed's, with each task's photo and totals", function () {
    const table = timingTable(runs, context).split("\n");
    assert.equal(table[1], "  this run: onnxruntime-node on CPU (AMD EPYC 7B13, 2 threads), m/x q8, num_beams=3, max_new_tokens=1024, early_stopping=False");
    assert.match(table[2], /^ {2}seed: Colab T4 GPU, PyTorch, Florence-2-large/);
    assert.match(table[3], /^task +photo +wall \(CPU\) +CPU total \(CPU\) +wall \(seed, T4\) +CPU total \(seed, T4\)$/);
    const seed = (token: string) => `${literal(SEED_TIMINGS[token].wall)} +${literal(SEED_TIMINGS[token].total)}`;
    assert.match(table[5], new RegExp(`^CAPTION +sample\\.jpg +1\\.25 s +2\\.5 s +${seed("<CAPTION>")}$`));
    assert.match(table[6], new RegExp(`^OCR +sample2\\.jpg +3\\.5 s +5 s +${seed("<OCR>")}$`));
    assert.match(table[7], /^all 2 tasks +4\.75 s +7\.5 s +1\.33 s +1\.34 s$/);
  });

  it("names a GPU in the heading and the columns, and says when the model is a stand-in", function () {
    const table = timingTable(runs, { ...context, device: GPU, standin: true }).split("\n");
    assert.match(table[1], /on CUDA on Tesla T4, stand-in model \(random weights\) q8,/);
    assert.match(table[3], /wall \(Tesla T4\) +CPU total \(Tesla T4\) +wall \(seed, T4\)/);
    assert.equal(deviceText(CPU), "CPU (AMD EPYC 7B13, 2 threads)");
    assert.equal(deviceText(GPU), "CUDA on Tesla T4");
    // WebGPU names its adapter, a software one included (that is the only one the tests really run on).
    const swiftShader = { provider: "webgpu", hardware: "software (SwiftShader)", label: "WebGPU software (SwiftShader)" };
    assert.equal(deviceText(swiftShader), "WebGPU on software (SwiftShader)");
    const table2 = timingTable(runs, { ...context, device: swiftShader }).split("\n");
    assert.match(table2[1], /on WebGPU on software \(SwiftShader\), /);
    assert.match(table2[3], /wall \(WebGPU software \(SwiftShader\)\)/);
    assert.equal(modelText({ model: "onnx-community/Florence-2-base-ft", dtype: "fp32", standin: false }), "onnx-community/Florence-2-base-ft fp32");
  });

  it("adds a batched column, its note and its total when the runs have batched shares, '-' where a task has none", function () {
    const withShares: TaskRun[] = [{ ...runs[0], batched: 0.5 }, { ...runs[1] }];
    const table = timingTable(withShares, context).split("\n");
    assert.match(table[2], /^ {2}batched: the same tasks as one model\.runBatch call .*the shares add up to it$/);
    assert.match(table[4], /^task +photo +wall \(CPU\) +CPU total \(CPU\) +batched wall \(CPU\) +wall \(seed, T4\) +CPU total \(seed, T4\)$/);
    const seed = (token: string) => `${literal(SEED_TIMINGS[token].wall)} +${literal(SEED_TIMINGS[token].total)}`;
    assert.match(table[6], new RegExp(`^CAPTION +sample\\.jpg +1\\.25 s +2\\.5 s +500 ms +${seed("<CAPTION>")}$`));
    assert.match(table[7], new RegExp(`^OCR +sample2\\.jpg +3\\.5 s +5 s +- +${seed("<OCR>")}$`));
    assert.match(table[8], /^all 2 tasks +4\.75 s +7\.5 s +500 ms +1\.33 s +1\.34 s$/);
    assert.ok(!timingTable(runs, context).includes("batched"), "no batched column without a batched run");
  });
});
