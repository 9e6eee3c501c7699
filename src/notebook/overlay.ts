/**
 * What to draw where for a task's result: outlines, filled polygons, labels, the input region and the caption text,
 * in pixels of the original image, with their colours. Pure geometry and colour choice, no canvas: draw.ts paints
 * an `Overlay` (and measures text), and the tests check overlays without pixels.
 *
 * What gets drawn follows the task's `resultKind` and `input` in `src/text/tasks.ts`, never its name. The walkthrough
 * drew with matplotlib patches and PIL's ImageDraw: labelled boxes, translucent polygons with outlines, OCR quads
 * with their text, and the input region of REGION_TO_* tasks; text answers go in a caption band.
 */
import { describeValue } from "../util/describe";
import { fnv1a } from "../util/hash";
import type {
  BoxesResult, OpenVocabularyResult, PolygonsResult, QuadBoxesResult, TaskResult,
} from "../text/postprocess";
import type { PixelBox } from "../text/prompts";
import { dequantizeCoordinates, locBinsIn, parseLocRegion, replaceLocTokens } from "../text/loc-bins";
import type { ImageSize } from "../image/rgb-image";
import { ResultKind, TaskSpec } from "../text/tasks";

/**
 * Distinct, saturated colours that stay visible on light and dark photos (the 20-colour set of Sasha
 * Trubetskoy without its pastels and its darkest shades).
 */
export const PALETTE: readonly string[] = [
  "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4",
  "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324", "#808000",
];

/** A rectangle in image pixels, x1 <= x2 and y1 <= y2. */
export type Bounds = PixelBox;

/** Everything drawn for one result, in image pixels, in the order it is painted. */
export interface Overlay {
  /** The user's input region (region tasks), drawn dashed under everything else. */
  regions: Bounds[];
  /** Flat `[x, y, ...]` outlines of at least two points; filled ones are translucent. */
  polygons: { points: readonly number[]; color: string; filled: boolean }[];
  boxes: { bounds: Bounds; color: string }[];
  /** Each label sits on the top-left of its anchor (above it when there is room). */
  labels: { text: string; color: string; anchor: Bounds }[];
  /** Text answer shown in the caption band; "" for none. */
  caption: string;
}

/** The colour of a label: a hash of the text into `PALETTE`, the same in every call and process. */
export function labelColor(label: string): string {
  return PALETTE[fnv1a(label) % PALETTE.length];
}

/** Black or white, whichever contrasts more with `color` (`#rrggbb`), by WCAG relative luminance. */
export function textColorOn(color: string): string {
  const [r, g, b] = parseHexColor(color).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const contrastWithWhite = 1.05 / (luminance + 0.05);
  const contrastWithBlack = (luminance + 0.05) / 0.05;
  return contrastWithBlack >= contrastWithWhite ? "#000000" : "#ffffff";
}

/**
 * The overlay of a task's result (the value under its token, see `resultEntry`) on an image of `size`; `region` is
 * a region task's input, outlined too. Errors say what the result should have looked like.
 */
export function resultOverlay(spec: TaskSpec, entry: TaskResult, size: ImageSize, region?: PixelBox | string): Overlay {
  const overlay = regionOverlay(region, size);
  const kind: ResultKind = spec.resultKind;
  switch (kind) {
    case "pure_text":
      addText(overlay, expectText(spec, entry), spec.input === "region", size);
      break;
    case "ocr": {
      const ocr = expectShape<QuadBoxesResult>(spec, entry, ["quad_boxes", "labels"]);
      addQuads(overlay, spec, ocr.quad_boxes, ocr.labels);
      break;
    }
    case "description_with_bboxes":
    case "bboxes":
    case "phrase_grounding": {
      const boxes = expectShape<BoxesResult>(spec, entry, ["bboxes", "labels"]);
      addBoxes(overlay, spec, boxes.bboxes, boxes.labels);
      break;
    }
    case "polygons": {
      const polygons = expectShape<PolygonsResult>(spec, entry, ["polygons", "labels"]);
      addPolygons(overlay, spec, polygons.polygons, polygons.labels);
      break;
    }
    case "description_with_bboxes_or_polygons": {
      const both = expectShape<OpenVocabularyResult>(spec, entry, [
        "bboxes", "bboxes_labels", "polygons", "polygons_labels",
      ]);
      addPolygons(overlay, spec, both.polygons, both.polygons_labels);
      addBoxes(overlay, spec, both.bboxes, both.bboxes_labels);
      break;
    }
    default: {
      const unhandled: never = kind;
      throw new Error(`drawResult has no drawing for result kind ${String(unhandled)}`);
    }
  }
  return overlay;
}

/** An overlay holding only `region` (none when undefined): a pixel box, or four loc tokens as a region task takes them. */
export function regionOverlay(region: PixelBox | string | undefined, size: ImageSize): Overlay {
  return { regions: region === undefined ? [] : [regionBounds(region, size)], polygons: [], boxes: [], labels: [], caption: "" };
}

