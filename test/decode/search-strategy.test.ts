/**
 * Search strategies: greedy and beam search behind one interface, each reading only its own rows of a batch's
 * logits, with its own limits. The search rules themselves are checked in beam-search.test.ts and logits.test.ts.
 */
import * as assert from "node:assert/strict";
import { BeamSearch } from "../../src/decode/beam-search";
import { LogitsProcessor } from "../../src/decode/logits-processors";
import { BeamSearchStrategy, GreedySearch, createSearchStrategy, decoderLengthLimit, type DecodingOptions } from "../../src/decode/search-strategy";

const V = 16;
const TOKENS = { decoderStartTokenId: 2, eosTokenId: 2, forcedBosTokenId: 0, forcedEosTokenId: 2 };
const OPTIONS: DecodingOptions = { numBeams: 1, maxNewTokens: 6, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 0 };

/** A seeded row of logits per (step, row). */
function logitsFor(step: number, rows: number): Float32Array {
  const out = new Float32Array(rows * V);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(1 + step * 31 + i * 7.3) * 2;
  return out;
}

describe("SearchStrategy (GreedySearch, BeamSearchStrategy)", () => {
  it("picks greedy or beam search by numBeams, with the model's limits", () => {
    assert.ok(createSearchStrategy(OPTIONS, TOKENS, V, 1024) instanceof GreedySearch);
    const beams = createSearchStrategy({ ...OPTIONS, numBeams: 3 }, TOKENS, V, 1024);
    assert.ok(beams instanceof BeamSearchStrategy);
    assert.equal(beams.width, 3);
    assert.equal(decoderLengthLimit(1024, 1024), 1024);
    assert.equal(decoderLengthLimit(5000, 1024), 1024);
    assert.equal(decoderLengthLimit(20, 1024), 20);
  });

  it("greedy: reads only its row of the batch, forces <s> then </s> at the limit", () => {
    const decoder = createSearchStrategy(OPTIONS, TOKENS, V, 1024);
    let step = 0;
    while (!decoder.isFinished) {
      const logits = logitsFor(step, 4);
      // Rows other than 2 hold a huge logit that would win if the decoder read them.
      for (const r of [0, 1, 3]) logits[r * V + 7] = 1e6;
      const { sourceBeams, tokens } = decoder.step(logits, [2]);
      assert.deepEqual(Array.from(sourceBeams), [0]);
      assert.equal(tokens[0], decoder.current[decoder.current.length - 1]);
      step++;
    }
    const { ids, score } = decoder.finalize();
    assert.equal(score, null);
    assert.equal(ids[1], 0, "forced <s>");
    assert.ok(!ids.includes(7));
    assert.ok(ids.length <= 1 + OPTIONS.maxNewTokens);
    assert.equal(ids[ids.length - 1], 2);
  });

  it("beam search: the rows it is told to read, anywhere in the batch, give what BeamSearch gives on its own rows", () => {
    const options = { ...OPTIONS, numBeams: 3, maxNewTokens: 8, earlyStopping: false as const };
    const decoder = createSearchStrategy(options, TOKENS, V, 1024);
    const processor = new LogitsProcessor({ noRepeatNgramSize: 0, forcedBosTokenId: 0, forcedEosTokenId: 2, maxLength: 9 });
    const reference = new BeamSearch({ numBeams: 3, vocabSize: V, eosTokenId: 2, lengthPenalty: 1, earlyStopping: false, maxLength: 9 }, [2]);
    let step = 0;
    while (!reference.isFinished) {
      const own = logitsFor(step, 3); // beam b's row is b
      // In the batch, beam b sits in row 5 - b of 6 rows; the others belong to other requests.
      const batch = logitsFor(step + 100, 6);
      for (let b = 0; b < 3; b++) batch.set(own.subarray(b * V, (b + 1) * V), (5 - b) * V);
      const expected = reference.step(own, processor);
      const got = decoder.step(batch, [5, 4, 3]);
      assert.deepEqual(Array.from(got.sourceBeams), Array.from(expected.sourceBeams));
      assert.deepEqual(Array.from(got.tokens), Array.from(expected.tokens));
      assert.deepEqual(decoder.current, reference.sequences[0]);
      step++;
    }
    assert.equal(decoder.isFinished, true);
    assert.deepEqual(decoder.finalize(), reference.finalize());
  });
});
