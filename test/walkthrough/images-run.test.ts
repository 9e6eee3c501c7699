/**
 * `npm start -- --images` in process, on a stand-in model folder given as --model: one JSON line per photo and task
 * with what `model.run` gives for it alone, a bad photo among good ones reported and skipped, resume (nothing run
 * twice, a cut-off last line run again), a stop midway that leaves a valid file, phrases and whole-photo regions,
 * and the batching unit.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readModelConfig } from "../../src/runtime/config";
import { Florence2, defaultMaxBatchRows } from "../../src/florence2";
import { loadImageRgb } from "../../src/image/image";
import { getTask } from "../../src/text/tasks";
import { parseWalkthroughArgs, type ImagesOptions } from "../../src/walkthrough/cli";
import { MAX_IMAGES_PER_BATCH, imagesPerBatch, photoTaskInput, runImages, type ImagesRunIo } from "../../src/walkthrough/images-run";
import { ResultsFileError, type ResultRecord } from "../../src/walkthrough/results-file";
import { STANDIN_NOTE } from "../../src/walkthrough/standin-note";
import { writeTestImage } from "../support/images";
import { writeStandInModel } from "../support/standin";

/** The options `npm start -- <args>` gives, with --images. */
function imagesOptions(args: string[]): ImagesOptions {
  const options = parseWalkthroughArgs(args);
  assert.ok(options && options.mode === "images");
  return options;
}

function readRecords(file: string): ResultRecord[] {
  const text = fs.readFileSync(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), "the file ends with a whole line");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as ResultRecord);
}

/** Runs with captured output; the progress goes to a non-terminal stream (plain lines). */
async function run(options: ImagesOptions, extra: Partial<ImagesRunIo> = {}) {
  const lines: string[] = [];
  const stderr: string[] = [];
  const summary = await runImages(options, {
    write: (l) => lines.push(l),
    stderr: { isTTY: false, write: (s: string) => stderr.push(s) },
    ...extra,
  });
  return { summary, lines, stderr: stderr.join("") };
}

const TASKS = "CAPTION,OD,REGION_TO_CATEGORY";
const SETTINGS = ["--num-beams", "2", "--max-new-tokens", "10"];

