/**
 * Test images made on the fly (nothing binary is committed): deterministic pixel patterns, encoded with sharp into
 * any format the loader accepts, in memory or in a temp file.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import sharp from "sharp";
import type { RgbImage } from "../../src/image/image";

export type TestImageFormat = "jpeg" | "png" | "webp" | "gif" | "tiff";

/**
 * - `photo`: smooth colour waves plus mild grain, like a photograph (JPEG-friendly);
 * - `noise`: uniform random bytes (the hardest case for a resampler: every overshoot gets clipped);
 * - `gradient`: R grows left to right, G top to bottom, B along the diagonal;
 * - `solid`: every pixel `color`;
 * - `checker`: 8 px black and white squares.
 */
export type TestPattern = "photo" | "noise" | "gradient" | "solid" | "checker";

export interface TestImageOptions {
  width: number;
  height: number;
  pattern?: TestPattern;
  /** For `solid`. Default [255, 255, 255]. */
  color?: readonly [number, number, number];
  /** For `noise` and `photo`. Same seed, same pixels. */
  seed?: number;
}

export interface EncodedTestImageOptions extends TestImageOptions {
  format?: TestImageFormat;
}

/** `length` seeded pseudo-random bytes (xorshift32, four bytes per step), so patterns never depend on Math.random. */
function noiseBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s;
  }
  return new Uint8Array(words.buffer, 0, length);
}

/** cos/sin of `i * rate` for i in 0..n-1, so the photo pattern needs no trigonometry per pixel. */
function wave(n: number, rate: number): { sin: Float64Array; cos: Float64Array } {
  const sin = new Float64Array(n);
  const cos = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sin[i] = Math.sin(i * rate);
    cos[i] = Math.cos(i * rate);
  }
  return { sin, cos };
}

/** Raw RGB pixels of a pattern. */
export function makeRgbPattern(options: TestImageOptions): RgbImage {
  const { width, height, pattern = "photo", color = [255, 255, 255], seed = 1 } = options;
  const data = new Uint8Array(width * height * 3);
  switch (pattern) {
    case "noise":
      data.set(noiseBytes(data.length, seed));
      break;
    case "solid":
      for (let o = 0; o < data.length; o += 3) {
        data[o] = color[0];
        data[o + 1] = color[1];
        data[o + 2] = color[2];
      }
      break;
    case "gradient":
      for (let y = 0, o = 0; y < height; y++) {
        for (let x = 0; x < width; x++, o += 3) {
          data[o] = Math.round((x * 255) / Math.max(width - 1, 1));
          data[o + 1] = Math.round((y * 255) / Math.max(height - 1, 1));
          data[o + 2] = Math.round(((x + y) * 255) / Math.max(width + height - 2, 1));
        }
      }
      break;
    case "checker":
      for (let y = 0, o = 0; y < height; y++) {
        for (let x = 0; x < width; x++, o += 3) data.fill(((x >> 3) + (y >> 3)) % 2 === 0 ? 0 : 255, o, o + 3);
      }
      break;
    case "photo": {
      // R = sin(x/37 + y/91), G = cos(y/29 - x/113), B = sin((x + 2y)/61) cos(x/17), plus grain; written with the
      // angle-sum identities over per-row and per-column tables. Uint8ClampedArray rounds and clips.
      const [rx, ry, gx, gy, bx, by, bc] = [
        wave(width, 1 / 37), wave(height, 1 / 91), wave(width, 1 / 113), wave(height, 1 / 29),
        wave(width, 1 / 61), wave(height, 2 / 61), wave(width, 1 / 17),
      ];
      const grain = noiseBytes(width * height, seed);
      const out = new Uint8ClampedArray(data.buffer);
      for (let y = 0, o = 0, p = 0; y < height; y++) {
        for (let x = 0; x < width; x++, o += 3, p++) {
          const g = (grain[p] - 128) / 16;
          out[o] = 128 + 90 * (rx.sin[x] * ry.cos[y] + rx.cos[x] * ry.sin[y]) + g;
          out[o + 1] = 120 + 80 * (gy.cos[y] * gx.cos[x] + gy.sin[y] * gx.sin[x]) + g;
          out[o + 2] = 110 + 70 * (bx.sin[x] * by.cos[y] + bx.cos[x] * by.sin[y]) * bc.cos[x] + g;
        }
      }
      break;
    }
  }
  return { data, width, height };
}

/** Encodes raw RGB pixels with sharp; JPEG at quality 90, the rest lossless where the format allows. */
export async function encodeRgb(image: RgbImage, format: TestImageFormat = "png"): Promise<Buffer> {
  const input = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  switch (format) {
    case "jpeg":
      return input.jpeg({ quality: 90 }).toBuffer();
    case "png":
      return input.png().toBuffer();
    case "webp":
      return input.webp({ lossless: true }).toBuffer();
    case "gif":
      return input.gif().toBuffer();
    case "tiff":
      return input.tiff({ compression: "lzw" }).toBuffer();
  }
}

