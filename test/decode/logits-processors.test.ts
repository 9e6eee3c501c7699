import * as assert from "node:assert/strict";
import { EXP_NEG_RANGE, LogitsProcessor, argmax, expNeg, scanRow } from "../../src/decode/logits-processors";
import { logSoftmax, logSumExp } from "../support/decode";
import { mulberry32 } from "../support/prng";

/** HF `_get_ngrams` + `_get_generated_ngrams`, written the Python way: a dict from (n-1)-gram to followers. */
function pythonBannedTokens(ids: number[], n: number): number[] {
  const curLen = ids.length;
  if (n <= 0 || curLen + 1 < n) return [];
  const generated = new Map<string, number[]>();
  for (let j = 0; j + n <= ids.length; j++) {
    const ngram = ids.slice(j, j + n);
    const key = ngram.slice(0, -1).join(",");
    generated.set(key, [...(generated.get(key) ?? []), ngram[n - 1]]);
  }
  const startIdx = curLen + 1 - n;
  return generated.get(ids.slice(startIdx, curLen).join(",")) ?? [];
}


const processor = (over: Partial<ConstructorParameters<typeof LogitsProcessor>[0]> = {}) =>
  new LogitsProcessor({ noRepeatNgramSize: 3, forcedBosTokenId: 0, forcedEosTokenId: 2, maxLength: 20, ...over });

describe("logits-processors: NoRepeatNGram", () => {
  it("bans the token that followed the last n-1 tokens earlier in the row", () => {
    // [2, 0, 5, 6, 9, 5, 6]: the tail (5, 6) was followed by 9 before.
    assert.deepEqual(processor().bannedTokens([2, 0, 5, 6, 9, 5, 6]), [9]);
    // Every earlier occurrence counts, in order, duplicates kept.
    assert.deepEqual(processor().bannedTokens([7, 7, 1, 7, 7, 3, 7, 7, 1, 7, 7]), [1, 3, 1]);
  });

  it("counts the start token as part of the row", () => {
    // (2, 0) was followed by 4 at the very start; the row now ends with 2, 0 again.
    assert.deepEqual(processor().bannedTokens([2, 0, 4, 2, 0]), [4]);
  });

  it("bans nothing before a complete n-gram can exist, or when off", () => {
    assert.deepEqual(processor().bannedTokens([2]), []);
    assert.deepEqual(processor().bannedTokens([2, 0]), []);
    assert.deepEqual(processor({ noRepeatNgramSize: 0 }).bannedTokens([5, 5, 5, 5]), []);
  });

  it("with n = 1 bans every token already in the row, as HF does", () => {
    assert.deepEqual(processor({ noRepeatNgramSize: 1 }).bannedTokens([2, 0, 9]), [2, 0, 9]);
  });

  it("agrees with HF's dictionary construction on random rows (n = 1..5)", () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 2000; trial++) {
      const n = 1 + Math.floor(rand() * 5);
      const len = 1 + Math.floor(rand() * 30);
      const alphabet = 1 + Math.floor(rand() * 4); // small alphabets make repeats frequent
      const ids = Array.from({ length: len }, () => Math.floor(rand() * alphabet));
      assert.deepEqual(processor({ noRepeatNgramSize: n }).bannedTokens(ids), pythonBannedTokens(ids, n), `ids ${ids} n ${n}`);
    }
  });
});

