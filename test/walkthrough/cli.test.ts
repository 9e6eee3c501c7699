/**
 * `npm start`'s command line: defaults (the walkthrough's), every option, and the messages for wrong ones.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { WALKTHROUGH_TASKS } from "../../src/text/tasks";
import { USAGE, UsageError, parseWalkthroughArgs } from "../../src/walkthrough/cli";
import { DEFAULT_RESULTS_FILE } from "../../src/walkthrough/images-run";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";

describe("walkthrough/cli: npm start's command line", function () {
  it("defaults to the walkthrough's model, tasks, photos and generation settings", function () {
    const o = parseWalkthroughArgs([]);
    assert.ok(o && o.mode === "walkthrough");
    assert.equal(o.batch, false);
    assert.deepEqual(
      { model: o.model, dtype: o.dtype, image: o.image, device: o.device, out: o.outDir, standin: o.standin, quiet: o.quiet },
      { model: "onnx-community/Florence-2-base-ft", dtype: "fp32", image: undefined, device: undefined, out: path.resolve("output"), standin: false, quiet: false },
    );
    assert.deepEqual(o.settings, { numBeams: 3, maxNewTokens: 1024, earlyStopping: false });
    assert.deepEqual(o.settings, { ...WALKTHROUGH_SETTINGS });
    assert.deepEqual(o.tasks, WALKTHROUGH_TASKS);
    assert.equal(parseWalkthroughArgs(["--help"]), null);
    assert.equal(parseWalkthroughArgs(["-h"]), null);
  });

  it("reads every option", function () {
    const o = parseWalkthroughArgs([
      "--model", "onnx-community/Florence-2-large-ft", "--dtype", "q8", "--image", "a.jpg", "--tasks", "OD, <OCR>",
      "--num-beams", "1", "--max-new-tokens", "64", "--early-stopping", "never", "--device", "cpu", "--out", "x", "--quiet", "--batch",
    ]);
    assert.ok(o && o.mode === "walkthrough");
    assert.equal(o.batch, true);
    assert.deepEqual(
      [o.model, o.dtype, o.image, o.tasks.map((t) => t.token), o.settings, o.device, o.outDir, o.quiet],
      ["onnx-community/Florence-2-large-ft", "q8", "a.jpg", ["<OD>", "<OCR>"], { numBeams: 1, maxNewTokens: 64, earlyStopping: "never" }, "cpu", path.resolve("x"), true],
    );
    assert.equal(parseWalkthroughArgs(["--standin"])?.standin, true);
    assert.equal(parseWalkthroughArgs(["--early-stopping", "true"])?.settings.earlyStopping, true);
    assert.equal(parseWalkthroughArgs(["--device", "cuda"])?.device, "cuda");
  });

  it("reads --images: files and folders (a shell glob's extra files too), --text, the .jsonl file, and the default tasks", function () {
    const o = parseWalkthroughArgs(["--images", "photos", "b.jpg", "c.png", "--tasks", "CAPTION,OD,CAPTION", "--out", "r/results.jsonl", "--num-beams", "1"]);
    assert.ok(o && o.mode === "images");
    assert.deepEqual(
      [o.paths, o.tasks.map((t) => t.token), o.resultsFile, o.text, o.settings.numBeams],
      [["photos", "b.jpg", "c.png"], ["<CAPTION>", "<OD>"], path.resolve("r/results.jsonl"), undefined, 1],
    );
    const twice = parseWalkthroughArgs(["--images", "a.jpg", "--images", "b.jpg"]);
    assert.ok(twice && twice.mode === "images");
    assert.deepEqual(twice.paths, ["a.jpg", "b.jpg"]);
    assert.equal(twice.resultsFile, path.resolve(DEFAULT_RESULTS_FILE));
    // Without --text, the walkthrough's tasks that need no phrase (region tasks on the whole photo); with it, all 14.
    assert.deepEqual(twice.tasks, WALKTHROUGH_TASKS.filter((t) => t.input !== "text"));
    assert.equal(twice.tasks.length, 11);
    const withText = parseWalkthroughArgs(["--images", "a.jpg", "--text", "a red umbrella"]);
    assert.ok(withText && withText.mode === "images");
    assert.deepEqual([withText.tasks, withText.text], [WALKTHROUGH_TASKS, "a red umbrella"]);
  });

  it("rejects --images combinations that can't work, saying what to do", function () {
    const cases: [string[], RegExp][] = [
      [["--images", "a.jpg", "--tasks", "OD,OPEN_VOCABULARY_DETECTION"], /OPEN_VOCABULARY_DETECTION takes a phrase: give it with --text "<phrase>" \(used for every photo\), or leave it out of --tasks/],
      [["--images", "a.jpg", "--tasks", "OD", "--text", "car"], /--text is for tasks that take a phrase, and none of --tasks does \(OD\)/],
      [["--images", "a.jpg", "--text", " "], /phrase for --text but received an empty one/],
      [["--images", "a.jpg", "--out", "output"], /Expected a \.jsonl file for --out with --images .* but received "output"/],
      [["--images", "a.jpg", "--image", "b.jpg"], /--image .* and --images .* don't go together/],
      [["--images", "a.jpg", "--batch"], /--images always decodes its photos in batches: leave out --batch/],
      [["--text", "car"], /--text is the phrase for your photos with --images/],
      [["a.jpg"], /Unexpected argument 'a\.jpg'/],
    ];
    for (const [args, message] of cases) {
      assert.throws(() => parseWalkthroughArgs(args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(" "));
    }
  });

  it("rejects wrong options with a message naming the option and the expectation", function () {
    const cases: [string[], RegExp][] = [
      [["--num-beams", "0"], /positive integer for --num-beams but received "0"/],
      [["--max-new-tokens", "ten"], /positive integer for --max-new-tokens but received "ten"/],
      [["--early-stopping", "maybe"], /true, false or never for --early-stopping but received "maybe"/],
      [["--device", "gpu"], /cpu, cuda, webgpu, auto for --device but received "gpu"/],
      [["--tasks", "od"], /Unknown Florence-2 task "od".*did you mean "<OD>"/],
      [["--tasks", ","], /comma-separated list of tasks/],
      [["--dtype", "int3"], /Unsupported dtype "int3"/],
      [["--frobnicate"], /Unknown option '--frobnicate'/],
      [["extra"], /Unexpected argument 'extra'/],
      [["--standin", "--model", "x/y"], /leave out --model/],
    ];
    for (const [args, message] of cases) {
      assert.throws(() => parseWalkthroughArgs(args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(" "));
    }
  });

  it("documents every option and both photos in --help", function () {
    for (const option of [
      "--model", "--dtype", "--image", "--tasks", "--num-beams", "--max-new-tokens", "--early-stopping", "--device", "--out", "--batch",
      "--standin", "--quiet", "--help", "--images", "--text", "--out <file.jsonl>",
    ]) {
      assert.ok(USAGE.includes(option), option);
    }
    assert.match(USAGE, /sample\.jpg for most tasks, sample2\.jpg for OCR and OCR_WITH_REGION/);
    assert.match(USAGE, /FLORENCE2_DEVICE/);
  });
});
