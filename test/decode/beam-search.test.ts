import * as assert from "node:assert/strict";
import { BeamHypotheses, BeamSearch, type EarlyStopping } from "../../src/decode/beam-search";
import { LogitsProcessor } from "../../src/decode/logits-processors";
import { mulberry32 } from "../support/prng";

/**
 * A straightforward HF v4.44 beam search, written after the Python sources (transformers/generation/beam_search.py's
 * `BeamSearchScorer.process` / `finalize` and `BeamHypotheses`, the pre-rewrite `_beam_search` loop, and
 * logits_process.py's no-repeat-ngram and forced BOS/EOS processors) with none
 * of the engine's shortcuts: every beam's logits recomputed from its full history, float64 log_softmax
 * materialised, the processors applied to full rows, all beams x V candidates sorted, Python's list semantics
 * for the hypotheses. It records which rules fired so the tests can check that the cases exercise them.
 */
interface RefOptions {
  numBeams: number;
  vocabSize: number;
  maxNewTokens: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  noRepeatNgramSize: number;
}
type Decoder = (sequence: readonly number[]) => Float32Array;
const START = 2;
const BOS = 0;
const EOS = 2;

interface RefEvents {
  reordered: number;
  eosSkippedAtLowRank: number;
  hypothesisReplaced: number;
  finishedLengths: Set<number>;
  stoppedByDone: number;
  stoppedByMaxLength: number;
  bans: number;
}

function newEvents(): RefEvents {
  return {
    reordered: 0,
    eosSkippedAtLowRank: 0,
    hypothesisReplaced: 0,
    finishedLengths: new Set(),
    stoppedByDone: 0,
    stoppedByMaxLength: 0,
    bans: 0,
  };
}

function referenceBeamSearch(decoder: Decoder, o: RefOptions, events: RefEvents): { ids: number[]; score: number } {
  const V = o.vocabSize;
  const maxLength = 1 + o.maxNewTokens;
  let inputIds: number[][] = Array.from({ length: o.numBeams }, () => [START]);
  let beamScores: number[] = inputIds.map((_, b) => (b === 0 ? 0 : -1e9));
  const beams: [number, number[]][] = []; // Python list of (score, hyp)
  let worstScore = 1e9;
  const add = (hyp: number[], sumLogprobs: number, generatedLen: number) => {
    const score = sumLogprobs / generatedLen ** o.lengthPenalty;
    if (beams.length < o.numBeams || score > worstScore) {
      beams.push([score, hyp]);
      if (beams.length > o.numBeams) {
        const sortedNext = beams.map(([s], idx) => [s, idx]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        beams.splice(sortedNext[0][1], 1);
        worstScore = sortedNext[1][0];
        events.hypothesisReplaced++;
      } else {
        worstScore = Math.min(score, worstScore);
      }
    }
  };
  const isDone = (best: number, curLen: number) => {
    if (beams.length < o.numBeams) return false;
    if (o.earlyStopping === true) return true;
    const denominator = o.earlyStopping === "never" && o.lengthPenalty > 0 ? maxLength - 1 : curLen - 1;
    return worstScore >= best / denominator ** o.lengthPenalty;
  };

  let done = false;
  for (;;) {
    const curLen = inputIds[0].length;
    const flat: number[] = [];
    for (let b = 0; b < o.numBeams; b++) {
      const logits = Array.from(decoder(inputIds[b]));
      let max = -Infinity;
      for (const x of logits) max = Math.max(max, x);
      const lse = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
      let scores = logits.map((x) => x - lse);
      // NoRepeatNGram
      if (o.noRepeatNgramSize > 0 && curLen + 1 >= o.noRepeatNgramSize) {
        const n = o.noRepeatNgramSize;
        const row = inputIds[b];
        const generated = new Map<string, number[]>();
        for (let j = 0; j + n <= row.length; j++) {
          const key = row.slice(j, j + n - 1).join(",");
          generated.set(key, [...(generated.get(key) ?? []), row[j + n - 1]]);
        }
        for (const t of generated.get(row.slice(curLen + 1 - n, curLen).join(",")) ?? []) {
          scores[t] = -Infinity;
          events.bans++;
        }
      }
      // ForcedBOS, then ForcedEOS
      if (curLen === 1) scores = scores.map((_, v) => (v === BOS ? 0 : -Infinity));
      if (curLen === maxLength - 1) scores = scores.map((_, v) => (v === EOS ? 0 : -Infinity));
      for (const s of scores) flat.push(s + beamScores[b]);
    }
    const order = flat.map((_, i) => i).sort((a, b) => (flat[b] > flat[a] ? 1 : flat[b] < flat[a] ? -1 : a - b));
    const top = order.slice(0, 2 * o.numBeams);
    const next: { beam: number; token: number; score: number }[] = [];
    for (let rank = 0; rank < top.length; rank++) {
      const beam = Math.floor(top[rank] / V);
      const token = top[rank] % V;
      if (token === EOS) {
        if (rank >= o.numBeams) {
          events.eosSkippedAtLowRank++;
          continue;
        }
        add(inputIds[beam].slice(), flat[top[rank]], curLen + 1 - 1);
        events.finishedLengths.add(curLen);
      } else {
        next.push({ beam, token, score: flat[top[rank]] });
      }
      if (next.length === o.numBeams) break;
    }
    done = done || isDone(flat[top[0]], curLen + 1);
    if (next.some((c, i) => c.beam !== i)) events.reordered++;
    inputIds = next.map((c) => [...inputIds[c.beam], c.token]);
    beamScores = next.map((c) => c.score);
    if (done) {
      events.stoppedByDone++;
      break;
    }
    if (inputIds[0].length >= maxLength) {
      events.stoppedByMaxLength++;
      break;
    }
  }
  if (!done) for (let b = 0; b < o.numBeams; b++) add(inputIds[b], beamScores[b], inputIds[b].length - 1);
  const sortedHyps = beams.map((x, i) => [x, i] as const).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]);
  const [score, hyp] = sortedHyps[sortedHyps.length - 1][0];
  const ids = hyp.length < maxLength ? [...hyp, EOS] : [...hyp];
  return { ids, score };
}

