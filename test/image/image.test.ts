import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import sharp from "sharp";
import { DEFAULT_PREPROCESSOR_CONFIG, type PreprocessorConfig } from "../../src/runtime/config";
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PIXELS,
  ImageLoadError,
  loadImageRgb,
  preprocessImage,
  type RgbImage,
} from "../../src/image/image";
import { sendEndless } from "../support/endless-body";
import {
  encodeRgb,
  firstDifference,
  makeRgbPattern,
  makeTempDir,
  makeTestImage,
  pillowUnavailableReason,
  pngHeaderOnly,
  removeTempDir,
  runPillowScript,
  withExifOrientation,
} from "../support/images";

const SAMPLES = path.resolve(__dirname, "..", "..", "..", "shared", "samples");

/** Raw pixels into sharp, for writing test files in formats makeTestImage does not cover. */
function fromRaw(data: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 2 | 3 | 4) {
  return sharp(data, { raw: { width, height, channels } });
}

/** Asserts that `promise` rejects with an ImageLoadError whose message matches every pattern. */
async function rejectsWith(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  const error = await promise.then(
    () => assert.fail("expected the image to be refused"),
    (err: unknown) => err,
  );
  assert.ok(error instanceof ImageLoadError, `expected an ImageLoadError, got ${String(error)}`);
  for (const pattern of patterns) assert.match(error.message, pattern);
  return error.message;
}

const W = 40;
const H = 24;
const photo = makeRgbPattern({ width: W, height: H, pattern: "photo" });
const alphaRamp = Uint8Array.from({ length: W * H }, (_, p) => (p % W) * 6); // 0 (transparent) at the left edge
const samples16 = Uint16Array.from({ length: W * H * 3 }, (_, i) => (i * 2971 + 17) & 0xffff);

/** Test files in every supported flavour, written by sharp; `pillow: false` marks a documented difference. */
const FORMAT_FILES: { name: string; pillow?: false; make: () => Promise<Buffer> }[] = [
  { name: "rgb.jpg", make: () => encodeRgb(photo, "jpeg") },
  { name: "rgb.png", make: () => encodeRgb(photo, "png") },
  { name: "rgb.webp", make: () => encodeRgb(photo, "webp") },
  { name: "lossy.webp", make: () => fromRaw(photo.data, W, H, 3).webp({ quality: 70 }).toBuffer() },
  { name: "rgb.gif", make: () => encodeRgb(photo, "gif") },
  { name: "rgb.tif", make: () => encodeRgb(photo, "tiff") },
  { name: "progressive.jpg", make: () => fromRaw(photo.data, W, H, 3).jpeg({ progressive: true }).toBuffer() },
  { name: "grey.jpg", make: () => fromRaw(photo.data, W, H, 3).toColourspace("b-w").jpeg().toBuffer() },
  { name: "cmyk.jpg", make: () => fromRaw(photo.data, W, H, 3).toColourspace("cmyk").jpeg().toBuffer() },
  { name: "cmyk.tif", make: () => fromRaw(photo.data, W, H, 3).toColourspace("cmyk").tiff().toBuffer() },
  { name: "palette.png", make: () => fromRaw(photo.data, W, H, 3).png({ palette: true, colours: 16 }).toBuffer() },
  { name: "rgba.png", make: () => fromRaw(photo.data, W, H, 3).joinChannel(Buffer.from(alphaRamp), { raw: { width: W, height: H, channels: 1 } }).png().toBuffer() },
  { name: "rgba.webp", make: () => fromRaw(photo.data, W, H, 3).joinChannel(Buffer.from(alphaRamp), { raw: { width: W, height: H, channels: 1 } }).webp({ lossless: true, exact: true }).toBuffer() },
  { name: "grey-alpha.png", make: () => fromRaw(interleave(photo.data, alphaRamp), W, H, 2).toColourspace("b-w").png().toBuffer() },
  { name: "rgb16.png", make: () => fromRaw(samples16, W, H, 3).toColourspace("rgb16").png().toBuffer() },
  { name: "grey16.png", pillow: false, make: () => fromRaw(samples16.subarray(0, W * H), W, H, 1).toColourspace("grey16").png().toBuffer() },
  { name: "animated.gif", make: () => animatedGif() },
  { name: "transparent.gif", pillow: false, make: () => fromRaw(photo.data, W, H, 3).joinChannel(Buffer.from(alphaRamp), { raw: { width: W, height: H, channels: 1 } }).gif().toBuffer() },
  { name: "exif-rotate-90.jpg", make: async () => withExifOrientation(await encodeRgb(photo, "jpeg"), 6) },
  { name: "display-p3.jpg", make: () => fromRaw(photo.data, W, H, 3).withIccProfile("p3").jpeg().toBuffer() },
  { name: "one-pixel.png", make: () => fromRaw(Uint8Array.from([12, 34, 56]), 1, 1, 3).png().toBuffer() },
];

