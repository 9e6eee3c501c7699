/**
 * Florence-2 results painted on the original image with node-canvas: overlay.ts decides what goes where (boxes,
 * polygons, labels, the input region, the caption text); this file paints it, placing labels and wrapping the
 * caption by measured text, and encodes the PNG.
 *
 * Results are in original-image pixels, so the canvas has the image's own size and the PNG is exactly as large as
 * the image.
 */
import { Canvas, CanvasRenderingContext2D, createCanvas } from "canvas";
import { describeValue } from "../util/describe";
import { readRgbImage, sizeOf, type ImageInput, type ImageSize, type RgbImage } from "../image/image";
import { Bounds, Overlay, captionAtTop, regionOverlay, resultEntry, resultOverlay, textColorOn } from "./overlay";
import type { TaskResult } from "../text/postprocess";
import type { PixelBox } from "../text/prompts";
import { TASKS, TaskSpec, getTask } from "../text/tasks";

export interface DrawOptions {
  /**
   * The region given to a REGION_TO_* task, in pixels or as its `<loc_..>` tokens; drawn as a dashed outline.
   * Only for tasks whose input is a region.
   */
  region?: PixelBox | string;
  /** Outline width in pixels; default scales with the image (about 1/300 of its geometric mean side). */
  lineWidth?: number;
  /** Label font size in pixels; default scales with the image (about 1/48 of its geometric mean side, at least 10). */
  fontSize?: number;
  /** Opacity of polygon fills, 0 to 1; default 0.35. */
  fillOpacity?: number;
  /** Whether text answers (captions, OCR text) are drawn in a caption band; default true. */
  caption?: boolean;
}

export interface Drawing {
  /** The drawing as PNG, the image's width and height. */
  png: Buffer;
  /** The canvas, to draw more on it or encode it differently. */
  canvas: Canvas;
}

/** DejaVu ships with Debian (fonts-dejavu-core); fontconfig falls back to any sans font where it is missing. */
const FONT_FAMILY = '"DejaVu Sans", sans-serif';
const DEFAULT_FILL_OPACITY = 0.35;
/** The caption band covers at most this share of the image height; longer text ends with an ellipsis. */
const MAX_CAPTION_SHARE = 0.5;
const ELLIPSIS = "…";

/**
 * Draws a task's result on the image it was computed for.
 *
 *   const out = await model.run("car.jpg", "<OD>");
 *   const { png } = await drawResult("car.jpg", "<OD>", out.result);
 *
 * `task` is a task token or name (`"<OD>"` or `"OD"`); `result` is what `model.run(...).result` or
 * `postProcessGeneration` returned, keyed by the task token.
 */
export async function drawResult(
  image: ImageInput | RgbImage,
  task: string,
  result: Readonly<Record<string, TaskResult>>,
  options: DrawOptions = {},
): Promise<Drawing> {
  const spec = getTask(task);
  const entry = resultEntry(spec, result);
  checkDrawOptions(spec, options);
  const rgb = await readRgbImage(image, "drawResult");
  const overlay = resultOverlay(spec, entry, sizeOf(rgb), options.region);
  const canvas = canvasWithImage(rgb);
  paintOverlay(canvas.getContext("2d"), overlay, styleFor(rgb, options), options.caption !== false);
  return { png: await encodePng(canvas), canvas };
}

/** What `renderImage` may draw on the image. */
export interface RenderOptions {
  /** A region to outline (dashed, as region tasks' inputs are drawn), in pixels or as its `<loc_..>` tokens. */
  region?: PixelBox | string;
}

/** The image as PNG (for showing the input before a task runs), with a region task's input outlined if given. */
export async function renderImage(image: ImageInput | RgbImage, options: RenderOptions = {}): Promise<Drawing> {
  const rgb = await readRgbImage(image, "renderImage");
  const canvas = canvasWithImage(rgb);
  if (options.region !== undefined) {
    paintOverlay(canvas.getContext("2d"), regionOverlay(options.region, sizeOf(rgb)), styleFor(rgb, {}), false);
  }
  return { png: await encodePng(canvas), canvas };
}

