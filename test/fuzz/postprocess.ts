/**
 * Fuzzing the post-processor (issue 7): random generated texts for every task must never throw, must give
 * the reference's result structure for the task, and finite float32 coordinates.
 *
 * Run the long fuzz: `npx tsx test/fuzz/postprocess.ts [count=100000] [seed=1]`. `test/postprocess-fuzz.test.ts`
 * runs a short seeded run of the same generator in `npm test`.
 */
import type { ImageSize } from "../../src/image/image";
import { postProcessGeneration, resultKindOf } from "../../src/text/postprocess";
import { ResultKind, TASKS } from "../../src/text/tasks";

/** sfc32: a small, fast, seedable PRNG, so a failing text can be reproduced from (seed, index). */
export function makeRng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

type Rng = () => number;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

const WORDS = [
  "car", "door", "wheel", "a green car", "turquoise Volkswagen Beetle", "CUDA", "FOR ENGINEERS", "the image", "it",
  "It", "I", "a", "an", "a group", "The image", "ça", "café", "日本語", "Ünïcödé", "x", "loc_4>car", "od>", "/od>",
  "sep>", "poly>", "b<", "A green car parked in front of a yellow building.",
];
const SPACES = [" ", "  ", "\t", "\u00a0", "\u3000", "\u2003", "\x1c", "\x85", "\ufeff"];
const NEWLINES = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\n\n"];
const UNICODE = ["é", "ß", "日本", "😀", "👍🏽", "\u0301", "Ω", "٣", "３", "\u200b", "\u00ad", "𝟘"];
const SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<unk>", "<poly>", "</poly>", "<sep>", "<od>", "</od>", "<box>", "<and>"];
const BROKEN_TOKENS = ["<", ">", "<loc_", "<loc_>", "loc_5>", "<loc_12", "<po", "ly>", "</", "s>", "<loc_-3>", "<loc_1.5>"];

/** The number inside a loc token: mostly in range, sometimes beyond 999, with leading zeros, huge or non-ASCII. */
function locNumber(rng: Rng): string {
  const r = rng();
  if (r < 0.85) return String(int(rng, 0, 999));
  if (r < 0.93) return String(int(rng, 1000, 99999));
  if (r < 0.96) return "0" + String(int(rng, 0, 99));
  if (r < 0.985) return pick(rng, ["٣", "３", "٠١", "𝟘𝟗", "१२३"]);
  if (r < 0.995) return String(2 ** 53 + int(rng, 0, 1000));
  return String(int(rng, 1, 9)) + "9".repeat(int(rng, 15, 30));
}

const loc = (rng: Rng): string => `<loc_${locNumber(rng)}>`;
const locs = (rng: Rng, n: number): string => Array.from({ length: n }, () => loc(rng)).join("");

/** Fragments shaped like real outputs, so the parsers' success paths are hit as often as their failures. */
function structuredPiece(rng: Rng): string {
  switch (int(rng, 0, 5)) {
    case 0: return pick(rng, WORDS) + locs(rng, pick(rng, [4, 4, 8, 5, 3, 7, 9, 12]));
    case 1: return pick(rng, WORDS) + locs(rng, 8);
    case 2: return `<poly>${locs(rng, int(rng, 1, 9))}${rng() < 0.5 ? "<sep>" + locs(rng, int(rng, 1, 7)) : ""}</poly>`;
    case 3: return locs(rng, int(rng, 1, 10)) + (rng() < 0.5 ? "<sep>" : "");
    case 4: return pick(rng, SPACES) + pick(rng, WORDS) + pick(rng, SPACES) + locs(rng, 4);
    default: return pick(rng, SPECIAL_TOKENS) + locs(rng, int(rng, 0, 6));
  }
}

function randomPiece(rng: Rng): string {
  const r = rng();
  if (r < 0.3) return structuredPiece(rng);
  if (r < 0.45) return loc(rng);
  if (r < 0.57) return pick(rng, SPECIAL_TOKENS);
  if (r < 0.7) return pick(rng, WORDS);
  if (r < 0.78) return pick(rng, SPACES);
  if (r < 0.84) return pick(rng, NEWLINES);
  if (r < 0.92) return pick(rng, UNICODE);
  return pick(rng, BROKEN_TOKENS);
}

