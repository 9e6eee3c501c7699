/**
 * Task token + input -> the English prompt the tokenizer sees.
 *
 * `constructPrompt` is the reference's `_construct_prompts` (Microsoft's `processing_florence2.py`) for one
 * string, quirks included. `buildPrompt` is the validated entry for the model API: it checks the task and
 * its input, turns a pixel box into loc tokens, and then goes through `constructPrompt`, so the prompt is
 * always the one the reference would build.
 */
import { describeValue } from "../util/describe";
import { checkImageSize, type ImageSize } from "../image/rgb-image";
import { MAX_BIN, locTokens, parseLocRegion, quantize } from "./loc-bins";
import { TASKS, TaskSpec, getTask } from "./tasks";

/** A region of the original image in pixels: (x1, y1) top-left, (x2, y2) bottom-right. */
export interface PixelBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

const INPUT_PLACEHOLDER = "{input}";

// The reference loops over its no-input prompt dict first, then its with-input dict, each in insertion
// order; `referenceOrder` is that order.
const byReferenceOrder = [...TASKS].sort((a, b) => a.referenceOrder - b.referenceOrder);
const NO_INPUT_TASKS = byReferenceOrder.filter((t) => t.input === "none");
const WITH_INPUT_TASKS = byReferenceOrder.filter((t) => t.input !== "none");

/**
 * The reference's `_construct_prompts` for one string:
 * - a no-input task token (`"<OD>"`) must be the whole text and becomes its prompt; anything else
 *   around it throws, where the reference asserts;
 * - for the first with-input token found (in the reference's dict order), every occurrence of it is
 *   removed and the rest, unstripped, is put in the prompt (`"<loc_1>...<REGION_TO_CATEGORY>"` works too);
 * - text with no task token, lowercase tokens included, passes through unchanged.
 */
export function constructPrompt(text: string): string {
  let prompt = text;
  for (const task of NO_INPUT_TASKS) {
    if (!prompt.includes(task.token)) continue;
    if (prompt !== task.token) {
      throw new Error(
        `Task ${task.token} takes no input, so its token must be the whole prompt text, but received ` +
          `${JSON.stringify(text)}. Pass exactly "${task.token}" (the reference asserts "Task token ` +
          `${task.token} should be the only token in the text").`,
      );
    }
    prompt = task.prompt;
    break;
  }
  for (const task of WITH_INPUT_TASKS) {
    if (!prompt.includes(task.token)) continue;
    // split/join, not String.replace: the input must go in literally, even if it holds `$&` or `{input}`.
    const input = prompt.split(task.token).join("");
    prompt = task.prompt.split(INPUT_PLACEHOLDER).join(input);
    break;
  }
  return prompt;
}

/**
 * `<loc_x1><loc_y1><loc_x2><loc_y2>` for a pixel box on an image of the given size, with the reference
 * quantizer's floor and clamp to 0..999 (`loc-bins.ts`). A box that sticks out of the image is clamped to
 * its edges, as the quantizer does; a box wholly outside it, an inverted or empty box, or a non-finite
 * number is an error.
 */
export function boxToLocTokens(box: PixelBox, size: ImageSize): string {
  checkImageSize(size, "imageSize");
  checkBox(box);
  const { x1, y1, x2, y2 } = box;
  if (x2 <= 0 || y2 <= 0 || x1 >= size.width || y1 >= size.height) {
    throw new Error(
      `Expected a region inside the ${size.width}x${size.height} image but received ${describeBox(box)}, ` +
        `which lies wholly outside it. Give pixel coordinates of the original image, 0 <= x < ${size.width}, ` +
        `0 <= y < ${size.height}.`,
    );
  }
  return locTokens([quantize(x1, size.width), quantize(y1, size.height), quantize(x2, size.width), quantize(y2, size.height)]);
}

/**
 * The prompt for a task and its input, validated, for the model API.
 *
 * `task` is a token (`"<OD>"`) or its name (`"OD"`). Tasks that take text need a non-empty string; region
 * tasks take a `PixelBox` (quantized against `imageSize`) or a `"<loc_a><loc_b><loc_c><loc_d>"` string;
 * other tasks take nothing (`undefined` or `""`). The result is `constructPrompt(token + input)`.
 */
export function buildPrompt(task: string, input: string | PixelBox | undefined, imageSize?: ImageSize): string {
  const spec = getTask(task);
  switch (spec.input) {
    case "none":
      return constructPrompt(spec.token + noInput(spec, input));
    case "text":
      return constructPrompt(spec.token + textInput(spec, input));
    case "region":
      return constructPrompt(spec.token + regionInput(spec, input, imageSize));
  }
}

function noInput(spec: TaskSpec, input: string | PixelBox | undefined): string {
  if (input === undefined || input === "") return "";
  throw new Error(
    `Task ${spec.token} takes no input, but received ${describeInput(input)}. ` +
      `Call it with the task alone, e.g. model.run(image, "${spec.token}").`,
  );
}

