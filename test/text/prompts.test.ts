import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { boxToLocTokens, buildPrompt, constructPrompt, PixelBox } from "../../src/text/prompts";
import { TASKS, TaskSpec } from "../../src/text/tasks";

const SHARED = path.resolve(__dirname, "..", "..", "..", "shared");
const EXAMPLES = path.join(SHARED, "florence2", "examples", "prompt_examples.jsonl");

const token = (name: string): string => `<${name}>`;
const promptOf = (name: string): string => (TASKS.find((t) => t.name === name) as TaskSpec).prompt;

describe("constructPrompt", function () {
  describe("the reference's examples", function () {
    const examples: { id: string; input: string[]; expected: string[] }[] = existsSync(EXAMPLES)
      ? readFileSync(EXAMPLES, "utf8").trim().split("\n").map((line) => JSON.parse(line))
      : [];

    it("has the 19 examples of ../shared", function () {
      if (examples.length === 0) {
        console.log(`    skipped: ${EXAMPLES} not found (the reference material beside the repo)`);
        this.skip();
      }
      assert.equal(examples.length, 19);
    });

    for (let i = 0; i < 19; i++) {
      it(`example ${i + 1} equals the reference's prompt`, function () {
        const example = examples[i];
        if (!example) {
          console.log(`    skipped: ${EXAMPLES} not found`);
          this.skip();
        }
        assert.deepStrictEqual(example.input.map(constructPrompt), example.expected, example.id);
      });
    }
  });

  // The reference's `_construct_prompts` (Microsoft's processing_florence2.py) on odd inputs, expected strings worked out by hand
  const rows: [string, string][] = [
    ["<OD>", "Locate the objects with category name in the image."],
    ["<OCR_WITH_REGION>", "What is the text in the image, with regions?"], // not caught by "<OCR>"
    ["<MORE_DETAILED_CAPTION>", "Describe with a paragraph what is shown in the image."], // not caught by "<CAPTION>"
    ["<OPEN_VOCABULARY_DETECTION>", "Locate  in the image."], // empty input
    ["<OPEN_VOCABULARY_DETECTION>  a  car ", "Locate   a  car  in the image."], // not stripped
    ["a<OPEN_VOCABULARY_DETECTION>b<OPEN_VOCABULARY_DETECTION>c", "Locate abc in the image."], // every occurrence removed
    ["a green car<OPEN_VOCABULARY_DETECTION>", "Locate a green car in the image."], // input before the token
    // first with-input token in dict order wins; later ones stay in the input
    ["<REGION_TO_CATEGORY><OPEN_VOCABULARY_DETECTION>cat", "Locate <REGION_TO_CATEGORY>cat in the image."],
    ["<REFERRING_EXPRESSION_SEGMENTATION><CAPTION_TO_PHRASE_GROUNDING>x", "Locate the phrases in the caption: <REFERRING_EXPRESSION_SEGMENTATION>x"],
    ["<REGION_TO_OCR><REGION_TO_SEGMENTATION><loc_1>", "What is the polygon mask of region <REGION_TO_OCR><loc_1>"],
    // no task token: unchanged, lowercase tokens included
    ["hello", "hello"],
    ["", ""],
    ["<od>", "<od>"],
    ["<open_vocabulary_detection>cat", "<open_vocabulary_detection>cat"],
    ["OD", "OD"],
    // the input goes in literally
    ["<OPEN_VOCABULARY_DETECTION>$&$1$$", "Locate $&$1$$ in the image."],
    ["<OPEN_VOCABULARY_DETECTION>{input}", "Locate {input} in the image."],
  ];
  for (const [text, expected] of rows) {
    it(`${JSON.stringify(text)} -> ${JSON.stringify(expected)}`, function () {
      assert.equal(constructPrompt(text), expected);
    });
  }

  // Where the reference asserts: the no-input token it finds first (dict order) is named in the error.
  const asserting: [string, string][] = [
    ["<OD> ", "<OD>"],
    ["<OD>extra", "<OD>"],
    [" <OD>", "<OD>"],
    ["<OD><OD>", "<OD>"],
    ["<OD><OPEN_VOCABULARY_DETECTION>", "<OD>"],
    ["<OPEN_VOCABULARY_DETECTION><CAPTION>", "<CAPTION>"],
    ["<OD><OCR>", "<OCR>"],
  ];
  for (const [text, task] of asserting) {
    it(`${JSON.stringify(text)} throws naming ${task}`, function () {
      assert.throws(() => constructPrompt(text), (error: Error) => {
        assert.match(error.message, new RegExp(`^Task ${task} takes no input, so its token must be the whole prompt text`));
        assert.ok(error.message.includes(JSON.stringify(text)), error.message);
        assert.ok(error.message.includes(`Pass exactly "${task}"`), error.message);
        return true;
      });
    });
  }

  it("turns every task token of the table into its prompt", function () {
    for (const task of TASKS) {
      const input = task.input === "none" ? "" : "X";
      assert.equal(constructPrompt(task.token + input), task.prompt.replace("{input}", input), task.token);
    }
  });
});

