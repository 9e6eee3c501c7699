/**
 * Stand-in Florence-2 model folders: what the tests, the benchmark and `npm start -- --standin` run on where the
 * real weights can't be downloaded. `writeStandInModel` writes a folder that any loader takes for the
 * onnx-community export (the same file names, input/output names, dtypes, symbolic dims, `If`-merged decoder, JSON
 * and tokenizer files) but whose weights are random. Anything that prints a stand-in's results must say they come
 * from random weights (config.json's `stand_in` entry marks the folder; `isStandInFolder` in marker.ts reads it).
 *
 *   const info = await writeStandInModel(dir, { script: tokenizer.encode("car<loc_1><loc_2><loc_3><loc_4>") });
 *   const model = await Florence2.load(info.folder);
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describeValue } from "../util/describe";
import { type Dtype, MODULES, type ModuleName, onnxFilePath } from "../runtime/dtypes";
import { readJsonObject } from "../util/json-file";
import type { ModelBuilder } from "./onnx-builder";
import type { Precision } from "./nn";
import { SIZES, type StandInDims, type StandInSize, VOCAB_SIZE } from "./sizes";
import { buildDecoderMerged, buildEmbedTokens, buildEncoder, type DecoderMode } from "./text";
import { buildVisionEncoder } from "./vision";
import { configJson, generationConfigJson, holdsRealModel, preprocessorConfigJson, type StandInMarker, writeJson } from "./json-files";
import { realTokenizerAvailable, writeTokenizer } from "./tokenizer";

export { ADDED_TOKENS, realTokenizerAvailable, realTokenizerDir } from "./tokenizer";
export { isStandInFolder } from "./marker";
export { SCRIPT_LOGIT, RESTRICTED_OUT } from "./text";
export { SIZES, type StandInSize } from "./sizes";

export interface StandInOptions {
  /** tiny (default): D=16, 1+1 layers, 2 heads, ~7 MB, milliseconds to write; base/large: the real dims (benchmarks). */
  size?: StandInSize;
  /**
   * Scripted decoder: emits exactly these ids after the start token 2. Must start with 0 (`<s>`) and end with
   * 2 (`</s>`), the form a tokenizer's encode(text) has. Keep its 3-grams unique when no_repeat_ngram_size is 3.
   */
  script?: readonly number[];
  /**
   * Path-dependent decoder for beam-search tests: logits of the random layers (so they depend on the whole
   * history through the KV cache), sharpened, and ~-1e4 outside these ids. Include 2 so that hypotheses end at
   * different lengths.
   */
  restrictTo?: readonly number[];
  /**
   * With `restrictTo`: make the choice depend strongly on the image and the prompt (sharp cross-attention read
   * out into the logits; see `Conditioning` in text.ts), so that a test can tell requests apart by their outputs,
   * e.g. batched decoding against decoding alone. Adds a [D, V] weight: meant for the tiny size.
   */
  conditioned?: boolean;
  /** Variants to write, default ["fp32"]: fp32, fp16 (`_fp16`, float16 I/O) and q8 (`_quantized`). */
  dtypes?: readonly Dtype[];
  /**
   * real = Florence-2's tokenizer copied from `referenceDir`; generated = a small byte-level BPE with the real
   * special ids; auto (default) = real when `referenceDir` has it.
   */
  tokenizer?: "auto" | "real" | "generated";
  /**
   * A folder laid out like this project's reference material (`florence2/model-files/*.json`, `tokenizer/*.json`):
   * the real model's JSON files are used as templates, and its tokenizer is copied in. Without one, built-in JSON
   * and the generated tokenizer are used. The tests pass `../shared` (see test/support/standin.ts).
   */
  referenceDir?: string;
  /** Seed of the random weights (default 1); each seed gives different weights, the same seed the same bytes. */
  seed?: number;
}

export interface StandInInfo {
  folder: string;
  size: string;
  dModel: number;
  decoderLayers: number;
  heads: number;
  vocabSize: number;
  tokenizer: "real" | "generated";
  /** Paths relative to `folder`, e.g. "onnx/decoder_model_merged.onnx". */
  files: string[];
  seed: number;
}

/** dtypes the generator can write, in the export's form (see nn.ts). */
export const STAND_IN_DTYPES: readonly Dtype[] = ["fp32", "fp16", "q8"];
const PRECISION: Partial<Record<Dtype, Precision>> = { fp32: "fp32", fp16: "fp16", q8: "q8" };