/**
 * Whether a caption band `bandHeight` pixels high goes at the top of the image rather than the bottom: where it
 * covers less of the drawn shapes (the bottom on a tie).
 */
export function captionAtTop(overlay: Overlay, size: ImageSize, bandHeight: number): boolean {
  const shapes = [
    ...overlay.boxes.map((b) => b.bounds),
    ...overlay.regions,
    ...overlay.polygons.map((p) => pointsBounds(p.points)),
  ];
  const covered = (band: Bounds) => shapes.reduce((sum, s) => sum + overlapArea(s, band), 0);
  const bottom = covered({ x1: 0, y1: size.height - bandHeight, x2: size.width, y2: size.height });
  const top = covered({ x1: 0, y1: 0, x2: size.width, y2: bandHeight });
  return top < bottom;
}

/**
 * A task's result from the object `model.run(...).result` and `postProcessGeneration` give, keyed by the task
 * token; the error says what was passed instead (another task's result, the whole RunOutput).
 */
export function resultEntry(spec: TaskSpec, result: Readonly<Record<string, TaskResult>>): TaskResult {
  if (result === null || typeof result !== "object") {
    throw new TypeError(
      `Expected the result object of ${spec.token} for drawResult but received ${describeValue(result)}: ` +
        "pass model.run(...).result or what postProcessGeneration returned.",
    );
  }
  if (Object.prototype.hasOwnProperty.call(result, spec.token)) return result[spec.token];
  const nested = (result as { result?: unknown }).result;
  const hint =
    nested !== null && typeof nested === "object" && spec.token in nested
      ? " This looks like the whole RunOutput: pass its .result."
      : " Pass the result of the same task you draw.";
  throw new Error(
    `drawResult for ${spec.token} expected a result keyed "${spec.token}" but the keys are ` +
      `[${Object.keys(result).map((k) => JSON.stringify(k)).join(", ")}].${hint}`,
  );
}

/**
 * Text answers go in the caption band without their loc tokens. Region tasks answer with the text followed
 * by the region's loc tokens (`"car<loc_52><loc_332><loc_932><loc_774>"`), so that box is drawn too,
 * labelled with the answer. The tokens are read as post-processing reads generated text (loc-bins.ts).
 */
// ---------------------------------------------------------------------------------------------------------
// Result -> shapes

function addText(overlay: Overlay, text: string, isRegionTask: boolean, size: ImageSize): void {
  const answer = replaceLocTokens(text, " ").replace(/\s+/g, " ").trim();
  overlay.caption = answer;
  if (!isRegionTask) return;
  const bins = locBinsIn(text);
  for (let i = 0; i + 4 <= bins.length; i += 4) {
    const bounds = binsToBounds(bins.slice(i, i + 4), size);
    const color = colorFor(answer, overlay.boxes.length);
    overlay.boxes.push({ bounds, color });
    if (answer) overlay.labels.push({ text: answer, color, anchor: bounds });
  }
}

function addBoxes(overlay: Overlay, spec: TaskSpec, bboxes: readonly (readonly number[])[], labels: readonly string[]): void {
  expectParallel(spec, "bboxes", bboxes, labels);
  bboxes.forEach((box, i) => {
    const [x1, y1, x2, y2] = expectCoordinates(spec, `bboxes[${i}]`, box, 4);
    const bounds = orderedBounds(x1, y1, x2, y2);
    const color = colorFor(labels[i], i);
    overlay.boxes.push({ bounds, color });
    if (labels[i].trim()) overlay.labels.push({ text: labels[i], color, anchor: bounds });
  });
}

function addQuads(overlay: Overlay, spec: TaskSpec, quads: readonly (readonly number[])[], labels: readonly string[]): void {
  expectParallel(spec, "quad_boxes", quads, labels);
  quads.forEach((quad, i) => {
    const points = expectCoordinates(spec, `quad_boxes[${i}]`, quad, 8);
    const color = colorFor(labels[i], i);
    overlay.polygons.push({ points, color, filled: false });
    if (labels[i].trim()) overlay.labels.push({ text: labels[i], color, anchor: pointsBounds(points) });
  });
}

function addPolygons(
  overlay: Overlay,
  spec: TaskSpec,
  instances: readonly (readonly (readonly number[])[])[],
  labels: readonly string[],
): void {
  expectParallel(spec, "polygons", instances, labels);
  instances.forEach((polygons, i) => {
    if (!Array.isArray(polygons)) {
      throw new TypeError(
        `drawResult for ${spec.token}: expected polygons[${i}] to be a list of flat [x, y, ...] polygons but received ${describeValue(polygons)}`,
      );
    }
    const color = colorFor(labels[i], i);
    // The reference keeps empty and one-point polygons (a truncated generation); they have nothing to draw.
    const drawable = polygons
      .map((p, j) => expectCoordinates(spec, `polygons[${i}][${j}]`, p, "even"))
      .filter((points) => points.length >= 4);
    for (const points of drawable) overlay.polygons.push({ points, color, filled: true });
    if (labels[i].trim() && drawable.length > 0) {
      overlay.labels.push({ text: labels[i], color, anchor: pointsBounds(drawable.flat()) });
    }
  });
}

