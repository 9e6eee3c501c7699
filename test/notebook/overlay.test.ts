/**
 * overlay.ts: what drawResult draws where, checked as geometry and colours without a canvas (test/draw.test.ts
 * checks the painted pixels).
 */
import { strict as assert } from "node:assert";
import type { ImageSize } from "../../src/image/image";
import { PALETTE, captionAtTop, labelColor, regionOverlay, resultEntry, resultOverlay, textColorOn, type Overlay } from "../../src/notebook/overlay";
import type { TaskResult } from "../../src/text/postprocess";
import { dequantize } from "../../src/text/loc-bins";
import { TASKS, getTask, type ResultKind, type TaskSpec } from "../../src/text/tasks";

const SIZE: ImageSize = { width: 200, height: 150 };

function taskOfKind(kind: ResultKind, input?: TaskSpec["input"]): TaskSpec {
  const spec = TASKS.find((t) => t.resultKind === kind && (input === undefined || t.input === input));
  if (!spec) throw new Error(`no task of kind ${kind}${input ? ` with ${input} input` : ""} in TASKS`);
  return spec;
}

/** The box of four bins in pixels of SIZE, at the bin centres, as post-processing computes it. */
function binBox(x1: number, y1: number, x2: number, y2: number) {
  return { x1: dequantize(x1, SIZE.width), y1: dequantize(y1, SIZE.height), x2: dequantize(x2, SIZE.width), y2: dequantize(y2, SIZE.height) };
}

const empty = (overrides: Partial<Overlay>): Overlay => ({ regions: [], polygons: [], boxes: [], labels: [], caption: "", ...overrides });

