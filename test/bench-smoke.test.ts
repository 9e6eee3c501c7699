/**
 * A smoke run of the benchmark (`npm run bench`, test/bench/) on the tiny stand-in: every mode runs end to end in
 * its child processes, both sides emit exactly the scripted ids, and the results file has its tables. Timings are
 * not checked here: speed targets are the benchmark's verdicts on the real-size stand-in, never unit tests.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runBenchmark } from "./bench/benchmark";
import { installSessionTimer } from "./bench/session-timer";
import { ensureBenchModel } from "./bench/models";
import { parseBenchArgs, type BenchOptions } from "./bench/options";
import { renderResults, renderVerdicts, type BenchResults } from "./bench/report";
import { probeSessions } from "./bench/session-probe";
import { PROBES } from "./bench/session-options";
import { buildBenchScript, checkScript } from "./bench/script";
import { defaultMaxBatchRows } from "../src/florence2";
import { readModelConfig } from "../src/runtime/config";
import { workloadFor } from "./bench/workload";

describe("benchmark smoke run (tiny stand-in)", function () {
  this.timeout(120_000);
  let dir: string;
  let results: BenchResults;
  let markdown: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-bench-"));
    const parsed = parseBenchArgs(["--size", "tiny", "--quick", "--tasks", "CAPTION,OD", "--warmup", "0", "--models-dir", dir]);
    assert.notEqual(parsed, "help");
    const options: BenchOptions = {
      ...(parsed as BenchOptions),
      sections: ["per-task", "all-tasks", "batch", "long-beams", "soak"],
      longTokens: 24,
      soakRuns: 3,
      batchPhotos: 3,
      batchRows: [2],
    };
    results = await runBenchmark(options, ["--size", "tiny", "--quick"], () => undefined);
    markdown = renderResults(results);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs both sides per task and both emit exactly the scripted tokens", () => {
    const rows = results.perTask?.rows ?? [];
    assert.deepEqual(rows.map((r) => r.workload.task.name), ["CAPTION", "OD"]);
    for (const row of rows) {
      for (const summary of [row.ours, row.theirs, row.oursBeam]) {
        assert.equal(summary.asScripted, true, `${row.workload.task.name}: a side emitted other ids than the script`);
        assert.equal(summary.tokens, row.workload.outputTokens);
        assert.ok(summary.wallMs > 0 && summary.userMs >= 0 && summary.peakRssBytes > 0);
        // Every module ran; the split adds up to the wall time.
        assert.ok(summary.visionMs > 0 && summary.encoderMs > 0 && summary.decoderMs > 0);
        const parts = summary.visionMs + summary.encoderMs + summary.decoderMs + summary.otherMs;
        assert.ok(Math.abs(parts - summary.wallMs) < 0.25 * summary.wallMs, "medians of the split should roughly add up to the median wall");
      }
      assert.ok(row.ours.engine.decoderLoopMs > 0, "our engine's own timings reach the report");
    }
  });

  it("names our side's device in the per-task table (cpu unless --device says otherwise) and checks --device", () => {
    assert.equal(results.options.device, "cpu");
    assert.equal(results.perTask?.oursDevice, "CPU");
    assert.match(markdown, /\| task \| tokens \| ours device \| ours CPU times/);
    assert.match(markdown, /\| CAPTION \| \d+ \| CPU \|/);
    assert.match(results.perTask?.oursDescription ?? "", /^Device: CPU \(.+\); as asked \(device "cpu"\)\./);
    assert.equal((parseBenchArgs(["--device", "webgpu"]) as BenchOptions).device, "webgpu");
    assert.throws(() => parseBenchArgs(["--device", "gpu"]), /Expected cpu, cuda, webgpu, auto for --device but received "gpu"\./);
  });

  it("reuses the image features in the all-tasks sequence", () => {
    assert.equal(results.allTasks?.oursVisionRuns, 1);
    assert.equal(results.allTasks?.asScripted, true);
  });

  it("runs the batch section: batched and sequential emit the same scripted ids, and the maxBatchRows sweep", () => {
    const batch = results.batch;
    assert.ok(batch);
    for (const c of [batch.tasksGreedy, batch.tasksBeams, batch.photos]) {
      assert.equal(c.sameIds, true, `${c.label}: batched and sequential ids differ`);
      assert.equal(c.sequential.asScripted && c.batched.asScripted, true, `${c.label}: not as scripted`);
      assert.ok(c.sequential.wallMs > 0 && c.batched.wallMs > 0 && c.batched.decoderMs > 0);
      assert.ok((c.batched.stepsByRows ?? []).length > 0, "the engine's steps by rows reach the report");
    }
    assert.equal(batch.tasksGreedy.requests, 2);
    assert.equal(batch.tasksBeams.numBeams, 3);
    assert.deepEqual([batch.photos.requests, batch.photos.images], [3, 3]);
    assert.ok(batch.photos.batched.visionMs > 0, "the throughput measurement starts from the files");
    assert.equal(batch.tasksGreedy.batched.visionMs, 0, "the tasks' features are computed before the clock");
    assert.deepEqual(batch.sweep.map((row) => row.maxBatchRows), [2, defaultMaxBatchRows(readModelConfig(results.model.folder))]);
    assert.ok(batch.sweep.every((row) => row.asScripted && row.peakRssBytes > 0));
    assert.equal(batch.sweep[0].waves, 2, "two 3-beam requests take a wave each at 2 rows");
    assert.match(markdown, /## Batched generation \(issue 10\)/);
    assert.match(markdown, /### maxBatchRows/);
    assert.match(renderVerdicts(results), /10a\. 2 tasks batched <= 0\.55x sequential, greedy/);
    assert.match(renderVerdicts(results), /10d\. Peak RSS of the 2-task 3-beam batch/);
  });

  it("runs the long beam measurement and the soak", () => {
    assert.equal(results.longBeams?.tokens, 24);
    assert.equal(results.longBeams?.beam.asScripted, true);
    assert.equal(results.soak?.soak.rssAfterRunBytes.length, 3);
  });

  it("writes the seed-format table, the verdicts and the stand-in label", () => {
    assert.match(markdown, /random weights/);
    assert.match(markdown, /\| task \| tokens \| ours device \| ours CPU times \(user \/ sys \/ total\) \| ours wall \|/);
    assert.match(markdown, /\| CAPTION \| 13 \|/);
    assert.match(markdown, /## All 2 tasks on one image/);
    const verdicts = renderVerdicts(results);
    assert.match(verdicts, /2\. Greedy wall <= 0\.95x transformers\.js/);
    assert.match(verdicts, /3\. All tasks on one image/);
  });

  it("times raw sessions under an option set (the session-options sweep)", async () => {
    installSessionTimer();
    const folder = (await ensureBenchModel(dir, "tiny", ["fp32", "q8"], 1000, () => undefined)).folder;
    const result = await probeSessions({ kind: "probe", folder, dtype: "fp32", options: PROBES[1], repeats: 1, decoderSteps: 4 });
    assert.equal(result.visionMs.length, 1);
    for (const samples of [result.decoderStepMsBatch1, result.decoderStepMsBatch3, result.decoderStepMsBatch1Long, result.decoderStepMsBatch3Long]) {
      assert.equal(samples.length, 1);
      assert.ok(samples[0] > 0);
    }
  });
});

describe("benchmark script", () => {
  const ids = { bos: 0, eos: 2, decoderStart: 2 };
  // A tokenizer with one id per character, plus the 1000 location tokens, is enough to build and check a script.
  const tokenizer = {
    encode(text: string): number[] {
      const out = [0];
      for (const part of text.split(/(<loc_\d+>)/).filter((p) => p.length > 0)) {
        const loc = /^<loc_(\d+)>$/.exec(part);
        if (loc) out.push(50269 + Number(loc[1]));
        else for (const ch of part) out.push(100 + ch.charCodeAt(0));
      }
      out.push(2);
      return out;
    },
  };

  it("has the requested length, starts with <s>, ends with </s> and repeats no 3-gram", () => {
    for (const length of [3, 13, 334, 1000]) {
      const script = buildBenchScript(tokenizer, length, ids);
      assert.equal(script.length, length);
      assert.equal(script[0], 0);
      assert.equal(script[length - 1], 2);
      checkScript(script, ids);
    }
  });

  it("rejects a repeated 3-gram", () => {
    assert.throws(() => checkScript([0, 5, 6, 7, 5, 6, 7, 2], ids), /3-gram \[5,6,7\]/);
  });

  it("knows the seed photo's output length of every walkthrough task", () => {
    assert.equal(workloadFor("CAPTION").outputTokens, 13);
    assert.equal(workloadFor("<REFERRING_EXPRESSION_SEGMENTATION>").outputTokens, 334);
    assert.throws(() => workloadFor("REGION_TO_OCR"), /no output length for <REGION_TO_OCR>/);
  });
});
