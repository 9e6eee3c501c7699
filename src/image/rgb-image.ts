/**
 * Image sizes and decoded 8-bit RGB pixels, the form every image takes once read: the types, how an argument is told
 * to be an RgbImage, and the one check of its size against its data. image.ts re-exports them all (it makes
 * RgbImages); they live here so that resize.ts, which image.ts imports, can check its input without an import cycle.
 */
import { describeValue } from "../util/describe";

/**
 * Width and height in pixels, the one shape of an image size in the library. For prompts and results it is the
 * original image's size (what region inputs and coordinates refer to), not the 768x768 model input.
 */
export interface ImageSize {
  width: number;
  height: number;
}

/** The `{ width, height }` of an image (or of anything with a width and height), on its own. */
export function sizeOf(image: ImageSize): ImageSize {
  return { width: image.width, height: image.height };
}

/** Decoded 8-bit RGB pixels. */
export interface RgbImage extends ImageSize {
  /** RGB interleaved, row-major. */ // [height, width, 3]
  data: Uint8Array;
}

/**
 * Whether an image argument is meant as decoded pixels rather than a path, a URL or encoded bytes (any object
 * with `data` that is not itself a byte array); `checkRgbImage` then says whether it is a valid one.
 */
export function isRgbImage(value: unknown): value is RgbImage {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array) && "data" in value;
}

/**
 * `image` when its width and height are positive integers and its data is a Uint8Array of width x height x 3 bytes;
 * otherwise an error that starts with `who` (the function the image was given to) and says what is wrong.
 */
export function checkRgbImage(image: RgbImage, who: string): RgbImage {
  const { data, width, height } = image;
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new Error(
      `${who}: expected an RgbImage with positive integer width and height but received ` +
        `${describeValue(width)}x${describeValue(height)}.`,
    );
  }
  const bytes = width * height * 3;
  if (!(data instanceof Uint8Array) || data.length !== bytes) {
    throw new Error(
      `${who}: expected an RgbImage whose data is a Uint8Array of width * height * 3 = ${bytes} bytes ` +
        `(RGB interleaved, row-major) for its ${width}x${height} pixels but received ` +
        `${data instanceof Uint8Array ? `${data.length} bytes` : describeValue(data)}.`,
    );
  }
  return image;
}

/**
 * Checks an image size argument (`what` names it in the message): `{ width, height }` of finite numbers, each > 0,
 * or >= 0 where `allowZero` (post-processing scales by a 0x0 size as the reference does: every coordinate is 0).
 */
export function checkImageSize(size: unknown, what: string, options: { allowZero?: boolean } = {}): asserts size is ImageSize {
  if (typeof size !== "object" || size === null || Array.isArray(size)) {
    const pair = Array.isArray(size) ? " A [width, height] pair is not accepted: pass { width, height }." : "";
    throw new Error(
      `Expected ${what} { width, height } of the original image in pixels but received ${describeValue(size)}.${pair} ` +
        `preprocessImage returns it as imageSize, model.encodeImage's features hold it as imageSize.`,
    );
  }
  for (const key of ["width", "height"] as const) {
    const value = (size as Record<string, unknown>)[key];
    const valid = typeof value === "number" && Number.isFinite(value) && (options.allowZero ? value >= 0 : value > 0);
    if (!valid) {
      const kind = options.allowZero ? "finite number >= 0" : "positive finite number";
      throw new Error(`Expected a ${kind} for ${what}.${key} but received ${describeValue(value)}.`);
    }
  }
}
