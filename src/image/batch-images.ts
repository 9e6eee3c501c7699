/**
 * The images of one batch (or one run) on their way to the vision encoder: each distinct input read once,
 * inputs of the same content merged, then each image decoded, preprocessed and encoded in turn.
 *
 * Memory: every image is opened first (bytes read and hashed, header checked, cache looked up), so that a bad
 * file or a region outside its image fails before any session runs; its pixels are decoded only when its turn
 * comes, and dropped as soon as its features exist. A batch over many photos so holds one decoded photo at a
 * time (plus the encoded bytes of those still waiting), not all of them.
 */
import type * as ort from "onnxruntime-node";
import type { PreprocessorConfig } from "../runtime/config";
import { preprocessImage, type ImageInput, type LoadImageOptions, type RgbImage } from "./image";
import { decodeResolved, resolveImage, type FeatureCache, type ImageFeatures, type ResolvedImage } from "./image-features";

/** What a run takes as its image. */
export type ImageArgument = ImageInput | RgbImage | ImageFeatures;

/** One distinct image of a batch. */
export interface BatchImage {
  input: ImageArgument;
  /** Indices of the requests on it. */
  jobs: number[];
  resolved?: ResolvedImage;
  features?: ImageFeatures;
  /** Reading and preprocessing, and the vision encoder, in ms. */
  preprocessMs: number;
  visionMs: number;
  /** Whether its features came from the cache or were passed in (no vision encoder run). */
  cached: boolean;
}

/** What the image stage needs from the model. */
export interface ImageStage {
  cache: FeatureCache;
  options: LoadImageOptions;
  preprocessor: PreprocessorConfig;
  dModel: number;
  /** The vision encoder: pixel_values [1, 3, H, W] -> features [1, 577, D]. */
  vision(pixelValues: Float32Array, dims: [1, 3, number, number]): Promise<ort.Tensor>;
}

/** How errors name the requests they are about. */
export type Labeller = (jobs: readonly number[], err: unknown) => unknown;

export function batchImage(input: ImageArgument): BatchImage {
  return { input, jobs: [], preprocessMs: 0, visionMs: 0, cached: false };
}

/** Opens an image (or finds its features in the cache), timing it as preprocessing. */
export async function openBatchImage(stage: ImageStage, image: BatchImage): Promise<void> {
  const t0 = performance.now();
  image.resolved = await resolveImage(image.input, stage.cache, stage.options, stage.dModel);
  image.preprocessMs += performance.now() - t0;
}

/**
 * Each request's image, opened once per distinct input and merged by content (so each is encoded once); errors
 * name the requests on the image.
 */
export async function openBatchImages(stage: ImageStage, inputs: readonly ImageArgument[], label: Labeller): Promise<BatchImage[]> {
  const images = distinctImages(inputs);
  for (const image of images) {
    try {
      await openBatchImage(stage, image);
    } catch (err) {
      throw label(image.jobs, err);
    }
  }
  return mergeSameContent(images, inputs.length);
}

/**
 * The features of an opened image: from the cache, or decoded, preprocessed and run through the vision encoder
 * (then cached); its pixels and bytes are dropped once the features exist.
 */
export async function encodeBatchImage(stage: ImageStage, image: BatchImage, signal: AbortSignal, label: Labeller): Promise<ImageFeatures> {
  const resolved = image.resolved as ResolvedImage;
  if (image.features) return image.features;
  if (resolved.cached) {
    // Also features passed in: a later run on the image they came from then finds them.
    stage.cache.set(resolved.cached);
    image.cached = true;
    return (image.features = resolved.cached);
  }
  signal.throwIfAborted();
  const t0 = performance.now();
  let rgb: RgbImage;
  try {
    rgb = await decodeResolved(resolved);
  } catch (err) {
    throw label(image.jobs, err);
  }
  const { pixelValues, dims } = await preprocessImage(rgb, stage.preprocessor, stage.options);
  resolved.rgb = undefined;
  resolved.opened = undefined;
  const t1 = performance.now();
  signal.throwIfAborted();
  const tensor = await stage.vision(pixelValues, dims);
  image.preprocessMs += t1 - t0;
  image.visionMs += performance.now() - t1;
  image.features = { features: tensor, imageSize: resolved.imageSize, key: resolved.key };
  stage.cache.set(image.features);
  return image.features;
}

/**
 * The distinct image inputs, in order of first use: the same string, or the same object (buffer, pixels,
 * features), is one image. Different inputs with the same content are merged once read (mergeSameContent).
 */
function distinctImages(inputs: readonly ImageArgument[]): BatchImage[] {
  const byInput = new Map<unknown, BatchImage>();
  inputs.forEach((input, i) => {
    let image = byInput.get(input);
    if (!image) {
      image = batchImage(input);
      byInput.set(input, image);
    }
    image.jobs.push(i);
  });
  return [...byInput.values()];
}

/** Each request's image after merging images of the same content (same key), so each is encoded once. */
function mergeSameContent(images: BatchImage[], jobCount: number): BatchImage[] {
  const byKey = new Map<string, BatchImage>();
  const imageOf = new Array<BatchImage>(jobCount);
  for (const image of images) {
    const key = (image.resolved as ResolvedImage).key;
    const first = byKey.get(key);
    if (first && first !== image) {
      first.jobs.push(...image.jobs);
      first.preprocessMs += image.preprocessMs;
      // Features found in the cache or passed in serve the first input too: no vision encoder run for either.
      const resolved = first.resolved as ResolvedImage;
      if (!resolved.cached && image.resolved?.cached) {
        resolved.cached = image.resolved.cached;
        resolved.rgb = undefined;
        resolved.opened = undefined;
      }
      for (const i of image.jobs) imageOf[i] = first;
    } else {
      byKey.set(key, image);
      for (const i of image.jobs) imageOf[i] = image;
    }
  }
  return imageOf;
}