/** Labelled shapes take their label's colour; unlabelled ones (region proposals, masks) one colour each. */
function colorFor(label: string, index: number): string {
  return label.trim() ? labelColor(label) : PALETTE[index % PALETTE.length];
}

/** A region task's input: a pixel box (corners in any order), or the four loc tokens the task accepts. */
function regionBounds(region: PixelBox | string, size: ImageSize): Bounds {
  if (typeof region === "string") {
    const bins = parseLocRegion(region);
    if (!bins) {
      throw new Error(
        `Expected options.region to be four loc tokens like "<loc_52><loc_332><loc_932><loc_774>" (each 0..999, as a ` +
          `region task takes them) or a pixel box { x1, y1, x2, y2 } but received ${describeValue(region)}`,
      );
    }
    return binsToBounds(bins, size);
  }
  const values = region && typeof region === "object" ? [region.x1, region.y1, region.x2, region.y2] : [];
  if (values.length !== 4 || !values.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw new TypeError(
      `Expected options.region to be a pixel box { x1, y1, x2, y2 } of finite numbers or loc tokens but received ${describeValue(region)}`,
    );
  }
  const [x1, y1, x2, y2] = values;
  return orderedBounds(x1, y1, x2, y2);
}

/** Loc bins -> pixels at the bin centres, the way post-processing turns them into boxes. */
function binsToBounds(bins: readonly number[], size: ImageSize): Bounds {
  const [x1, y1, x2, y2] = dequantizeCoordinates(bins, size);
  return { x1, y1, x2, y2 };
}

function orderedBounds(x1: number, y1: number, x2: number, y2: number): Bounds {
  return { x1: Math.min(x1, x2), y1: Math.min(y1, y2), x2: Math.max(x1, x2), y2: Math.max(y1, y2) };
}

function pointsBounds(points: readonly number[]): Bounds {
  const xs = points.filter((_, i) => i % 2 === 0);
  const ys = points.filter((_, i) => i % 2 === 1);
  return { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) };
}

function overlapArea(a: Bounds, b: Bounds): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Result shape checks (drawResult takes results from user code, not only from model.run)

function expectText(spec: TaskSpec, entry: TaskResult): string {
  if (typeof entry !== "string") {
    throw new TypeError(`drawResult for ${spec.token} (${spec.resultKind}) expected a string result but received ${describeValue(entry)}`);
  }
  return entry;
}

function expectShape<T>(spec: TaskSpec, entry: TaskResult, fields: readonly string[]): T {
  const record = entry as unknown as Record<string, unknown>;
  const missing =
    entry === null || typeof entry !== "object" ? fields : fields.filter((f) => !Array.isArray(record[f]));
  if (missing.length > 0) {
    throw new TypeError(
      `drawResult for ${spec.token} (${spec.resultKind}) expected { ${fields.join(", ")} } with list values ` +
        `but received ${describeValue(entry)}${typeof entry === "object" && entry !== null ? ` (no list in ${missing.join(", ")})` : ""}`,
    );
  }
  return entry as unknown as T;
}

function expectParallel(spec: TaskSpec, name: string, items: readonly unknown[], labels: readonly unknown[]): void {
  if (items.length !== labels.length || !labels.every((l) => typeof l === "string")) {
    throw new TypeError(
      `drawResult for ${spec.token}: expected one string label per entry of ${name} (${items.length}) but received ` +
        `${labels.length} labels${labels.every((l) => typeof l === "string") ? "" : " with non-strings among them"}`,
    );
  }
}

function expectCoordinates(spec: TaskSpec, name: string, value: unknown, count: number | "even"): number[] {
  const ok =
    Array.isArray(value) &&
    (count === "even" ? value.length % 2 === 0 : value.length === count) &&
    value.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!ok) {
    const expected = count === "even" ? "an even number of" : `${count}`;
    throw new TypeError(
      `drawResult for ${spec.token}: expected ${name} to be ${expected} finite pixel coordinates but received ${describeValue(value)}`,
    );
  }
  return value as number[];
}

// ---------------------------------------------------------------------------------------------------------
// Colour helpers

function parseHexColor(color: string): [number, number, number] {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!match) throw new Error(`Expected a colour like "#e6194b" but received ${describeValue(color)}`);
  return [parseInt(match[1], 16), parseInt(match[2], 16), parseInt(match[3], 16)];
}