/**
 * Drives the engine's BeamSearch the way generation.ts does, with a toy "cache" reordered only by sourceBeams.
 * With `shuffleRows`, beams sit in a scrambled batch order (rowOfBeam) that changes every step.
 */
function engineBeamSearch(decoder: Decoder, o: RefOptions, shareFirstRow = false, shuffleRows = false): { ids: number[]; score: number } {
  const V = o.vocabSize;
  const maxLength = 1 + o.maxNewTokens;
  const search = new BeamSearch(
    { numBeams: o.numBeams, vocabSize: V, eosTokenId: EOS, lengthPenalty: o.lengthPenalty, earlyStopping: o.earlyStopping, maxLength },
    [START],
  );
  const processor = new LogitsProcessor({
    noRepeatNgramSize: o.noRepeatNgramSize,
    forcedBosTokenId: BOS,
    forcedEosTokenId: EOS,
    maxLength,
  });
  let cache: number[][] = search.sequences.map((s) => [...s]);
  let first = true;
  let stepIndex = 0;
  while (!search.isFinished) {
    const rowOfBeam = Int32Array.from({ length: o.numBeams }, (_, b) => (shuffleRows ? (b + stepIndex) % o.numBeams : b));
    const logits = new Float32Array(o.numBeams * V);
    search.sequences.forEach((seq, b) => logits.set(decoder(seq), rowOfBeam[b] * V));
    const step =
      first && shareFirstRow ? search.step(logits.subarray(0, V), processor, new Int32Array(o.numBeams)) : search.step(logits, processor, rowOfBeam);
    first = false;
    stepIndex++;
    cache = Array.from(step.sourceBeams, (src, i) => [...cache[src], step.tokens[i]]);
    assert.deepEqual(cache, search.sequences, "reordering a cache by sourceBeams and appending tokens gives the beams");
  }
  return search.finalize();
}

function hashSequence(seq: readonly number[], seed: number): number {
  let h = 2166136261 ^ seed;
  for (const t of seq) h = Math.imul(h ^ (t + 1), 16777619);
  return h >>> 0;
}


