import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import {
  parseGeneration,
  parseGenerationKinded,
  postProcessGeneration,
  resultKindOf,
  TaskResult,
} from "../../src/text/postprocess";
import type { ImageSize } from "../../src/image/image";
import { TASKS, WALKTHROUGH_TASKS } from "../../src/text/tasks";

const SHARED = path.resolve(__dirname, "..", "..", "..", "shared");
const EXAMPLES = path.join(SHARED, "florence2", "examples", "postprocess_examples.jsonl");

interface Example {
  id: string;
  task: string;
  text: string;
  image_size: [number, number];
  expected: Record<string, TaskResult>;
}

describe("postProcessGeneration: the reference's examples", function () {
  const examples: Example[] = existsSync(EXAMPLES)
    ? readFileSync(EXAMPLES, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Example)
    : [];

  it("has the 28 examples of ../shared (2 per walkthrough task)", function () {
    if (examples.length === 0) {
      console.log(`    skipped: ${EXAMPLES} not found (the reference material beside the repo)`);
      this.skip();
    }
    assert.equal(examples.length, 28);
    assert.deepEqual(new Set(examples.map((e) => e.task)), new Set(WALKTHROUGH_TASKS.map((t) => t.token)));
  });

  for (let i = 0; i < 28; i++) {
    it(`example ${i + 1} equals the reference's output exactly`, function () {
      const example = examples[i];
      if (!example) {
        console.log(`    skipped: ${EXAMPLES} not found`);
        this.skip();
      }
      const [width, height] = example.image_size; // the reference's (width, height)
      assert.deepStrictEqual(postProcessGeneration(example.text, example.task, { width, height }), example.expected, example.id);
    });
  }
});

// The reference's quirks (numbered as in src/text/postprocess.ts' file comment), as (task, text, expected) rows. Expected
// values were worked out from the reference's rules (and checked against the reference code). The image is 2000x1000 so that coordinates
// are exact and distinguish the axes: bin b gives x = 2b + 1 and y = b + 0.5.
const SIZE: ImageSize = { width: 2000, height: 1000 };
const L = (...bins: number[]): string => bins.map((b) => `<loc_${b}>`).join("");
const BOX_1234 = [3, 2.5, 7, 4.5];
const BOX_5678 = [11, 6.5, 15, 8.5];
const QUAD_1TO8 = [3, 2.5, 7, 4.5, 11, 6.5, 15, 8.5];

interface Row {
  quirk: string;
  task: string;
  text: string;
  expected: TaskResult;
  size?: ImageSize;
}

const boxes = (bboxes: number[][], labels: string[]): TaskResult => ({ bboxes, labels });
const polys = (polygons: number[][][], labels: string[]): TaskResult => ({ polygons, labels });
const quads = (quad_boxes: number[][], labels: string[]): TaskResult => ({ quad_boxes, labels });
const ovdBoxes = (bboxes: number[][], labels: string[]): TaskResult => ({ bboxes, bboxes_labels: labels, polygons: [], polygons_labels: [] });
const ovdPolys = (polygons: number[][][], labels: string[]): TaskResult => ({ bboxes: [], bboxes_labels: [], polygons, polygons_labels: labels });