describe("boxToLocTokens", function () {
  const size = { width: 640, height: 480 };
  const rows: [PixelBox, string][] = [
    [{ x1: 0, y1: 0, x2: 640, y2: 480 }, "<loc_0><loc_0><loc_999><loc_999>"],
    // the walkthrough's car box: the centres of bins 52, 332, 932, 774 quantize back to them
    [{ x1: 33.6, y1: 159.6, x2: 596.8, y2: 371.76 }, "<loc_52><loc_332><loc_932><loc_774>"],
    [{ x1: 100, y1: 50, x2: 300, y2: 200 }, "<loc_156><loc_104><loc_468><loc_416>"],
    // partly outside: clamped to the edges, as the quantizer clamps
    [{ x1: -20, y1: -1, x2: 700, y2: 1000 }, "<loc_0><loc_0><loc_999><loc_999>"],
    // smaller than a bin: both corners in one bin is still a box
    [{ x1: 10, y1: 10, x2: 10.1, y2: 10.1 }, "<loc_15><loc_20><loc_15><loc_21>"],
  ];
  for (const [box, expected] of rows) {
    it(`${JSON.stringify(box)} -> ${expected}`, function () {
      assert.equal(boxToLocTokens(box, size), expected);
    });
  }

  const errors: [string, PixelBox, { width: number; height: number }, RegExp][] = [
    ["an inverted box", { x1: 300, y1: 50, x2: 100, y2: 200 }, size, /x1 <= x2 and y1 <= y2 .*inverted box.*Swap the corners/],
    ["an inverted box (y)", { x1: 100, y1: 200, x2: 300, y2: 50 }, size, /inverted box/],
    ["an empty box", { x1: 100, y1: 50, x2: 100, y2: 200 }, size, /non-zero width and height .*empty box/],
    ["NaN", { x1: NaN, y1: 50, x2: 100, y2: 200 }, size, /Expected a finite number of pixels for box\.x1 but received NaN/],
    ["Infinity", { x1: 0, y1: 50, x2: Infinity, y2: 200 }, size, /box\.x2 but received Infinity/],
    ["a string", { x1: 0, y1: "50", x2: 100, y2: 200 } as unknown as PixelBox, size, /box\.y1 but received "50"/],
    ["a missing corner", { x1: 0, y1: 50, x2: 100 } as unknown as PixelBox, size, /box\.y2 but received undefined/],
    ["a box right of the image", { x1: 640, y1: 0, x2: 700, y2: 100 }, size, /inside the 640x480 image .*wholly outside/],
    ["a box above the image", { x1: 0, y1: -50, x2: 100, y2: 0 }, size, /wholly outside/],
    ["a zero image width", { x1: 0, y1: 0, x2: 1, y2: 1 }, { width: 0, height: 480 }, /positive finite number for imageSize\.width but received 0/],
    ["a NaN image height", { x1: 0, y1: 0, x2: 1, y2: 1 }, { width: 640, height: NaN }, /imageSize\.height but received NaN/],
  ];
  for (const [name, box, imageSize, message] of errors) {
    it(`rejects ${name}`, function () {
      assert.throws(() => boxToLocTokens(box, imageSize), message);
    });
  }
});