/** Logits that depend on the whole path; EOS grows likelier with length, so beams finish at different times. */
function pathDecoder(V: number, seed: number, quantize: boolean): Decoder {
  return (seq) => {
    const rand = mulberry32(hashSequence(seq, seed));
    const out = new Float32Array(V);
    for (let v = 0; v < V; v++) {
      const x = rand() * 4 - 2;
      out[v] = quantize ? Math.round(x) : Math.fround(x);
    }
    out[EOS] += quantize ? Math.round((seq.length - 4) * 0.5) : Math.fround((seq.length - 4) * 0.45 + rand());
    return out;
  };
}

const uniformDecoder: Decoder = () => new Float32Array(6);

describe("beam search: BeamHypotheses (HF rules)", () => {
  it("normalises by generated_len ** length_penalty and keeps the best numBeams", () => {
    const h = new BeamHypotheses(2, 2, true, 50);
    h.add([2, 0, 5], -4, 4); // -0.25
    h.add([2, 0, 6, 7], -9, 5); // -0.36
    assert.equal(h.worstScore, -0.36);
    h.add([2, 0, 8], -9, 3); // -1: not better than worst -> ignored
    assert.equal(h.size, 2);
    h.add([2, 0, 9], -1, 2); // -0.25: replaces -0.36
    assert.deepEqual(h.hypotheses.map((x) => x.score), [-0.25, -0.25]);
    assert.equal(h.worstScore, -0.25);
  });

  it("on a tie for worst deletes the earlier one, and the best among equals is the last added", () => {
    const h = new BeamHypotheses(2, 1, true, 50);
    h.add([1], -2, 1);
    h.add([2], -2, 1);
    h.add([3], -1, 1);
    assert.deepEqual(h.hypotheses.map((x) => x.tokens[0]), [2, 3]);
    const g = new BeamHypotheses(3, 1, true, 50);
    g.add([1], -1, 1);
    g.add([2], -1, 1);
    assert.deepEqual(g.best()?.tokens, [2]);
  });

  it("isDone: early_stopping true / false heuristic / never", () => {
    const make = (es: EarlyStopping) => {
      const h = new BeamHypotheses(2, 1, es, 11);
      h.add([2, 0, 5], -3, 3); // -1
      return h;
    };
    assert.equal(make(true).isDone(-1, 5, 1), false, "not done with fewer than numBeams");
    const t = make(true);
    t.add([2, 0], -4, 2); // -2
    assert.equal(t.isDone(0, 5, 1), true);
    const f = make(false);
    f.add([2, 0], -4, 2); // worst -2
    assert.equal(f.isDone(-8, 5, 1), true, "-2 >= -8/4");
    assert.equal(f.isDone(-7, 5, 1), false, "-2 < -7/4");
    const n = make("never");
    n.add([2, 0], -4, 2);
    assert.equal(n.isDone(-20, 5, 1), true, "-2 >= -20/(11-1)");
    assert.equal(n.isDone(-19, 5, 1), false);
  });
});

