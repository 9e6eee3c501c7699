/**
 * Every task end to end: image -> preprocessing -> the four sessions -> greedy and 3-beam generation with the
 * KV cache -> decoding -> post-processing, on stand-ins whose decoder is scripted to emit a typical output of
 * the task. The stand-ins have random weights: only the scripted argmax is meaningful.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { Florence2 } from "../src/florence2";
import { postProcessGeneration } from "../src/text/postprocess";
import type { PixelBox } from "../src/text/prompts";
import { TASKS, getTask } from "../src/text/tasks";
import { Florence2Tokenizer } from "../src/text/tokenizer";
import { writeStandInModel } from "./support/standin";

const WIDTH = 320;
const HEIGHT = 240;
const BOX: PixelBox = { x1: 33, y1: 80, x2: 298, y2: 186 };
const loc = (...bins: number[]) => bins.map((b) => `<loc_${b}>`).join("");

interface Case {
  task: string;
  input?: string | PixelBox;
  /** The generated text between `</s><s>` and `</s>`. */
  output: string;
}

/** A typical output per task (shapes as in the reference's real outputs). */
const CASES: Case[] = [
  { task: "<CAPTION>", output: "A green car parked in front of a yellow building." },
  {
    task: "<DETAILED_CAPTION>",
    output: "The image shows a blue Volkswagen Beetle parked in front of a yellow building with two brown doors, surrounded by trees and a clear blue sky.",
  },
  {
    task: "<MORE_DETAILED_CAPTION>",
    output:
      "The image shows a vintage Volkswagen Beetle car parked on a cobblestone street in front of a yellow building with two wooden doors. " +
      "The car is painted in a bright turquoise color and has a sleek design with a white stripe.\nAbove the doors, green trees grow.",
  },
  { task: "<OD>", output: `car${loc(52, 332, 932, 774)}door${loc(709, 200, 907, 545)}wheel${loc(702, 575, 866, 771)}${loc(142, 583, 309, 771)}` },
  {
    task: "<DENSE_REGION_CAPTION>",
    output: `turquoise Volkswagen Beetle${loc(52, 332, 932, 774)}wooden double doors with metal handles${loc(709, 201, 906, 545)}wheel${loc(702, 575, 866, 772)}`,
  },
  { task: "<REGION_PROPOSAL>", output: `${loc(52, 332, 932, 774)}${loc(709, 200, 907, 545)}${loc(702, 575, 866, 771)}${loc(142, 583, 309, 770)}` },
  {
    task: "<CAPTION_TO_PHRASE_GROUNDING>",
    input: "A green car parked in front of a yellow building.",
    output: `A green car${loc(53, 331, 909, 780)}a yellow building${loc(2, 8, 998, 635)}`,
  },
  { task: "<OPEN_VOCABULARY_DETECTION>", input: "a green car", output: `a green car${loc(53, 330, 909, 779)}` },
  {
    task: "<OPEN_VOCABULARY_DETECTION>",
    input: "a green car",
    output: `a green car<poly>${loc(53, 330, 909, 331, 905, 779, 60, 770)}</poly>`,
  },
  {
    task: "<REFERRING_EXPRESSION_SEGMENTATION>",
    input: "a green car",
    output: `${loc(282, 376, 285, 377, 293, 370, 296, 371, 301, 366)}<sep>${loc(600, 610, 640, 615, 650, 700)}`,
  },
  {
    task: "<REGION_TO_SEGMENTATION>",
    input: BOX,
    output: `<poly>${loc(732, 600, 738, 594, 743, 590, 746, 588)}</poly><poly>${loc(100, 110, 120, 130, 140, 150)}<sep>${loc(10, 20, 30, 40, 50, 60)}</poly>`,
  },
  { task: "<REGION_TO_CATEGORY>", input: loc(52, 332, 932, 774), output: `car${loc(52, 332, 932, 774)}` },
  { task: "<REGION_TO_DESCRIPTION>", input: BOX, output: `turquoise Volkswagen Beetle${loc(103, 333, 931, 775)}` },
  { task: "<OCR>", output: "CUDAFOR ENGINEERSAn Introduction to High-PerformanceParallel ComputingDUANE STORTIMETE YURTOGLU" },
  {
    task: "<OCR_WITH_REGION>",
    output:
      `CUDA${loc(414, 100, 932, 101, 931, 229, 415, 228)}FOR ENGINEERS${loc(359, 241, 932, 242, 930, 298, 360, 297)}` +
      `An Introduction${loc(200, 310, 800, 311, 799, 350, 201, 349)}`,
  },
  { task: "<REGION_TO_OCR>", input: loc(414, 100, 932, 229), output: "CUDA" },
];

