/**
 * Showing drawings inline in a tslab notebook: `await showResult(image, task, out.result)` draws the result
 * and puts the PNG in the cell's output. Outside a tslab kernel (plain Node, tests, the walkthrough command)
 * nothing is displayed: a one-line note is printed instead, and `saveAs` writes the PNG to a file.
 *
 * Like IPython's `display()`, these return nothing: tslab prints a cell's last value, and a returned
 * `{ png, canvas }` would add a hex dump under every picture. `drawResult` is the call that returns the PNG.
 *
 * tslab is looked up only inside a running kernel and never loaded otherwise (see `tslab.ts`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describeValue } from "../util/describe";
import { Drawing, DrawOptions, RenderOptions, drawResult, renderImage } from "./draw";
import type { ImageInput, RgbImage } from "../image/image";
import type { TaskResult } from "../text/postprocess";
import type { TextAndHtml } from "./table";
import { runningTslab, TslabDisplay } from "./tslab";

export interface ShowOptions {
  /** Also write the PNG to this file (parent folders are created), in a notebook or not. */
  saveAs?: string;
  /** Outside a notebook, print nothing instead of a one-line note that the image was not displayed. */
  quiet?: boolean;
}

/** tslab's `display` when this process is a tslab kernel running a cell, else undefined. */
function kernelDisplay(): TslabDisplay | undefined {
  return runningTslab()?.display;
}

/** Whether this code runs inside a tslab kernel, where `show` displays inline. */
export function inTslab(): boolean {
  return kernelDisplay() !== undefined;
}

/**
 * Displays a PNG (or a `Drawing`) in the notebook cell's output. Outside tslab it displays nothing and
 * prints a note instead (unless `quiet`).
 */
export function show(image: Uint8Array | Drawing, options: ShowOptions = {}): void {
  const png = pngBytes(image);
  if (options.saveAs !== undefined) savePng(png, options.saveAs);
  const display = kernelDisplay();
  if (display) display.png(png);
  else if (!options.quiet) console.log(notDisplayedNote(png, options.saveAs));
}

/** Text as its own output in the notebook (a long caption, OCR text), or printed outside tslab. */
export function showText(text: string): void {
  const display = kernelDisplay();
  if (display) display.text(String(text));
  else console.log(String(text));
}

/**
 * A table as one output with both forms, `text/html` and `text/plain` (as pandas gives them): front ends that render
 * HTML show the table, the others and saved-notebook readers the text. Outside tslab the text is printed.
 */
export function showTable(table: TextAndHtml): void {
  const tslab = runningTslab();
  if (tslab) tslab.displayData({ "text/html": table.html, "text/plain": table.text });
  else console.log(table.text);
}

/** Shows the image itself, e.g. before running a task on it; `region` outlines a region task's input on it. */
export async function showImage(image: ImageInput | RgbImage, options: RenderOptions & ShowOptions = {}): Promise<void> {
  show(await renderImage(image, options), options);
}

/**
 * Draws a task's result on its image (see `drawResult`) and shows it.
 *
 *   const out = await model.run(image, "<OD>");
 *   await showResult(image, "<OD>", out.result);
 */
export async function showResult(
  image: ImageInput | RgbImage,
  task: string,
  result: Readonly<Record<string, TaskResult>>,
  options: DrawOptions & ShowOptions = {},
): Promise<void> {
  show(await drawResult(image, task, result, options), options);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngBytes(image: Uint8Array | Drawing): Buffer {
  const bytes = image instanceof Uint8Array ? image : image?.png;
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Expected PNG bytes or a Drawing ({ png, canvas }) for show but received ${describeValue(image)}`);
  }
  const png = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error(
      `Expected PNG bytes for show but the ${png.length} bytes received do not start with the PNG signature: ` +
        "pass drawResult(...).png, or use showImage for other image files.",
    );
  }
  return png;
}

function savePng(png: Buffer, file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, png);
}

function notDisplayedNote(png: Buffer, savedAs: string | undefined): string {
  // IHDR: width and height are the big-endian 32-bit words at bytes 16 and 20.
  const size = `${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`;
  const where = savedAs === undefined ? "pass { saveAs: file } to write it to a file" : `saved to ${savedAs}`;
  return `(not in a tslab notebook: ${size} PNG of ${png.length} bytes not displayed; ${where})`;
}