describe("beam search: hand-checked steps", () => {
  const V = 5;
  const options = { numBeams: 2, vocabSize: V, eosTokenId: EOS, lengthPenalty: 1, earlyStopping: true, maxLength: 10 } as const;
  const processor = new LogitsProcessor({ noRepeatNgramSize: 0, forcedBosTokenId: BOS, forcedEosTokenId: EOS, maxLength: 10 });
  const logitsFromProbs = (rows: number[][]) => new Float32Array(rows.flat().map((p) => Math.log(p)));

  it("step 0 forces BOS and only beam 0 counts", () => {
    const s = new BeamSearch(options, [START]);
    const step = s.step(logitsFromProbs([[0.2, 0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2, 0.2]]), processor);
    assert.deepEqual(Array.from(step.tokens), [0, 0]);
    assert.deepEqual(Array.from(step.sourceBeams), [0, 1]);
    assert.deepEqual(Array.from(s.beamScores), [0, -1e9]);
    assert.deepEqual(s.sequences, [[2, 0], [2, 0]]);
  });

  it("an EOS in the top numBeams finishes a hypothesis; one ranked lower is skipped", () => {
    const s = new BeamSearch(options, [START]);
    s.step(logitsFromProbs([[1, 1e-9, 1e-9, 1e-9, 1e-9], [1, 1e-9, 1e-9, 1e-9, 1e-9]]), processor);
    // Beam 0: EOS 0.5 (rank 0 -> finished), token 3 0.3, token 4 0.2. Beam 1 is at -1e9.
    const step = s.step(logitsFromProbs([[1e-9, 1e-9, 0.5, 0.3, 0.2], [0.2, 0.2, 0.2, 0.2, 0.2]]), processor);
    assert.deepEqual(Array.from(step.tokens), [3, 4]);
    assert.deepEqual(Array.from(step.sourceBeams), [0, 0]);
    assert.equal(s.hypotheses.size, 1);
    assert.deepEqual(s.hypotheses.hypotheses[0].tokens, [2, 0]);
    assert.ok(Math.abs(s.hypotheses.hypotheses[0].score - Math.log(0.5) / 2) < 1e-6);
    // Now both beams' EOS rank 3rd and 4th of 4 candidates (>= numBeams): neither finishes.
    const before = s.hypotheses.size;
    s.step(logitsFromProbs([[0.01, 0.49, 0.01, 0.49, 0], [0.01, 0.49, 0.01, 0.49, 0]]), processor);
    assert.equal(s.hypotheses.size, before);
  });

  it("finalize appends EOS to a finished hypothesis and picks the best normalised score", () => {
    const s = new BeamSearch({ ...options, lengthPenalty: 1 }, [START]);
    s.step(logitsFromProbs([[1, 1e-9, 1e-9, 1e-9, 1e-9], [1, 1e-9, 1e-9, 1e-9, 1e-9]]), processor);
    s.step(logitsFromProbs([[1e-9, 1e-9, 0.6, 0.3, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]]), processor);
    // Beam [2,0,3] (log .3) then EOS 0.9: sum log(.6)... second hypothesis, then done (2 hypotheses, early stop).
    s.step(logitsFromProbs([[1e-9, 0.05, 0.9, 0.05, 1e-9], [1e-9, 0.05, 0.9, 0.05, 1e-9]]), processor);
    assert.equal(s.isFinished, true);
    const result = s.finalize();
    // Hypotheses: [2,0] score log(.6)/2 = -0.255 ; [2,0,3] score (log .3 + log .9)/3 = -0.436.
    assert.deepEqual(result.ids, [2, 0, 2]);
    assert.ok(Math.abs(result.score - Math.log(0.6) / 2) < 1e-6);
  });

  it("a strong length penalty prefers the longer hypothesis", () => {
    const s = new BeamSearch({ ...options, lengthPenalty: 3 }, [START]);
    s.step(logitsFromProbs([[1, 1e-9, 1e-9, 1e-9, 1e-9], [1, 1e-9, 1e-9, 1e-9, 1e-9]]), processor);
    s.step(logitsFromProbs([[1e-9, 1e-9, 0.6, 0.3, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]]), processor);
    s.step(logitsFromProbs([[1e-9, 0.05, 0.9, 0.05, 1e-9], [1e-9, 0.05, 0.9, 0.05, 1e-9]]), processor);
    // log(.6)/2^3 = -0.064 vs (log .3 + log .9)/3^3 = -0.048
    assert.deepEqual(s.finalize().ids, [2, 0, 3, 2]);
  });

  it("refuses a step after the end and too few logits", () => {
    const s = new BeamSearch({ ...options, maxLength: 2 }, [START]);
    assert.throws(() => s.step(new Float32Array(3), processor), /Expected logits of 5 tokens with a row for beam 0 \(row 0\) but received 3 values/);
    assert.throws(() => s.step(new Float32Array(5), processor), /with a row for beam 1 \(row 1\)/);
    s.step(new Float32Array(2 * V), new LogitsProcessor({ ...processor.options, maxLength: 2 }));
    assert.throws(() => s.step(new Float32Array(2 * V), processor), /after the search finished/);
    assert.deepEqual(s.finalize().ids, [2, 2]);
  });

  it("rejects numBeams 0", () => {
    assert.throws(() => new BeamSearch({ ...options, numBeams: 0 }, [START]), /Expected a positive integer for numBeams but received 0/);
  });
});