/** Grey values from R, with an alpha channel: [H, W, 2]. */
function interleave(rgb: Uint8Array, alpha: Uint8Array): Uint8Array {
  return Uint8Array.from({ length: alpha.length * 2 }, (_, i) => (i % 2 ? alpha[i >> 1] : rgb[(i >> 1) * 3]));
}

/** Two frames: solid red, then solid blue. */
function animatedGif(): Promise<Buffer> {
  const frames = Uint8Array.from({ length: W * H * 6 }, (_, i) => (i < W * H * 3 ? [255, 0, 0] : [0, 0, 255])[i % 3]);
  return sharp(frames, { raw: { width: W, height: 2 * H, channels: 3, pageHeight: H } }).gif().toBuffer();
}

/** Pillow's convert("RGB") pixels for each job, and the reference's pixel_values when asked. */
const PILLOW_REFERENCE = `
import json, sys
import numpy as np
from PIL import Image
BICUBIC = getattr(Image, "Resampling", Image).BICUBIC
for job in json.load(open(sys.argv[1])):
    rgb = Image.open(job["file"]).convert("RGB")
    if "rgb" in job:
        open(job["rgb"], "wb").write(rgb.tobytes())
    if "pixelValues" in job:
        c = job["config"]
        # transformers' CLIPImageProcessor: PIL resize on uint8, rescale() in float64 then cast to float32,
        # normalize() in float32 with float32 mean/std, channels first.
        x = np.array(rgb.resize((c["width"], c["height"]), BICUBIC))
        x = (x.astype(np.float64) * c["rescaleFactor"]).astype(np.float32)
        x = (x - np.array(c["mean"], dtype=np.float32)) / np.array(c["std"], dtype=np.float32)
        open(job["pixelValues"], "wb").write(np.ascontiguousarray(x.transpose(2, 0, 1)).astype("<f4").tobytes())
`;

let dir = "";
before(() => {
  dir = makeTempDir("florence2-image-");
});
after(() => {
  if (dir) removeTempDir(dir);
});

