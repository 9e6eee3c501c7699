/**
 * The stand-in generator (src/standin): files that look like the onnx-community export to onnxruntime, and
 * decoders that behave as the tests using them rely on (scripted output, cache/no-cache agreement, restricted
 * path-dependent logits). Decoding loops here are deliberately plain: they check the models, not the engine.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { Tokenizer } from "@huggingface/tokenizers";
import {
  ADDED_TOKENS, BEAM_TEST_IDS, CONDITIONED_TEST_IDS, CONDITIONED_TEST_SEED, rewriteStandInDecoder, type StandInInfo, type StandInOptions,
  writeStandInModel,
} from "../support/standin";
import { fromFloat16Bits, toFloat16 } from "../support/float16-reference";
import { MODULES, onnxFilePath, type Dtype, type ModuleName } from "../../src/runtime/dtypes";

const EOS = 2;
const LOC = (k: number) => 50269 + k;
const SCRIPT = [0, LOC(100), LOC(200), LOC(300), LOC(400), 2760, EOS];
const BOS = 0;
const PROMPT = [0, 2264, 473, 5, 2274, 6190, 116, EOS]; // any ids: the layers are random
const IMAGE_TOKENS = 577;

const roots: string[] = [];
async function standIn(options: StandInOptions): Promise<StandInInfo> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-standin-"));
  roots.push(root);
  return writeStandInModel(path.join(root, "model"), options);
}
after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

type Dims = readonly (number | string)[];
interface Io {
  name: string;
  type: string;
  shape: Dims;
}

/**
 * The tensor contract of the onnx-community export's four onnx/ files (input and output names, element types and
 * symbolic dim names), written out here apart from src/runtime/sessions.ts; `float` is the file's float I/O type.
 */
function contract(module: ModuleName, info: StandInInfo, float: string): { inputs: Io[]; outputs: Io[] } {
  const d = info.dModel;
  const kv = (prefix: string, i: number, decoderLength: string, encoderLength: string): Io[] =>
    (["decoder.key", "decoder.value", "encoder.key", "encoder.value"] as const).map((part) => ({
      name: `${prefix}.${i}.${part}`,
      type: float,
      shape: ["batch_size", info.heads, part.startsWith("decoder") ? decoderLength : encoderLength, d / info.heads],
    }));
  const layers = Array.from({ length: info.decoderLayers }, (_, i) => i);
  switch (module) {
    case "vision_encoder":
      return {
        inputs: [{ name: "pixel_values", type: float, shape: ["batch_size", 3, 768, 768] }],
        outputs: [{ name: "image_features", type: float, shape: ["batch_size", IMAGE_TOKENS, d] }],
      };
    case "embed_tokens":
      return {
        inputs: [{ name: "input_ids", type: "int64", shape: ["batch_size", "sequence_length"] }],
        outputs: [{ name: "inputs_embeds", type: float, shape: ["batch_size", "sequence_length", d] }],
      };
    case "encoder_model":
      return {
        inputs: [
          { name: "inputs_embeds", type: float, shape: ["batch_size", "encoder_sequence_length", d] },
          { name: "attention_mask", type: "int64", shape: ["batch_size", "encoder_sequence_length"] },
        ],
        outputs: [{ name: "last_hidden_state", type: float, shape: ["batch_size", "encoder_sequence_length", d] }],
      };
    case "decoder_model_merged":
      return {
        inputs: [
          { name: "inputs_embeds", type: float, shape: ["batch_size", "decoder_sequence_length", d] },
          { name: "encoder_hidden_states", type: float, shape: ["batch_size", "encoder_sequence_length", d] },
          { name: "encoder_attention_mask", type: "int64", shape: ["batch_size", "encoder_sequence_length"] },
          { name: "use_cache_branch", type: "bool", shape: [1] },
          ...layers.flatMap((i) => kv("past_key_values", i, "past_decoder_sequence_length", "encoder_sequence_length_out")),
        ],
        outputs: [
          { name: "logits", type: float, shape: ["batch_size", "decoder_sequence_length", info.vocabSize] },
          ...layers.flatMap((i) => kv("present", i, "past_decoder_sequence_length + 1", "encoder_sequence_length_out")),
        ],
      };
  }
}

function describeIo(metadata: readonly ort.InferenceSession.ValueMetadata[]): Io[] {
  return metadata.map((m) => {
    assert.ok(m.isTensor, `${m.name} should be a tensor`);
    return { name: m.name, type: m.type, shape: m.shape };
  });
}

