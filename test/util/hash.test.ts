import { strict as assert } from "node:assert";
import { fnv1a } from "../../src/util/hash";

describe("hash: fnv1a", () => {
  it("gives the published FNV-1a 32-bit test vectors (ASCII, where UTF-16 code units are the bytes)", () => {
    assert.equal(fnv1a(""), 0x811c9dc5);
    assert.equal(fnv1a("a"), 0xe40c292c);
    assert.equal(fnv1a("foobar"), 0xbf9cf968);
  });

  it("mixes a seed into the offset basis, so equal names under other seeds hash apart", () => {
    assert.equal(fnv1a("car", 0), fnv1a("car"));
    assert.notEqual(fnv1a("car", 1), fnv1a("car"));
    assert.ok(Number.isInteger(fnv1a("日本", 2 ** 32 - 1)) && fnv1a("日本", 2 ** 32 - 1) >= 0);
  });
});
