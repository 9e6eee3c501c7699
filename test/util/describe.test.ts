import { strict as assert } from "node:assert";
import { describeList, describeValue } from "../../src/util/describe";

describe("describeValue: how error messages name what they received", () => {
  const rows: [string, unknown, string][] = [
    ["undefined", undefined, "undefined"],
    ["null", null, "null"],
    ["a string, quoted", "0", '"0"'],
    ["an empty string", "", 'an empty string ""'],
    ["a blank string", "  ", 'a blank string "  "'],
    ["a long string, cut", "x".repeat(100), `"${"x".repeat(59)}…"`],
    ["a number", -1, "-1"],
    ["NaN", NaN, "NaN"],
    ["a boolean", true, "true"],
    ["a bigint", 5n, "5n"],
    ["a named function", function work() {}, "the function work"],
    ["an arrow function", (() => () => 1)(), "a function"],
    ["an array", [1, 2, 3], "an array of length 3"],
    ["a Buffer", Buffer.alloc(10), "a Buffer of 10 bytes"],
    ["a Uint8Array", new Uint8Array(4), "a Uint8Array of 4 bytes"],
    ["a Float32Array", new Float32Array(2), "a Float32Array of 2 elements"],
    ["a plain object", { width: 1, height: 2 }, "an object with keys [width, height]"],
    ["an empty object", {}, "an empty object {}"],
    ["an object without prototype", Object.create(null), "an empty object {}"],
    ["a class instance", new Map(), "a Map"],
    ["a class instance starting with a vowel", new AbortController(), "an AbortController"],
  ];
  for (const [name, value, expected] of rows) {
    it(name, () => assert.equal(describeValue(value), expected));
  }

  it("lists at most 8 keys of an object", () => {
    const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i]));
    assert.equal(describeValue(many), "an object with keys [k0, k1, k2, k3, k4, k5, ... (12 in all)]");
  });
});

describe("describeList", () => {
  it("gives every name up to the limit, else the first ones and the count", () => {
    assert.equal(describeList(["a", "b", "c"]), "a, b, c");
    const names = Array.from({ length: 24 }, (_, i) => `past_key_values.${i}`);
    assert.equal(describeList(names), `${names.slice(0, 6).join(", ")}, ... (24 in all)`);
    assert.equal(describeList(names.slice(0, 8)), names.slice(0, 8).join(", "));
    assert.equal(describeList(["a", "b", "c", "d"], 3), "a, ... (4 in all)");
  });
});