/** Plain float32 view of a float output (converting float16 files' outputs). */
function floats(t: ort.Tensor): Float32Array {
  if (t.type === "float32") return t.data as Float32Array;
  const bits = t.data as Uint16Array;
  return Float32Array.from(bits, fromFloat16Bits);
}

/**
 * The four sessions of a stand-in wired as transformers.js' Florence-2 wires the export's files (image features
 * before the prompt's embeddings, encoder, merged decoder with its cache), with no logits processing.
 */
class Pipeline {
  private constructor(
    readonly s: Record<ModuleName, ort.InferenceSession>,
    private readonly info: StandInInfo,
    private readonly float: "float32" | "float16",
  ) {}

  static async open(info: StandInInfo, dtype: Dtype = "fp32"): Promise<Pipeline> {
    const sessions = {} as Record<ModuleName, ort.InferenceSession>;
    for (const m of MODULES) sessions[m] = await ort.InferenceSession.create(path.join(info.folder, onnxFilePath(m, dtype)));
    return new Pipeline(sessions, info, dtype === "fp16" ? "float16" : "float32");
  }

  close(): Promise<void[]> {
    return Promise.all(MODULES.map((m) => this.s[m].release()));
  }

  private tensor(values: Float32Array, dims: number[]): ort.Tensor {
    return this.float === "float16" ? new ort.Tensor("float16", toFloat16(values), dims) : new ort.Tensor("float32", values, dims);
  }

  async embed(ids: number[][]): Promise<ort.Tensor> {
    const flat = BigInt64Array.from(ids.flat(), BigInt);
    const out = await this.s.embed_tokens.run({ input_ids: new ort.Tensor("int64", flat, [ids.length, ids[0].length]) });
    return out.inputs_embeds;
  }

  /**
   * Image (a deterministic pattern per batch row, `pattern` picks another one) + prompt -> encoder output
   * [B, 577 + L, D] and its mask.
   */
  async encode(batch: number, prompt: readonly number[] = PROMPT, pattern = 7919): Promise<{ hidden: ort.Tensor; mask: ort.Tensor }> {
        const pixels = new Float32Array(batch * 3 * 768 * 768);
    for (let i = 0; i < pixels.length; i++) pixels[i] = ((i * pattern) % 1024) / 256 - 2;
    const image = floats((await this.s.vision_encoder.run({ pixel_values: this.tensor(pixels, [batch, 3, 768, 768]) })).image_features);
    const text = floats(await this.embed(Array.from({ length: batch }, () => [...prompt])));
    const d = this.info.dModel;
    const length = IMAGE_TOKENS + prompt.length;
    const joined = new Float32Array(batch * length * d);
    for (let b = 0; b < batch; b++) {
      joined.set(image.subarray(b * IMAGE_TOKENS * d, (b + 1) * IMAGE_TOKENS * d), b * length * d);
      joined.set(text.subarray(b * prompt.length * d, (b + 1) * prompt.length * d), (b * length + IMAGE_TOKENS) * d);
    }
    const mask = new ort.Tensor("int64", new BigInt64Array(batch * length).fill(1n), [batch, length]);
    const out = await this.s.encoder_model.run({ inputs_embeds: this.tensor(joined, [batch, length, d]), attention_mask: mask });
    return { hidden: out.last_hidden_state, mask };
  }

