/**
 * The photos the benchmark runs on: the walkthrough's two 1600x1066 samples (../shared/samples/sample.jpg, the
 * street, and sample2.jpg, the night market full of text that the walkthrough's OCR cells read) when this checkout
 * has the reference folder beside it, else a generated JPEG of the same size. The image content does not change
 * the model's cost (always 768x768 in, scripted tokens out); its size and encoding set the decode and resize cost,
 * which both sides pay.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { REPO_ROOT } from "./models";

export const SAMPLE_WIDTH = 1600;
export const SAMPLE_HEIGHT = 1066;
const SHARED_SAMPLE = path.resolve(REPO_ROOT, "..", "shared", "samples", "sample.jpg");
const SHARED_TEXT_SAMPLE = path.resolve(REPO_ROOT, "..", "shared", "samples", "sample2.jpg");
/** The tasks the walkthrough runs on its second photo. */
export const TEXT_PHOTO_TASKS: readonly string[] = ["<OCR>", "<OCR_WITH_REGION>"];

export interface SampleImage {
  path: string;
  /** Where it came from, for the results header. */
  origin: string;
}

/** A photo-like image: smooth colour fields plus fine noise, so JPEG decoding does real work. */
async function writeGeneratedSample(file: string): Promise<void> {
  const data = Buffer.alloc(SAMPLE_WIDTH * SAMPLE_HEIGHT * 3);
  let seed = 12345;
  for (let y = 0; y < SAMPLE_HEIGHT; y++) {
    for (let x = 0; x < SAMPLE_WIDTH; x++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const noise = (seed >>> 24) % 24;
      const i = (y * SAMPLE_WIDTH + x) * 3;
      data[i] = (128 + 100 * Math.sin(x / 97) + noise) & 255;
      data[i + 1] = (128 + 100 * Math.cos(y / 61) + noise) & 255;
      data[i + 2] = (128 + 90 * Math.sin((x + y) / 143) + noise) & 255;
    }
  }
  await sharp(data, { raw: { width: SAMPLE_WIDTH, height: SAMPLE_HEIGHT, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
}

export async function sampleImage(modelsDir: string): Promise<SampleImage> {
  if (fs.existsSync(SHARED_SAMPLE)) return { path: SHARED_SAMPLE, origin: "../shared/samples/sample.jpg (the walkthrough's photo, 1600x1066)" };
  const file = path.join(modelsDir, `generated-sample-${SAMPLE_WIDTH}x${SAMPLE_HEIGHT}.jpg`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(modelsDir, { recursive: true });
    await writeGeneratedSample(file);
  }
  return { path: file, origin: `a generated ${SAMPLE_WIDTH}x${SAMPLE_HEIGHT} JPEG (../shared/samples is not beside this checkout)` };
}

/** The photo for the OCR tasks: the walkthrough's second one when present, else the main one. */
export function textSampleImage(main: SampleImage): SampleImage {
  if (fs.existsSync(SHARED_TEXT_SAMPLE)) return { path: SHARED_TEXT_SAMPLE, origin: "../shared/samples/sample2.jpg (the walkthrough's second photo, 1600x1066)" };
  return main;
}

/**
 * `count` distinct photos of the sample's size (for throughput over many images): the sample with its brightness
 * changed a little per copy, so every file has other bytes and other pixels. Written once into `modelsDir`.
 */
export async function distinctPhotos(main: SampleImage, modelsDir: string, count: number): Promise<string[]> {
  const dir = path.join(modelsDir, "photos");
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const file = path.join(dir, `${path.basename(main.path, path.extname(main.path))}-${k}.jpg`);
    if (!fs.existsSync(file)) await sharp(main.path).modulate({ brightness: 1 + 0.03 * (k - count / 2) }).jpeg({ quality: 90 }).toFile(file);
    files.push(file);
  }
  return files;
}