describe("overlay", () => {
  describe("resultOverlay: one row per result kind", () => {
    it("boxes (OD): one outline per box with its corners ordered, a label for each non-empty label, colours by label", () => {
      const overlay = resultOverlay(getTask("<OD>"), { bboxes: [[120, 110, 20, 30], [5, 6, 7, 8]], labels: ["car", " "] }, SIZE);
      const car = labelColor("car");
      assert.deepEqual(overlay, empty({
        boxes: [{ bounds: { x1: 20, y1: 30, x2: 120, y2: 110 }, color: car }, { bounds: { x1: 5, y1: 6, x2: 7, y2: 8 }, color: PALETTE[1] }],
        labels: [{ text: "car", color: car, anchor: { x1: 20, y1: 30, x2: 120, y2: 110 } }],
      }));
    });

    it("unlabelled boxes (REGION_PROPOSAL) take one palette colour each and no label", () => {
      const overlay = resultOverlay(getTask("<REGION_PROPOSAL>"), { bboxes: [[1, 2, 3, 4], [5, 6, 7, 8]], labels: ["", ""] }, SIZE);
      assert.deepEqual(overlay.boxes.map((b) => b.color), [PALETTE[0], PALETTE[1]]);
      assert.deepEqual(overlay.labels, []);
    });

    it("quads (OCR_WITH_REGION): an unfilled outline, the label on the quad's bounding box", () => {
      const quad = [20, 20, 120, 25, 118, 40, 18, 38];
      const overlay = resultOverlay(getTask("<OCR_WITH_REGION>"), { quad_boxes: [quad], labels: ["</s>HELLO"] }, SIZE);
      const color = labelColor("</s>HELLO");
      assert.deepEqual(overlay, empty({
        polygons: [{ points: quad, color, filled: false }],
        labels: [{ text: "</s>HELLO", color, anchor: { x1: 18, y1: 20, x2: 120, y2: 40 } }],
      }));
    });

    it("polygons: filled, empty and one-point polygons (kept by the reference) skipped, one label per instance", () => {
      const spec = taskOfKind("polygons");
      const triangle = [30, 30, 150, 40, 90, 130];
      const overlay = resultOverlay(spec, { polygons: [[triangle, [], [5, 5]], [[1, 1]]], labels: ["a car", "dot"] }, SIZE);
      const color = labelColor("a car");
      assert.deepEqual(overlay, empty({
        polygons: [{ points: triangle, color, filled: true }],
        labels: [{ text: "a car", color, anchor: { x1: 30, y1: 30, x2: 150, y2: 130 } }],
      }));
    });

    it("open-vocabulary detection draws its polygons and its boxes", () => {
      const overlay = resultOverlay(getTask("<OPEN_VOCABULARY_DETECTION>"), {
        bboxes: [[10, 10, 50, 50]], bboxes_labels: ["box"], polygons: [[[60, 60, 90, 60, 90, 90]]], polygons_labels: ["poly"],
      }, SIZE);
      assert.deepEqual(overlay.boxes.map((b) => b.bounds), [{ x1: 10, y1: 10, x2: 50, y2: 50 }]);
      assert.deepEqual(overlay.polygons.map((p) => p.points), [[60, 60, 90, 60, 90, 90]]);
      assert.deepEqual(overlay.labels.map((l) => l.text), ["poly", "box"]);
    });

    it("text answers become the caption without loc tokens; a region task's answer also draws its box, labelled", () => {
      assert.deepEqual(resultOverlay(getTask("<CAPTION>"), "A green  car.", SIZE), empty({ caption: "A green car." }));
      const spec = taskOfKind("pure_text", "region");
      const overlay = resultOverlay(spec, "car<loc_100><loc_200><loc_600><loc_700>", SIZE);
      const color = labelColor("car");
      assert.deepEqual(overlay, empty({
        caption: "car",
        boxes: [{ bounds: binBox(100, 200, 600, 700), color }],
        labels: [{ text: "car", color, anchor: binBox(100, 200, 600, 700) }],
      }));
    });

    it("reads the loc tokens of a text answer as post-processing reads generated text (Unicode digits, zero padding)", () => {
      const spec = taskOfKind("pure_text", "region");
      const overlay = resultOverlay(spec, "car<loc_١٠٠><loc_0200><loc_600><loc_700>", SIZE);
      assert.deepEqual(overlay.boxes.map((b) => b.bounds), [binBox(100, 200, 600, 700)]);
      assert.equal(overlay.caption, "car");
    });
  });

  describe("the input region", () => {
    it("is the same outline from a pixel box (corners in any order) and from the loc tokens a region task takes", () => {
      const fromTokens = regionOverlay("<loc_150><loc_200><loc_850><loc_800>", SIZE);
      const box = binBox(150, 200, 850, 800);
      assert.deepEqual(fromTokens, empty({ regions: [box] }));
      assert.deepEqual(regionOverlay({ x1: box.x2, y1: box.y2, x2: box.x1, y2: box.y1 }, SIZE), fromTokens);
      assert.deepEqual(regionOverlay(undefined, SIZE), empty({}));
      const spec = taskOfKind("polygons", "region");
      assert.deepEqual(resultOverlay(spec, { polygons: [], labels: [] }, SIZE, "<loc_150><loc_200><loc_850><loc_800>"), fromTokens);
    });

    it("accepts as a string only four vocabulary loc tokens, as the task input check does", () => {
      for (const bad of ["<loc_1><loc_2>", "<loc_1000><loc_2><loc_3><loc_4>", "<loc_01><loc_2><loc_3><loc_4>", " <loc_1><loc_2><loc_3><loc_4>", "<loc_١><loc_2><loc_3><loc_4>"]) {
        assert.throws(() => regionOverlay(bad, SIZE), /options\.region to be four loc tokens .* \(each 0\.\.999, as a region task takes them\)/, bad);
      }
      assert.throws(() => regionOverlay({ x1: 0, y1: 0, x2: NaN, y2: 1 }, SIZE), /pixel box \{ x1, y1, x2, y2 \} of finite numbers .* received an object with keys \[x1, y1, x2, y2\]/);
    });
  });

  describe("result checks", () => {
    it("finds the task's entry, and says what was passed instead", () => {
      assert.equal(resultEntry(getTask("<CAPTION>"), { "<CAPTION>": "a car" }), "a car");
      assert.throws(() => resultEntry(getTask("<OD>"), { "<CAPTION>": "a car" }), /keyed "<OD>" but the keys are \["<CAPTION>"\]\. Pass the result of the same task/);
      assert.throws(
        () => resultEntry(getTask("<OD>"), { result: { "<OD>": "x" } } as unknown as Record<string, TaskResult>),
        /whole RunOutput: pass its \.result/,
      );
      assert.throws(() => resultEntry(getTask("<OD>"), null as unknown as Record<string, TaskResult>), /Expected the result object of <OD> .* received null/);
    });

    it("rejects a result of the wrong shape, naming the field and what it should hold", () => {
      const od = getTask("<OD>");
      const rows: [TaskSpec, unknown, RegExp][] = [
        [od, "a car", /<OD> \(description_with_bboxes\) expected \{ bboxes, labels \} with list values but received "a car"/],
        [od, { bboxes: [] }, /expected \{ bboxes, labels \} .* \(no list in labels\)/],
        [getTask("<CAPTION>"), { bboxes: [], labels: [] }, /expected a string result but received an object with keys \[bboxes, labels\]/],
        [od, { bboxes: [[1, 2, 3]], labels: ["car"] }, /bboxes\[0\] to be 4 finite pixel coordinates but received an array of length 3/],
        [od, { bboxes: [[1, 2, 3, NaN]], labels: ["car"] }, /bboxes\[0\] to be 4 finite pixel coordinates/],
        [od, { bboxes: [[1, 2, 3, 4]], labels: [] }, /one string label per entry of bboxes \(1\) but received 0 labels/],
        [od, { bboxes: [[1, 2, 3, 4]], labels: [7] }, /received 1 labels with non-strings among them/],
        [getTask("<OCR_WITH_REGION>"), { quad_boxes: [[1, 2, 3, 4]], labels: ["a"] }, /quad_boxes\[0\] to be 8 finite pixel coordinates/],
        [taskOfKind("polygons"), { polygons: [[[1, 2, 3]]], labels: [""] }, /polygons\[0\]\[0\] to be an even number of finite pixel coordinates/],
        [taskOfKind("polygons"), { polygons: ["x"], labels: [""] }, /polygons\[0\] to be a list of flat \[x, y, \.\.\.\] polygons but received "x"/],
      ];
      for (const [spec, entry, message] of rows) assert.throws(() => resultOverlay(spec, entry as TaskResult, SIZE), message);
    });
  });

  describe("captionAtTop", () => {
    it("puts the band where it covers less of the drawn shapes, the bottom on a tie", () => {
      const low = empty({ boxes: [{ bounds: { x1: 0, y1: 120, x2: 200, y2: 150 }, color: PALETTE[0] }] });
      const high = empty({ polygons: [{ points: [0, 0, 200, 0, 100, 20], color: PALETTE[0], filled: true }] });
      assert.equal(captionAtTop(low, SIZE, 30), true);
      assert.equal(captionAtTop(high, SIZE, 30), false);
      assert.equal(captionAtTop(empty({}), SIZE, 30), false);
      assert.equal(captionAtTop(empty({ regions: [{ x1: 0, y1: 100, x2: 10, y2: 150 }] }), SIZE, 30), true);
    });
  });

  describe("colours", () => {
    it("gives a label the same palette colour in every call, and spreads common labels over the palette", () => {
      assert.equal(labelColor("dog"), labelColor("dog"));
      assert.ok(PALETTE.includes(labelColor("dog")));
      const common = ["car", "door", "wheel", "person", "dog", "cat", "tree", "building", "window", "sky", "road", "sign"];
      assert.ok(new Set(common.map(labelColor)).size >= 6, "labels spread over the palette");
    });

    it("picks the text colour with at least WCAG AA contrast on every palette colour", () => {
      const luminance = (color: string) => {
        const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16)).map((c) => {
          const s = c / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      for (const color of PALETTE) {
        const [a, b] = [luminance(color), luminance(textColorOn(color))].sort((x, y) => y - x);
        assert.ok((a + 0.05) / (b + 0.05) >= 4.5, `${textColorOn(color)} on ${color}`);
      }
      assert.equal(textColorOn("#ffe119"), "#000000");
      assert.equal(textColorOn("#4363d8"), "#ffffff");
      assert.throws(() => textColorOn("red"), /Expected a colour like "#e6194b" but received "red"/);
    });
  });
});
