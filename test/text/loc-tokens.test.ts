import { strict as assert } from "node:assert";
import { LOC_BIN_SOURCE, LOC_TOKEN_SOURCE, locBin, locBinsIn, locToken, locTokens, parseLocRegion, replaceLocTokens } from "../../src/text/loc-tokens";

describe("loc-tokens", () => {
  describe("writing", () => {
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
