/**
 * The timing table: this run's times beside the seed's T4 times, with each task's photo, the device, the model and
 * the settings named.
 */
import { strict as assert } from "node:assert";
import { getTask } from "../../src/text/tasks";
import { SEED_TIMINGS } from "../../src/walkthrough/seed-timings";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";
import { STANDIN_MARK, deviceText, modelText, timingTable, timingTableDisplay, type RunContext, type TaskRun } from "../../src/walkthrough/timing-table";

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

  it("for notebooks: the same text beside an HTML table with a row per task, the seed's columns apart, a stand-in run marked", function () {
    const withShares: TaskRun[] = [{ ...runs[0], batched: 0.5 }, { ...runs[1], batched: 1 }];
    const shown = timingTableDisplay(withShares, { ...context, standin: true });
    assert.equal(shown.text, timingTable(withShares, { ...context, standin: true }));
    const headings = [...shown.html.matchAll(/<th colspan="(\d+)" style="([^"]*)">([^<]*)<\/th>/g)].map((m) => [m[3], m[1], /border-left/.test(m[2])]);
    assert.deepEqual(headings, [["", "2", false], ["this run (CPU, stand-in)", "2", false], ["batched (CPU)", "1", true], ["seed (T4)", "2", true]]);
    const rows = [...shown.html.matchAll(/<tr[^>]*>(<td[\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td style="([^"]*)">([^<]*)<\/td>/g)].map((c) => ({ style: c[1], text: c[2] })));
    assert.deepEqual(rows.map((r) => r[0].text), ["CAPTION", "OCR", "all 2 tasks"]);
    assert.deepEqual(rows[0].map((c) => c.text), ["CAPTION", "sample.jpg", "1.25 s", "2.5 s", "500 ms", SEED_TIMINGS["<CAPTION>"].wall, SEED_TIMINGS["<CAPTION>"].total]);
    for (const row of rows) assert.deepEqual(row.map((c) => /text-align:right/.test(c.style)), [false, false, true, true, true, true, true]);
    // Ruled off where the batched and the seed's columns start; the seed's two columns share a tint.
    for (const row of rows) assert.deepEqual(row.map((c) => [/border-left/.test(c.style), /background/.test(c.style)]), [[false, false], [false, false], [false, false], [false, false], [true, true], [true, true], [false, true]]);
    assert.ok(shown.html.includes(STANDIN_MARK));
    assert.ok(!timingTableDisplay(runs, context).html.includes(STANDIN_MARK), "only a stand-in's run is marked");
  });
});