/** An encoded test image, e.g. `await makeTestImage({ width: 640, height: 480, format: "jpeg" })`. */
export async function makeTestImage(options: EncodedTestImageOptions): Promise<Buffer> {
  return encodeRgb(makeRgbPattern(options), options.format ?? "png");
}

const EXTENSIONS: Record<TestImageFormat, string> = { jpeg: "jpg", png: "png", webp: "webp", gif: "gif", tiff: "tif" };

/** A fresh folder under the OS temp dir; remove it with {@link removeTempDir}. */
export function makeTempDir(prefix = "florence2-images-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes an encoded test image into `dir` (default: a new temp folder) and returns its path. */
export async function writeTestImage(
  options: EncodedTestImageOptions & { dir?: string; name?: string },
): Promise<string> {
  const format = options.format ?? "png";
  const file = path.join(options.dir ?? makeTempDir(), options.name ?? `test-${options.width}x${options.height}.${EXTENSIONS[format]}`);
  fs.writeFileSync(file, await makeTestImage({ ...options, format }));
  return file;
}

/**
 * A PNG whose header declares `width` x `height` but that carries almost no pixel data: a stand-in for a
 * decompression bomb (a loader that checks the header refuses it at once; one that decodes would fail or explode).
 */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, "latin1"), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.alloc(0))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The interpreter with Debian's Pillow 9.4 and numpy (what the reference ran); the one first on PATH has neither. */
export const PYTHON_WITH_PILLOW = "/usr/bin/python3";

let pillowCheck: { reason?: string; version?: string } | undefined;

/** Why Pillow reference values cannot be computed on this machine, or undefined when they can. */
export function pillowUnavailableReason(): string | undefined {
  if (!pillowCheck) {
    if (!fs.existsSync(PYTHON_WITH_PILLOW)) {
      pillowCheck = { reason: `${PYTHON_WITH_PILLOW} is missing (apt-get install python3-pil python3-numpy)` };
    } else {
      const probe = spawnSync(PYTHON_WITH_PILLOW, ["-c", "import PIL, numpy; print(PIL.__version__)"], {
        encoding: "utf8",
      });
      pillowCheck =
        probe.status === 0
          ? { version: probe.stdout.trim() }
          : {
              reason:
                `${PYTHON_WITH_PILLOW} cannot import PIL and numpy (${probe.stderr.trim().split("\n").pop()}); ` +
                `apt-get install python3-pil python3-numpy`,
            };
    }
  }
  return pillowCheck.reason;
}

/** Pillow's version under {@link PYTHON_WITH_PILLOW}, e.g. "9.4.0" (call {@link pillowUnavailableReason} first). */
export function pillowVersion(): string | undefined {
  pillowUnavailableReason();
  return pillowCheck?.version;
}

/** Runs a Python program with Pillow; throws with its stderr when it fails. Returns stdout. */
export function runPillowScript(code: string, args: readonly string[] = []): string {
  const run = spawnSync(PYTHON_WITH_PILLOW, ["-c", code, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) {
    throw new Error(`${PYTHON_WITH_PILLOW} failed (exit ${run.status}): ${run.stderr || run.error?.message}`);
  }
  return run.stdout;
}

/** Index of the first element where two byte arrays differ, -1 when equal (lengths must match). */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`firstDifference: lengths differ (${a.length} vs ${b.length})`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * A copy of a JPEG with an EXIF segment whose only tag is Orientation (1-8; 6 = "rotate 90° clockwise to view"),
 * inserted right after the start-of-image marker. The compressed pixels are untouched.
 */
export function withExifOrientation(jpeg: Buffer, orientation: number): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error("withExifOrientation: expected JPEG data (FF D8)");
  const segment = Buffer.alloc(36);
  segment.writeUInt16BE(0xffe1, 0); // APP1
  segment.writeUInt16BE(34, 2); // segment length, counting these two bytes
  segment.write("Exif\0\0", 4, "latin1");
  segment.write("MM", 10, "latin1"); // big-endian TIFF header
  segment.writeUInt16BE(42, 12);
  segment.writeUInt32BE(8, 14); // first IFD right after the header
  segment.writeUInt16BE(1, 18); // one entry
  segment.writeUInt16BE(0x0112, 20); // Orientation
  segment.writeUInt16BE(3, 22); // SHORT
  segment.writeUInt32BE(1, 24); // one value
  segment.writeUInt16BE(orientation, 28); // value (padded to 4 bytes); next IFD offset 0 follows
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}