describe("beam search: equals a reference implementation on path-dependent decoders", () => {
  const cases: { name: string; o: RefOptions; decoder: Decoder }[] = [];
  const grid = {
    numBeams: [2, 3, 4],
    earlyStopping: [true, false, "never"] as EarlyStopping[],
    lengthPenalty: [1, 0.6, 2, -0.5],
    maxNewTokens: [4, 9, 24],
    noRepeatNgramSize: [0, 2, 3],
  };
  let seed = 1;
  for (const numBeams of grid.numBeams)
    for (const earlyStopping of grid.earlyStopping)
      for (const lengthPenalty of grid.lengthPenalty)
        for (const maxNewTokens of grid.maxNewTokens)
          for (const noRepeatNgramSize of grid.noRepeatNgramSize) {
            const quantize = seed % 3 === 0;
            const vocabSize = quantize ? 6 : 7 + (seed % 5);
            cases.push({
              name: `beams ${numBeams} es ${earlyStopping} lp ${lengthPenalty} max ${maxNewTokens} ngram ${noRepeatNgramSize}`,
              o: { numBeams, vocabSize, maxNewTokens, lengthPenalty, earlyStopping, noRepeatNgramSize },
              decoder: pathDecoder(vocabSize, seed++, quantize),
            });
          }

  it(`${cases.length} configurations: same ids and score, with every rule exercised`, () => {
    const events = newEvents();
    let differentFromGreedyPrefix = 0;
    for (const { name, o, decoder } of cases) {
      const ref = referenceBeamSearch(decoder, o, events);
      const ours = engineBeamSearch(decoder, o);
      assert.deepEqual(ours.ids, ref.ids, name);
      assert.ok(Math.abs(ours.score - ref.score) < 1e-9, `${name}: score ${ours.score} vs ${ref.score}`);
      if (ref.ids.length !== o.maxNewTokens + 1) differentFromGreedyPrefix++;
    }
    // The cases must really diverge, reorder, finish at several lengths and hit both stopping rules.
    assert.ok(events.reordered > 100, `reordered ${events.reordered}`);
    assert.ok(events.eosSkippedAtLowRank > 10, `eos skipped ${events.eosSkippedAtLowRank}`);
    assert.ok(events.hypothesisReplaced > 10, `replaced ${events.hypothesisReplaced}`);
    assert.ok(events.finishedLengths.size > 10, `finished lengths ${[...events.finishedLengths]}`);
    assert.ok(events.stoppedByDone > 50 && events.stoppedByMaxLength > 50, `${events.stoppedByDone}/${events.stoppedByMaxLength}`);
    assert.ok(events.bans > 50, `bans ${events.bans}`);
    assert.ok(differentFromGreedyPrefix > 50);
  });

  it("gives the same result when the first step's single row is shared by all beams", () => {
    for (const { name, o, decoder } of cases.slice(0, 60)) {
      assert.deepEqual(engineBeamSearch(decoder, o, true), engineBeamSearch(decoder, o, false), name);
    }
  });

  it("gives the same result whatever batch row each beam's logits are in", () => {
    for (const { name, o, decoder } of cases.slice(60, 120)) {
      assert.deepEqual(engineBeamSearch(decoder, o, false, true), engineBeamSearch(decoder, o), name);
    }
  });

  it("breaks ties like the reference (uniform logits: every candidate ties)", () => {
    for (const numBeams of [2, 3, 4]) {
      for (const earlyStopping of [true, false] as const) {
        const o: RefOptions = { numBeams, vocabSize: 6, maxNewTokens: 7, lengthPenalty: 1, earlyStopping, noRepeatNgramSize: 2 };
        const ref = referenceBeamSearch(uniformDecoder, o, newEvents());
        assert.deepEqual(engineBeamSearch(uniformDecoder, o).ids, ref.ids, `beams ${numBeams} es ${earlyStopping}`);
      }
    }
  });

  it("ends every sequence with EOS, forced at max length", () => {
    for (const { o, decoder } of cases.filter((c) => c.o.maxNewTokens === 4)) {
      const { ids } = engineBeamSearch(decoder, o);
      assert.equal(ids[ids.length - 1], EOS);
      assert.ok(ids.length <= o.maxNewTokens + 1);
      assert.equal(ids[1], BOS);
    }
  });
});