export const DEFAULT_SEED = 1;

/**
 * A `restrictTo` list for beam-search tests: `</s>` and `<loc_0>`..`<loc_4>`. With the default seed, after the
 * forced `<s>`, greedy search and 3-beam search give different sequences and the beams finish at different
 * lengths (test/standin.test.ts checks it). Whether that holds is a property of the random weights, so of the
 * (seed, ids) pair: with another seed or list, check it the same way, and try a few seeds.
 */
export const BEAM_TEST_IDS: readonly number[] = [2, 50269, 50270, 50271, 50272, 50273];
/**
 * Factor on the restricted decoder's logits. The random layers' logits spread by about ±0.6, so ×3 leaves the
 * allowed ids with probabilities that differ by a few times, not orders of magnitude: the likeliest id changes
 * with the path, greedy and beam search disagree, and EOS (2) wins at different steps on different beams.
 */
export const RESTRICT_SHARPNESS = 3;
/**
 * The conditioned decoder's gains: at these, on the tiny stand-in with seed 2 and `CONDITIONED_TEST_IDS`, another
 * image or another prompt changes the sequence, and sequences end at different lengths (test/standin.test.ts
 * checks it; test/florence2-batch.test.ts relies on it). With another seed or list, check it the same way.
 */
export const CONDITIONING = { queryGain: 30, readoutGain: 3 } as const;
/** A `restrictTo` list for conditioned decoders: `</s>`, four text ids and `<loc_1>`..`<loc_3>`. */
export const CONDITIONED_TEST_IDS: readonly number[] = [2, 10, 11, 12, 13, 50270, 50271, 50272];
/** The seed the conditioned decoder's test ids were checked with. */
export const CONDITIONED_TEST_SEED = 2;

function checkIds(name: string, ids: unknown, minLength: number): readonly number[] {
  if (!Array.isArray(ids) || ids.length < minLength) {
    throw new Error(`Expected an array of at least ${minLength} token ids for ${name} but received ${describeValue(ids)}.`);
  }
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
      throw new Error(`Expected token ids in 0..${VOCAB_SIZE - 1} for ${name} but received ${describeValue(id)}.`);
    }
  }
  return ids as number[];
}

function decoderMode(options: StandInOptions): DecoderMode {
  if (options.conditioned && options.restrictTo === undefined) {
    throw new Error("Expected restrictTo with conditioned: true (only a restricted decoder can be conditioned).");
  }
  if (options.script !== undefined && options.restrictTo !== undefined) {
    throw new Error("Expected at most one of script and restrictTo but received both: a decoder is either scripted or restricted.");
  }
  if (options.script !== undefined) {
    const script = checkIds("script", options.script, 2);
    if (script[0] !== 0 || script[script.length - 1] !== 2) {
      throw new Error(
        `Expected a script that starts with 0 (<s>) and ends with 2 (</s>), as tokenizer.encode(text) gives, ` +
          `but received [${script.join(", ")}].`,
      );
    }
    return { kind: "script", script };
  }
  if (options.restrictTo !== undefined) {
    const ids = [...new Set(checkIds("restrictTo", options.restrictTo, 1))];
    return { kind: "restricted", ids, sharpness: RESTRICT_SHARPNESS, ...(options.conditioned ? { conditioning: CONDITIONING } : {}) };
  }
  return { kind: "free" };
}

function checkOptions(options: StandInOptions) {
  const size = options.size ?? "tiny";
  if (!Object.prototype.hasOwnProperty.call(SIZES, size)) {
    throw new Error(`Expected size "tiny", "base" or "large" but received ${describeValue(size)}.`);
  }
  const dtypes: Dtype[] = [...new Set<Dtype>(options.dtypes ?? ["fp32"])];
  for (const dtype of dtypes) {
    if (!STAND_IN_DTYPES.includes(dtype)) {
      throw new Error(`Expected dtypes among ${STAND_IN_DTYPES.join(", ")} but received ${describeValue(dtype)}: the generator writes no other variant.`);
    }
  }
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new Error(`Expected an integer seed but received ${describeValue(seed)}.`);
  const requested = options.tokenizer ?? "auto";
  if (!["auto", "real", "generated"].includes(requested)) {
    throw new Error(`Expected tokenizer "auto", "real" or "generated" but received ${describeValue(requested)}.`);
  }
  const referenceDir = options.referenceDir;
  const tokenizer: "real" | "generated" =
    requested === "auto" ? (realTokenizerAvailable(referenceDir) ? "real" : "generated") : requested;
  return { dims: SIZES[size], dtypes, seed, tokenizer, referenceDir, mode: decoderMode(options) };
}

