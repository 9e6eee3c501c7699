import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { BeamSearch, type EarlyStopping } from "../../src/decode/beam-search";
import { readGenerationConfig, readModelConfig, type GenerationConfig, type ModelConfig } from "../../src/runtime/config";
import { encodePrompts, runVisionEncoder, type EncodedPrompts } from "../../src/decode/encoders";
import { assignCacheRows, planWaves, type DecodingOptions } from "../../src/decode/generation";
import { LogitsProcessor, argmax } from "../../src/decode/logits-processors";
import { openSessions, type Florence2Sessions } from "../../src/runtime/sessions";
import { float32Data, generate } from "../support/decode";
import { writeStandInModel } from "../support/standin";

const LOC = (k: number) => 50269 + k;
// A typical <OD> output: "car" + 4 locs, "wheel" + 4 locs. 3-grams unique (no_repeat_ngram_size 3).
const SCRIPT = [0, 5734, LOC(53), LOC(333), LOC(933), LOC(774), 21530, LOC(704), LOC(576), LOC(866), LOC(772), 2];
// The path-dependent decoder chooses among these; 2 lets beams finish at different lengths.
const RESTRICT = [2, 10, 11, 12, 13, LOC(1), LOC(2), LOC(3)];

const OPTIONS: DecodingOptions = { numBeams: 1, maxNewTokens: 40, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 3 };

interface Model {
  sessions: Florence2Sessions;
  config: ModelConfig;
  tokens: GenerationConfig;
}

async function openModel(folder: string, dtype: "fp32" | "fp16" = "fp32"): Promise<Model> {
  const config = readModelConfig(folder);
  return { sessions: await openSessions(folder, config, { dtype, intraOpNumThreads: 1 }), config, tokens: readGenerationConfig(folder) };
}

const PIXELS = new Float32Array(3 * 768 * 768).map((_, i) => Math.sin(i * 0.001));
const PROMPT = [0, 2264, 473, 5, 2274, 6190, 116, 2];
const encodings = new Map<Model, EncodedPrompts>();

function copyTensor(t: ort.Tensor): ort.Tensor {
  return new ort.Tensor(t.type, (t.data as Float32Array).slice(), t.dims);
}

/**
 * Deterministic image features and a short prompt through the real encoders, once per model; each call returns
 * a copy, since generation takes over (and disposes) what it is given.
 */
async function encode(model: Model): Promise<EncodedPrompts> {
  let encoded = encodings.get(model);
  if (!encoded) {
    const features = await runVisionEncoder(model.sessions, PIXELS, [1, 3, 768, 768]);
    encoded = await encodePrompts(model.sessions, [{ imageFeatures: features, promptIds: PROMPT }]);
    encodings.set(model, encoded);
  }
  return { hiddenStates: copyTensor(encoded.hiddenStates), attentionMask: copyTensor(encoded.attentionMask) };
}

interface RecordedCall {
  useCache: boolean;
  batch: number;
  pastLength: number;
  encoderPast: ort.Tensor;
  /** Copies: the cross-attention key fed (layer 0), and the one the step returned (if fetched). */
  encoderPastData: Float32Array;
  encoderPresentData?: Float32Array;
  fetches: readonly string[] | undefined;
}

/** Wraps the decoder session to record what every step feeds it. */
function recordDecoder(sessions: Florence2Sessions): { calls: RecordedCall[]; restore: () => void } {
  const real = sessions.decoder.session;
  const calls: RecordedCall[] = [];
  const wrapper = Object.create(real) as ort.InferenceSession;
  wrapper.run = (async (feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) => {
    const call: RecordedCall = {
      useCache: (feeds.use_cache_branch.data as Uint8Array)[0] === 1,
      batch: feeds.inputs_embeds.dims[0],
      pastLength: feeds["past_key_values.0.decoder.key"].dims[2],
      encoderPast: feeds["past_key_values.0.encoder.key"],
      encoderPastData: float32Data(feeds["past_key_values.0.encoder.key"]).slice(),
      fetches,
    };
    calls.push(call);
    const out = fetches ? await real.run(feeds, fetches) : await real.run(feeds);
    if (out["present.0.encoder.key"]) call.encoderPresentData = float32Data(out["present.0.encoder.key"] as ort.Tensor).slice();
    return out;
  }) as ort.InferenceSession["run"];
  sessions.decoder.session = wrapper;
  return { calls, restore: () => (sessions.decoder.session = real) };
}

/**
 * The decoder with no cache: the no-cache branch accepts a whole sequence, so each call recomputes the full
 * history. Returns the logits of the last position.
 */
