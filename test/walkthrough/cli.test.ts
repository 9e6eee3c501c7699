/**
 * `npm start`'s command line: defaults (the walkthrough's), every option, and the messages for wrong ones.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { WALKTHROUGH_TASKS } from "../../src/tasks";
import { USAGE, UsageError, parseWalkthroughArgs } from "../../src/walkthrough/cli";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";

describe("walkthrough/cli: npm start's command line", function () {
  it("defaults to the walkthrough's model, tasks, photos and generation settings", function () {
    const o = parseWalkthroughArgs([]);
    assert.ok(o);
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
      "--num-beams", "1", "--max-new-tokens", "64", "--early-stopping", "never", "--device", "cpu", "--out", "x", "--quiet",
    ]);
    assert.ok(o);
    assert.deepEqual(
      [o.model, o.dtype, o.image, o.tasks.map((t) => t.token), o.settings, o.device, o.outDir, o.quiet],
      ["onnx-community/Florence-2-large-ft", "q8", "a.jpg", ["<OD>", "<OCR>"], { numBeams: 1, maxNewTokens: 64, earlyStopping: "never" }, "cpu", path.resolve("x"), true],
    );
    assert.equal(parseWalkthroughArgs(["--standin"])?.standin, true);
    assert.equal(parseWalkthroughArgs(["--early-stopping", "true"])?.settings.earlyStopping, true);
    assert.equal(parseWalkthroughArgs(["--device", "cuda"])?.device, "cuda");
  });

  it("rejects wrong options with a message naming the option and the expectation", function () {
    const cases: [string[], RegExp][] = [
      [["--num-beams", "0"], /positive integer for --num-beams but received "0"/],
      [["--max-new-tokens", "ten"], /positive integer for --max-new-tokens but received "ten"/],
      [["--early-stopping", "maybe"], /true, false or never for --early-stopping but received "maybe"/],
      [["--device", "gpu"], /cpu, cuda, auto for --device but received "gpu"/],
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
    for (const option of ["--model", "--dtype", "--image", "--tasks", "--num-beams", "--max-new-tokens", "--early-stopping", "--device", "--out", "--standin", "--quiet", "--help"]) {
      assert.ok(USAGE.includes(option), option);
    }
    assert.match(USAGE, /sample\.jpg for most tasks, sample2\.jpg for OCR and OCR_WITH_REGION/);
    assert.match(USAGE, /FLORENCE2_DEVICE/);
  });
});