/** A random "generated text": usually starting like a real decode (`</s><s>`), of 0 to ~40 pieces. */
export function randomGeneration(rng: Rng): string {
  const prefix = rng() < 0.6 ? pick(rng, ["</s><s>", "</s><s><s><s>", "<s>", ""]) : "";
  const suffix = rng() < 0.6 ? "</s>" : "";
  const count = int(rng, 0, rng() < 0.1 ? 120 : 40);
  let body = "";
  for (let i = 0; i < count; i++) body += randomPiece(rng);
  return prefix + body + suffix;
}

/** Pure-text tasks (and unknown ones, which fall back to pure text) are trivial to parse, so they get a fifth of the texts. */
const TEXT_TASKS: readonly string[] = [...TASKS.filter((t) => t.resultKind === "pure_text").map((t) => t.token), "<od>", "OD", "", "<UNKNOWN_TASK>"];
const SHAPE_TASKS: readonly string[] = TASKS.filter((t) => t.resultKind !== "pure_text").map((t) => t.token);
const IMAGE_SIZES: readonly ImageSize[] = [[640, 480], [403, 500], [1600, 1066], [1, 1], [0, 0], [768, 768], [333.5, 77.25]].map(
  ([width, height]) => ({ width, height }),
);

export function randomTask(rng: Rng): string {
  return pick(rng, rng() < 0.2 ? TEXT_TASKS : SHAPE_TASKS);
}

export function randomImageSize(rng: Rng): ImageSize {
  if (rng() < 0.8) return pick(rng, IMAGE_SIZES);
  const width = int(rng, 1, 10000);
  return { width, height: int(rng, 1, 10000) };
}

// ---------------------------------------------------------------------------------------------------------
// Structure checks: the reference's shape per result kind

const isString = (v: unknown): v is string => typeof v === "string";
const isFloat32 = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v) && Math.fround(v) === v;

function checkKeys(value: unknown, keys: readonly string[]): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "result is not an object";
  const actual = Object.keys(value);
  return actual.length === keys.length && keys.every((k, i) => actual[i] === k) ? undefined : `keys ${actual.join(",")} != ${keys.join(",")}`;
}

function checkLabels(labels: unknown, count: number, name: string): string | undefined {
  if (!Array.isArray(labels) || !labels.every(isString)) return `${name} is not a string array`;
  return labels.length === count ? undefined : `${name} has ${labels.length} entries for ${count} shapes`;
}

function checkFlatCoordinates(coords: unknown, length: number | "even", name: string): string | undefined {
  if (!Array.isArray(coords)) return `${name} is not an array`;
  if (length === "even" ? coords.length % 2 !== 0 : coords.length !== length) return `${name} has ${coords.length} numbers`;
  return coords.every(isFloat32) ? undefined : `${name} holds a non-finite or non-float32 number`;
}

function checkBoxes(boxes: unknown, length: 4 | 8, name: string): string | undefined {
  if (!Array.isArray(boxes)) return `${name} is not an array`;
  for (const box of boxes) {
    const problem = checkFlatCoordinates(box, length, `${name} entry`);
    if (problem) return problem;
  }
  return undefined;
}

function checkPolygons(instances: unknown, name: string): string | undefined {
  if (!Array.isArray(instances)) return `${name} is not an array`;
  for (const polygons of instances) {
    if (!Array.isArray(polygons) || polygons.length === 0) return `${name} instance is not a non-empty array of polygons`;
    for (const polygon of polygons) {
      const problem = checkFlatCoordinates(polygon, "even", `${name} polygon`);
      if (problem) return problem;
    }
  }
  return undefined;
}

type Shape = Record<string, unknown[]>;

const STRUCTURE_CHECKS: { [K in ResultKind]: (value: unknown) => string | undefined } = {
  pure_text: (v) => (isString(v) ? undefined : "pure text result is not a string"),
  ocr: (v) =>
    checkKeys(v, ["quad_boxes", "labels"]) ??
    checkBoxes((v as Shape).quad_boxes, 8, "quad_boxes") ??
    checkLabels((v as Shape).labels, (v as Shape).quad_boxes.length, "labels"),
  description_with_bboxes: (v) => checkBoxesResult(v),
  bboxes: (v) => checkBoxesResult(v) ?? ((v as Shape).labels.every((l) => l === "") ? undefined : "a region proposal has a label"),
  phrase_grounding: (v) => checkBoxesResult(v),
  polygons: (v) =>
    checkKeys(v, ["polygons", "labels"]) ??
    checkPolygons((v as Shape).polygons, "polygons") ??
    checkLabels((v as Shape).labels, (v as Shape).polygons.length, "labels"),
  description_with_bboxes_or_polygons: (v) =>
    checkKeys(v, ["bboxes", "bboxes_labels", "polygons", "polygons_labels"]) ??
    checkBoxes((v as Shape).bboxes, 4, "bboxes") ??
    checkLabels((v as Shape).bboxes_labels, (v as Shape).bboxes.length, "bboxes_labels") ??
    checkPolygons((v as Shape).polygons, "polygons") ??
    checkLabels((v as Shape).polygons_labels, (v as Shape).polygons.length, "polygons_labels") ??
    ((v as Shape).bboxes.length > 0 && (v as Shape).polygons.length > 0 ? "both boxes and polygons" : undefined),
};