function buildModule(module: ModuleName, dims: StandInDims, precision: Precision, seed: number, mode: DecoderMode): ModelBuilder {
  switch (module) {
    case "vision_encoder":
      return buildVisionEncoder(dims, precision, seed);
    case "embed_tokens":
      return buildEmbedTokens(dims.text, precision, seed);
    case "encoder_model":
      return buildEncoder(dims.text, precision, seed);
    case "decoder_model_merged":
      return buildDecoderMerged(dims.text, precision, seed, mode);
  }
}

function writeDecoders(folder: string, dims: StandInDims, dtypes: readonly Dtype[], seed: number, mode: DecoderMode): string[] {
  const files: string[] = [];
  for (const dtype of dtypes) {
    const relative = onnxFilePath("decoder_model_merged", dtype);
    const written = buildModule("decoder_model_merged", dims, PRECISION[dtype] as Precision, seed, mode).save(path.join(folder, relative));
    files.push(...written.map((f) => path.relative(folder, f).split(path.sep).join("/")));
  }
  return files;
}

/**
 * Writes a complete stand-in model folder (`onnx/*.onnx` + `*.onnx_data`, config.json, generation_config.json,
 * preprocessor_config.json, tokenizer.json, tokenizer_config.json) into `folder`, creating it if needed.
 * Refuses a folder whose config.json is not a stand-in's, so a real model is never overwritten.
 */
export async function writeStandInModel(folder: string, options: StandInOptions = {}): Promise<StandInInfo> {
  const { dims, dtypes, seed, tokenizer, referenceDir, mode } = checkOptions(options);
  if (holdsRealModel(folder)) {
    throw new Error(`Refusing to write a stand-in into "${folder}": its config.json is not a stand-in's. Give an empty or stand-in folder.`);
  }
  fs.mkdirSync(path.join(folder, "onnx"), { recursive: true });
  const files: string[] = [];
  for (const dtype of dtypes) {
    for (const module of MODULES.filter((m) => m !== "decoder_model_merged")) {
      const relative = onnxFilePath(module, dtype);
      const written = buildModule(module, dims, PRECISION[dtype] as Precision, seed, mode).save(path.join(folder, relative));
      files.push(...written.map((f) => path.relative(folder, f).split(path.sep).join("/")));
    }
  }
  files.push(...writeDecoders(folder, dims, dtypes, seed, mode));
  const marker = { size: dims.size, seed, decoder: mode.kind, dtypes };
  files.push(writeJson(folder, "config.json", configJson(dims, marker, referenceDir)));
  files.push(writeJson(folder, "generation_config.json", generationConfigJson(referenceDir)));
  files.push(writeJson(folder, "preprocessor_config.json", preprocessorConfigJson(referenceDir)));
  files.push(...writeTokenizer(folder, tokenizer, referenceDir));
  return {
    folder,
    size: dims.size,
    dModel: dims.text.dModel,
    decoderLayers: dims.text.decoderLayers,
    heads: dims.text.heads,
    vocabSize: dims.text.vocabSize,
    tokenizer,
    files,
    seed,
  };
}

/**
 * Rewrites only the decoder(s) of a folder written by `writeStandInModel` with another `script` or `restrictTo`
 * (same size, seed and dtypes, read from its config.json), e.g. one script per task in a benchmark: about a
 * third of the time and bytes of a whole base folder. Sessions opened on the old decoder must be reopened.
 * Returns the decoder files written, relative to `folder`.
 */
export async function rewriteStandInDecoder(folder: string, options: Pick<StandInOptions, "script" | "restrictTo" | "conditioned">): Promise<string[]> {
  const config = readJsonObject(path.join(folder, "config.json"), "Pass a folder written by writeStandInModel.");
  const marker = config.stand_in as StandInMarker | undefined;
  if (!marker || !Object.prototype.hasOwnProperty.call(SIZES, marker.size)) {
    throw new Error(`Expected a stand-in folder written by writeStandInModel in "${folder}" but its config.json has no stand_in entry.`);
  }
  const mode = decoderMode(options);
  const files = writeDecoders(folder, SIZES[marker.size as StandInSize], marker.dtypes as Dtype[], marker.seed, mode);
  marker.decoder = mode.kind;
  writeJson(folder, "config.json", config);
  return files;
}
