import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { createCanvas, loadImage } from "canvas";
import { drawResult, renderImage } from "../../src/notebook/draw";
import type { RgbImage } from "../../src/image/image";
import { PALETTE, labelColor, textColorOn } from "../../src/notebook/overlay";
import type { TaskResult } from "../../src/text/postprocess";
import { dequantize } from "../../src/text/loc-bins";
import { ResultKind, TASKS, TaskSpec } from "../../src/text/tasks";

const SHARED = path.resolve(__dirname, "..", "..", "..", "shared");
const BACKGROUND: Rgb = [128, 128, 128];

type Rgb = [number, number, number];

/** A plain image of one colour. */
function plainImage(width: number, height: number, color: Rgb = BACKGROUND): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(color, i);
  return { data, width, height };
}

interface Pixels {
  width: number;
  height: number;
  at(x: number, y: number): Rgb;
}

/** Decodes a PNG independently of the drawing code's canvas. */
async function decodePng(png: Buffer): Promise<Pixels> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const { data } = ctx.getImageData(0, 0, image.width, image.height);
  return {
    width: image.width,
    height: image.height,
    at: (x, y) => {
      const i = (y * image.width + x) * 4;
      return [data[i], data[i + 1], data[i + 2]];
    },
  };
}

/** Width and height from the PNG's IHDR chunk (big-endian words at bytes 16 and 20). */
function pngSize(png: Buffer): [number, number] {
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

function hexToRgb(color: string): Rgb {
  return [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16)) as Rgb;
}

const same = (a: Rgb, b: Rgb, tolerance = 0) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance);

/** Bounding rectangle of the pixels of exactly this colour (the filled label boxes), or undefined. */
function rectOfColor(pixels: Pixels, color: Rgb): { x1: number; y1: number; x2: number; y2: number; count: number } | undefined {
  let rect: { x1: number; y1: number; x2: number; y2: number; count: number } | undefined;
  for (let y = 0; y < pixels.height; y++) {
    for (let x = 0; x < pixels.width; x++) {
      if (!same(pixels.at(x, y), color)) continue;
      rect = rect
        ? { x1: Math.min(rect.x1, x), y1: Math.min(rect.y1, y), x2: Math.max(rect.x2, x), y2: Math.max(rect.y2, y), count: rect.count + 1 }
        : { x1: x, y1: y, x2: x, y2: y, count: 1 };
    }
  }
  return rect;
}

function countInRect(pixels: Pixels, rect: { x1: number; y1: number; x2: number; y2: number }, test: (p: Rgb) => boolean): number {
  let count = 0;
  for (let y = rect.y1; y <= rect.y2; y++) for (let x = rect.x1; x <= rect.x2; x++) if (test(pixels.at(x, y))) count++;
  return count;
}

function taskOfKind(kind: ResultKind, input?: TaskSpec["input"]): TaskSpec {
  const spec = TASKS.find((t) => t.resultKind === kind && (input === undefined || t.input === input));
  if (!spec) throw new Error(`no task of kind ${kind}${input ? ` with ${input} input` : ""} in TASKS`);
  return spec;
}

/** A small plausible result of each kind for a 200x150 image. */
function sampleResult(kind: ResultKind): TaskResult {
  switch (kind) {
    case "pure_text":
      return "a grey square<loc_100><loc_100><loc_600><loc_600>";
    case "ocr":
      return { quad_boxes: [[20, 20, 120, 20, 120, 40, 20, 40]], labels: ["</s>HELLO"] };
    case "description_with_bboxes":
    case "phrase_grounding":
      return { bboxes: [[20, 30, 120, 110], [130, 40, 190, 140]], labels: ["car", "wheel"] };
    case "bboxes":
      return { bboxes: [[20, 30, 120, 110]], labels: [""] };
    case "polygons":
      return { polygons: [[[30, 30, 150, 40, 90, 130], []]], labels: [""] };
    case "description_with_bboxes_or_polygons":
      return { bboxes: [], bboxes_labels: [], polygons: [[[30, 30, 150, 40, 90, 130]]], polygons_labels: ["a car"] };
    default: {
      const missing: never = kind;
      throw new Error(`sampleResult has no case for ${String(missing)}`);
    }
  }
}