function textInput(spec: TaskSpec, input: string | PixelBox | undefined): string {
  if (typeof input !== "string" || input.trim() === "") {
    throw new Error(
      `Task ${spec.token} needs a text input (${textInputExample(spec)}), but received ${describeInput(input)}. ` +
        `Pass it as the next argument, e.g. model.run(image, "${spec.token}", ${JSON.stringify(textInputExampleValue(spec))}).`,
    );
  }
  checkNoTaskToken(spec, input);
  return input;
}

function regionInput(spec: TaskSpec, input: string | PixelBox | undefined, imageSize: ImageSize | undefined): string {
  const example = `model.run(image, "${spec.token}", { x1: 100, y1: 50, x2: 300, y2: 200 })`;
  if (typeof input === "string") return checkLocRegion(spec, input);
  if (isBoxLike(input)) {
    if (imageSize === undefined) {
      throw new Error(`Task ${spec.token} got a pixel box but no image size to quantize it against; pass { width, height } of the image.`);
    }
    return boxToLocTokens(input, imageSize);
  }
  throw new Error(
    `Task ${spec.token} needs a region: a pixel box { x1, y1, x2, y2 } on the original image or a string ` +
      `"<loc_x1><loc_y1><loc_x2><loc_y2>" with bins 0..${MAX_BIN}, but received ${describeInput(input)}. ` +
      `For example ${example}.`,
  );
}

/** A region string must be exactly four loc tokens of the vocabulary, in (x1, y1, x2, y2) order. */
function checkLocRegion(spec: TaskSpec, input: string): string {
  const bins = parseLocRegion(input);
  if (!bins) {
    throw new Error(
      `Task ${spec.token} expects a region string of exactly four loc tokens "<loc_x1><loc_y1><loc_x2><loc_y2>", ` +
        `each 0..${MAX_BIN} without leading zeros, but received ${describeValue(input)}. Pass a pixel box ` +
        `{ x1, y1, x2, y2 } instead to have it quantized for you.`,
    );
  }
  const [x1, y1, x2, y2] = bins;
  if (x2 < x1 || y2 < y1) {
    throw new Error(
      `Task ${spec.token} expects a region with x1 <= x2 and y1 <= y2 but received ${describeValue(input)} ` +
        `(an inverted box). Swap the corners: (x1, y1) is the top-left corner.`,
    );
  }
  return input;
}

/** A task token inside the input would make the reference assert or build a different prompt. */
function checkNoTaskToken(spec: TaskSpec, input: string): void {
  const inner = TASKS.find((t) => input.includes(t.token));
  if (inner) {
    throw new Error(
      `The input of task ${spec.token} must not contain a task token, but it contains ${inner.token}: ` +
        `${JSON.stringify(input)}. Remove the token from the input.`,
    );
  }
}

function checkBox(box: PixelBox): void {
  for (const key of ["x1", "y1", "x2", "y2"] as const) {
    const value = (box as unknown as Record<string, unknown>)[key];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new Error(`Expected a finite number of pixels for box.${key} but received ${describeValue(value)}.`);
    }
  }
  if (box.x2 < box.x1 || box.y2 < box.y1) {
    throw new Error(
      `Expected a box with x1 <= x2 and y1 <= y2 but received ${describeBox(box)} (an inverted box). ` +
        `Swap the corners: (x1, y1) is the top-left corner, (x2, y2) the bottom-right one.`,
    );
  }
  if (box.x2 === box.x1 || box.y2 === box.y1) {
    throw new Error(
      `Expected a box with a non-zero width and height but received ${describeBox(box)} (an empty box). ` +
        `Give the bottom-right corner (x2, y2) beyond the top-left one (x1, y1).`,
    );
  }
}

function isBoxLike(input: unknown): input is PixelBox {
  return typeof input === "object" && input !== null && ["x1", "y1", "x2", "y2"].some((k) => k in input);
}

function textInputExample(spec: TaskSpec): string {
  return spec.resultKind === "phrase_grounding" ? "a caption whose phrases to locate" : "a phrase naming what to find";
}

function textInputExampleValue(spec: TaskSpec): string {
  return spec.resultKind === "phrase_grounding" ? "A green car parked in front of a yellow building." : "a green car";
}

function describeBox(box: PixelBox): string {
  return `{ x1: ${box.x1}, y1: ${box.y1}, x2: ${box.x2}, y2: ${box.y2} }`;
}

/** What a task received as its input: "nothing" for a missing argument, a box with its corners. */
function describeInput(input: unknown): string {
  if (input === undefined) return "nothing";
  if (isBoxLike(input)) return `the box ${describeBox(input)}`;
  return describeValue(input);
}

/**
 * A prompt must fit the encoder beside the image tokens: `imageTokens` (577) + its length at most
 * `maxPositions` (config.json's max_position_embeddings).
 */
export function checkPromptLength(promptLength: number, imageTokens: number, maxPositions: number): void {
  const positions = imageTokens + promptLength;
  if (positions > maxPositions) {
    throw new Error(
      `The prompt is ${promptLength} tokens long; with the ${imageTokens} image tokens that is ${positions} encoder positions, ` +
        `more than the model's ${maxPositions} (max_position_embeddings in config.json). ` +
        `Shorten the text input to at most ${maxPositions - imageTokens} tokens, prompt included.`,
    );
  }
}