function checkDrawOptions(spec: TaskSpec, options: DrawOptions): void {
  if (options.region !== undefined && spec.input !== "region") {
    const regionTasks = TASKS.filter((t) => t.input === "region").map((t) => t.token);
    throw new Error(
      `drawResult: options.region is the input of a region task (${regionTasks.join(", ")}), but ${spec.token} ` +
        "takes no region. Leave region out for this task.",
    );
  }
  for (const name of ["lineWidth", "fontSize"] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === "number" && Number.isFinite(value) && value > 0)) {
      throw new RangeError(`Expected a positive number of pixels for options.${name} but received ${describeValue(value)}`);
    }
  }
  const opacity = options.fillOpacity;
  if (opacity !== undefined && !(typeof opacity === "number" && opacity >= 0 && opacity <= 1)) {
    throw new RangeError(`Expected a number from 0 to 1 for options.fillOpacity but received ${describeValue(opacity)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Painting

interface Style {
  lineWidth: number;
  fontSize: number;
  /** Space between a label's text and the edge of its filled box. */
  padding: number;
  fillOpacity: number;
}

function styleFor(size: ImageSize, options: DrawOptions): Style {
  // The geometric mean side keeps wide and tall images alike: 1600x1066 gives 4 px lines and 27 px text.
  const side = Math.sqrt(size.width * size.height);
  const fontSize = options.fontSize ?? Math.max(10, Math.round(side / 48));
  return {
    lineWidth: options.lineWidth ?? Math.max(1, Math.round(side / 300)),
    fontSize,
    padding: Math.max(2, Math.round(fontSize / 4)),
    fillOpacity: options.fillOpacity ?? DEFAULT_FILL_OPACITY,
  };
}

function canvasWithImage(image: RgbImage): Canvas {
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext("2d");
  const imageData = ctx.createImageData(image.width, image.height);
  const rgba = imageData.data; // [height * width * 4]
  const rgb = image.data; // [height * width * 3]
  for (let src = 0, dst = 0; src < rgb.length; src += 3, dst += 4) {
    rgba[dst] = rgb[src];
    rgba[dst + 1] = rgb[src + 1];
    rgba[dst + 2] = rgb[src + 2];
    rgba[dst + 3] = 255;
  }
  ctx.putImageData(imageData, 0, 0);
  return canvas;
}

function paintOverlay(ctx: CanvasRenderingContext2D, overlay: Overlay, style: Style, showCaption: boolean): void {
  ctx.lineJoin = "round";
  // The input region goes under the answer, which often repeats it exactly: black-edged answer outline.
  for (const region of overlay.regions) paintRegion(ctx, region, style);
  ctx.lineWidth = style.lineWidth;
  for (const polygon of overlay.polygons.filter((p) => p.filled)) {
    tracePolygon(ctx, polygon.points);
    ctx.globalAlpha = style.fillOpacity;
    ctx.fillStyle = polygon.color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }
  for (const polygon of overlay.polygons) {
    tracePolygon(ctx, polygon.points);
    ctx.strokeStyle = polygon.color;
    ctx.stroke();
  }
  for (const box of overlay.boxes) {
    ctx.strokeStyle = box.color;
    ctx.strokeRect(box.bounds.x1, box.bounds.y1, box.bounds.x2 - box.bounds.x1, box.bounds.y2 - box.bounds.y1);
  }
  // Labels last among the shapes so no outline crosses their text.
  for (const label of overlay.labels) paintLabel(ctx, label, style);
  if (showCaption && overlay.caption) paintCaption(ctx, overlay, style);
}

function tracePolygon(ctx: CanvasRenderingContext2D, points: readonly number[]): void {
  ctx.beginPath();
  ctx.moveTo(points[0], points[1]);
  for (let i = 2; i + 1 < points.length; i += 2) ctx.lineTo(points[i], points[i + 1]);
  ctx.closePath();
}

/** A black line under white dashes: visible on any background, and unlike the result colours. */
function paintRegion(ctx: CanvasRenderingContext2D, region: Bounds, style: Style): void {
  const { x1, y1, x2, y2 } = region;
  ctx.save();
  ctx.lineWidth = style.lineWidth + 2;
  ctx.strokeStyle = "#000000";
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  ctx.lineWidth = style.lineWidth;
  ctx.strokeStyle = "#ffffff";
  ctx.setLineDash([style.lineWidth * 4, style.lineWidth * 3]);
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  ctx.restore();
}

function labelFont(style: Style): string {
  return `bold ${style.fontSize}px ${FONT_FAMILY}`;
}

/**
 * Text on a box filled with the label colour, above the anchor's top-left corner, or inside it when the
 * anchor touches the top of the image; always entirely inside the image (shifted, and the text shortened
 * with an ellipsis when it is wider than the image).
 */
function paintLabel(ctx: CanvasRenderingContext2D, label: { text: string; color: string; anchor: Bounds }, style: Style): void {
  const { width, height } = ctx.canvas;
  ctx.font = labelFont(style);
  const text = fitText(ctx, label.text, width - 2 * style.padding);
  const boxWidth = Math.min(width, Math.ceil(ctx.measureText(text).width) + 2 * style.padding);
  const boxHeight = Math.min(height, Math.ceil(style.fontSize * 1.2) + 2 * style.padding);
  const left = Math.floor(label.anchor.x1 - style.lineWidth / 2);
  const above = Math.floor(label.anchor.y1 - style.lineWidth / 2) - boxHeight;
  const top = above >= 0 ? above : Math.ceil(label.anchor.y1 + style.lineWidth / 2);
  const x = clamp(left, 0, width - boxWidth);
  const y = clamp(top, 0, height - boxHeight);
  ctx.fillStyle = label.color;
  ctx.fillRect(x, y, boxWidth, boxHeight);
  ctx.fillStyle = textColorOn(label.color);
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  ctx.fillText(text, x + style.padding, y + boxHeight / 2);
}

/**
 * The text answer, wrapped to the image width, white on a dark translucent band across the bottom of the
 * image, or across the top when the drawn shapes sit lower.
 */
function paintCaption(ctx: CanvasRenderingContext2D, overlay: Overlay, style: Style): void {
  const { width, height } = ctx.canvas;
  const fontSize = Math.max(10, Math.round(style.fontSize * 0.9));
  const lineHeight = Math.ceil(fontSize * 1.3);
  ctx.font = `${fontSize}px ${FONT_FAMILY}`;
  const maxLines = Math.max(1, Math.floor((height * MAX_CAPTION_SHARE - 2 * style.padding) / lineHeight));
  const lines = wrapText(ctx, overlay.caption, width - 2 * style.padding, maxLines);
  const bandHeight = Math.min(height, lines.length * lineHeight + 2 * style.padding);
  const bandTop = captionAtTop(overlay, { width, height }, bandHeight) ? 0 : height - bandHeight;
  ctx.fillStyle = "rgba(0, 0, 0, 0.65)";
  ctx.fillRect(0, bandTop, width, bandHeight);
  ctx.fillStyle = "#ffffff";
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  lines.forEach((line, i) => {
    ctx.fillText(line, style.padding, bandTop + style.padding + (i + 0.5) * lineHeight);
  });
}

/** The text shortened with an ellipsis until it fits `maxWidth` (at least the ellipsis is kept). */
function fitText(ctx: CanvasRenderingContext2D, text: string, maxWidth: number): string {
  if (ctx.measureText(text).width <= maxWidth) return text;
  const chars = Array.from(text);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (ctx.measureText(chars.slice(0, mid).join("").trimEnd() + ELLIPSIS).width <= maxWidth) low = mid;
    else high = mid - 1;
  }
  return chars.slice(0, low).join("").trimEnd() + ELLIPSIS;
}

/**
 * Greedy word wrap; a word wider than a line is split by characters (OCR text often has no spaces). Past
 * `maxLines` the last line ends with an ellipsis.
 */
function wrapText(ctx: CanvasRenderingContext2D, text: string, maxWidth: number, maxLines: number): string[] {
  const lines: string[] = [];
  let line = "";
  const fits = (candidate: string) => ctx.measureText(candidate).width <= maxWidth;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line ? `${line} ${word}` : word;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    line = "";
    for (const char of Array.from(word)) {
      if (line && !fits(line + char)) {
        lines.push(line);
        line = "";
      }
      line += char;
    }
  }
  if (line) lines.push(line);
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  kept[maxLines - 1] = fitText(ctx, `${kept[maxLines - 1]}${ELLIPSIS}`, maxWidth);
  return kept;
}

/**
 * zlib level 3 instead of node-canvas's 6: measured on a 1600x1066 photo, 0.9 s instead of 2.1 s for a PNG
 * 3% larger (level 1 saves only 0.1 s more and grows 7%).
 */
const PNG_COMPRESSION_LEVEL = 3;

function encodePng(canvas: Canvas): Promise<Buffer> {
  // The callback form encodes on libuv's thread pool instead of blocking the kernel.
  return new Promise((resolve, reject) => {
    canvas.toBuffer(
      (error, png) => (error ? reject(error) : resolve(png)),
      "image/png",
      { compressionLevel: PNG_COMPRESSION_LEVEL },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

function clamp(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(value, high));
}
