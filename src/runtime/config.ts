/**
 * Constants read from a model folder's JSON files (config.json, generation_config.json,
 * preprocessor_config.json), so that nothing the model defines is retyped in code.
 */
import * as path from "node:path";
import { MODEL_JSON_FILES } from "./dtypes";
import { readJsonObject, type JsonObject } from "../util/json-file";

/** What the image processor does before the vision encoder (preprocessor_config.json). */
export interface PreprocessorConfig {
  /** Target size; Florence-2 resizes to exactly this, ignoring the aspect ratio. */
  size: { width: number; height: number };
  /** PIL resample filter id: 3 = BICUBIC, the only one Florence-2 uses. */
  resample: number;
  rescaleFactor: number;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Number of image tokens the vision encoder emits (577 = 1 pooled + 24x24). */
  imageSeqLength: number;
}

/** Sizes of the language model (config.json `text_config`). */
export interface ModelConfig {
  dModel: number;
  decoderLayers: number;
  decoderAttentionHeads: number;
  vocabSize: number;
  /** Learned positions: the encoder input (577 + prompt) and the decoder output must each fit. */
  maxPositionEmbeddings: number;
}

/** Decoding defaults (generation_config.json, falling back to config.json's text_config, then HF's defaults). */
export interface GenerationConfig {
  /** Ends every generation; must be the tokenizer's `</s>` (checked at load). */
  eosTokenId: number;
  decoderStartTokenId: number;
  forcedBosTokenId: number | null;
  forcedEosTokenId: number | null;
  noRepeatNgramSize: number;
  numBeams: number;
  earlyStopping: boolean;
  lengthPenalty: number;
}

/**
 * The values of Microsoft's preprocessor_config.json for Florence-2 (microsoft/Florence-2-base-ft: CLIPImageProcessor,
 * 768x768, resample 3 = BICUBIC, ImageNet mean and std, 577 image tokens), used when no model folder is given,
 * e.g. `preprocessImage(file)` on its own.
 */
export const DEFAULT_PREPROCESSOR_CONFIG: PreprocessorConfig = {
  size: { width: 768, height: 768 },
  resample: 3,
  rescaleFactor: 0.00392156862745098,
  imageMean: [0.485, 0.456, 0.406],
  imageStd: [0.229, 0.224, 0.225],
  imageSeqLength: 577,
};

type Json = JsonObject;

/** What to do about a missing or damaged file of a model folder. */
const MODEL_FOLDER_FIX =
  `A Florence-2 model folder laid out like onnx-community/Florence-2-base-ft has ${MODEL_JSON_FILES.join(", ")} at its ` +
  `top level and the ONNX files in onnx/: download the model again, or point to such a folder.`;

/** Reads and parses one JSON file of a model folder, with errors that name the file and the fix. */
export function readModelJson(folder: string, file: string): Json {
  return readJsonObject(path.join(folder, file), MODEL_FOLDER_FIX);
}

function num(obj: Json, key: string, file: string): number {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${file}: expected a number for "${key}" but found ${JSON.stringify(v)}.`);
  }
  return v;
}

function triple(obj: Json, key: string, file: string): [number, number, number] {
  const v = obj[key];
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number")) {
    throw new Error(`${file}: expected 3 numbers (R, G, B) for "${key}" but found ${JSON.stringify(v)}.`);
  }
  return [v[0], v[1], v[2]];
}

export function readPreprocessorConfig(folder: string): PreprocessorConfig {
  const file = "preprocessor_config.json";
  const j = readModelJson(folder, file);
  const size = j.size as Json | undefined;
  if (!size || typeof size.width !== "number" || typeof size.height !== "number") {
    throw new Error(`${file}: expected "size": {"height": H, "width": W} but found ${JSON.stringify(j.size)}.`);
  }
  return {
    size: { width: size.width, height: size.height },
    resample: typeof j.resample === "number" ? j.resample : DEFAULT_PREPROCESSOR_CONFIG.resample,
    // Microsoft's file leaves rescale_factor out; CLIPImageProcessor's default (1/255) then applies.
    rescaleFactor:
      j.rescale_factor === undefined ? DEFAULT_PREPROCESSOR_CONFIG.rescaleFactor : num(j, "rescale_factor", file),
    imageMean: triple(j, "image_mean", file),
    imageStd: triple(j, "image_std", file),
    imageSeqLength: typeof j.image_seq_length === "number" ? j.image_seq_length : DEFAULT_PREPROCESSOR_CONFIG.imageSeqLength,
  };
}

export function readModelConfig(folder: string): ModelConfig {
  const file = "config.json";
  const j = readModelJson(folder, file);
  const text = (j.text_config ?? {}) as Json;
  return {
    dModel: num(text, "d_model", `${file} text_config`),
    decoderLayers: num(text, "decoder_layers", `${file} text_config`),
    decoderAttentionHeads: num(text, "decoder_attention_heads", `${file} text_config`),
    vocabSize: typeof j.vocab_size === "number" ? j.vocab_size : num(text, "vocab_size", `${file} text_config`),
    maxPositionEmbeddings: num(text, "max_position_embeddings", `${file} text_config`),
  };
}

export function readGenerationConfig(folder: string): GenerationConfig {
  const gen = readModelJson(folder, "generation_config.json");
  const text = (readModelJson(folder, "config.json").text_config ?? {}) as Json;
  // generation_config.json wins; then config.json's text_config; then transformers' GenerationConfig defaults.
  const pick = <T>(key: string, isType: (v: unknown) => v is T, fallback: T): T => {
    if (isType(gen[key])) return gen[key] as T;
    if (isType(text[key])) return text[key] as T;
    return fallback;
  };
  const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  const isBool = (v: unknown): v is boolean => typeof v === "boolean";
  const isNumOrNull = (v: unknown): v is number | null => v === null || isNum(v);
  return {
    eosTokenId: pick("eos_token_id", isNum, 2),
    decoderStartTokenId: pick("decoder_start_token_id", isNum, 2),
    forcedBosTokenId: pick("forced_bos_token_id", isNumOrNull, null),
    forcedEosTokenId: pick("forced_eos_token_id", isNumOrNull, null),
    noRepeatNgramSize: pick("no_repeat_ngram_size", isNum, 0),
    numBeams: pick("num_beams", isNum, 1),
    earlyStopping: pick("early_stopping", isBool, false),
    lengthPenalty: pick("length_penalty", isNum, 1.0),
  };
}