describe("buildPrompt", function () {
  const size = { width: 640, height: 480 };
  const car: PixelBox = { x1: 33.6, y1: 159.6, x2: 596.8, y2: 371.76 };
  const carLocs = "<loc_52><loc_332><loc_932><loc_774>";

  it("builds every task's prompt through constructPrompt", function () {
    for (const task of TASKS) {
      const input = task.input === "none" ? undefined : task.input === "text" ? "a green car" : carLocs;
      const expected = constructPrompt(task.token + (input ?? ""));
      assert.equal(buildPrompt(task.token, input, size), expected, task.token);
      assert.equal(buildPrompt(task.name, input, size), expected, task.name);
      assert.ok(!expected.includes("{input}") && !expected.includes(task.token), expected);
    }
  });

  const rows: [string, string | PixelBox | undefined, string][] = [
    ["<OD>", undefined, promptOf("OD")],
    ["OD", undefined, promptOf("OD")],
    ["<OD>", "", promptOf("OD")],
    ["<OPEN_VOCABULARY_DETECTION>", "a green car", "Locate a green car in the image."],
    ["<CAPTION_TO_PHRASE_GROUNDING>", "A green car parked in front of a yellow building.",
      "Locate the phrases in the caption: A green car parked in front of a yellow building."],
    ["<REGION_TO_CATEGORY>", car, `What is the region ${carLocs}?`],
    ["<REGION_TO_CATEGORY>", carLocs, `What is the region ${carLocs}?`],
    ["<REGION_TO_SEGMENTATION>", { x1: 0, y1: 0, x2: 640, y2: 480 }, "What is the polygon mask of region <loc_0><loc_0><loc_999><loc_999>"],
    ["<REGION_TO_OCR>", "<loc_5><loc_5><loc_5><loc_5>", "What text is in the region <loc_5><loc_5><loc_5><loc_5>?"],
  ];
  for (const [task, input, expected] of rows) {
    it(`${task} + ${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, function () {
      assert.equal(buildPrompt(task, input, size), expected);
    });
  }

  const errors: [string, string, string | PixelBox | undefined, RegExp][] = [
    ["an unknown task", "<FOO>", undefined, /Unknown Florence-2 task "<FOO>".*Expected one of: <CAPTION>, /],
    ["a lowercase task", "<od>", undefined, /Unknown Florence-2 task "<od>". Task tokens are upper-case: did you mean "<OD>"\?/],
    ["a lowercase name", "od", undefined, /did you mean "<OD>"\?/],
    ["input for a no-input task", "<OD>", "cat", /Task <OD> takes no input, but received "cat". Call it with the task alone/],
    ["a box for a no-input task", "<CAPTION>", car, /Task <CAPTION> takes no input, but received the box \{ x1: 33.6/],
    ["missing text", "<OPEN_VOCABULARY_DETECTION>", undefined,
      /Task <OPEN_VOCABULARY_DETECTION> needs a text input \(a phrase naming what to find\), but received nothing. .*"a green car"/],
    ["empty text", "<CAPTION_TO_PHRASE_GROUNDING>", "  ", /needs a text input \(a caption whose phrases to locate\), but received a blank string "  "/],
    ["a box for a text task", "<REFERRING_EXPRESSION_SEGMENTATION>", car, /needs a text input .*received the box/],
    ["a task token inside the input", "<OPEN_VOCABULARY_DETECTION>", "a <OD> car", /must not contain a task token, but it contains <OD>/],
    ["a missing region", "<REGION_TO_CATEGORY>", undefined, /needs a region: a pixel box \{ x1, y1, x2, y2 \} .*received nothing. For example/],
    ["a phrase as region", "<REGION_TO_CATEGORY>", "car", /exactly four loc tokens .*received "car"/],
    ["three locs", "<REGION_TO_CATEGORY>", "<loc_1><loc_2><loc_3>", /exactly four loc tokens/],
    ["a bin out of range", "<REGION_TO_CATEGORY>", "<loc_1><loc_2><loc_3><loc_1000>", /each 0\.\.999/],
    ["a zero-padded bin", "<REGION_TO_CATEGORY>", "<loc_01><loc_2><loc_3><loc_4>", /without leading zeros/],
    ["loc tokens with extra text", "<REGION_TO_CATEGORY>", " <loc_1><loc_2><loc_3><loc_4>", /exactly four loc tokens/],
    ["an inverted loc region", "<REGION_TO_DESCRIPTION>", "<loc_9><loc_2><loc_3><loc_4>", /x1 <= x2 and y1 <= y2 .*inverted box/],
    ["an inverted pixel box", "<REGION_TO_DESCRIPTION>", { x1: 9, y1: 2, x2: 3, y2: 4 }, /inverted box/],
    ["a box outside the image", "<REGION_TO_SEGMENTATION>", { x1: 700, y1: 0, x2: 800, y2: 10 }, /wholly outside/],
    ["a non-numeric box", "<REGION_TO_SEGMENTATION>", { x1: "a", y1: 0, x2: 8, y2: 10 } as unknown as PixelBox, /box\.x1 but received "a"/],
  ];
  for (const [name, task, input, message] of errors) {
    it(`rejects ${name}`, function () {
      assert.throws(() => buildPrompt(task, input, size), message);
    });
  }

  it("needs the image size to quantize a pixel box", function () {
    assert.throws(() => buildPrompt("<REGION_TO_CATEGORY>", car), /got a pixel box but no image size/);
    assert.equal(buildPrompt("<REGION_TO_CATEGORY>", carLocs), `What is the region ${carLocs}?`);
    assert.equal(buildPrompt(token("CAPTION"), undefined), promptOf("CAPTION"));
  });
});