describe("image-file.ts: loadImageRgb converts every supported kind of image to RGB", () => {
  const file = (name: string): string => path.join(dir, name);
  before(async () => {
    for (const f of FORMAT_FILES) fs.writeFileSync(file(f.name), await f.make());
  });

  it("lossless RGB files (PNG, WebP, TIFF) give back the exact pixels at their size", async () => {
    for (const name of ["rgb.png", "rgb.webp", "rgb.tif"]) {
      const image = await loadImageRgb(file(name));
      assert.deepEqual([image.width, image.height], [W, H], name);
      assert.equal(firstDifference(image.data, photo.data), -1, name);
    }
  });

  it("accepts a path, a Buffer and a Uint8Array view of the same bytes alike", async () => {
    const bytes = fs.readFileSync(file("rgb.jpg"));
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    const [fromPath, fromBuffer, fromView] = await Promise.all([
      loadImageRgb(file("rgb.jpg")),
      loadImageRgb(bytes),
      loadImageRgb(padded.subarray(5, 5 + bytes.length)),
    ]);
    assert.deepEqual(fromBuffer.data, fromPath.data);
    assert.deepEqual(fromView.data, fromPath.data);
    assert.ok(!Buffer.isBuffer(fromPath.data), "data is a plain Uint8Array (Buffer.slice would not copy)");
  });

  it("grayscale becomes R = G = B", async () => {
    const image = await loadImageRgb(file("grey.jpg"));
    for (let i = 0; i < image.data.length; i += 3) {
      assert.ok(image.data[i] === image.data[i + 1] && image.data[i] === image.data[i + 2], `pixel ${i / 3}`);
    }
  });

  it("RGBA drops alpha without compositing: fully transparent pixels keep their colour", async () => {
    for (const name of ["rgba.png", "rgba.webp"]) {
      const image = await loadImageRgb(file(name));
      assert.equal(firstDifference(image.data, photo.data), -1, name);
    }
  });

  it("grey + alpha drops alpha and repeats the grey value", async () => {
    const image = await loadImageRgb(file("grey-alpha.png"));
    const expected = Uint8Array.from({ length: W * H * 3 }, (_, i) => photo.data[Math.floor(i / 3) * 3]);
    assert.equal(firstDifference(image.data, expected), -1);
  });

  it("16-bit PNG keeps the high byte of each sample (Pillow's RGB;16B)", async () => {
    const rgb = await loadImageRgb(file("rgb16.png"));
    assert.equal(firstDifference(rgb.data, samples16.map((v) => v >> 8)), -1);
    // Pillow opens 16-bit grey as mode "I" and clips it to 0..255 in convert("RGB"), which turns most images
    // white; we keep the high byte instead (documented difference).
    const grey = await loadImageRgb(file("grey16.png"));
    const expected = Uint8Array.from({ length: W * H * 3 }, (_, i) => samples16[Math.floor(i / 3)] >> 8);
    assert.equal(firstDifference(grey.data, expected), -1);
  });

  it("an animated GIF gives its first frame only", async () => {
    const image = await loadImageRgb(file("animated.gif"));
    assert.deepEqual([image.width, image.height], [W, H]);
    assert.equal(firstDifference(image.data, makeRgbPattern({ width: W, height: H, pattern: "solid", color: [255, 0, 0] }).data), -1);
  });

  it("transparent GIF pixels come out black (documented: Pillow shows the palette colour there)", async () => {
    const image = await loadImageRgb(file("transparent.gif"));
    const transparent = [...alphaRamp.keys()].filter((p) => alphaRamp[p] === 0);
    assert.ok(transparent.length > 0);
    for (const p of transparent) assert.deepEqual([...image.data.subarray(3 * p, 3 * p + 3)], [0, 0, 0]);
  });

  it("does not apply EXIF rotation, like the reference: a 40x24 JPEG tagged 'rotate 90°' stays 40x24", async () => {
    assert.equal((await sharp(file("exif-rotate-90.jpg")).metadata()).orientation, 6);
    const rotated = await loadImageRgb(file("exif-rotate-90.jpg"));
    const plain = await loadImageRgb(file("rgb.jpg"));
    assert.deepEqual([rotated.width, rotated.height], [W, H]);
    assert.equal(firstDifference(rotated.data, plain.data), -1);
  });

  it("a 1x1 image is valid", async () => {
    const image = await loadImageRgb(file("one-pixel.png"));
    assert.deepEqual(image, { data: Uint8Array.from([12, 34, 56]), width: 1, height: 1 });
    const { pixelValues, imageSize } = await preprocessImage(file("one-pixel.png"));
    assert.deepEqual(imageSize, { width: 1, height: 1 });
    const plane = 768 * 768;
    for (let c = 0; c < 3; c++) {
      assert.ok(pixelValues.subarray(c * plane, (c + 1) * plane).every((v) => v === pixelValues[c * plane]));
    }
  });

  describe("gives Pillow's Image.open(f).convert('RGB') pixels", function () {
    const compared = FORMAT_FILES.filter((f) => f.pillow !== false);
    const pillowPixels = new Map<string, Buffer>();
    before(function () {
      const why = pillowUnavailableReason();
      if (why) {
        console.log(`      skipped: no Pillow reference (${why})`);
        this.skip();
      }
      const jobs = compared.map((f) => ({ file: file(f.name), rgb: file(`${f.name}.pillow.rgb`) }));
      fs.writeFileSync(file("decode-jobs.json"), JSON.stringify(jobs));
      runPillowScript(PILLOW_REFERENCE, [file("decode-jobs.json")]);
      for (const f of compared) pillowPixels.set(f.name, fs.readFileSync(file(`${f.name}.pillow.rgb`)));
    });

    for (const f of compared) {
      it(f.name, async () => {
        const ours = await loadImageRgb(file(f.name));
        const expected = pillowPixels.get(f.name) as Buffer;
        assert.equal(ours.data.length, expected.length);
        const at = firstDifference(ours.data, expected);
        assert.equal(at, -1, `byte ${at}: ours ${ours.data[at]}, Pillow ${expected[at]}`);
      });
    }
  });
});

