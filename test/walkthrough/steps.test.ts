/**
 * The walkthrough's steps (each task's photo and example input) and its generation settings: the one definition
 * that `npm start` and the notebooks share, and the scaling of region inputs to any image.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { boxToLocTokens, type PixelBox } from "../../src/text/prompts";
import { WALKTHROUGH_TASKS, getTask } from "../../src/text/tasks";
import {
  SAMPLE_IMAGE_SIZE, WALKTHROUGH_PHOTOS, WALKTHROUGH_SETTINGS, WALKTHROUGH_STEPS, photoOf, scaleBox, settingsLine,
  walkthroughInput, walkthroughStep,
} from "../../src/walkthrough/steps";

/** Sizes a user's photo may have: the photos' own, landscape, portrait, square, tiny, huge, extreme strips. */
const SIZES = [
  { width: 1600, height: 1066 }, { width: 640, height: 480 }, { width: 800, height: 533 }, { width: 480, height: 640 },
  { width: 1066, height: 1600 }, { width: 512, height: 512 }, { width: 32, height: 24 }, { width: 3, height: 2 },
  { width: 1, height: 1 }, { width: 8000, height: 6000 }, { width: 6000, height: 8000 }, { width: 4000, height: 10 },
  { width: 10, height: 4000 },
];

describe("walkthrough/steps: the walkthrough's tasks, photos, inputs and settings", function () {
  it("has one step per walkthrough task, in its order, with an input of the task's kind", function () {
    assert.deepEqual(WALKTHROUGH_STEPS.map((s) => s.task), WALKTHROUGH_TASKS);
    for (const step of WALKTHROUGH_STEPS) {
      const kind = step.task.input;
      if (kind === "none") assert.equal(step.input, undefined, step.task.token);
      if (kind === "text") assert.ok(typeof step.input === "string" && step.input.trim() !== "", step.task.token);
      if (kind === "region") {
        const box = step.input as PixelBox;
        const photo = WALKTHROUGH_PHOTOS[step.photo];
        assert.equal(typeof box, "object", step.task.token);
        assert.ok(0 <= box.x1 && box.x1 < box.x2 && box.x2 <= photo.width && 0 <= box.y1 && box.y1 < box.y2 && box.y2 <= photo.height, step.task.token);
      }
    }
  });

  it("runs OCR and OCR_WITH_REGION on the market photo (sample2.jpg) and every other task on sample.jpg", function () {
    const onMarket = WALKTHROUGH_STEPS.filter((s) => s.photo === "market").map((s) => s.task.name);
    assert.deepEqual(onMarket, ["OCR", "OCR_WITH_REGION"]);
    assert.equal(photoOf("<OCR>").file, "sample2.jpg");
    assert.equal(photoOf("OCR_WITH_REGION").url, "https://raw.githubusercontent.com/Kazuhito00/Florence-2-Colaboratory-Sample/main/sample2.jpg");
    assert.equal(photoOf("<OD>").url, "https://raw.githubusercontent.com/Kazuhito00/Florence-2-Colaboratory-Sample/main/sample.jpg");
    assert.deepEqual(SAMPLE_IMAGE_SIZE, { width: 1600, height: 1066 });
  });

  it("is what the README's task table says about each task's photo", function () {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
    for (const step of WALKTHROUGH_STEPS) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${step.task.token}\` |`));
      assert.ok(row, `a README row for ${step.task.token}`);
      assert.equal(/\| `([^`]+)` \([^)]*\) \|$/.exec(row)?.[1], WALKTHROUGH_PHOTOS[step.photo].file, row);
    }
  });

  it("spells the settings as the walkthrough's generate() call, all three", function () {
    assert.deepEqual({ ...WALKTHROUGH_SETTINGS }, { numBeams: 3, maxNewTokens: 1024, earlyStopping: false });
    assert.equal(settingsLine(WALKTHROUGH_SETTINGS), "num_beams=3, max_new_tokens=1024, early_stopping=False");
    assert.equal(settingsLine({ numBeams: 1, maxNewTokens: 8, earlyStopping: true }), "num_beams=1, max_new_tokens=8, early_stopping=True");
    assert.equal(settingsLine({ numBeams: 2, maxNewTokens: 8, earlyStopping: "never" }), 'num_beams=2, max_new_tokens=8, early_stopping="never"');
  });

  it("gives region inputs as they are on the photo's own size", function () {
    for (const step of WALKTHROUGH_STEPS.filter((s) => s.task.input === "region")) {
      const photo = WALKTHROUGH_PHOTOS[step.photo];
      assert.deepEqual(walkthroughInput(step.task, photo), step.input, step.task.token);
    }
  });

  it("scales region inputs to any image so that they cover the same part of the picture and are valid there", function () {
    for (const step of WALKTHROUGH_STEPS.filter((s) => s.task.input === "region")) {
      const original = step.input as PixelBox;
      const photo = WALKTHROUGH_PHOTOS[step.photo];
      for (const size of SIZES) {
        const box = walkthroughInput(step.task, size) as PixelBox;
        const where = `${step.task.token} on ${size.width}x${size.height}: ${JSON.stringify(box)}`;
        for (const v of [box.x1, box.y1, box.x2, box.y2]) assert.ok(Number.isInteger(v), where);
        assert.ok(0 <= box.x1 && box.x1 < box.x2 && box.x2 <= size.width, where);
        assert.ok(0 <= box.y1 && box.y1 < box.y2 && box.y2 <= size.height, where);
        // The same part of the picture: each edge within a pixel of the exact scaled position (or pushed out to
        // keep one pixel on a tiny image).
        const sx = size.width / photo.width;
        const sy = size.height / photo.height;
        assert.ok(box.x1 <= original.x1 * sx && original.x1 * sx < box.x1 + 1, where);
        assert.ok(box.y1 <= original.y1 * sy && original.y1 * sy < box.y1 + 1, where);
        assert.ok(box.x2 >= Math.min(original.x2 * sx, size.width) && box.x2 < Math.max(original.x2 * sx, box.x1 + 1) + 1, where);
        assert.ok(box.y2 >= Math.min(original.y2 * sy, size.height) && box.y2 < Math.max(original.y2 * sy, box.y1 + 1) + 1, where);
        assert.doesNotThrow(() => boxToLocTokens(box, size), where);
      }
    }
    assert.deepEqual(walkthroughInput("<REGION_TO_CATEGORY>", { width: 800, height: 533 }), { x1: 351, y1: 232, x2: 427, y2: 270 });
    assert.deepEqual(walkthroughInput("<REGION_TO_SEGMENTATION>", { width: 1, height: 1 }), { x1: 0, y1: 0, x2: 1, y2: 1 });
  });

  it("leaves phrases as they are and gives nothing to tasks without input", function () {
    assert.equal(walkthroughInput("<OPEN_VOCABULARY_DETECTION>", { width: 10, height: 10 }), "umbrella");
    assert.equal(walkthroughInput(getTask("<OD>"), SAMPLE_IMAGE_SIZE), undefined);
  });

  it("rejects tasks outside the walkthrough and image sizes that are not whole pixels", function () {
    assert.throws(() => walkthroughStep("<REGION_TO_OCR>"), /<REGION_TO_OCR> is not one of the walkthrough's tasks/);
    assert.throws(() => walkthroughInput("<REGION_TO_SEGMENTATION>", { width: 0, height: 10 }), /positive whole pixels .* to \{"width":0,"height":10\}/);
    assert.throws(() => scaleBox({ x1: 0, y1: 0, x2: 1, y2: 1 }, { width: 1.5, height: 2 }, { width: 2, height: 2 }), /from \{"width":1.5/);
  });
});