function checkBoxesResult(v: unknown): string | undefined {
  return (
    checkKeys(v, ["bboxes", "labels"]) ??
    checkBoxes((v as Shape).bboxes, 4, "bboxes") ??
    checkLabels((v as Shape).labels, (v as Shape).bboxes.length, "labels")
  );
}

/** Undefined when `result` has the reference's structure for `task`, else what is wrong. */
export function checkStructure(result: unknown, task: string): string | undefined {
  const problem = checkKeys(result, [task]);
  if (problem) return `top level: ${problem}`;
  return STRUCTURE_CHECKS[resultKindOf(task)]((result as Record<string, unknown>)[task]);
}

// ---------------------------------------------------------------------------------------------------------
// The run

export interface FuzzFailure {
  index: number;
  task: string;
  imageSize: ImageSize;
  text: string;
  problem: string;
}

export interface FuzzSummary {
  seed: number;
  count: number;
  failureCount: number;
  /** The first 20 failures. */
  failures: FuzzFailure[];
  /** Texts per result kind, and how many of them gave a non-empty result (shapes or text). */
  perKind: Record<string, { texts: number; nonEmpty: number }>;
  milliseconds: number;
}

function isNonEmpty(value: unknown): boolean {
  if (isString(value)) return value.length > 0;
  return Object.values(value as Shape).some((list) => list.length > 0);
}

export function runPostprocessFuzz(count: number, seed: number): FuzzSummary {
  const rng = makeRng(seed);
  const summary: FuzzSummary = { seed, count, failureCount: 0, failures: [], perKind: {}, milliseconds: 0 };
  const start = performance.now();
  for (let index = 0; index < count; index++) {
    const text = randomGeneration(rng);
    const task = randomTask(rng);
    const imageSize = randomImageSize(rng);
    const kind = resultKindOf(task);
    const stats = (summary.perKind[kind] ??= { texts: 0, nonEmpty: 0 });
    stats.texts++;
    let problem: string | undefined;
    try {
      const result = postProcessGeneration(text, task, imageSize);
      problem = checkStructure(result, task);
      if (!problem && isNonEmpty(result[task])) stats.nonEmpty++;
    } catch (error) {
      problem = `threw ${(error as Error).stack ?? String(error)}`;
    }
    if (!problem) continue;
    summary.failureCount++;
    if (summary.failures.length < 20) summary.failures.push({ index, task, imageSize, text, problem });
  }
  summary.milliseconds = performance.now() - start;
  return summary;
}

function main(): void {
  const count = Number(process.argv[2] ?? 100_000);
  const seed = Number(process.argv[3] ?? 1);
  if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
    console.error("Usage: npx tsx test/fuzz/postprocess.ts [count=100000] [seed=1]");
    process.exit(2);
  }
  const summary = runPostprocessFuzz(count, seed);
  console.log(`post-processor fuzz: ${count} texts, seed ${seed}, ${(summary.milliseconds / 1000).toFixed(1)} s`);
  for (const [kind, stats] of Object.entries(summary.perKind)) {
    console.log(`  ${kind.padEnd(38)} ${String(stats.texts).padStart(7)} texts, ${String(stats.nonEmpty).padStart(7)} with a non-empty result`);
  }
  if (summary.failureCount === 0) {
    console.log("  no failures: never threw, structure always the reference's, coordinates finite float32");
    return;
  }
  console.log(`  ${summary.failureCount} FAILURES; the first ${summary.failures.length}:`);
  for (const f of summary.failures) console.log(JSON.stringify(f));
  process.exitCode = 1;
}

if (require.main === module) main();
