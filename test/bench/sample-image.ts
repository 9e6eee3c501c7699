/**
 * The photo the benchmark runs on: the walkthrough's 1600x1066 sample (../shared/samples/sample.jpg) when this
 * checkout has the reference folder beside it, else a generated JPEG of the same size. The image content does not
 * change the model's cost (always 768x768 in, scripted tokens out); its size and encoding set the decode and
 * resize cost, which both sides pay.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { REPO_ROOT } from "./models";

export const SAMPLE_WIDTH = 1600;
export const SAMPLE_HEIGHT = 1066;
const SHARED_SAMPLE = path.resolve(REPO_ROOT, "..", "shared", "samples", "sample.jpg");

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