describe("image.ts: preprocessImage float steps and tensor layout", () => {
  const { imageMean: mean, imageStd: std } = DEFAULT_PREPROCESSOR_CONFIG;
  const plane = 768 * 768;
  /** (v / 255 - mean) / std in float64: the float32 result must be within float32 rounding of it. */
  const normalized = (v: number, c: number): number => (v / 255 - mean[c]) / std[c];

  it("a white image averages 2.4392, as in transformers.js's test", async () => {
    const white = await makeTestImage({ width: 64, height: 48, pattern: "solid", format: "png" });
    const { pixelValues, dims } = await preprocessImage(white);
    assert.deepEqual(dims, [1, 3, 768, 768]);
    assert.equal(pixelValues.length, 3 * plane);
    const average = pixelValues.reduce((sum, v) => sum + v, 0) / pixelValues.length;
    assert.ok(Math.abs(average - 2.4392) < 1e-4, `mean ${average}`);
  });

  it("a solid colour gives one known value per channel plane", async () => {
    const color = [0, 128, 255] as const;
    const image = makeRgbPattern({ width: 10, height: 7, pattern: "solid", color });
    const { pixelValues, imageSize } = await preprocessImage(image);
    assert.deepEqual(imageSize, { width: 10, height: 7 });
    for (let c = 0; c < 3; c++) {
      const values = new Set(pixelValues.subarray(c * plane, (c + 1) * plane));
      assert.equal(values.size, 1, `channel ${c}`);
      const [value] = values;
      assert.ok(Math.abs(value - normalized(color[c], c)) < 1e-6, `channel ${c}: ${value}`);
    }
  });

  it("is channel-first: pixel (x, y) channel c sits at c * H * W + y * W + x", async () => {
    // A 768x768 input skips the resize, so every input byte can be traced to its output position.
    const data = new Uint8Array(plane * 3);
    for (let y = 0, o = 0; y < 768; y++) {
      for (let x = 0; x < 768; x++, o += 3) {
        data[o] = x & 255;
        data[o + 1] = y & 255;
        data[o + 2] = (x * 7 + y * 3) & 255;
      }
    }
    const { pixelValues } = await preprocessImage({ data, width: 768, height: 768 });
    for (const [x, y] of [[0, 0], [767, 0], [0, 767], [300, 421], [767, 767]]) {
      const p = y * 768 + x;
      for (let c = 0; c < 3; c++) {
        const got = pixelValues[c * plane + p];
        assert.ok(Math.abs(got - normalized(data[3 * p + c], c)) < 1e-6, `(${x}, ${y}) channel ${c}: ${got}`);
      }
    }
  });

  it("follows the config: target size, mean, std, rescale factor", async () => {
    const config: PreprocessorConfig = {
      ...DEFAULT_PREPROCESSOR_CONFIG,
      size: { width: 32, height: 16 },
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    };
    const image = makeRgbPattern({ width: 90, height: 60, pattern: "solid", color: [255, 0, 255] });
    const { pixelValues, dims } = await preprocessImage(image, config);
    assert.deepEqual(dims, [1, 3, 16, 32]);
    assert.deepEqual([pixelValues[0], pixelValues[512], pixelValues[1024]], [1, -1, 1]);
  });

  it("refuses a resample filter other than BICUBIC, and a malformed RgbImage, with messages saying why", async () => {
    const image = makeRgbPattern({ width: 4, height: 4, pattern: "noise" });
    await assert.rejects(preprocessImage(image, { ...DEFAULT_PREPROCESSOR_CONFIG, resample: 2 }), /expected resample 3 \(PIL BICUBIC/);
    await assert.rejects(
      preprocessImage({ data: image.data, width: 5, height: 4 }),
      /preprocessImage: expected an RgbImage whose data is a Uint8Array of width \* height \* 3 = 60 bytes \(RGB interleaved, row-major\) for its 5x4 pixels but received 48 bytes/,
    );
    await assert.rejects(preprocessImage({ data: image.data, width: 0, height: 4 }), /positive integer width and height but received 0x4/);
    await assert.rejects(
      preprocessImage({ data: [1, 2, 3], width: 1, height: 1 } as unknown as RgbImage),
      /but received an array of length 3/,
    );
  });
});

describe("image.ts: preprocessImage gives the reference's pixel_values bit for bit (Pillow + numpy)", function () {
  const inputs: { name: string; make?: () => Promise<Buffer> }[] = [
    { name: "photo-1600x1066.jpg", make: () => makeTestImage({ width: 1600, height: 1066, pattern: "photo", format: "jpeg" }) },
    { name: "noise-37x1000.png", make: () => makeTestImage({ width: 37, height: 1000, pattern: "noise", format: "png" }) },
    { name: "noise-5x3.png", make: () => makeTestImage({ width: 5, height: 3, pattern: "noise", format: "png" }) },
  ];
  const shared = ["sample.jpg", "sample2.jpg"].map((n) => path.join(SAMPLES, n)).filter((f) => fs.existsSync(f));
  const source = (name: string): string => (path.isAbsolute(name) ? name : path.join(dir, name));
  const reference = (name: string): string => path.join(dir, `${path.basename(name)}.pixel_values.f32`);

  before(async function () {
    const why = pillowUnavailableReason();
    if (why) {
      console.log(`      skipped: no Pillow reference (${why})`);
      this.skip();
    }
    for (const input of inputs) fs.writeFileSync(source(input.name), await (input.make as () => Promise<Buffer>)());
    const c = DEFAULT_PREPROCESSOR_CONFIG;
    const config = { ...c.size, rescaleFactor: c.rescaleFactor, mean: c.imageMean, std: c.imageStd };
    const jobs = [...inputs.map((i) => i.name), ...shared].map((name) => ({
      file: source(name),
      rgb: `${reference(name)}.rgb`,
      pixelValues: reference(name),
      config,
    }));
    fs.writeFileSync(path.join(dir, "preprocess-jobs.json"), JSON.stringify(jobs));
    runPillowScript(PILLOW_REFERENCE, [path.join(dir, "preprocess-jobs.json")]);
  });

  const check = async (name: string): Promise<void> => {
    const { pixelValues } = await preprocessImage(source(name));
    const expected = fs.readFileSync(reference(name));
    const ours = new Uint8Array(pixelValues.buffer, pixelValues.byteOffset, pixelValues.byteLength);
    const at = firstDifference(ours, expected);
    if (at !== -1) {
      const index = at >> 2;
      assert.fail(`${name}: float ${index} is ${pixelValues[index]}, the reference's ${expected.readFloatLE(index * 4)}`);
    }
  };

  for (const input of inputs) it(input.name, () => check(input.name));

  it("the walkthrough's photos in ../shared/samples (sharp decodes them to Pillow's pixels)", async function () {
    if (shared.length === 0) {
      console.log(`      skipped: ${SAMPLES} has no sample.jpg`);
      this.skip();
    }
    for (const file of shared) {
      const decoded = await loadImageRgb(file);
      assert.equal(firstDifference(decoded.data, fs.readFileSync(`${reference(file)}.rgb`)), -1, `${file} decode`);
      await check(file);
    }
  });
});

/** A valid 1x1 24-bit BMP (Pillow reads it; sharp does not). */
function bmp1x1(): Buffer {
  const b = Buffer.alloc(58);
  b.write("BM", 0, "latin1");
  b.writeUInt32LE(58, 2); // file size
  b.writeUInt32LE(54, 10); // pixel data offset
  b.writeUInt32LE(40, 14); // BITMAPINFOHEADER size
  b.writeInt32LE(1, 18); // width
  b.writeInt32LE(1, 22); // height
  b.writeUInt16LE(1, 26); // planes
  b.writeUInt16LE(24, 28); // bits per pixel
  b.writeUInt32LE(4, 34); // image size: one row, padded to 4 bytes
  return b;
}

describe("image-file.ts: bad input gets a clear error (issue 7)", () => {
  const file = (name: string): string => path.join(dir, name);
  let jpeg: Buffer;
  let png: Buffer;
  before(async () => {
    jpeg = await makeTestImage({ width: 200, height: 150, pattern: "photo", format: "jpeg" });
    png = await makeTestImage({ width: 200, height: 150, pattern: "noise", format: "png" });
  });

  it("a path that does not exist: names the path, where it was looked for, and what to check", async () => {
    await rejectsWith(
      loadImageRgb("no/such/photo.jpg"),
      /^Cannot load image "no\/such\/photo\.jpg": no such file/,
      new RegExp(`resolved to ${path.resolve("no/such/photo.jpg").replace(/[/.]/g, "\\$&")}`),
      /current directory/,
    );
  });

  it("a directory", async () => {
    await rejectsWith(loadImageRgb(dir), /it is a directory .*not an image file/);
  });

  it("an empty file or buffer", async () => {
    fs.writeFileSync(file("empty.jpg"), "");
    await rejectsWith(loadImageRgb(file("empty.jpg")), /empty\.jpg": it is empty \(0 bytes\)/, /JPEG, PNG, WebP, GIF or TIFF/);
    await rejectsWith(loadImageRgb(Buffer.alloc(0)), /the Buffer of 0 bytes: it is empty/);
  });

  it("a truncated JPEG and a truncated PNG", async () => {
    fs.writeFileSync(file("cut.jpg"), jpeg.subarray(0, jpeg.length >> 1));
    await rejectsWith(loadImageRgb(file("cut.jpg")), /cut\.jpg": the JPEG data is truncated or corrupt \(sharp: .+\)\. Re-download/);
    await rejectsWith(loadImageRgb(png.subarray(0, png.length >> 1)), /the PNG data is truncated or corrupt/);
    await rejectsWith(loadImageRgb(jpeg.subarray(0, 40)), /its JPEG header is corrupt or cut short/);
  });

  it("a text file renamed .jpg", async () => {
    fs.writeFileSync(file("notes.jpg"), "These are my notes, not a picture.\n");
    await rejectsWith(
      loadImageRgb(file("notes.jpg")),
      /notes\.jpg": it is text, not an image \(it starts with "These are my notes, not a picture\."\)/,
      /whatever the file name's extension says/,
    );
  });

  it("unsupported formats: one sharp cannot read (BMP) and one it can but Pillow cannot (SVG)", async () => {
    await rejectsWith(loadImageRgb(bmp1x1()), /its format is BMP, which is not supported/, /convert it first/);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>');
    await rejectsWith(loadImageRgb(svg), /its format is SVG, but only JPEG, PNG, WebP, GIF or TIFF images are supported/);
  });

  it("a 0x0 image (only a hand-made header can say so; sharp reports a corrupt header)", async () => {
    await rejectsWith(loadImageRgb(pngHeaderOnly(0, 0)), /declares a size of 0x0 pixels, but an image needs at least 1x1/);
  });

  it("a decompression bomb is refused from its header, before any pixel is decoded", async () => {
    // The file has no pixel data: decoding would fail with "truncated", so this message proves nothing was decoded.
    await rejectsWith(
      loadImageRgb(pngHeaderOnly(30000, 30000)),
      /^Refusing to decode image the Buffer of \d+ bytes: 30000x30000 = 900,000,000 pixels is above maxPixels = 178,956,970/,
      /pass \{ maxPixels: 900000000 \} \(or Infinity\)/,
    );
    assert.equal(DEFAULT_MAX_PIXELS, 178_956_970);
    await rejectsWith(loadImageRgb(pngHeaderOnly(30000, 30000), { maxPixels: Infinity }), /truncated or corrupt/);
  });

  it("maxPixels is inclusive and can be lowered", async () => {
    const image = await makeTestImage({ width: 100, height: 100, format: "png" });
    await rejectsWith(loadImageRgb(image, { maxPixels: 9999 }), /10,000 pixels is above maxPixels = 9,999/);
    assert.equal((await loadImageRgb(image, { maxPixels: 10000 })).width, 100);
  });

  it("bad options and inputs of the wrong type", async () => {
    await assert.rejects(loadImageRgb(png, { maxPixels: -1 }), /positive integer or Infinity for maxPixels but received -1/);
    await assert.rejects(loadImageRgb(png, { timeoutMs: 0 }), /positive number of milliseconds for timeoutMs but received 0/);
    await assert.rejects(loadImageRgb(png, { maxBytes: 0 }), /positive integer or Infinity for maxBytes but received 0/);
    await rejectsWith(loadImageRgb(42 as unknown as string), /from 42: expected a file path, an http\(s\) URL, or a Buffer/);
    await rejectsWith(loadImageRgb("ftp://example.com/a.jpg"), /only http:\/\/ and https:\/\/ URLs are supported/);
  });

  it("a file larger than maxBytes is refused before it is read", async () => {
    fs.writeFileSync(file("big.png"), png);
    const size = png.length.toLocaleString("en-US");
    await rejectsWith(loadImageRgb(file("big.png"), { maxBytes: 100 }), new RegExp(`big\\.png": the file is ${size} bytes, more than maxBytes = 100 bytes`), /pass a larger \{ maxBytes \}/);
    assert.equal((await loadImageRgb(file("big.png"), { maxBytes: png.length })).width, 200);
  });

  describe("URLs (a local server on 127.0.0.1)", () => {
    let server: http.Server;
    let base = "";
    const endless = { sent: 0 };
    before(async () => {
      server = http.createServer((req, res) => {
        if (req.url === "/endless.png") {
          res.writeHead(200, { "content-type": "image/png" });
          res.write(png);
          sendEndless(res, Buffer.alloc(64 * 1024, 0x78), endless);
        } else if (req.url === "/announces-300MiB.png") {
          res.writeHead(200, { "content-type": "image/png", "content-length": String(300 * 2 ** 20) }).flushHeaders();
        } else if (req.url === "/photo.png") {
          res.writeHead(200, { "content-type": "image/png" }).end(png);
        } else if (req.url === "/page.html") {
          res.writeHead(200, { "content-type": "text/html" }).end("<!DOCTYPE html><html><body>Photo</body></html>");
        } else if (req.url === "/stalls.jpg") {
          res.writeHead(200, { "content-type": "image/jpeg" }).write(jpeg.subarray(0, 100)); // never ends
        } else if (req.url !== "/never-answers.jpg") {
          res.writeHead(404, "Not Found").end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it("downloads and decodes an image", async () => {
      const image = await loadImageRgb(`${base}/photo.png`);
      assert.deepEqual(image.data, (await loadImageRgb(png)).data);
    });

    it("a 404 names the URL and the status", async () => {
      await rejectsWith(
        loadImageRgb(`${base}/missing.jpg`),
        new RegExp(`^Cannot download image ${base}/missing\\.jpg: the server answered HTTP 404 Not Found`),
        /download the image and pass its path/,
      );
    });

    it("a server that never answers, or stops mid-download, times out after timeoutMs", async () => {
      for (const name of ["never-answers.jpg", "stalls.jpg"]) {
        await rejectsWith(
          loadImageRgb(`${base}/${name}`, { timeoutMs: 300 }),
          new RegExp(`${name}: no complete answer within 300 ms \\(timeoutMs\\)`),
          /pass a larger timeoutMs/,
        );
      }
    });

    it("maxBytes stops a body as soon as more arrives (a body that never ends)", async () => {
      endless.sent = 0;
      await rejectsWith(
        loadImageRgb(`${base}/endless.png`, { maxBytes: 2 ** 20 }),
        /endless\.png: more than maxBytes = 1,048,576 bytes \(1 MiB\) arrived/,
        /pass a larger \{ maxBytes \}/,
      );
      assert.ok(endless.sent < 32 * 2 ** 20, `${endless.sent} bytes were sent`);
    });

    it("a Content-Length over the default maxBytes (256 MiB) is refused before the body is read", async () => {
      assert.equal(DEFAULT_MAX_BYTES, 256 * 2 ** 20);
      await rejectsWith(
        loadImageRgb(`${base}/announces-300MiB.png`, { timeoutMs: 3000 }),
        /its Content-Length is 314,572,800 bytes, more than maxBytes = 268,435,456 bytes \(256 MiB\)/,
      );
    });

    it("a refused connection", async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      await rejectsWith(loadImageRgb(`http://127.0.0.1:${port}/a.jpg`), /the request failed \(ECONNREFUSED\)/);
    });

    it("a web page instead of an image", async () => {
      await rejectsWith(loadImageRgb(`${base}/page.html`), /it is text, not an image \(it starts with "<!DOCTYPE html>/, /a URL may have returned a web page/);
    });
  });
});