async function noCacheLogits(model: Model, encoded: EncodedPrompts, sequence: readonly number[]): Promise<Float32Array> {
  const { sessions } = model;
  const T = sequence.length;
  const ids = new ort.Tensor("int64", BigInt64Array.from(sequence, (v) => BigInt(v)), [1, T]);
  const embeds = (await sessions.embed.session.run({ input_ids: ids })).inputs_embeds as ort.Tensor;
  const feeds: Record<string, ort.Tensor> = {
    inputs_embeds: embeds,
    encoder_hidden_states: encoded.hiddenStates,
    encoder_attention_mask: encoded.attentionMask,
    use_cache_branch: new ort.Tensor("bool", new Uint8Array([0]), [1]),
  };
  for (let i = 0; i < sessions.decoderLayers; i++) {
    for (const part of ["decoder", "encoder"]) {
      for (const kv of ["key", "value"]) {
        feeds[`past_key_values.${i}.${part}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [1, sessions.heads, 0, sessions.headDim]);
      }
    }
  }
  const out = await sessions.decoder.session.run(feeds, ["logits"]);
  const logits = float32Data(out.logits as ort.Tensor);
  const V = model.config.vocabSize;
  return logits.slice((T - 1) * V, T * V);
}

/**
 * Reference search without a cache: every step recomputes every live sequence from scratch. Token choice is
 * the engine's BeamSearch / greedy rule, whose logic beam-search.test.ts checks against a reference of HF's
 * rules; what this comparison checks is the KV-cache loop (batching, step 0, reordering, cross-attention reuse).
 */
async function referenceGenerate(model: Model, encoded: EncodedPrompts, o: DecodingOptions): Promise<{ ids: number[]; score: number | null }> {
  const V = model.config.vocabSize;
  const maxLength = 1 + o.maxNewTokens;
  const processor = new LogitsProcessor({ noRepeatNgramSize: o.noRepeatNgramSize, forcedBosTokenId: 0, forcedEosTokenId: 2, maxLength });
  if (o.numBeams === 1) {
    const ids = [2];
    while (ids.length < maxLength && !(ids.length > 1 && ids[ids.length - 1] === 2)) {
      const row = await noCacheLogits(model, encoded, ids);
      processor.apply(row, ids);
      ids.push(argmax(row));
    }
    return { ids, score: null };
  }
  const search = new BeamSearch(
    { numBeams: o.numBeams, vocabSize: V, eosTokenId: 2, lengthPenalty: o.lengthPenalty, earlyStopping: o.earlyStopping, maxLength },
    [2],
  );
  while (!search.isFinished) {
    const logits = new Float32Array(o.numBeams * V);
    for (let b = 0; b < o.numBeams; b++) logits.set(await noCacheLogits(model, encoded, search.sequences[b]), b * V);
    search.step(logits, processor);
  }
  return search.finalize();
}

describe("generation: cache helpers", () => {
  it("assignCacheRows gives every new beam its source's cache with the fewest row copies (all maps of 1-4 beams)", () => {
    for (let B = 1; B <= 4; B++) {
      for (let code = 0; code < B ** B; code++) {
        const sources = Int32Array.from({ length: B }, (_, i) => Math.floor(code / B ** i) % B);
        for (const rowOfBeam of [Int32Array.from({ length: B }, (_, i) => i), Int32Array.from({ length: B }, (_, i) => B - 1 - i)]) {
          // rows[r] = the beam whose cache is in row r; apply the copies, then check each new beam's row.
          const rows = Array.from({ length: B }, (_, r) => rowOfBeam.indexOf(r));
          const { rowOfBeam: next, copies } = assignCacheRows(rowOfBeam, sources);
          for (const [from, to] of copies) rows[to] = rows[from];
          const label = `sources ${Array.from(sources)} rows ${Array.from(rowOfBeam)}`;
          assert.deepEqual(Array.from(next, (r) => rows[r]), Array.from(sources), label);
          assert.equal(new Set(next).size, B, `${label}: one row per beam`);
          assert.equal(copies.length, B - new Set(sources).size, `${label}: copies`);
        }
      }
    }
  });
});

describe("generation: waves", () => {
  it("fills waves in request order up to maxBatchRows rows; a wider request runs alone", () => {
    assert.deepEqual(planWaves([1, 3, 1, 2, 3], 24), [[0, 1, 2, 3, 4]]);
    assert.deepEqual(planWaves([1, 3, 1, 2, 3], 4), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(planWaves([1, 3, 1, 2, 3], 1), [[0], [1], [2], [3], [4]]);
    assert.deepEqual(planWaves([5, 1, 1], 4), [[0], [1, 2]]);
    assert.deepEqual(planWaves([1, 1, 5, 1], 3), [[0, 1], [2], [3]]);
    assert.deepEqual(planWaves([], 4), []);
  });
});

describe("generation: the KV-cache loop on stand-ins", function () {
  let root: string;
  let scripted: Model;
  let restricted: Model[];

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-generation-"));
    await writeStandInModel(path.join(root, "scripted"), { script: SCRIPT, dtypes: ["fp32", "fp16"], tokenizer: "generated" });
    scripted = await openModel(path.join(root, "scripted"));
    restricted = [];
    for (const seed of [1, 2, 3]) {
      await writeStandInModel(path.join(root, `restricted-${seed}`), { restrictTo: RESTRICT, seed, tokenizer: "generated" });
      restricted.push(await openModel(path.join(root, `restricted-${seed}`)));
    }
  });
  after(async () => {
    await scripted?.sessions.release();
    for (const m of restricted ?? []) await m.sessions.release();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const numBeams of [1, 3]) {
    it(`emits the scripted ids (${numBeams === 1 ? "greedy" : "3 beams"})`, async () => {
      const result = await generate(scripted.sessions, await encode(scripted), scripted.tokens, scripted.config.maxPositionEmbeddings, { ...OPTIONS, numBeams });
      assert.deepEqual(result.ids, [2, ...SCRIPT]);
      assert.equal(result.stats.steps, SCRIPT.length);
      assert.equal(result.score === null, numBeams === 1);
    });
  }

  it("emits the scripted ids from float16 files (float16 in, float16 cache, logits converted)", async () => {
    const fp16 = await openModel(path.join(root, "scripted"), "fp16");
    try {
      assert.equal(fp16.sessions.decoder.types.outputs.logits, "float16");
      for (const numBeams of [1, 3]) {
        const result = await generate(fp16.sessions, await encode(fp16), fp16.tokens, 1024, { ...OPTIONS, numBeams });
        assert.deepEqual(result.ids, [2, ...SCRIPT]);
      }
    } finally {
      await fp16.sessions.release();
    }
  });

  for (const numBeams of [1, 3]) {
    it(`runs step 0 without cache at batch 1, then the cache branch with the cache growing by one (${numBeams} beam${numBeams > 1 ? "s" : ""})`, async () => {
      const { calls, restore } = recordDecoder(scripted.sessions);
      try {
        await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, numBeams });
      } finally {
        restore();
      }
      assert.equal(calls.length, SCRIPT.length);
      assert.deepEqual(calls.map((c) => c.useCache), [false, ...Array(SCRIPT.length - 1).fill(true)]);
      assert.deepEqual(calls.map((c) => c.pastLength), calls.map((_, i) => i));
      assert.deepEqual(calls.map((c) => c.batch), [1, ...Array(SCRIPT.length - 1).fill(numBeams)]);
      // Cross-attention K/V: computed at step 0, then the same tensor at every later step.
      const later = calls.slice(1).map((c) => c.encoderPast);
      assert.ok(later.every((t) => t === later[0]));
      assert.deepEqual(later[0].dims.slice(0, 3), [numBeams, scripted.sessions.heads, (await encode(scripted)).hiddenStates.dims[1]]);
      assert.equal(calls[0].encoderPast.dims[2], 0);
      // Later steps fetch only the logits and the self-attention cache.
      assert.ok(calls.slice(1).every((c) => c.fetches !== undefined && !c.fetches.some((n) => n.includes(".encoder."))));
    });
  }

  it("feeds the cross-attention K/V that step 0 returned, tiled for the beams", async () => {
    for (const numBeams of [1, 3]) {
      const { calls, restore } = recordDecoder(scripted.sessions);
      try {
        await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, numBeams });
      } finally {
        restore();
      }
      const fromStep0 = calls[0].encoderPresentData as Float32Array;
      assert.ok(fromStep0.length > 0 && fromStep0.some((v) => v !== 0));
      const tiled = new Float32Array(fromStep0.length * numBeams);
      for (let b = 0; b < numBeams; b++) tiled.set(fromStep0, b * fromStep0.length);
      for (const call of calls.slice(1)) assert.deepEqual(call.encoderPastData, tiled);
    }
  });

  const cases: { name: string; o: Partial<DecodingOptions> }[] = [
    { name: "greedy", o: { numBeams: 1 } },
    { name: "3 beams, early stopping", o: { numBeams: 3 } },
    { name: "3 beams, early_stopping false", o: { numBeams: 3, earlyStopping: false as EarlyStopping } },
    { name: "3 beams, length penalty 2", o: { numBeams: 3, lengthPenalty: 2 } },
    { name: "4 beams, length penalty 0.5, no n-gram ban", o: { numBeams: 4, lengthPenalty: 0.5, noRepeatNgramSize: 0 } },
  ];
  for (const { name, o } of cases) {
    it(`equals a no-cache reference on path-dependent decoders: ${name}`, async function () {
      let copies = 0;
      const lengths = new Set<number>();
      for (const model of restricted) {
        const options = { ...OPTIONS, maxNewTokens: 14, ...o };
        const ours = await generate(model.sessions, await encode(model), model.tokens, 1024, options);
        const reference = await referenceGenerate(model, await encode(model), options);
        assert.deepEqual(ours.ids, reference.ids);
        // The score sums the log-probs along the chosen path: a beam fed a wrong cache row would shift it.
        if (reference.score !== null) assert.ok(Math.abs((ours.score as number) - reference.score) < 1e-5, `score ${ours.score} vs ${reference.score}`);
        copies += ours.stats.cacheRowCopies;
        lengths.add(ours.ids.length);
      }
      if ((o.numBeams ?? 1) > 1) assert.ok(copies > 0, "beams split, so cache rows were copied");
      assert.ok([...lengths].every((n) => n >= 3));
    });
  }

  it("ends with a forced </s> at maxNewTokens", async () => {
    const model = restricted[0];
    for (const numBeams of [1, 3]) {
      const result = await generate(model.sessions, await encode(model), model.tokens, 1024, { ...OPTIONS, numBeams, maxNewTokens: 3, noRepeatNgramSize: 0 });
      assert.ok(result.ids.length <= 4);
      assert.equal(result.ids[result.ids.length - 1], 2);
      assert.equal(result.ids[1], 0);
    }
  });

  it("caps maxNewTokens to the decoder's positions", async () => {
    const { calls, restore } = recordDecoder(scripted.sessions);
    try {
      const result = await generate(scripted.sessions, await encode(scripted), scripted.tokens, 4, { ...OPTIONS, maxNewTokens: 1000 });
      assert.deepEqual(result.ids, [2, ...SCRIPT.slice(0, 3), 2]);
    } finally {
      restore();
    }
    assert.equal(Math.max(...calls.map((c) => c.pastLength)), 3);
  });

  it("calls onToken after every step with the sequence so far (for beams, the best live beam)", async () => {
    const expected = SCRIPT.map((_, i) => [2, ...SCRIPT.slice(0, i + 1)]);
    const greedy: number[][] = [];
    await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, onToken: (ids) => greedy.push([...ids]) });
    assert.deepEqual(greedy, expected);
    // With beams, the step that finishes the best hypothesis (its EOS) reports the best beam still running.
    const beams: number[][] = [];
    await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, numBeams: 3, onToken: (ids) => beams.push([...ids]) });
    assert.equal(beams.length, SCRIPT.length);
    assert.deepEqual(beams.slice(0, -1), expected.slice(0, -1));
    assert.deepEqual(beams[beams.length - 1].slice(0, -1), expected[expected.length - 1].slice(0, -1));
  });

  it("stops between steps when the signal aborts, and the next run works", async () => {
    for (const numBeams of [1, 3]) {
      const controller = new AbortController();
      let steps = 0;
      const aborted = generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, {
        ...OPTIONS,
        numBeams,
        signal: controller.signal,
        onToken: () => {
          if (++steps === 3) controller.abort();
        },
      });
      await assert.rejects(aborted, (err: Error) => err.name === "AbortError");
      assert.equal(steps, 3);
      const again = await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, numBeams });
      assert.deepEqual(again.ids, [2, ...SCRIPT]);
    }
  });

  it("rejects at once with an already-aborted signal", async () => {
    const reason = new Error("stop now");
    await assert.rejects(
      generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
  });

  it("reports where the decoder time went", async () => {
    const { stats } = await generate(scripted.sessions, await encode(scripted), scripted.tokens, 1024, { ...OPTIONS, numBeams: 3 });
    assert.ok(stats.decoderMs > 0 && stats.sessionMs > 0 && stats.searchMs > 0);
    assert.ok(stats.sessionMs + stats.searchMs + stats.cacheMs <= stats.decoderMs + 1e-6);
  });
});