const QUIRKS: Row[] = [
  // 1. float32 coordinates, x with the width and y with the height
  { quirk: "1 float32", task: "<OD>", text: `car${L(52, 332, 52, 332)}`, size: { width: 640, height: 480 },
    expected: boxes([[33.599998474121094, 159.59999084472656, 33.599998474121094, 159.59999084472656]], ["car"]) },
  // 2. no validation or clamping
  { quirk: "2 out-of-range and zero-padded bins parse", task: "<OD>", text: "car<loc_1000><loc_12345><loc_007><loc_0>",
    expected: boxes([[2001, 12345.5, 15, 0.5]], ["car"]) },
  { quirk: "2 inverted box kept", task: "<OD>", text: `car${L(9, 9, 1, 1)}`, expected: boxes([[19, 9.5, 3, 1.5]], ["car"]) },
  { quirk: "2 0x0 image gives zeros", task: "<OD>", text: `car${L(5, 6, 7, 8)}`, size: { width: 0, height: 0 }, expected: boxes([[0, 0, 0, 0]], ["car"]) },
  // 3. pure text
  { quirk: "3 only <s> and </s> removed", task: "<CAPTION>", text: "First</s><s>Second", expected: "FirstSecond" },
  { quirk: "3 <pad>, <unk>, locs and spaces kept", task: "<CAPTION>", text: " <pad> a <unk><loc_5> ", expected: " <pad> a <unk><loc_5> " },
  { quirk: "3 <s> removed before </s>", task: "<CAPTION>", text: "<</s>s>", expected: "<s>" },
  { quirk: "3 removing <s> can form </s>, which goes too", task: "<CAPTION>", text: "<<s>/s>", expected: "" },
  { quirk: "3 lowercase task falls back to pure text", task: "<od>", text: `car${L(1, 2, 3, 4)}`, expected: `car${L(1, 2, 3, 4)}` },
  { quirk: "3 bare task name falls back to pure text", task: "OD", text: `</s><s>car${L(1, 2, 3, 4)}</s>`, expected: `car${L(1, 2, 3, 4)}` },
  { quirk: "3 region tasks keep their locs", task: "<REGION_TO_CATEGORY>", text: `</s><s>car${L(52, 332, 932, 774)}</s>`,
    size: { width: 640, height: 480 }, expected: `car${L(52, 332, 932, 774)}` },
  // 4. description_with_bboxes
  { quirk: "4 sequence tokens removed", task: "<OD>", text: `</s><s>car${L(1, 2, 3, 4)}</s>`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 </s> inside joins the text", task: "<OD>", text: `ca</s>r${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 <pad> inside joins the text", task: "<OD>", text: `c<pad>ar${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 5 locs: one box", task: "<OD>", text: `car${L(1, 2, 3, 4, 5)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 7 locs: one box", task: "<OD>", text: `car${L(1, 2, 3, 4, 5, 6, 7)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 8 locs: two boxes, same label", task: "<OD>", text: `car${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: boxes([BOX_1234, BOX_5678], ["car", "car"]) },
  { quirk: "4 9 locs: two boxes", task: "<OD>", text: `car${L(1, 2, 3, 4, 5, 6, 7, 8, 9)}`, expected: boxes([BOX_1234, BOX_5678], ["car", "car"]) },
  { quirk: "4 labels stripped", task: "<OD>", text: `  car  ${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "4 non-ASCII deleted", task: "<OD>", text: `café${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["caf"]) },
  { quirk: "4 all-CJK label becomes ''", task: "<OD>", text: `日本${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], [""]) },
  { quirk: "4 not lowercased", task: "<OD>", text: `Car${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["Car"]) },
  // 5. [^<]+ can start inside a loc token
  { quirk: "5 unlabelled box dropped, next label 'loc_4>car'", task: "<OD>", text: `${L(1, 2, 3, 4)}car${L(5, 6, 7, 8)}`,
    expected: boxes([BOX_5678], ["loc_4>car"]) },
  { quirk: "5 'loc_1>'", task: "<OD>", text: `car<loc_1> ${L(2, 3, 4, 5)}`, expected: boxes([[5, 3.5, 9, 5.5]], ["loc_1>"]) },
  { quirk: "5 'od>'", task: "<OD>", text: `car<od>${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["od>"]) },
  { quirk: "5 '/od>'", task: "<OD>", text: `<od>car</od>${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["/od>"]) },
  { quirk: "5 'sep>'", task: "<OD>", text: `car${L(1, 2, 3, 4)}<sep>${L(5, 6, 7, 8)}`, expected: boxes([BOX_1234, BOX_5678], ["car", "sep>"]) },
  { quirk: "5 'b'", task: "<OD>", text: `a<b${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["b"]) },
  // 6. newlines
  { quirk: "6 label ending in \\n dropped", task: "<OD>", text: `car\n${L(1, 2, 3, 4)}`, expected: boxes([], []) },
  { quirk: "6 label holding \\n dropped", task: "<OD>", text: `ca\nr${L(1, 2, 3, 4)}`, expected: boxes([], []) },
  { quirk: "6 leading \\n fine", task: "<OD>", text: `\ncar${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "6 OCR label keeps the text after the last newline", task: "<OCR_WITH_REGION>", text: `line one\nline two${L(1, 2, 3, 4, 5, 6, 7, 8)}`,
    expected: quads([QUAD_1TO8], ["line two"]) },
  // 7. region proposal
  { quirk: "7 label text ignored", task: "<REGION_PROPOSAL>", text: `car${L(1, 2, 3, 4)}dog${L(5, 6, 7, 8)}`, expected: boxes([BOX_1234, BOX_5678], ["", ""]) },
  { quirk: "7 fewer than 4 locs give nothing", task: "<REGION_PROPOSAL>", text: L(1, 2, 3), expected: boxes([], []) },
  // 8. phrase grounding
  { quirk: "8 blacklist is case-sensitive", task: "<CAPTION_TO_PHRASE_GROUNDING>", text: `it${L(1, 2, 3, 4)}It${L(5, 6, 7, 8)}`, expected: boxes([BOX_5678], ["It"]) },
  { quirk: "8 'the image' dropped, 'The image' kept", task: "<CAPTION_TO_PHRASE_GROUNDING>", text: `the image${L(1, 2, 3, 4)}The image${L(5, 6, 7, 8)}`,
    expected: boxes([BOX_5678], ["The image"]) },
  { quirk: "8 blacklist before non-ASCII deletion: 'ça' kept as 'a'", task: "<CAPTION_TO_PHRASE_GROUNDING>", text: `ça${L(1, 2, 3, 4)}a${L(5, 6, 7, 8)}`,
    expected: boxes([BOX_1234], ["a"]) },
  { quirk: "8 several boxes flattened", task: "<CAPTION_TO_PHRASE_GROUNDING>", text: `car${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: boxes([BOX_1234, BOX_5678], ["car", "car"]) },
  // 9. open-vocabulary detection
  { quirk: "9 any <poly> switches to polygons", task: "<OPEN_VOCABULARY_DETECTION>", text: `a green car${L(1, 2, 3, 4)}x<poly>`,
    expected: ovdPolys([[BOX_1234]], ["a green car"]) },
  { quirk: "9 polygon branch keeps non-ASCII", task: "<OPEN_VOCABULARY_DETECTION>", text: `café<poly>${L(1, 2, 3, 4)}</poly>`, expected: ovdPolys([[BOX_1234]], ["café"]) },
  { quirk: "9 bbox branch deletes non-ASCII", task: "<OPEN_VOCABULARY_DETECTION>", text: `café${L(1, 2, 3, 4)}`, expected: ovdBoxes([BOX_1234], ["caf"]) },
  { quirk: "9 no label gives nothing", task: "<OPEN_VOCABULARY_DETECTION>", text: `</s><s>${L(1, 2, 3, 4)}</s>`, expected: ovdBoxes([], []) },
  { quirk: "9 polygon branch strips a leading 'loc_k>'", task: "<OPEN_VOCABULARY_DETECTION>", text: `<loc_3>car<poly>${L(1, 2, 3, 4)}</poly>`,
    expected: ovdPolys([[BOX_1234]], ["car"]) },
  { quirk: "9 polygon label runs on to the first loc or <poly>", task: "<OPEN_VOCABULARY_DETECTION>", text: `car<sep><poly>${L(1, 2)}</poly>`,
    expected: ovdPolys([[[3, 2.5]]], ["car<sep>"]) },
  // 10. segmentation
  { quirk: "10 one run, label ''", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: L(1, 2, 3, 4), expected: polys([[BOX_1234]], [""]) },
  { quirk: "10 run starting with <sep> is labelled '<sep>'", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `<sep>${L(1, 2, 3, 4)}`, expected: polys([[BOX_1234]], ["<sep>"]) },
  { quirk: "10 run starting with </poly> is labelled '</poly>'", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `</poly>${L(1, 2, 3, 4)}`, expected: polys([[BOX_1234]], ["</poly>"]) },
  { quirk: "10 fewer than 4 tokens give nothing", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: L(1, 2, 3), expected: polys([], []) },
  { quirk: "10 a run with no loc or <poly> gives nothing", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: "<sep><sep><sep><sep>", expected: polys([], []) },
  { quirk: "10 odd count drops the last value", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `${L(1, 2, 3)}<sep>`, expected: polys([[[3, 2.5]]], [""]) },
  { quirk: "10 split on <sep>", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `${L(1, 2)}<sep>${L(3, 4)}`, expected: polys([[[3, 2.5], [7, 4.5]]], [""]) },
  { quirk: "10 a stray </poly> drops the run before it", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `${L(1, 2)}</poly>${L(3, 4)}`, expected: polys([[[7, 4.5]]], [""]) },
  { quirk: "10 a single loc gives [] (kept)", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `<loc_1><sep>${L(2, 3)}`, expected: polys([[[], [5, 3.5]]], [""]) },
  { quirk: "10 text between runs starts an instance", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `${L(1, 2, 3, 4)}x${L(5, 6, 7, 8)}`,
    expected: polys([[BOX_1234], [BOX_5678]], ["", ""]) },
  { quirk: "10 each <poly>...</poly> is an instance", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `<poly>${L(1, 2)}</poly><poly>${L(3, 4)}</poly>`,
    expected: polys([[[3, 2.5]], [[7, 4.5]]], ["", ""]) },
  { quirk: "10 <poly> without </poly>: the run is one instance", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `<poly>${L(1, 2, 3)}`, expected: polys([[[3, 2.5]]], [""]) },
  { quirk: "10 a newline splits runs", task: "<REFERRING_EXPRESSION_SEGMENTATION>", text: `${L(1, 2)}\n${L(3, 4, 5, 6)}`, expected: polys([[[7, 4.5, 11, 6.5]]], [""]) },
  // 11. OCR with regions
  { quirk: "11 </s> stays in the first label", task: "<OCR_WITH_REGION>", text: `</s><s>A${L(1, 2, 3, 4, 5, 6, 7, 8)}</s>`, expected: quads([QUAD_1TO8], ["</s>A"]) },
  { quirk: "11 <pad> stays", task: "<OCR_WITH_REGION>", text: `<pad>A${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: quads([QUAD_1TO8], ["<pad>A"]) },
  { quirk: "11 labels not stripped", task: "<OCR_WITH_REGION>", text: ` A b ${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: quads([QUAD_1TO8], [" A b "]) },
  { quirk: "11 labels keep non-ASCII", task: "<OCR_WITH_REGION>", text: `日本${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: quads([QUAD_1TO8], ["日本"]) },
  { quirk: "11 '<' allowed in labels", task: "<OCR_WITH_REGION>", text: `a<b${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: quads([QUAD_1TO8], ["a<b"]) },
  { quirk: "11 a stray 4-loc run joins the next label", task: "<OCR_WITH_REGION>", text: `A${L(1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9)}B${L(1, 2, 3, 4, 5, 6, 7, 8)}`,
    expected: quads([QUAD_1TO8, QUAD_1TO8], ["A", `${L(9, 9, 9, 9)}B`]) },
  { quirk: "11 a 9th loc joins the next label", task: "<OCR_WITH_REGION>", text: `A${L(1, 2, 3, 4, 5, 6, 7, 8, 9)}B${L(1, 2, 3, 4, 5, 6, 7, 8)}`,
    expected: quads([QUAD_1TO8, QUAD_1TO8], ["A", "<loc_9>B"]) },
  { quirk: "11 <pad> inside the 8 locs breaks the quad", task: "<OCR_WITH_REGION>", text: `A${L(1, 2, 3)}<pad>${L(4, 5, 6, 7, 8)}`, expected: quads([], []) },
  { quirk: "11 zero-area quads kept", task: "<OCR_WITH_REGION>", text: `A${L(5, 5, 5, 5, 5, 5, 5, 5)}`, expected: quads([[11, 5.5, 11, 5.5, 11, 5.5, 11, 5.5]], ["A"]) },
  // Python's regex and string semantics where JavaScript's differ (file comment of src/text/postprocess.ts)
  { quirk: "py '.' matches \\r", task: "<OCR_WITH_REGION>", text: `a\rb${L(1, 2, 3, 4, 5, 6, 7, 8)}`, expected: quads([QUAD_1TO8], ["a\rb"]) },
  { quirk: "py '.' matches \\r inside a label", task: "<OD>", text: `ca\rr${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["ca\rr"]) },
  { quirk: "py strip() removes a trailing \\r", task: "<OD>", text: `car\r${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "py '.' matches U+2028, strip() removes it", task: "<OD>", text: `\u2028car\u2028${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "py strip() removes U+001C", task: "<OD>", text: `\u001ccar\u001c${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "py strip() removes U+0085", task: "<OD>", text: `\u0085car${L(1, 2, 3, 4)}`, expected: boxes([BOX_1234], ["car"]) },
  { quirk: "py strip() keeps U+FEFF, so '\\ufeffit' escapes the blacklist", task: "<CAPTION_TO_PHRASE_GROUNDING>", text: `\ufeffit${L(1, 2, 3, 4)}`,
    expected: boxes([BOX_1234], ["it"]) },
  { quirk: "py strip() keeps U+FEFF in polygon labels", task: "<OPEN_VOCABULARY_DETECTION>", text: `\ufeffcar<poly>${L(1, 2, 3, 4)}</poly>`,
    expected: ovdPolys([[BOX_1234]], ["\ufeffcar"]) },
  { quirk: "py \\d and int() read any Unicode digit", task: "<OD>", text: "car<loc_٣><loc_３><loc_1><loc_1>", expected: boxes([[7, 3.5, 3, 1.5]], ["car"]) },
];

describe("postProcessGeneration: reference quirks", function () {
  for (const row of QUIRKS) {
    it(`${row.quirk}: ${row.task} ${JSON.stringify(row.text)}`, function () {
      assert.deepStrictEqual(postProcessGeneration(row.text, row.task, row.size ?? SIZE), { [row.task]: row.expected });
    });
  }

  it("covers every result kind of the task table", function () {
    const kinds = new Set(QUIRKS.map((row) => resultKindOf(row.task)));
    assert.deepEqual(kinds, new Set(TASKS.map((t) => t.resultKind)));
  });
});

describe("postProcessGeneration: beyond the reference", function () {
  it("saturates loc numbers beyond int64 (where the reference raises) instead of throwing", function () {
    const huge = "9".repeat(30);
    const result = postProcessGeneration(`car<loc_${huge}>${L(1, 1, 1)}`, "<OD>", SIZE) as Record<string, { bboxes: number[][] }>;
    // int64 max as float32 is 2^63; times 2 (bin size of a 2000 px width)
    assert.deepStrictEqual(result["<OD>"].bboxes, [[2 ** 64, 1.5, 3, 1.5]]);
  });

  it("rounds big loc numbers to float32 as torch's int64 -> float32 does", function () {
    // 2^24 + 1 is not a float32: it rounds to 2^24 (ties to even), and + 0.5 is lost too
    const result = postProcessGeneration(`car<loc_16777217>${L(0, 0, 0)}`, "<OD>", { width: 1000, height: 1000 }) as Record<string, { bboxes: number[][] }>;
    assert.deepStrictEqual(result["<OD>"].bboxes, [[16777216, 0.5, 0.5, 0.5]]);
  });

  it("keys unusual task strings literally", function () {
    assert.deepStrictEqual(postProcessGeneration("x", "__proto__", SIZE), JSON.parse('{"__proto__": "x"}'));
    assert.deepStrictEqual(Object.keys(postProcessGeneration("x", "", SIZE)), [""]);
  });

  it("rejects an image size that is not { width, height } of finite numbers >= 0, naming what is wrong", function () {
    const rows: [unknown, RegExp][] = [
      [{ width: 640 }, /Expected a finite number >= 0 for imageSize\.height but received undefined/],
      [{ width: 640, height: NaN }, /imageSize\.height but received NaN/],
      [{ width: -1, height: 480 }, /imageSize\.width but received -1/],
      [{ width: 640, height: Infinity }, /imageSize\.height but received Infinity/],
      [[640, 480], /Expected imageSize \{ width, height \} .* received an array of length 2\. A \[width, height\] pair is not accepted/],
      ["640x480", /Expected imageSize \{ width, height \} .* received "640x480"/],
      [undefined, /Expected imageSize \{ width, height \} .* received undefined/],
    ];
    for (const [bad, message] of rows) assert.throws(() => postProcessGeneration("x", "<OD>", bad as ImageSize), message);
  });

  it("does not hang on long degenerate text", function () {
    // A guard against a hang, not a speed target: a plain global regex scan (and the reference's Python)
    // is quadratic on these texts, tens of seconds or more each; the scans here take well under a second.
    const texts = ["a".repeat(100_000), `text${L(1, 2, 3, 4, 5, 6, 7)}`.repeat(2_500), `${L(1, 2)}</poly>`.repeat(10_000), "<poly>".repeat(15_000) + "</poly>\n"];
    const start = Date.now();
    for (const text of texts) for (const task of TASKS) postProcessGeneration(text, task.token, SIZE);
    assert.ok(Date.now() - start < 10_000, `took ${Date.now() - start} ms`);
  });
});

describe("parseGeneration and resultKindOf", function () {
  it("maps tasks to result kinds, unknown ones to pure text", function () {
    for (const task of TASKS) assert.equal(resultKindOf(task.token), task.resultKind);
    for (const unknown of ["<od>", "OD", "", "<FOO>"]) assert.equal(resultKindOf(unknown), "pure_text");
  });

  it("parses by kind without the task key", function () {
    assert.deepStrictEqual(parseGeneration(`car${L(1, 2, 3, 4)}`, "description_with_bboxes", SIZE), { bboxes: [BOX_1234], labels: ["car"] });
    assert.deepStrictEqual(parseGenerationKinded(`car${L(1, 2, 3, 4)}`, "<REGION_PROPOSAL>", SIZE), {
      kind: "bboxes",
      value: { bboxes: [BOX_1234], labels: [""] },
    });
  });
});