describe("logits-processors: forced BOS/EOS and processor order", () => {
  it("forces BOS only when the row holds just the start token", () => {
    const p = processor();
    assert.equal(p.forcedToken(1), 0);
    assert.equal(p.forcedToken(2), -1);
    assert.equal(p.forcedToken(18), -1);
  });

  it("forces EOS when the row is one token short of max_length", () => {
    assert.equal(processor({ maxLength: 20 }).forcedToken(19), 2);
    assert.equal(processor({ maxLength: 20 }).forcedToken(20), -1);
  });

  it("lets ForcedEOS win over ForcedBOS when both apply (max_new_tokens = 1)", () => {
    assert.equal(processor({ maxLength: 2 }).forcedToken(1), 2);
  });

  it("forces nothing when the ids are null", () => {
    const p = processor({ forcedBosTokenId: null, forcedEosTokenId: null });
    assert.equal(p.forcedToken(1), -1);
    assert.equal(p.forcedToken(19), -1);
  });

  it("apply: bans become -inf, the rest untouched", () => {
    const row = new Float32Array([0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    processor().apply(row, [2, 0, 5, 6, 9, 5, 6]);
    assert.deepEqual(Array.from(row), [0.5, 1, 2, 3, 4, 5, 6, 7, 8, -Infinity]);
  });

  it("apply: a forced token gets 0 and everything else -inf, even if the n-gram rule banned it", () => {
    // Row of length 19 with maxLength 20 -> EOS forced; the tail (0, 9) was followed by 2 earlier.
    const ids = [2, 0, 9, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 0, 9];
    assert.ok(processor().bannedTokens(ids).includes(2));
    const row = new Float64Array(20).fill(3);
    processor().apply(row, ids);
    assert.equal(row[2], 0);
    assert.equal(row.filter((v) => v === -Infinity).length, 19);
  });
});

describe("logits-processors: argmax and log_softmax", () => {
  it("argmax returns the first of equal maxima, relative to the start", () => {
    assert.equal(argmax([1, 3, 3, 2]), 1);
    assert.equal(argmax([9, 9, 1, 5, 5, 0], 2, 6), 1);
    assert.equal(argmax([-Infinity, -Infinity, 0]), 2);
  });

  it("log_softmax sums to one in probability and keeps differences", () => {
    const row = [1000, 1001, 999.5, -50];
    const lp = logSoftmax(row);
    const total = Array.from(lp).reduce((s, v) => s + Math.exp(v), 0);
    assert.ok(Math.abs(total - 1) < 1e-12);
    assert.ok(Math.abs(lp[1] - lp[0] - 1) < 1e-12);
    // Direct formula with the max shifted out by hand.
    const direct = Math.log(Math.exp(-1) + 1 + Math.exp(-1.5) + Math.exp(-1051));
    assert.ok(Math.abs(logSumExp(row) - (1001 + direct)) < 1e-12);
  });

  it("log_softmax handles -inf entries and an all -inf row", () => {
    const lp = logSoftmax([0, -Infinity, 0]);
    assert.equal(lp[1], -Infinity);
    assert.ok(Math.abs(lp[0] - Math.log(0.5)) < 1e-15);
    assert.equal(logSumExp([-Infinity, -Infinity]), -Infinity);
  });
});

describe("logits-processors: fast exp and the one-pass row scan", () => {
  it("expNeg(x) is within 1e-11 (relative) of Math.exp(-x) over its range", () => {
    let worst = 0;
    for (let i = 0; i < 200000; i++) {
      const x = (i / 200000) * EXP_NEG_RANGE;
      worst = Math.max(worst, Math.abs(expNeg(x) / Math.exp(-x) - 1));
    }
    assert.ok(worst < 1e-11, `worst relative error ${worst}`);
  });

  it("logSumExp agrees with the direct float64 formula on vocabulary-size rows", () => {
    const rand = mulberry32(3);
    for (const spread of [1, 10, 40, 200]) {
      const row = new Float32Array(51289).map(() => (rand() - 0.5) * spread);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      assert.ok(Math.abs(logSumExp(row) - (max + Math.log(sum))) < 1e-10, `spread ${spread}`);
    }
  });

  it("scanRow gives the log-sum-exp and the best logits, ties in index order, from any offset", () => {
    const rand = mulberry32(11);
    for (let trial = 0; trial < 300; trial++) {
      const length = 1 + Math.floor(rand() * 60);
      const offset = Math.floor(rand() * 5);
      const quantized = trial % 2 === 0; // many ties
      const data = new Float32Array(offset + length + 3).map(() => (quantized ? Math.round(rand() * 4) : (rand() - 0.5) * 30));
      if (trial % 7 === 0) data[offset + Math.floor(rand() * length)] = -Infinity;
      const capacity = 1 + Math.floor(rand() * 8);
      const values = new Float64Array(capacity);
      const indices = new Int32Array(capacity);
      const { lse, count } = scanRow(data, offset, length, capacity, values, indices);
      const row = Array.from(data.subarray(offset, offset + length));
      const expected = row.map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v || a.i - b.i).slice(0, capacity);
      assert.equal(count, expected.length);
      assert.deepEqual(Array.from(indices.subarray(0, count)), expected.map((e) => e.i));
      assert.deepEqual(Array.from(values.subarray(0, count)), expected.map((e) => e.v));
      assert.ok(Math.abs(lse - logSumExp(row)) < 1e-9, `lse ${lse} vs ${logSumExp(row)}`);
    }
  });
});
