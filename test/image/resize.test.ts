import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RgbImage } from "../../src/image/image";
import { bicubicCoefficients, resizeBicubic } from "../../src/image/resize";
import {
  firstDifference,
  makeRgbPattern,
  makeTempDir,
  pillowUnavailableReason,
  pillowVersion,
  removeTempDir,
  runPillowScript,
  type TestPattern,
} from "../support/images";

const ONE = 2 ** 22; // Pillow's fixed-point 1.0 for 8-bit images
/** Pillow rounds normalized weights half away from zero. */
const fixed = (weight: number): number => Math.sign(weight) * Math.trunc(Math.abs(weight) * ONE + 0.5);

/** A grey image from one value per pixel (R = G = B). */
function grey(values: readonly number[], width: number, height: number): RgbImage {
  return { data: Uint8Array.from(values.flatMap((v) => [v, v, v])), width, height };
}

/** The R channel of an image, row-major. */
function red(image: RgbImage): number[] {
  return Array.from({ length: image.width * image.height }, (_, p) => image.data[3 * p]);
}

// Bicubic kernel values used below (a = -0.5), worked out by hand:
//   k(0.25) = (1.5*0.25 - 2.5)*0.25^2 + 1 = 111/128      k(0.75) = (1.5*0.75 - 2.5)*0.75^2 + 1 = 29/128
//   k(1.25) = -0.5*(((1.25 - 5)*1.25 + 8)*1.25 - 4) = -9/128
describe("resize.ts: Pillow's BICUBIC coefficients", () => {
  it("downscale 4 -> 2 widens the kernel to 4 source pixels (antialiasing)", () => {
    // scale 2: support 2*2 = 4, taps ceil(4)*2+1 = 9. Output 0 has centre 1.0: source pixels 0..3 at
    // distances (x + 0.5 - 1) / 2 = -0.25, 0.25, 0.75, 1.25 -> 111, 111, 29, -9 (/128), which sum to 242/128.
    const c = bicubicCoefficients(4, 2);
    assert.equal(c.taps, 9);
    assert.deepEqual([...c.first], [0, 0]);
    assert.deepEqual([...c.count], [4, 4]);
    assert.deepEqual([...c.weights.subarray(0, 4)], [111 / 242, 111 / 242, 29 / 242, -9 / 242].map(fixed));
    // Output 1 (centre 3.0) mirrors it.
    assert.deepEqual([...c.weights.subarray(9, 13)], [-9 / 242, 29 / 242, 111 / 242, 111 / 242].map(fixed));
  });

  it("upscale 2 -> 4 keeps support 2 and cuts the kernel at the image edges", () => {
    // scale 0.5: centres 0.25, 0.75, 1.25, 1.75; both source pixels are in reach of every output.
    // Output 0: distances 0.25, 1.25 -> 111, -9 (sum 102); output 1: distances 0.25, 0.75 -> 111, 29 (sum 140).
    const c = bicubicCoefficients(2, 4);
    assert.equal(c.taps, 5);
    assert.deepEqual([...c.count], [2, 2, 2, 2]);
    const slot = (i: number): number[] => [...c.weights.subarray(i * c.taps, i * c.taps + c.count[i])];
    assert.deepEqual(slot(0), [111 / 102, -9 / 102].map(fixed));
    assert.deepEqual(slot(1), [111 / 140, 29 / 140].map(fixed));
    assert.deepEqual(slot(2), [29 / 140, 111 / 140].map(fixed));
    assert.deepEqual(slot(3), [-9 / 102, 111 / 102].map(fixed));
  });

  it("keeps every window inside the image and the weights summing to about 1.0", () => {
    for (const [inSize, outSize] of [
      [1600, 768],
      [1066, 768],
      [37, 768],
      [1, 768],
      [5000, 7],
      [768, 768],
    ]) {
      const c = bicubicCoefficients(inSize, outSize);
      for (let i = 0; i < outSize; i++) {
        assert.ok(c.first[i] >= 0 && c.first[i] + c.count[i] <= inSize && c.count[i] <= c.taps);
        let sum = 0;
        for (let j = 0; j < c.count[i]; j++) sum += c.weights[i * c.taps + j];
        assert.ok(Math.abs(sum - ONE) <= c.count[i], `${inSize}->${outSize} output ${i}: weights sum to ${sum}`);
      }
    }
  });
});