  /** One decoder call; `past` undefined = the no-cache branch with empty past tensors. */
  async decode(ids: number[][], enc: { hidden: ort.Tensor; mask: ort.Tensor }, past?: Record<string, ort.Tensor>) {
    const batch = ids.length;
    const headDim = this.info.dModel / this.info.heads;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: await this.embed(ids),
      encoder_hidden_states: enc.hidden,
      encoder_attention_mask: enc.mask,
      use_cache_branch: new ort.Tensor("bool", Uint8Array.of(past ? 1 : 0), [1]),
    };
    for (let i = 0; i < this.info.decoderLayers; i++) {
      for (const part of ["decoder.key", "decoder.value", "encoder.key", "encoder.value"]) {
        feeds[`past_key_values.${i}.${part}`] = past?.[`present.${i}.${part}`] ?? this.tensor(new Float32Array(0), [batch, this.info.heads, 0, headDim]);
      }
    }
    return this.s.decoder_model_merged.run(feeds);
  }

  /**
   * Greedy decoding with the KV cache from the start token 2, optionally with the first token forced to <s> (0)
   * as generation_config's forced_bos_token_id does; returns ids and each step's logits rows.
   */
  async greedy(batch: number, maxSteps: number, forceBos = false, enc?: { hidden: ort.Tensor; mask: ort.Tensor }) {
    enc ??= await this.encode(batch);
    const sequences = Array.from({ length: batch }, () => [EOS]);
    const stepLogits: Float32Array[] = [];
    let past: Record<string, ort.Tensor> | undefined;
    for (let step = 0; step < maxSteps && sequences.some((s) => s.length === 1 || s[s.length - 1] !== EOS); step++) {
      const out = await this.decode(sequences.map((s) => [s[s.length - 1]]), enc, past);
      const logits = floats(out.logits); // [B, 1, V]
      stepLogits.push(logits);
      sequences.forEach((s, b) => s.push(step === 0 && forceBos ? BOS : argmax(logits.subarray(b * this.info.vocabSize, (b + 1) * this.info.vocabSize))));
      // The encoder K/V of step 0 are kept, as the engine does (later steps only pass them through).
      const next: Record<string, ort.Tensor> = { ...out };
      if (past) for (const key of Object.keys(out)) if (key.includes(".encoder.")) next[key] = past[key];
      past = next;
    }
    return { sequences, stepLogits, enc };
  }
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Indices of the k largest values, largest first (a scan: sorting 51,289 logits per call is the slow part). */
function topIndices(values: Float64Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (top.length === k) {
      if (values[i] <= values[top[k - 1]]) continue;
      top.pop();
    }
    let at = top.length;
    while (at > 0 && values[top[at - 1]] < values[i]) at--;
    top.splice(at, 0, i);
  }
  return top;
}

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const log = Math.log(sum) + max;
  return Float64Array.from(row, (v) => v - log);
}

/**
 * A minimal beam search (Hugging Face semantics, forced <s> first, no other logits processor: 2*beams
 * candidates per step, a candidate ending in </s> finishes when it ranks among the first `beams`, scored by sum
 * of log-probs / length; stop once `beams` are finished), recomputing each live beam's whole sequence with the
 * no-cache branch.
 */
async function beamSearch(p: Pipeline, beams: number, maxLength: number, vocab: number) {
  const enc = await p.encode(1);
  let live = [{ ids: [EOS, BOS], score: 0 }];
  const finished: { ids: number[]; score: number }[] = [];
  while (finished.length < beams && live[0].ids.length < maxLength) {
    const candidates: { ids: number[]; score: number }[] = [];
    for (const beam of live) {
      const logits = floats((await p.decode([beam.ids], enc)).logits);
      const last = logSoftmax(logits.subarray((beam.ids.length - 1) * vocab, beam.ids.length * vocab));
      const top = topIndices(last, 2 * beams);
      for (const id of top) candidates.push({ ids: [...beam.ids, id], score: beam.score + last[id] });
    }
    candidates.sort((a, b) => b.score - a.score);
    live = [];
    for (const [rank, c] of candidates.entries()) {
      if (live.length === beams) break;
      if (c.ids[c.ids.length - 1] !== EOS) live.push(c);
      else if (rank < beams) finished.push({ ids: c.ids, score: c.score / c.ids.length });
    }
  }
  finished.sort((a, b) => b.score - a.score);
  return finished;
}