describe("draw", () => {
  describe("drawResult", () => {
    it("returns a PNG the size of the image, and the canvas", async () => {
      const { png, canvas } = await drawResult(plainImage(203, 97), "<OD>", {
        "<OD>": { bboxes: [[10, 10, 50, 50]], labels: ["car"] },
      });
      const pixels = await decodePng(png);
      assert.deepEqual([pixels.width, pixels.height], [203, 97]);
      assert.deepEqual([canvas.width, canvas.height], [203, 97]);
    });

    it("loads encoded images and files through loadImageRgb, drawing the same as on decoded pixels", async () => {
      const image = plainImage(60, 40, [30, 140, 220]);
      image.data.set([250, 250, 0], (10 * 60 + 20) * 3);
      const encoded = (await renderImage(image)).png;
      const result = { "<OD>": { bboxes: [[5, 5, 50, 30]], labels: ["car"] } };
      const fromPixels = await drawResult(image, "<OD>", result);
      const fromBytes = await drawResult(encoded, "<OD>", result);
      assert.ok(fromBytes.png.equals(fromPixels.png));
    });

    it("draws box edges where the boxes are and leaves the inside of a box untouched", async () => {
      const box = [40, 50, 160, 130];
      const { png } = await drawResult(plainImage(200, 150), "OD", { "<OD>": { bboxes: [box], labels: ["car"] } });
      const pixels = await decodePng(png);
      const [x1, y1, x2, y2] = box;
      for (let x = x1 + 5; x <= x2 - 5; x += 5) {
        assert.ok(!same(pixels.at(x, y1), BACKGROUND), `top edge at (${x}, ${y1})`);
        assert.ok(!same(pixels.at(x, y2), BACKGROUND), `bottom edge at (${x}, ${y2})`);
      }
      for (let y = y1 + 5; y <= y2 - 5; y += 5) {
        assert.ok(!same(pixels.at(x1, y), BACKGROUND), `left edge at (${x1}, ${y})`);
        assert.ok(!same(pixels.at(x2, y), BACKGROUND), `right edge at (${x2}, ${y})`);
      }
      const inside = { x1: x1 + 4, y1: y1 + 4, x2: x2 - 4, y2: y2 - 4 };
      assert.equal(countInRect(pixels, inside, (p) => !same(p, BACKGROUND)), 0, "pixels changed inside the box");
      assert.ok(same(pixels.at(10, 145), BACKGROUND), "far outside the box");
    });

    it("strokes boxes in the label's colour with the requested line width", async () => {
      const { png } = await drawResult(
        plainImage(200, 150),
        "<DENSE_REGION_CAPTION>",
        { "<DENSE_REGION_CAPTION>": { bboxes: [[40, 60, 160, 130]], labels: ["a red car"] } },
        { lineWidth: 4 },
      );
      const pixels = await decodePng(png);
      const color = hexToRgb(labelColor("a red car"));
      // A 4 px line centred on x = 40 covers x = 38..41 fully.
      for (const x of [38, 39, 40, 41]) assert.deepEqual(pixels.at(x, 100), color, `x = ${x}`);
      assert.deepEqual(pixels.at(37, 100), BACKGROUND);
      assert.deepEqual(pixels.at(42, 100), BACKGROUND);
    });

    it("fills polygons translucently inside and leaves the outside untouched", async () => {
      const triangle = [50, 20, 170, 20, 110, 140];
      const { png } = await drawResult(
        plainImage(200, 150),
        "<REFERRING_EXPRESSION_SEGMENTATION>",
        { "<REFERRING_EXPRESSION_SEGMENTATION>": { polygons: [[triangle]], labels: [""] } },
        { fillOpacity: 0.5 },
      );
      const pixels = await decodePng(png);
      const fill = hexToRgb(PALETTE[0]);
      const blended = BACKGROUND.map((b, i) => b * 0.5 + fill[i] * 0.5) as Rgb;
      for (const [x, y] of [[110, 50], [90, 40], [130, 40], [110, 100]]) {
        assert.ok(same(pixels.at(x, y), blended, 2), `inside (${x}, ${y}): ${pixels.at(x, y)} vs ${blended}`);
      }
      for (const [x, y] of [[20, 20], [60, 100], [160, 100], [110, 146], [190, 5]]) {
        assert.deepEqual(pixels.at(x, y), BACKGROUND, `outside (${x}, ${y})`);
      }
      assert.ok(!same(pixels.at(110, 20), BACKGROUND) && !same(pixels.at(110, 20), blended, 2), "outline on the top edge");
    });

    it("draws label text on a box filled with the label colour, in a contrasting colour", async () => {
      const { png } = await drawResult(plainImage(200, 150), "<OD>", {
        "<OD>": { bboxes: [[40, 60, 160, 130]], labels: ["person"] },
      });
      const pixels = await decodePng(png);
      const color = labelColor("person");
      const rect = rectOfColor(pixels, hexToRgb(color));
      assert.ok(rect, "no label box in the label colour");
      assert.ok(rect.y2 < 60 && rect.x1 >= 39 && rect.x1 <= 41, `label box above the box's top-left: ${JSON.stringify(rect)}`);
      const textPixels = countInRect(pixels, rect, (p) => same(p, hexToRgb(textColorOn(color)), 40));
      assert.ok(textPixels >= 15, `${textPixels} text-coloured pixels in the label box`);
    });

    it("keeps labels whole and inside the image for boxes at the edges", async () => {
      const label = "traffic light";
      const color = hexToRgb(labelColor(label));
      const draw = async (box: number[]) => {
        const { png } = await drawResult(plainImage(200, 150), "<OD>", { "<OD>": { bboxes: [box], labels: [label] } });
        const pixels = await decodePng(png);
        const rect = rectOfColor(pixels, color);
        assert.ok(rect, `no label drawn for box ${box}`);
        return { rect, text: countInRect(pixels, rect, (p) => !same(p, color, 60)) };
      };
      const middle = await draw([60, 60, 140, 120]);
      for (const box of [[170, 130, 200, 150], [0, 0, 30, 20], [185, 0, 200, 150], [-20, 140, 10, 160]]) {
        const edge = await draw(box);
        const { rect } = edge;
        assert.ok(rect.x1 >= 0 && rect.y1 >= 0 && rect.x2 < 200 && rect.y2 < 150, `inside for ${box}`);
        assert.equal(rect.x2 - rect.x1, middle.rect.x2 - middle.rect.x1, `label width for ${box}`);
        assert.equal(rect.y2 - rect.y1, middle.rect.y2 - middle.rect.y1, `label height for ${box}`);
        assert.ok(edge.text >= 0.8 * middle.text, `text pixels for ${box}: ${edge.text} vs ${middle.text}`);
      }
    });

    it("shortens a label wider than the image instead of drawing past its edge", async () => {
      const label = "a very long dense region caption that cannot fit on a small image at all";
      const { png } = await drawResult(plainImage(120, 80), "<DENSE_REGION_CAPTION>", {
        "<DENSE_REGION_CAPTION>": { bboxes: [[30, 40, 90, 70]], labels: [label] },
      });
      const rect = rectOfColor(await decodePng(png), hexToRgb(labelColor(label)));
      assert.ok(rect && rect.x1 >= 0 && rect.x2 <= 119 && rect.x2 - rect.x1 >= 100, `label box ${JSON.stringify(rect)}`);
    });

    it("gives a label the same colour in every call, whatever else is drawn", async () => {
      const first = await drawResult(plainImage(200, 150), "<OD>", {
        "<OD>": { bboxes: [[10, 40, 60, 90], [100, 40, 190, 140]], labels: ["dog", "cat"] },
      });
      const second = await drawResult(plainImage(200, 150), "<CAPTION_TO_PHRASE_GROUNDING>", {
        "<CAPTION_TO_PHRASE_GROUNDING>": { bboxes: [[120, 60, 190, 140]], labels: ["dog"] },
      });
      const dog = hexToRgb(labelColor("dog"));
      assert.ok(rectOfColor(await decodePng(first.png), dog), "dog's colour in the first drawing");
      assert.ok(rectOfColor(await decodePng(second.png), dog), "dog's colour in the second drawing");
      assert.equal(labelColor("dog"), labelColor("dog"));
      const common = ["car", "door", "wheel", "person", "dog", "cat", "tree", "building", "window", "sky", "road", "sign"];
      assert.ok(new Set(common.map(labelColor)).size >= 6, "labels spread over the palette");
    });

    it("outlines the input region of a region task, given in pixels or as loc tokens", async () => {
      const size = { width: 200, height: 150 };
      const bins = [150, 200, 850, 800];
      const region = {
        x1: dequantize(bins[0], size.width),
        y1: dequantize(bins[1], size.height),
        x2: dequantize(bins[2], size.width),
        y2: dequantize(bins[3], size.height),
      };
      const spec = taskOfKind("polygons", "region");
      const result = { [spec.token]: { polygons: [], labels: [] } };
      const inPixels = await drawResult(plainImage(200, 150), spec.token, result, { region });
      const asTokens = await drawResult(plainImage(200, 150), spec.token, result, {
        region: bins.map((b) => `<loc_${b}>`).join(""),
      });
      assert.ok(inPixels.png.equals(asTokens.png), "the same outline from pixels and from loc tokens");
      const pixels = await decodePng(inPixels.png);
      const y = Math.round(region.y1);
      const changedOnTop = countInRect(pixels, { x1: Math.ceil(region.x1), y1: y, x2: Math.floor(region.x2), y2: y }, (p) => !same(p, BACKGROUND));
      assert.ok(changedOnTop > 0.9 * (region.x2 - region.x1), `top edge of the region: ${changedOnTop} px changed`);
      const inside = { x1: Math.ceil(region.x1) + 4, y1: Math.ceil(region.y1) + 4, x2: Math.floor(region.x2) - 4, y2: Math.floor(region.y2) - 4 };
      assert.equal(countInRect(pixels, inside, (p) => !same(p, BACKGROUND)), 0, "inside the region");
    });

    it("draws the box of a region task's text answer, labelled with the answer", async () => {
      const spec = taskOfKind("pure_text", "region");
      const { png } = await drawResult(plainImage(200, 150), spec.token, {
        [spec.token]: "car<loc_100><loc_200><loc_600><loc_700>",
      }, { caption: false });
      const pixels = await decodePng(png);
      const x1 = Math.round(dequantize(100, 200));
      const y2 = Math.round(dequantize(700, 150));
      assert.ok(!same(pixels.at(x1, 80), BACKGROUND), "left edge of the answer's box");
      assert.ok(!same(pixels.at(80, y2), BACKGROUND), "bottom edge of the answer's box");
      assert.ok(rectOfColor(pixels, hexToRgb(labelColor("car"))), "label 'car'");
    });

    it("shows text answers in a caption band that wraps, away from the drawn shapes", async () => {
      const caption = "A green car parked in front of a yellow building with two brown doors and a tree.";
      const spec = taskOfKind("pure_text", "none");
      const { png } = await drawResult(plainImage(200, 150), spec.token, { [spec.token]: caption });
      const pixels = await decodePng(png);
      const darkRows = (rows: number[]) => rows.filter((y) => pixels.at(1, y).every((v, i) => v < BACKGROUND[i])).length;
      const bottomRows = Array.from({ length: 150 }, (_, y) => y).filter((y) => y >= 75);
      const bandHeight = darkRows(bottomRows);
      assert.ok(bandHeight >= 30, `a band of several lines at the bottom: ${bandHeight} rows`);
      assert.equal(darkRows(Array.from({ length: 40 }, (_, y) => y)), 0, "nothing at the top");
      const band = { x1: 0, y1: 150 - bandHeight, x2: 199, y2: 149 };
      assert.ok(countInRect(pixels, band, (p) => p.every((v) => v > 200)) > 50, "white text in the band");

      // A region answer near the bottom moves the band to the top.
      const region = taskOfKind("pure_text", "region");
      const low = await drawResult(plainImage(200, 150), region.token, {
        [region.token]: "a car<loc_100><loc_700><loc_900><loc_990>",
      });
      const lowPixels = await decodePng(low.png);
      assert.ok(lowPixels.at(1, 2).every((v, i) => v < BACKGROUND[i]), "band at the top");
    });

    it("draws every result kind of every task without error", async () => {
      const image = plainImage(200, 150);
      const plain = (await renderImage(image)).png;
      const kinds = new Set<ResultKind>();
      for (const spec of TASKS) {
        const options = spec.input === "region" ? { region: { x1: 10, y1: 10, x2: 150, y2: 120 } } : {};
        const { png } = await drawResult(image, spec.token, { [spec.token]: sampleResult(spec.resultKind) }, options);
        const pixels = await decodePng(png);
        assert.deepEqual([pixels.width, pixels.height], [200, 150], spec.token);
        assert.ok(!png.equals(plain), `${spec.token}: nothing drawn`);
        kinds.add(spec.resultKind);
      }
      assert.equal(kinds.size, 7, "all seven result kinds");
    });

    it("draws the reference's post-processing examples (../shared)", async function () {
      const file = path.join(SHARED, "florence2", "examples", "postprocess_examples.jsonl");
      if (!fs.existsSync(file)) {
        console.log(`      skipped: ${file} is not there (it lives beside the repo)`);
        this.skip();
      }
      const rows = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
      // One real result per task keeps this quick; the shapes, not the number of rows, are what is checked.
      const drawnTasks = new Set<string>();
      for (const row of rows) {
        const spec = TASKS.find((t) => t.token === row.task);
        if (!spec || !(row.task in row.expected) || drawnTasks.has(row.task)) continue;
        const [width, height] = row.image_size as [number, number];
        const { png } = await drawResult(plainImage(width, height), row.task, row.expected);
        assert.deepEqual(pngSize(png), [width, height], row.id);
        drawnTasks.add(row.task);
      }
      const missing = TASKS.filter((t) => t.inWalkthrough && !drawnTasks.has(t.token)).map((t) => t.token);
      assert.deepEqual(missing, [], "walkthrough tasks without an example");
    });

    it("scales line widths and font sizes with the image", async () => {
      const measure = async (scale: number) => {
        const { png } = await drawResult(plainImage(200 * scale, 150 * scale), "<OD>", {
          "<OD>": { bboxes: [[40 * scale, 60 * scale, 160 * scale, 130 * scale]], labels: ["car"] },
        });
        const pixels = await decodePng(png);
        const column = 100 * scale;
        let line = 0;
        for (let y = 90 * scale; y < 150 * scale; y++) if (!same(pixels.at(column, y), BACKGROUND)) line++;
        const rect = rectOfColor(pixels, hexToRgb(labelColor("car")));
        assert.ok(rect);
        return { line, labelHeight: rect.y2 - rect.y1 + 1 };
      };
      const small = await measure(1);
      const large = await measure(6);
      assert.ok(large.line >= 2 * small.line, `line ${small.line} px -> ${large.line} px`);
      assert.ok(large.labelHeight >= 2 * small.labelHeight, `label ${small.labelHeight} px -> ${large.labelHeight} px`);
    });

    it("rejects results, options and images that do not fit, naming what was expected", async () => {
      // The result's shape is checked by overlay.ts (test/overlay.test.ts); here, that drawResult passes its errors on.
      const image = plainImage(50, 40);
      await assert.rejects(drawResult(image, "<OD>", { "<CAPTION>": "a car" }), /keyed "<OD>" but the keys are \["<CAPTION>"\]/);
      await assert.rejects(drawResult(image, "<OD>", { "<OD>": "a car" }), /expected \{ bboxes, labels \}/);
      await assert.rejects(
        drawResult(image, "<OD>", { "<OD>": { bboxes: [], labels: [] } }, { region: { x1: 0, y1: 0, x2: 5, y2: 5 } }),
        /options\.region is the input of a region task/,
      );
      const region = taskOfKind("pure_text", "region").token;
      await assert.rejects(drawResult(image, region, { [region]: "car" }, { region: "<loc_1><loc_2>" }), /four loc tokens/);
      await assert.rejects(drawResult(image, "<OD>", { "<OD>": { bboxes: [], labels: [] } }, { lineWidth: -1 }), /options\.lineWidth but received -1/);
      await assert.rejects(drawResult(image, "<OD>", { "<OD>": { bboxes: [], labels: [] } }, { fillOpacity: 2 }), /options\.fillOpacity but received 2/);
      await assert.rejects(drawResult(image, "<od>", { "<od>": "x" }), /Unknown Florence-2 task "<od>"/);
      await assert.rejects(
        drawResult({ data: new Uint8Array(10), width: 50, height: 40 }, "<CAPTION>", { "<CAPTION>": "x" }),
        /drawResult: expected an RgbImage whose data is a Uint8Array of width \* height \* 3 = 6000 bytes .* but received 10 bytes/,
      );
      await assert.rejects(
        renderImage({ data: new Uint8Array(6000), width: 50.5, height: 40 }),
        /renderImage: expected an RgbImage with positive integer width and height but received 50\.5x40/,
      );
    });
  });

  describe("renderImage", () => {
    it("encodes the image's own pixels", async () => {
      const image = plainImage(7, 5, [10, 200, 30]);
      image.data.set([255, 0, 0], (2 * 7 + 3) * 3);
      const pixels = await decodePng((await renderImage(image)).png);
      assert.deepEqual(pixels.at(3, 2), [255, 0, 0]);
      assert.deepEqual(pixels.at(0, 0), [10, 200, 30]);
    });

    it("outlines a region on the image as drawResult outlines a region task's input, and nothing else", async () => {
      // Not grey: a 1 px white dash centred on a pixel edge blends with the black line under it into mid grey.
      const background: Rgb = [40, 120, 200];
      const image = plainImage(200, 150, background);
      const region = { x1: 40, y1: 30, x2: 160, y2: 120 };
      const spec = taskOfKind("polygons", "region");
      const withResult = await drawResult(image, spec.token, { [spec.token]: { polygons: [], labels: [] } }, { region });
      const outlined = await renderImage(image, { region });
      assert.ok(outlined.png.equals(withResult.png), "the same dashed outline as on a drawn result with no shapes");
      const pixels = await decodePng(outlined.png);
      const changedOnLeft = countInRect(pixels, { x1: 40, y1: 30, x2: 40, y2: 120 }, (p) => !same(p, background));
      assert.ok(changedOnLeft > 80, `left edge: ${changedOnLeft} px changed`);
      assert.equal(countInRect(pixels, { x1: 46, y1: 36, x2: 154, y2: 114 }, (p) => !same(p, background)), 0, "inside");
      assert.equal(countInRect(pixels, { x1: 0, y1: 0, x2: 30, y2: 20 }, (p) => !same(p, background)), 0, "outside");
      const asTokens = await renderImage(image, { region: "<loc_200><loc_200><loc_800><loc_800>" });
      assert.ok(!asTokens.png.equals((await renderImage(image)).png), "loc tokens are outlined too");
    });
  });
});
