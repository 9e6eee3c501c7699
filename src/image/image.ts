/**
 * Image input -> `pixel_values` exactly as Florence-2's reference processor (`CLIPImageProcessor`) makes them:
 *
 *   file / URL / bytes --image-file.ts (sharp)--> RGB uint8 [H, W, 3] --resize.ts (Pillow BICUBIC)--> [768, 768, 3]
 *     --x * rescale_factor (float64 -> float32), (x - mean) / std (float32)--> pixel_values [1, 3, 768, 768]
 *
 * This is the image API's entry: reading an input (image-file.ts) and decoded pixels (rgb-image.ts) are
 * re-exported from here.
 */
import { DEFAULT_PREPROCESSOR_CONFIG, type PreprocessorConfig } from "../runtime/config";
import { readRgbImage, type ImageInput, type LoadImageOptions } from "./image-file";
import { resizeBicubic } from "./resize";
import { sizeOf, type ImageSize, type RgbImage } from "./rgb-image";

export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PIXELS,
  DEFAULT_TIMEOUT_MS,
  ImageLoadError,
  loadImageRgb,
  readRgbImage,
  type ImageInput,
  type LoadImageOptions,
} from "./image-file";
// Decoded pixels and image sizes, with their checks: they live in rgb-image.ts (see there why) and are the image API's.
export { checkImageSize, checkRgbImage, isRgbImage, sizeOf, type ImageSize, type RgbImage } from "./rgb-image";

const PILLOW_BICUBIC = 3;

export interface PreprocessedImage {
  /** Normalized RGB, channel-first. */ // [1, 3, height, width]
  pixelValues: Float32Array;
  dims: [1, 3, number, number];
  /** The original image's size, which post-processing scales coordinates to. */
  imageSize: ImageSize;
}

/**
 * The `pixel_values` tensor Florence-2's vision encoder takes, identical to the reference's, and the original size.
 * `input` may also be pixels already decoded (an {@link RgbImage}); `options` apply when it has to be loaded.
 */
export async function preprocessImage(
  input: ImageInput | RgbImage,
  config: PreprocessorConfig = DEFAULT_PREPROCESSOR_CONFIG,
  options: LoadImageOptions = {},
): Promise<PreprocessedImage> {
  if (config.resample !== PILLOW_BICUBIC) {
    throw new Error(
      `preprocessImage: expected resample ${PILLOW_BICUBIC} (PIL BICUBIC, what Florence-2 uses) in the preprocessor ` +
        `config but found ${config.resample}; only BICUBIC is implemented.`,
    );
  }
  const image = await readRgbImage(input, "preprocessImage", options);
  const { width, height } = config.size;
  // [height, width, 3], Pillow-identical bytes; Pillow returns an unchanged copy when the size already matches.
  const resized = image.width === width && image.height === height ? image : resizeBicubic(image, width, height);
  return {
    pixelValues: normalizeToChannelsFirst(resized, config),
    dims: [1, 3, height, width],
    imageSize: sizeOf(image),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Float steps

/**
 * uint8 [H, W, 3] -> float32 [3, H, W]. The reference rescales in float64 and casts to float32, then normalizes in
 * float32 with float32 mean and std (numpy rounds after each operation, hence the Math.fround calls). The result
 * depends only on (channel, byte), so a 3 x 256 table computes each value once.
 */
function normalizeToChannelsFirst(image: RgbImage, config: PreprocessorConfig): Float32Array {
  const table = new Float32Array(3 * 256); // [3, 256]
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(config.imageMean[c]);
    const std = Math.fround(config.imageStd[c]);
    for (let v = 0; v < 256; v++) {
      const rescaled = Math.fround(v * config.rescaleFactor);
      table[c * 256 + v] = Math.fround(Math.fround(rescaled - mean) / std);
    }
  }
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane); // [3, H, W]
  const rgb = image.data;
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    out[p] = table[rgb[i]];
    out[plane + p] = table[256 + rgb[i + 1]];
    out[2 * plane + p] = table[512 + rgb[i + 2]];
  }
  return out;
}