describe("stand-in models (src/standin)", function () {
  let scripted: StandInInfo;
  let pipeline: Pipeline;

  before(async function () {
    const start = performance.now();
    scripted = await standIn({ script: SCRIPT });
    console.log(`      tiny stand-in folder written in ${(performance.now() - start).toFixed(0)} ms`);
    pipeline = await Pipeline.open(scripted);
  });
  after(() => pipeline.close());

  it("writes the real folder layout with the stand-in's dims in config.json", function () {
    for (const m of MODULES) assert.ok(scripted.files.includes(onnxFilePath(m, "fp32")), `missing ${m}`);
    for (const f of ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"]) {
      assert.ok(fs.existsSync(path.join(scripted.folder, f)), `missing ${f}`);
    }
    const config = JSON.parse(fs.readFileSync(path.join(scripted.folder, "config.json"), "utf8"));
    assert.equal(config.text_config.d_model, scripted.dModel);
    assert.equal(config.text_config.decoder_layers, scripted.decoderLayers);
    assert.equal(config.text_config.decoder_attention_heads, scripted.heads);
    assert.equal(config.vocab_size, 51289);
    assert.equal(config.stand_in.decoder, "script");
    assert.match(config.stand_in.note, /random weights/);
    const generation = JSON.parse(fs.readFileSync(path.join(scripted.folder, "generation_config.json"), "utf8"));
    assert.equal(generation.decoder_start_token_id, EOS);
    assert.equal(generation.num_beams, 3);
  });

  it("gives every ONNX file the contract's input/output names, dtypes and dims", async function () {
    for (const m of MODULES) {
      const expected = contract(m, scripted, "float32");
      assert.deepEqual(describeIo(pipeline.s[m].inputMetadata), expected.inputs, `${m} inputs`);
      assert.deepEqual(describeIo(pipeline.s[m].outputMetadata), expected.outputs, `${m} outputs`);
    }
  });

  it("emits the script exactly through a greedy KV-cache loop at batch 1 and 3", async function () {
    for (const batch of [1, 3]) {
      const { sequences } = await pipeline.greedy(batch, SCRIPT.length + 2);
      for (const s of sequences) assert.deepEqual(s, [EOS, ...SCRIPT]);
    }
  });

  describe("restricted decoder", function () {
    let restricted: StandInInfo;
    let p: Pipeline;
    before(async function () {
      restricted = await standIn({ restrictTo: BEAM_TEST_IDS });
      p = await Pipeline.open(restricted);
    });
    after(() => p.close());

    it("gives the same logits from the no-cache branch over the whole sequence as from the cached steps", async function () {
      const { sequences, stepLogits, enc } = await p.greedy(1, 12, true);
      const ids = sequences[0].slice(0, stepLogits.length);
      const whole = floats((await p.decode([ids], enc)).logits); // [1, T, V]
      const v = restricted.vocabSize;
      // Relative to the logit: the ids outside restrictTo sit near -1e4, where float32 steps are 1e-3 apart.
      let worst = 0;
      stepLogits.forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - whole[t * v + j]) / Math.max(1, Math.abs(x))))));
      assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
      assert.ok(stepLogits.length >= 3, "the loop should run a few steps");
    });

    it("emits only the listed ids, and beam search finds another sequence than greedy, with hypotheses of different lengths", async function () {
      const greedy = (await p.greedy(1, 20, true)).sequences[0];
      for (const id of greedy.slice(2)) assert.ok(BEAM_TEST_IDS.includes(id), `greedy emitted ${id}`);
      const hypotheses = await beamSearch(p, 3, 20, restricted.vocabSize);
      assert.ok(hypotheses.length >= 3);
      for (const h of hypotheses) for (const id of h.ids.slice(2)) assert.ok(BEAM_TEST_IDS.includes(id), `beam emitted ${id}`);
      assert.notDeepEqual(hypotheses[0].ids, greedy, "beam search should beat greedy on this path-dependent decoder");
      assert.ok(new Set(hypotheses.map((h) => h.ids.length)).size > 1, `lengths ${hypotheses.map((h) => h.ids.length)}`);
    });
  });

  describe("conditioned restricted decoder", function () {
    let conditioned: StandInInfo;
    let p: Pipeline;
    before(async function () {
      conditioned = await standIn({ restrictTo: CONDITIONED_TEST_IDS, conditioned: true, seed: CONDITIONED_TEST_SEED });
      p = await Pipeline.open(conditioned);
    });
    after(() => p.close());

    it("depends on the image and on the prompt, with sequences of different lengths", async function () {
      const prompts = [PROMPT, [0, 1000, 2000, 3000, EOS], [0, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, EOS]];
      const sequences: number[][] = [];
      for (const prompt of prompts) {
        for (const pattern of [7919, 104729]) {
          const enc = await p.encode(1, prompt, pattern);
          sequences.push((await p.greedy(1, 40, true, enc)).sequences[0]);
        }
      }
      for (const s of sequences) for (const id of s.slice(2)) assert.ok(CONDITIONED_TEST_IDS.includes(id), `emitted ${id}`);
      // sequences[2 * prompt + pattern]
      const key = (s: number[]) => s.join(",");
      assert.ok([0, 1, 2].some((p) => key(sequences[2 * p]) !== key(sequences[2 * p + 1])), "another image should change the output");
      assert.ok([0, 1].some((i) => new Set([0, 1, 2].map((p) => key(sequences[2 * p + i]))).size > 1), "another prompt should change the output");
      assert.ok(new Set(sequences.map((s) => s.length)).size >= 2, `lengths ${sequences.map((s) => s.length)}`);
      assert.ok(sequences.some((s) => s.length < 41 && s[s.length - 1] === EOS), "some sequence should end with </s> before the limit");
    });

    it("gives the same logits from the no-cache branch over the whole sequence as from the cached steps", async function () {
      const { sequences, stepLogits, enc } = await p.greedy(1, 12, true);
      const ids = sequences[0].slice(0, stepLogits.length);
      const whole = floats((await p.decode([ids], enc)).logits);
      const v = conditioned.vocabSize;
      let worst = 0;
      stepLogits.forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - whole[t * v + j]) / Math.max(1, Math.abs(x))))));
      assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
    });

    it("is refused without restrictTo", async function () {
      await assert.rejects(standIn({ conditioned: true }), /Expected restrictTo with conditioned: true/);
    });
  });

  describe("generated tokenizer", function () {
    let tokenizer: Tokenizer;
    before(async function () {
      const info = await standIn({ tokenizer: "generated" });
      assert.equal(info.tokenizer, "generated");
      const read = (f: string) => JSON.parse(fs.readFileSync(path.join(info.folder, f), "utf8"));
      tokenizer = new Tokenizer(read("tokenizer.json"), read("tokenizer_config.json"));
    });

    it("puts the special and added tokens at Florence-2's ids", function () {
      const ids = tokenizer.encode("<od></od><loc_0><loc_999><cap><sep><region_to_desciption><poly></poly><and>", { add_special_tokens: false }).ids;
      assert.deepEqual(ids, [50265, 50266, LOC(0), LOC(999), 51269, 51279, 51282, 51286, 51287, 51288]);
      assert.equal(ADDED_TOKENS.length, 1024);
      assert.deepEqual(tokenizer.encode("").ids, [0, 2]);
      assert.equal(tokenizer.encode("<mask>", { add_special_tokens: false }).ids[0], 50264);
    });

    it("encodes any text with <s> ... </s> and decodes it back", function () {
      for (const text of ["What does the image describe?", "car<loc_53><loc_333> Ünïcödé ✓ 漢字", "  spaces  and\nnewlines"]) {
        const ids = tokenizer.encode(text).ids;
        assert.equal(ids[0], 0);
        assert.equal(ids[ids.length - 1], EOS);
        assert.equal(tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }), `<s>${text}</s>`);
      }
      assert.ok(tokenizer.encode(" the image").ids.length === 4, "merges should join ' the' and ' image'");
    });
  });

  it("copies the real tokenizer from ../shared/tokenizer (tokenizer: \"real\", and \"auto\" when present)", async function () {
    const shared = path.resolve(__dirname, "..", "..", "..", "shared", "tokenizer");
    if (!fs.existsSync(path.join(shared, "tokenizer.json"))) {
      console.log(`      skipped: ${shared} is absent, so there is no real tokenizer to copy`);
      this.skip();
    }
    assert.equal(scripted.tokenizer, "real", "auto should pick the real tokenizer when it is present");
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      assert.ok(fs.readFileSync(path.join(scripted.folder, f)).equals(fs.readFileSync(path.join(shared, f))), f);
    }
  });

  describe("other dtypes", function () {
    let variants: StandInInfo;
    before(async function () {
      variants = await standIn({ script: SCRIPT, dtypes: ["fp16", "q8"], tokenizer: "generated" });
    });

    for (const dtype of ["fp16", "q8"] as const) {
      it(`writes ${dtype} files that load, keep the contract (float16 I/O for fp16) and emit the script`, async function () {
        const p = await Pipeline.open(variants, dtype);
        for (const m of MODULES) {
          assert.ok(variants.files.includes(onnxFilePath(m, dtype)));
          const expected = contract(m, variants, dtype === "fp16" ? "float16" : "float32");
          assert.deepEqual(describeIo(p.s[m].inputMetadata), expected.inputs, `${m} inputs`);
          assert.deepEqual(describeIo(p.s[m].outputMetadata), expected.outputs, `${m} outputs`);
        }
        assert.deepEqual((await p.greedy(1, SCRIPT.length + 2)).sequences[0], [EOS, ...SCRIPT]);
        await p.close();
      });
    }
  });

  describe("real-size stand-ins (STANDIN_SIZE=base or large)", function () {
    const size = process.env.STANDIN_SIZE;
    before(function () {
      if (size !== "base" && size !== "large") {
        console.log("      skipped: set STANDIN_SIZE=base (~1.1 GB) or large (~3.3 GB) to write and run a real-size stand-in");
        this.skip();
      }
    });

    it("writes the folder quickly and runs vision, encoder and cached decoder steps at batch 1 and 3", async function () {
      this.timeout(15 * 60_000);
      let start = performance.now();
      const lap = () => ((performance.now() - start) / 1000).toFixed(2);
      const info = await standIn({ size: size as "base" | "large", script: SCRIPT, tokenizer: "generated" });
      console.log(`      ${size} written in ${lap()} s`);
      start = performance.now();
      const p = await Pipeline.open(info);
      console.log(`      sessions opened in ${lap()} s`);
      for (const m of MODULES) {
        const expected = contract(m, info, "float32");
        assert.deepEqual(describeIo(p.s[m].inputMetadata), expected.inputs, `${m} inputs`);
        assert.deepEqual(describeIo(p.s[m].outputMetadata), expected.outputs, `${m} outputs`);
      }
      for (const batch of [1, 3]) {
        start = performance.now();
        const { sequences } = await p.greedy(batch, SCRIPT.length + 2);
        console.log(`      batch ${batch}: image + prompt + ${SCRIPT.length} decoder steps in ${lap()} s`);
        for (const s of sequences) assert.deepEqual(s, [EOS, ...SCRIPT]);
      }
      await p.close();
    });
  });

  it("rewrites only the decoder for another script", async function () {
    const info = await standIn({ script: SCRIPT, dtypes: ["fp32", "q8"], tokenizer: "generated" });
    const encoderBefore = fs.readFileSync(path.join(info.folder, "onnx/encoder_model.onnx_data"));
    const other = [0, LOC(7), LOC(8), 2];
    const files = await rewriteStandInDecoder(info.folder, { script: other });
    assert.deepEqual(files.filter((f) => f.endsWith(".onnx")), [onnxFilePath("decoder_model_merged", "fp32"), onnxFilePath("decoder_model_merged", "q8")]);
    assert.ok(fs.readFileSync(path.join(info.folder, "onnx/encoder_model.onnx_data")).equals(encoderBefore));
    const p = await Pipeline.open(info);
    assert.deepEqual((await p.greedy(1, other.length + 2)).sequences[0], [EOS, ...other]);
    await p.close();
    await assert.rejects(rewriteStandInDecoder(os.tmpdir(), { script: other }), /config\.json: there is no such file\. Pass a folder written by writeStandInModel/);
    const real = fs.mkdtempSync(path.join(os.tmpdir(), "f2-not-standin-"));
    try {
      fs.writeFileSync(path.join(real, "config.json"), "{}");
      await assert.rejects(rewriteStandInDecoder(real, { script: other }), /its config\.json has no stand_in entry/);
    } finally {
      fs.rmSync(real, { recursive: true, force: true });
    }
  });

  describe("options", function () {
    it("rejects bad scripts, mixed modes and unknown dtypes with the expected input", async function () {
      const dir = path.join(os.tmpdir(), "florence2-standin-never-written");
      await assert.rejects(writeStandInModel(dir, { script: [5, 2] }), /starts with 0 \(<s>\) and ends with 2/);
      await assert.rejects(writeStandInModel(dir, { script: [0, 2], restrictTo: [2] }), /at most one of script and restrictTo/);
      await assert.rejects(writeStandInModel(dir, { dtypes: ["q4"] }), /Expected dtypes among fp32, fp16, q8 but received "q4"/);
      await assert.rejects(writeStandInModel(dir, { restrictTo: [51289] }), /token ids in 0\.\.51288/);
      assert.ok(!fs.existsSync(dir));
    });

    it("refuses to overwrite a folder that holds a real model", async function () {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-standin-real-"));
      roots.push(root);
      fs.writeFileSync(path.join(root, "config.json"), JSON.stringify({ model_type: "florence2" }));
      await assert.rejects(writeStandInModel(root), /Refusing to write a stand-in/);
      assert.deepEqual(fs.readdirSync(root), ["config.json"]);
    });

    it("writes the same bytes for the same seed and other weights for another seed", async function () {
      const data = (info: StandInInfo) => fs.readFileSync(path.join(info.folder, "onnx/encoder_model.onnx_data"));
      const again = await standIn({ script: SCRIPT });
      const other = await standIn({ script: SCRIPT, seed: 2 });
      assert.ok(data(again).equals(data(scripted)));
      assert.ok(!data(other).equals(data(scripted)));
    });
  });
});