describe("resize.ts: resizeBicubic on tiny images worked out by hand", () => {
  it("4x1 -> 2x1: each output blends all four pixels", () => {
    // Output 0 = 255 * (29 - 9) / 242 = 21.07 -> 21; output 1 = 255 * (111 + 111) / 242 = 233.9 -> 234.
    assert.deepEqual(red(resizeBicubic(grey([0, 0, 255, 255], 4, 1), 2, 1)), [21, 234]);
  });

  it("2x1 -> 4x1: overshoot is clipped to 0..255, channels are independent", () => {
    // R: 255 * (-9/102) < 0 -> 0; 255 * 29/140 = 52.8 -> 53; 255 * 111/140 = 202.2 -> 202; 255 * 111/102 > 255 -> 255.
    // G is constant 7 (weights sum to 1); B is R mirrored.
    const image = { data: Uint8Array.from([0, 7, 255, 255, 7, 0]), width: 2, height: 1 };
    const out = resizeBicubic(image, 4, 1);
    assert.deepEqual([...out.data], [0, 7, 255, 53, 7, 202, 202, 7, 53, 255, 7, 0]);
  });

  it("1x2 -> 1x4 (1 pixel wide): the vertical pass alone gives the same values", () => {
    assert.deepEqual(red(resizeBicubic(grey([0, 255], 1, 2), 1, 4)), [0, 53, 202, 255]);
  });

  it("2x2 -> 1x1 rounds to 8 bits between the passes, like Pillow", () => {
    // Scale 2 on both axes puts the centre at 1.0: weights 1/2, 1/2. Rows: (10 + 20)/2 = 15, (30 + 41)/2 = 35.5
    // -> 36; then (15 + 36)/2 = 25.5 -> 26. Averaging in one step would give 25.25 -> 25.
    assert.deepEqual(red(resizeBicubic(grey([10, 20, 30, 41], 2, 2), 1, 1)), [26]);
  });

  it("4x2 -> 2x1 (non-square): horizontal pass of the first test, then the average of the two rows", () => {
    // Row 0 -> [21, 234]; row 1 (all 255) -> [255, 255]; (21 + 255)/2 = 138, (234 + 255)/2 = 244.5 -> 245.
    const image = grey([0, 0, 255, 255, 255, 255, 255, 255], 4, 2);
    assert.deepEqual(red(resizeBicubic(image, 2, 1)), [138, 245]);
  });

  it("1x1 -> 768x768 fills the whole image with that colour", () => {
    const out = resizeBicubic({ data: Uint8Array.from([12, 34, 56]), width: 1, height: 1 }, 768, 768);
    assert.equal(out.data.length, 768 * 768 * 3);
    for (let i = 0; i < out.data.length; i += 3) {
      if (out.data[i] !== 12 || out.data[i + 1] !== 34 || out.data[i + 2] !== 56) assert.fail(`pixel ${i / 3} differs`);
    }
  });

  it("a solid colour stays exactly that colour at every scale", () => {
    for (const [w, h, outW, outH] of [
      [1600, 1066, 768, 768],
      [37, 1000, 768, 768],
      [5, 3, 64, 32],
    ]) {
      const image = makeRgbPattern({ width: w, height: h, pattern: "solid", color: [200, 1, 128] });
      const out = resizeBicubic(image, outW, outH);
      const expected = makeRgbPattern({ width: outW, height: outH, pattern: "solid", color: [200, 1, 128] });
      const wrong = firstDifference(out.data, expected.data);
      assert.equal(wrong, -1, `${w}x${h} -> ${outW}x${outH}: byte ${wrong} is ${out.data[wrong]}`);
    }
  });

  it("returns a copy when the size does not change and never modifies its input", () => {
    const image = makeRgbPattern({ width: 6, height: 4, pattern: "noise" });
    const before = image.data.slice();
    const same = resizeBicubic(image, 6, 4);
    assert.deepEqual(same.data, before);
    assert.notEqual(same.data.buffer, image.data.buffer);
    resizeBicubic(image, 3, 9);
    assert.deepEqual(image.data, before);
  });

  it("rejects a bad size or data of the wrong length with a message naming them", () => {
    const image = makeRgbPattern({ width: 4, height: 4, pattern: "noise" });
    assert.throws(() => resizeBicubic(image, 0, 4), /positive integer for width but received 0/);
    assert.throws(() => resizeBicubic(image, 4, 2.5), /positive integer for height but received 2.5/);
    assert.throws(
      () => resizeBicubic({ ...image, width: 5 }, 8, 8),
      /resizeBicubic: expected an RgbImage whose data is a Uint8Array of width \* height \* 3 = 60 bytes .* but received 48 bytes/,
    );
  });
});

