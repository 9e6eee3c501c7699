import assert from "node:assert/strict";
import { makeRng, randomGeneration, runPostprocessFuzz } from "../fuzz/postprocess";
import { TASKS } from "../../src/text/tasks";

// The short seeded run of the post-processor fuzz (issue 7); the long one is `npx tsx test/fuzz/postprocess.ts`.
describe("post-processor fuzz (short seeded run)", function () {
  it("never throws and always gives the reference's structure with finite float32 coordinates", function () {
    const summary = runPostprocessFuzz(3000, 20240615);
    assert.equal(summary.failureCount, 0, JSON.stringify(summary.failures.slice(0, 3), null, 2));
  });

  it("reaches every result kind, and mostly with non-empty results", function () {
    const summary = runPostprocessFuzz(3000, 7);
    assert.deepEqual(new Set(Object.keys(summary.perKind)), new Set(TASKS.map((t) => t.resultKind)));
    for (const [kind, stats] of Object.entries(summary.perKind)) {
      assert.ok(stats.nonEmpty > stats.texts / 2, `${kind}: only ${stats.nonEmpty} of ${stats.texts} texts gave a result`);
    }
  });

  it("is reproducible from its seed", function () {
    const texts = (seed: number): string[] => {
      const rng = makeRng(seed);
      return Array.from({ length: 50 }, () => randomGeneration(rng));
    };
    assert.deepEqual(texts(42), texts(42));
    assert.notDeepEqual(texts(42), texts(43));
    assert.ok(texts(42).some((t) => /<loc_\d+>/.test(t) && t.includes("\n")), "texts mix loc tokens and newlines");
  });
});
