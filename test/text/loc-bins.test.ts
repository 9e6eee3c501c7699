import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  binFromDigits,
  dequantize,
  LOC_BIN_SOURCE,
  LOC_TOKEN_SOURCE,
  locBin,
  locBinsIn,
  locToken,
  locTokens,
  MAX_BIN,
  parseLocRegion,
  quantize,
  QUANTIZATION_BINS,
  replaceLocTokens,
} from "../../src/text/loc-bins";

const PYTHON = "/usr/bin/python3";

/** Runs a numpy script that prints JSON, or returns undefined (after saying why) when Python or numpy is missing. */
function numpy<T>(script: string, input: unknown): T | undefined {
  if (!existsSync(PYTHON)) {
    console.log(`    skipped: ${PYTHON} not found`);
    return undefined;
  }
  const run = spawnSync(PYTHON, ["-c", `import json, sys\nimport numpy as np\n${script}`], {
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (run.status !== 0) {
    console.log(`    skipped: ${PYTHON} with numpy failed: ${run.stderr.trim().split("\n").pop()}`);
    return undefined;
  }
  return JSON.parse(run.stdout) as T;
}

describe("loc-bins", function () {
  describe("dequantize (bins -> pixels, float32 like the reference's torch code)", function () {
    it("gives the reference's float32 values", function () {
      // float32, not 33.6 (the reference's `CoordinatesQuantizer.dequantize`), on the walkthrough's OD example (640x480)
      assert.equal(dequantize(52, 640), 33.599998474121094);
      assert.equal(dequantize(332, 480), 159.59999084472656);
      assert.equal(dequantize(932, 640), 596.7999877929688);
      assert.equal(dequantize(774, 480), 371.7599792480469);
    });

    it("uses the bin centre and does not clamp", function () {
      assert.equal(dequantize(0, 1000), 0.5);
      assert.equal(dequantize(999, 1000), 999.5);
      assert.equal(dequantize(12345, 1000), 12345.5);
      assert.equal(dequantize(7, 0), 0);
    });

    it("matches numpy float32 arithmetic for every bin on many image sizes", function () {
      this.timeout(30_000);
      const sizes = [1, 2, 3, 7, 100, 333, 403, 480, 500, 640, 768, 999, 1000, 1066, 1600, 1920, 4032, 12345, 0.5, 333.25];
      const bins = [...Array.from({ length: QUANTIZATION_BINS }, (_, i) => i), 1000, 1024, 65535, 16777215];
      // torch: int64 tensor + 0.5 -> float32 tensor; * (size / 1000) -> the scalar is cast to float32 first
      const expected = numpy<number[][]>(
        "d = json.load(sys.stdin)\n" +
          "b = np.array(d['bins'], dtype=np.int64).astype(np.float32) + np.float32(0.5)\n" +
          "print(json.dumps([(b * np.float32(s / 1000)).astype(np.float32).tolist() for s in d['sizes']]))",
        { bins, sizes },
      );
      if (!expected) this.skip();
      sizes.forEach((size, s) => bins.forEach((bin, b) => assert.equal(dequantize(bin, size), expected[s][b], `bin ${bin}, size ${size}`)));
    });
  });

  describe("quantize (pixels -> bins, floor and clamp)", function () {
    const rows: [number, number, number][] = [
      // value, size, bin
      [0, 640, 0],
      [33.6, 640, 52],
      [0.64, 640, 1],
      [0.63, 640, 0],
      [639.99, 640, 999],
      [640, 640, 999],
      [-5, 640, 0],
      [1e9, 640, 999],
      [240, 480, 500],
    ];
    for (const [value, size, bin] of rows) {
      it(`${value} px on ${size} px -> bin ${bin}`, function () {
        assert.equal(quantize(value, size), bin);
      });
    }

    it("inverts dequantize for every bin", function () {
      for (const size of [1, 403, 480, 640, 1066, 1600, 4032]) {
        for (let bin = 0; bin <= MAX_BIN; bin++) assert.equal(quantize(dequantize(bin, size), size), bin, `bin ${bin}, size ${size}`);
      }
    });

    it("matches numpy float32 floor(x / (size / 1000)) clipped to 0..999", function () {
      const values = Array.from({ length: 2000 }, (_, i) => (i * 7.31) % 1700 - 50);
      const sizes = [403, 640, 1066, 1600];
      const expected = numpy<number[][]>(
        "d = json.load(sys.stdin)\nx = np.array(d['values'], dtype=np.float32)\n" +
          "print(json.dumps([np.clip(np.floor((x / np.float32(s / 1000)).astype(np.float32)), 0, 999).astype(int).tolist() for s in d['sizes']]))",
        { values, sizes },
      );
      if (!expected) this.skip();
      sizes.forEach((size, s) => values.forEach((value, v) => assert.equal(quantize(value, size), expected[s][v], `${value} px, size ${size}`)));
    });
  });

  describe("binFromDigits (loc number -> the float32 bin torch holds)", function () {
    const rows: [string, number][] = [
      ["0", 0],
      ["007", 7],
      ["999", 999],
      ["12345", 12345],
      ["16777216", 16777216],
      ["16777217", 16777216], // float32 ties to even
      ["16777219", 16777220],
      ["9007199254740993", 9007199254740992],
      // 2^60 + 2^36 + 1: a double rounds it onto the float32 midpoint 2^60 + 2^36, which would then round
      // down to 2^60; the correct single rounding goes up to 2^60 + 2^37
      [(2n ** 60n + 2n ** 36n + 1n).toString(), 2 ** 60 + 2 ** 37],
      ["9223372036854775807", 2 ** 63],
      ["0000000000000000000000000042", 42],
      ["9".repeat(40), 2 ** 63], // beyond int64: saturates where the reference raises
    ];
    for (const [digits, bin] of rows) {
      it(`${digits.length > 24 ? digits.slice(0, 12) + "..." : digits} -> ${bin}`, function () {
        assert.equal(binFromDigits(digits), bin);
      });
    }

    it("matches numpy's int64 -> float32 conversion", function () {
      const numbers: string[] = [];
      for (let shift = 24n; shift < 63n; shift += 3n) {
        for (const delta of [-1n, 0n, 1n, 2n, 3n]) numbers.push((2n ** shift + (2n ** (shift - 24n)) * 3n + delta).toString());
        numbers.push((2n ** shift + 2n ** (shift - 24n) + 1n).toString());
      }
      const expected = numpy<number[]>(
        "d = json.load(sys.stdin)\nprint(json.dumps(np.array([int(s) for s in d], dtype=np.int64).astype(np.float32).tolist()))",
        numbers,
      );
      if (!expected) this.skip();
      numbers.forEach((digits, i) => assert.equal(binFromDigits(digits), expected[i], digits));
    });
  });

  describe("tokens: writing", () => {
    it("writes the vocabulary's tokens, and refuses a bin that has none", () => {
      assert.equal(locToken(0), "<loc_0>");
      assert.equal(locToken(999), "<loc_999>");
      assert.equal(locTokens([52, 332, 932, 774]), "<loc_52><loc_332><loc_932><loc_774>");
      for (const bad of [-1, 1000, 1.5, NaN]) assert.throws(() => locToken(bad), /Expected a loc bin, an integer from 0 to 999/, String(bad));
    });
  });

  describe("the reference reader (generated text)", () => {
    it("reads what Python's \\d and int() read: any Unicode decimal digits, zero padding, bins beyond 999", () => {
      assert.deepEqual(locBinsIn("car<loc_52><loc_007>x<loc_12345><loc_٣><loc_３><loc_१०>"), [52, 7, 12345, 3, 3, 10]);
      assert.equal(locBin("٣"), 3);
      assert.equal(locBin("𝟗"), 9); // MATHEMATICAL BOLD DIGIT NINE, outside the BMP
    });

    it("reads no malformed token", () => {
      assert.deepEqual(locBinsIn("<loc_><loc_-1><loc_1.5><LOC_1><loc_ 1><loc_x>"), []);
    });

    it("offers its pattern sources for the post-processor's composed patterns", () => {
      assert.deepEqual("a<loc_1>b<loc_٢>".match(new RegExp(LOC_TOKEN_SOURCE, "gu")), ["<loc_1>", "<loc_٢>"]);
      assert.equal(new RegExp(LOC_BIN_SOURCE, "u").exec("<loc_42>")?.[1], "42");
    });

    it("replaces every token it reads", () => {
      assert.equal(replaceLocTokens("car<loc_1><loc_٢> door<loc_3>", "|"), "car|| door|");
    });
  });

  describe("the region reader (user input)", () => {
    it("accepts exactly four vocabulary tokens", () => {
      assert.deepEqual(parseLocRegion("<loc_52><loc_332><loc_932><loc_774>"), [52, 332, 932, 774]);
      assert.deepEqual(parseLocRegion("<loc_0><loc_0><loc_999><loc_999>"), [0, 0, 999, 999]);
    });

    it("refuses what the reference would read but the vocabulary lacks, and anything around the tokens", () => {
      const bad = [
        "<loc_1><loc_2><loc_3>", "<loc_1><loc_2><loc_3><loc_4><loc_5>", "<loc_1000><loc_2><loc_3><loc_4>",
        "<loc_01><loc_2><loc_3><loc_4>", "<loc_٣><loc_2><loc_3><loc_4>", " <loc_1><loc_2><loc_3><loc_4>",
        "<loc_1> <loc_2><loc_3><loc_4>", "<loc_1><loc_2><loc_3><loc_4>\n", "",
      ];
      for (const text of bad) assert.equal(parseLocRegion(text), undefined, JSON.stringify(text));
    });
  });
});