/** Resizes raw RGB files with Pillow: argv = [jobs.json]; each job {src, width, height, outWidth, outHeight, dst}. */
const PILLOW_RESIZE = `
import json, sys
from PIL import Image
BICUBIC = getattr(Image, "Resampling", Image).BICUBIC
for job in json.load(open(sys.argv[1])):
    with open(job["src"], "rb") as f:
        im = Image.frombytes("RGB", (job["width"], job["height"]), f.read())
    with open(job["dst"], "wb") as f:
        f.write(im.resize((job["outWidth"], job["outHeight"]), BICUBIC).tobytes())
`;

describe("resize.ts: resizeBicubic is bit-identical to Pillow's Image.resize(size, BICUBIC)", function () {
  const cases: { width: number; height: number; pattern: TestPattern; outWidth: number; outHeight: number }[] = [
    { width: 1600, height: 1066, pattern: "photo", outWidth: 768, outHeight: 768 },
    { width: 1600, height: 1066, pattern: "noise", outWidth: 768, outHeight: 768 },
    { width: 500, height: 300, pattern: "noise", outWidth: 768, outHeight: 768 },
    { width: 37, height: 1000, pattern: "noise", outWidth: 768, outHeight: 768 },
    { width: 100, height: 100, pattern: "photo", outWidth: 768, outHeight: 768 },
    { width: 5, height: 3, pattern: "noise", outWidth: 768, outHeight: 768 },
    { width: 1, height: 7, pattern: "noise", outWidth: 768, outHeight: 768 },
    { width: 768, height: 500, pattern: "noise", outWidth: 768, outHeight: 768 }, // no horizontal pass
    { width: 900, height: 768, pattern: "gradient", outWidth: 768, outHeight: 768 }, // no vertical pass
    { width: 3001, height: 97, pattern: "checker", outWidth: 768, outHeight: 768 },
    { width: 640, height: 480, pattern: "noise", outWidth: 33, outHeight: 250 },
  ];
  let dir = "";
  const inputs = new Map<number, RgbImage>();
  const pillowOutput = new Map<number, Buffer>();

  before(function () {
    const why = pillowUnavailableReason();
    if (why) {
      console.log(`      skipped: no Pillow reference (${why})`);
      this.skip();
    }
    dir = makeTempDir("florence2-resize-");
    const jobs = cases.map((c, i) => {
      const src = path.join(dir, `in-${i}.rgb`);
      inputs.set(i, makeRgbPattern({ ...c, seed: i + 1 }));
      fs.writeFileSync(src, (inputs.get(i) as RgbImage).data);
      return { ...c, src, dst: path.join(dir, `out-${i}.rgb`) };
    });
    fs.writeFileSync(path.join(dir, "jobs.json"), JSON.stringify(jobs));
    runPillowScript(PILLOW_RESIZE, [path.join(dir, "jobs.json")]);
    jobs.forEach((job, i) => pillowOutput.set(i, fs.readFileSync(job.dst)));
  });

  after(() => {
    if (dir) removeTempDir(dir);
  });

  cases.forEach((c, i) => {
    it(`${c.width}x${c.height} ${c.pattern} -> ${c.outWidth}x${c.outHeight}`, () => {
      const expected = pillowOutput.get(i) as Buffer;
      const ours = resizeBicubic(inputs.get(i) as RgbImage, c.outWidth, c.outHeight).data;
      const first = firstDifference(ours, expected);
      assert.equal(
        first,
        -1,
        `Pillow ${pillowVersion()} differs first at byte ${first}: ours ${ours[first]}, Pillow ${expected[first]}`,
      );
    });
  });
});
