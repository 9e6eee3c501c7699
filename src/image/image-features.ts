/**
 * Images on their way to the vision encoder: reading an input once, keying it by content, and the cache of
 * image features that lets several tasks on one image run the vision encoder once.
 */
import * as crypto from "node:crypto";
import { describeValue } from "../util/describe";
import * as fs from "node:fs";
import type * as ort from "onnxruntime-node";
import { decodeImage, loadImageRgb, openImage, openImageFileBytes, type ImageInput, type LoadImageOptions, type OpenedImage } from "./image-file";
import { checkRgbImage, isRgbImage, sizeOf, type ImageSize, type RgbImage } from "./rgb-image";

/** The vision encoder's output for one image, reusable across tasks (`model.run(features, task)`). */
export interface ImageFeatures {
  /** [1, 577, D], in the vision encoder's output type. */
  readonly features: ort.Tensor;
  /** The original image's size. */
  readonly imageSize: ImageSize;
  /** Content hash the cache uses. */
  readonly key: string;
}

export function isImageFeatures(value: unknown): value is ImageFeatures {
  return typeof value === "object" && value !== null && "features" in value && "imageSize" in value && "key" in value;
}

function hashOf(kind: string, ...parts: (Uint8Array | string)[]): string {
  const hash = crypto.createHash("sha256");
  for (const p of parts) hash.update(p);
  return `${kind}:${hash.digest("hex")}`;
}

const DEFAULT_FEATURE_CACHE_SIZE = 4;

/** The capacity the load option `cacheImageFeatures` asks for: true (default, 4 images), false, or a number of images. */
export function featureCacheCapacity(option: boolean | number | undefined): number {
  if (option === undefined || option === true) return DEFAULT_FEATURE_CACHE_SIZE;
  if (option === false) return 0;
  if (Number.isInteger(option) && option >= 0) return option;
  throw new Error(`Expected true, false or a non-negative integer for cacheImageFeatures but received ${describeValue(option)}.`);
}

/** Least-recently-used image features. Entries are only dropped, never disposed: a caller may still hold one. */
export class FeatureCache {
  private readonly entries = new Map<string, ImageFeatures>();
  constructor(readonly capacity: number) {}

  get(key: string): ImageFeatures | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(entry: ImageFeatures): void {
    if (this.capacity <= 0) return;
    this.entries.delete(entry.key);
    this.entries.set(entry.key, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * An image as far as a run needs it before the vision encoder: its key and size, plus, on a cache miss, what its
 * pixels come from: the opened file or bytes (decoded only when the image's turn comes, `decodeResolved`), or
 * pixels already decoded (given as such, or from a URL).
 */
export interface ResolvedImage {
  key: string;
  imageSize: ImageSize;
  /** Features from the cache, or the ImageFeatures the caller passed. */
  cached?: ImageFeatures;
  opened?: OpenedImage;
  rgb?: RgbImage;
}

/**
 * Reads an image once and keys it by content. Bytes and files are keyed by their bytes, so a cache hit skips
 * decoding, and a file's pixels are decoded from the very bytes that were hashed (a file rewritten between two
 * reads can't give features under another image's key); they are only opened here (header checked, not
 * decoded). URLs and decoded pixels are keyed by their pixels.
 */
export async function resolveImage(
  image: ImageInput | RgbImage | ImageFeatures,
  cache: FeatureCache,
  options: LoadImageOptions,
  dModel: number,
): Promise<ResolvedImage> {
  if (isImageFeatures(image)) {
    const D = image.features.dims[2];
    if (D !== dModel) {
      throw new Error(`These image features have width ${D} but this model's d_model is ${dModel}: they come from another model.`);
    }
    return { key: image.key, imageSize: image.imageSize, cached: image };
  }
  if (isRgbImage(image)) return resolvePixels(checkRgbImage(image, "Florence2"), cache);
  if (image instanceof Uint8Array) return resolveBytes(image, cache, () => openImage(image, options));
  if (typeof image === "string" && !/^https?:\/\//i.test(image)) {
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(image);
    } catch (err) {
      await openImage(image, options); // throws the image module's message for a missing or unreadable file
      throw err;
    }
    return resolveBytes(bytes, cache, () => openImageFileBytes(bytes, image, options));
  }
  return resolvePixels(await loadImageRgb(image as ImageInput, options), cache);
}

/** The pixels of a resolved image that missed the cache. */
export async function decodeResolved(image: ResolvedImage): Promise<RgbImage> {
  if (image.rgb) return image.rgb;
  if (image.opened) return decodeImage(image.opened);
  throw new Error("decodeResolved: the image came from the cache and has no pixels to decode.");
}

async function resolveBytes(bytes: Uint8Array, cache: FeatureCache, open: () => Promise<OpenedImage>): Promise<ResolvedImage> {
  const key = hashOf("bytes", bytes);
  const cached = cache.get(key);
  if (cached) return { key, imageSize: cached.imageSize, cached };
  const opened = await open();
  return { key, imageSize: { width: opened.header.width, height: opened.header.height }, opened };
}

function resolvePixels(rgb: RgbImage, cache: FeatureCache): ResolvedImage {
  const key = hashOf("pixels", `${rgb.width}x${rgb.height}:`, rgb.data);
  const cached = cache.get(key);
  return cached ? { key, imageSize: cached.imageSize, cached } : { key, imageSize: sizeOf(rgb), rgb };
}