/** The prompt the reference builds, written out from the task table and the reference's floor quantizer (`BoxQuantizer.quantize`). */
function expectedPrompt(c: Case): string {
  const spec = getTask(c.task);
  if (c.input === undefined) return spec.prompt;
  const input =
    typeof c.input === "string"
      ? c.input
      : loc(
          Math.min(999, Math.floor(c.input.x1 / (WIDTH / 1000))),
          Math.min(999, Math.floor(c.input.y1 / (HEIGHT / 1000))),
          Math.min(999, Math.floor(c.input.x2 / (WIDTH / 1000))),
          Math.min(999, Math.floor(c.input.y2 / (HEIGHT / 1000))),
        );
  return spec.prompt.replace("{input}", input);
}

function trigrams(ids: readonly number[]): string[] {
  return ids.slice(0, -2).map((_, i) => ids.slice(i, i + 3).join(","));
}

describe("tasks end to end on scripted stand-ins (random weights)", function () {
  let root: string;
  let image: Buffer;
  const models: Florence2[] = [];
  const scripts: number[][] = [];

  before(async function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-e2e-"));
    image = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: { r: 90, g: 160, b: 200 } } }).png().toBuffer();
    const plain = await writeStandInModel(path.join(root, "plain"), { tokenizer: "auto" });
    const tokenizer = Florence2Tokenizer.fromFolder(plain.folder);
    for (const [i, c] of CASES.entries()) {
      const script = tokenizer.encode(c.output);
      // The n-gram ban (size 3) would block a repeated 3-gram of the script: keep the cases free of them.
      const grams = trigrams([2, ...script]);
      assert.equal(new Set(grams).size, grams.length, `${c.task}: the scripted output repeats a 3-gram`);
      scripts.push(script);
      const folder = path.join(root, `case-${i}`);
      await writeStandInModel(folder, { script, tokenizer: plain.tokenizer, seed: i + 1 });
      models.push(await Florence2.load(folder, { intraOpNumThreads: 1 }));
    }
  });
  after(async () => {
    for (const m of models) await m.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("covers all 15 tasks of the task table", () => {
    assert.deepEqual(new Set(CASES.map((c) => c.task)), new Set(TASKS.map((t) => t.token)));
  });

  for (const [i, c] of CASES.entries()) {
    const label = `${c.task}${c.input === undefined ? "" : ` with ${typeof c.input === "string" ? JSON.stringify(c.input) : "a pixel box"}`}`;
    it(`${label}: greedy and 3 beams give the scripted ids and their post-processed result`, async () => {
      const model = models[i];
      const prompts: string[] = [];
      const encode = model.tokenizer.encode.bind(model.tokenizer);
      model.tokenizer.encode = (text: string) => {
        prompts.push(text);
        return encode(text);
      };
      try {
        for (const numBeams of [1, 3]) {
          const out = await model.run(image, c.task, c.input, { numBeams });
          assert.deepEqual(out.ids, [2, ...scripts[i]], `numBeams ${numBeams}`);
          assert.equal(out.text, model.tokenizer.decode(out.ids));
          assert.equal(out.text, `</s><s>${c.output}</s>`);
          assert.deepEqual(out.result, postProcessGeneration(out.text, c.task, { width: WIDTH, height: HEIGHT }));
          // Beam search may go on after the best hypothesis ends, until numBeams hypotheses have ended.
          if (numBeams === 1) assert.equal(out.timings.decoderSteps, scripts[i].length);
          else assert.ok(out.timings.decoderSteps >= scripts[i].length);
          if (process.env.E2E_TIMINGS) console.log(c.task, numBeams, JSON.stringify(out.timings));
        }
      } finally {
        model.tokenizer.encode = encode;
      }
      assert.deepEqual(prompts, [expectedPrompt(c), expectedPrompt(c)]);
    });
  }

  it("parses into the structures the task kinds promise", async () => {
    const od = await models[CASES.findIndex((c) => c.task === "<OD>")].run(image, "<OD>", undefined, { numBeams: 1 });
    assert.deepEqual((od.result["<OD>"] as { labels: string[] }).labels, ["car", "door", "wheel", "wheel"]);
    const seg = CASES.findIndex((c) => c.task === "<REGION_TO_SEGMENTATION>");
    const polygons = (await models[seg].run(image, "<REGION_TO_SEGMENTATION>", BOX, { numBeams: 1 })).result["<REGION_TO_SEGMENTATION>"] as {
      polygons: number[][][];
    };
    assert.deepEqual(polygons.polygons.map((instance) => instance.map((p) => p.length)), [[8], [6, 6]]);
    const ocr = CASES.findIndex((c) => c.task === "<OCR_WITH_REGION>");
    const quads = (await models[ocr].run(image, "<OCR_WITH_REGION>", undefined, { numBeams: 1 })).result["<OCR_WITH_REGION>"] as {
      quad_boxes: number[][];
    };
    assert.equal(quads.quad_boxes.length, 3);
  });
});