describe("walkthrough/images-run: npm start -- --images", function () {
  this.timeout(300_000);
  let tmp: string;
  let modelFolder: string;
  let photos: string;
  let good: string[];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "images-run-"));
    modelFolder = path.join(tmp, "model");
    await writeStandInModel(modelFolder);
    photos = path.join(tmp, "photos");
    fs.mkdirSync(photos);
    good = [
      await writeTestImage({ width: 320, height: 240, pattern: "photo", format: "jpeg", dir: photos, name: "a.jpg" }),
      await writeTestImage({ width: 120, height: 200, pattern: "noise", seed: 3, format: "png", dir: photos, name: "b.png" }),
      await writeTestImage({ width: 24, height: 16, pattern: "gradient", format: "webp", dir: photos, name: "d.webp" }),
    ];
    fs.writeFileSync(path.join(photos, "c.jpg"), "this is not a JPEG"); // sorts between the good ones
    fs.writeFileSync(path.join(photos, "notes.txt"), "not an image, by its name");
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("writes one line per photo and task, each what model.run gives alone, and reports and skips a bad photo among good ones", async function () {
    const out = path.join(tmp, "first.jsonl");
    const options = imagesOptions(["--model", modelFolder, "--images", photos, "--tasks", TASKS, ...SETTINGS, "--out", out]);
    const { summary, lines, stderr } = await run(options);
    assert.deepEqual(
      [summary.photos, summary.written, summary.alreadyDone, summary.interrupted, summary.skipped.map((s) => path.basename(s.file))],
      [4, 9, 0, false, ["c.jpg"]],
    );
    assert.match(summary.skipped[0].reason, /^Cannot load image ".*c\.jpg": it is text, not an image/);
    assert.match(stderr, /^Skipped .*c\.jpg: Cannot load image/m, "reported as it happens");
    assert.match(stderr, /^photos 4\/4 \(100%\), \d+s elapsed, ETA 0s, 1 skipped$/m);
    assert.ok(lines.every((l) => l.startsWith(STANDIN_NOTE)), "a stand-in folder given as --model is recognised: every line says so");
    assert.ok(lines.some((l) => l.endsWith("Photos: 4 (passed over 1 other file by extension); tasks: CAPTION, OD, REGION_TO_CATEGORY")));
    assert.ok(lines.some((l) => l.endsWith("Region tasks take the whole photo as their region.")));
    assert.ok(lines.some((l) => l.endsWith(`Done: 9 results written to ${out}; 1 photo skipped (listed above).`)));

    const records = readRecords(out);
    assert.deepEqual(
      records.map((r) => [path.basename(r.file), r.task]),
      good.flatMap((f) => ["<CAPTION>", "<OD>", "<REGION_TO_CATEGORY>"].map((t) => [path.basename(f), t])),
      "photo by photo, tasks in the order asked",
    );
    const model = await Florence2.load(modelFolder, { device: "cpu" });
    try {
      for (const r of records) {
        const image = await loadImageRgb(r.file);
        const input = photoTaskInput(getTask(r.task), image, undefined);
        const alone = await model.run(r.file, r.task, input, { numBeams: 2, maxNewTokens: 10, earlyStopping: false });
        assert.deepEqual([r.result, r.text], [alone.result, alone.text], `${r.file} ${r.task}`);
        assert.ok(Math.abs((r.score as number) - (alone.score as number)) < 1e-5);
        assert.deepEqual(r.image, { width: image.width, height: image.height });
        if (r.task === "<REGION_TO_CATEGORY>") assert.deepEqual(r.input, { x1: 0, y1: 0, x2: image.width, y2: image.height });
        else assert.ok(!("input" in r));
        assert.deepEqual([r.model, r.dtype, r.settings, r.standin], [modelFolder, "fp32", { numBeams: 2, maxNewTokens: 10, earlyStopping: false }, STANDIN_NOTE]);
        // One batch of all three photos: its figures, and this request's share of it.
        assert.deepEqual([r.timings.batch.requests, r.timings.batch.images], [9, 3]);
        assert.ok(r.timings.total > 0 && r.timings.total <= r.timings.batch.total && r.timings.decoderSteps === alone.ids.length - 1);
      }
    } finally {
      await model.dispose();
    }
  });

  it("resumes: pairs already in the file are skipped, a cut-off last line is removed and its pair runs again", async function () {
    const out = path.join(tmp, "resume.jsonl");
    const options = imagesOptions(["--model", modelFolder, "--images", photos, "--tasks", TASKS, ...SETTINGS, "--out", out]);
    await run(options);
    const complete = fs.readFileSync(out, "utf8");
    const all = readRecords(out);
    // As a kill leaves it: the last two lines gone, and the one before them cut in the middle.
    const kept = complete.split("\n").slice(0, 6).join("\n") + "\n";
    const cut = complete.split("\n")[6].slice(0, 80);
    fs.writeFileSync(out, kept + cut);
    const second = await run(options);
    assert.deepEqual([second.summary.alreadyDone, second.summary.written], [6, 3]);
    assert.ok(second.lines.some((l) => /its last line was cut short \(80 bytes, from a run stopped while writing it\): it is removed/.test(l)));
    assert.ok(second.lines.some((l) => l.endsWith("(6 of this run's results already there: skipped)")));
    const text = fs.readFileSync(out, "utf8");
    assert.ok(text.startsWith(kept), "what was there stays byte for byte");
    const records = readRecords(out);
    assert.deepEqual(records.map((r) => [r.file, r.task, r.result]), all.map((r) => [r.file, r.task, r.result]), "each pair once, as before");
    // Nothing left but the bad photo: it is tried again (it may have been fixed), and still skipped.
    const third = await run(options);
    assert.deepEqual([third.summary.alreadyDone, third.summary.written, third.summary.skipped.length], [9, 0, 1]);
    assert.equal(fs.readFileSync(out, "utf8"), text);
    fs.rmSync(path.join(photos, "c.jpg"));
    try {
      const done = await run(options);
      assert.ok(done.lines.some((l) => l.endsWith(`Nothing to do: every photo and task is in ${out}.`)));
      assert.ok(!done.lines.some((l) => l.includes("Model: ")), "the model is not even loaded");
    } finally {
      fs.writeFileSync(path.join(photos, "c.jpg"), "this is not a JPEG");
    }
  });

  it("stops when asked (Ctrl-C): the batch in progress writes nothing, earlier batches' lines stay whole, the same command carries on", async function () {
    const out = path.join(tmp, "stopped.jsonl");
    // The 11 default tasks with 2 beams: two photos in the first batch, the third in a second one.
    const options = imagesOptions(["--model", modelFolder, "--images", ...good, ...SETTINGS, "--out", out]);
    const perBatch = imagesPerBatch(11, 2, defaultMaxBatchRows(readModelConfig(modelFolder)));
    assert.equal(perBatch, 2);
    const stop = new AbortController();
    const lines: string[] = [];
    // A terminal's bar: stopped as the second batch starts, as a user's Ctrl-C would.
    const summary = await runImages(options, {
      write: (l) => lines.push(l),
      signal: stop.signal,
      stderr: { isTTY: true, columns: 200, write: (s: string) => /photos 2\/3 .*batch of 1 photo:/.test(s) && stop.abort(new Error("Ctrl-C")) },
    });
    assert.deepEqual([summary.interrupted, summary.written], [true, 22]);
    const records = readRecords(out);
    assert.deepEqual(records.map((r) => path.basename(r.file)), [...Array(11).fill("a.jpg"), ...Array(11).fill("b.png")]);
    assert.ok(lines.some((l) => l.endsWith(`Stopped: 22 results written to ${out}. Run the same command again to carry on.`)));
    const again = await run(options);
    assert.deepEqual([again.summary.interrupted, again.summary.alreadyDone, again.summary.written], [false, 22, 11]);
    assert.equal(new Set(readRecords(out).map((r) => `${r.file} ${r.task}`)).size, 33);
  });

  it("stopped before its first batch, writes nothing", async function () {
    const out = path.join(tmp, "not-started.jsonl");
    const options = imagesOptions(["--model", modelFolder, "--images", ...good, "--tasks", "CAPTION", ...SETTINGS, "--out", out]);
    const stop = new AbortController();
    stop.abort(new Error("Ctrl-C"));
    const { summary } = await run(options, { signal: stop.signal });
    assert.deepEqual([summary.interrupted, summary.written], [true, 0]);
    assert.equal(fs.readFileSync(out, "utf8"), "", "the file is created, and empty");
  });

  it("when a batch fails, runs its photos one by one and skips only the one that fails", async function () {
    const out = path.join(tmp, "failing-batch.jsonl");
    const options = imagesOptions(["--model", modelFolder, "--images", ...good, "--tasks", TASKS, ...SETTINGS, "--out", out]);
    const runBatch = Florence2.prototype.runBatch;
    const calls: number[] = [];
    // The engine failing on one photo (b.png, 120 px wide), as a runtime error would.
    Florence2.prototype.runBatch = function (requests, batchOptions) {
      calls.push(requests.length);
      if (requests.some((r) => (r.image as { width?: number }).width === 120)) return Promise.reject(new Error("injected failure"));
      return runBatch.call(this, requests, batchOptions);
    };
    try {
      const { summary } = await run(options);
      assert.deepEqual(calls, [9, 3, 3, 3], "the batch of three, then each photo alone");
      assert.deepEqual(summary.skipped, [{ file: good[1], reason: "injected failure" }]);
      assert.deepEqual(readRecords(out).map((r) => path.basename(r.file)), ["a.jpg", "a.jpg", "a.jpg", "d.webp", "d.webp", "d.webp"]);
    } finally {
      Florence2.prototype.runBatch = runBatch;
    }
  });

  it("gives the phrase to text tasks, and a new phrase is a new request", async function () {
    const out = path.join(tmp, "phrases.jsonl");
    const args = ["--model", modelFolder, "--images", good[0], "--tasks", "OPEN_VOCABULARY_DETECTION,CAPTION", ...SETTINGS, "--out", out];
    await run(imagesOptions([...args, "--text", "a car"]));
    const second = await run(imagesOptions([...args, "--text", "an umbrella"]));
    assert.deepEqual([second.summary.alreadyDone, second.summary.written], [1, 1], "CAPTION is done; the new phrase runs");
    assert.deepEqual(
      readRecords(out).map((r) => [r.task, r.input]),
      [["<OPEN_VOCABULARY_DETECTION>", "a car"], ["<CAPTION>", undefined], ["<OPEN_VOCABULARY_DETECTION>", "an umbrella"]],
    );
  });

  it("refuses to add another model's or settings' results to the file, changing nothing", async function () {
    const out = path.join(tmp, "first.jsonl");
    const before = fs.readFileSync(out, "utf8");
    const options = imagesOptions(["--model", modelFolder, "--images", photos, "--tasks", TASKS, "--num-beams", "1", "--max-new-tokens", "10", "--out", out]);
    await assert.rejects(run(options), (e: Error) => e instanceof ResultsFileError && /num_beams=2, .* this run is .*num_beams=1/.test(e.message));
    assert.equal(fs.readFileSync(out, "utf8"), before);
  });

  it("batches whole photos: as many as fill maxBatchRows with their tasks' beams, 1 to MAX_IMAGES_PER_BATCH", function () {
    assert.equal(MAX_IMAGES_PER_BATCH, 8);
    assert.equal(imagesPerBatch(14, 3, 32), 1, "the 14 walkthrough tasks with 3 beams: one photo (two waves)");
    assert.equal(imagesPerBatch(2, 3, 32), 5);
    assert.equal(imagesPerBatch(1, 1, 32), 8, "a caption each, greedy: 8 photos");
    assert.equal(imagesPerBatch(3, 1, 12), 4);
    assert.deepEqual(photoTaskInput(getTask("<REGION_TO_DESCRIPTION>"), { width: 7, height: 5 }, "x"), { x1: 0, y1: 0, x2: 7, y2: 5 });
    assert.equal(photoTaskInput(getTask("<OPEN_VOCABULARY_DETECTION>"), { width: 7, height: 5 }, "x"), "x");
    assert.equal(photoTaskInput(getTask("<OCR>"), { width: 7, height: 5 }, "x"), undefined);
  });
});
