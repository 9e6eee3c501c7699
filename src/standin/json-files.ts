/**
 * config.json, generation_config.json and preprocessor_config.json of a stand-in folder, so that loading code
 * reads a stand-in exactly as a real model. The templates are Florence-2-base-ft's files: from a reference folder's
 * florence2/model-files when one is given (the complete real files), else the built-in copies below (the
 * keys a loader reads, in the real layout). config.json then gets the stand-in's own dims and a `stand_in` entry
 * saying that its weights are random.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readJsonObject, readJsonObjectOrUndefined, type JsonObject } from "../util/json-file";
import { TASKS } from "../text/tasks";
import type { StandInDims } from "./sizes";

type Json = JsonObject;

const BUILT_IN_CONFIG: Json = {
  _name_or_path: "microsoft/Florence-2-base-ft",
  architectures: ["Florence2ForConditionalGeneration"],
  bos_token_id: 0,
  eos_token_id: 2,
  ignore_index: -100,
  is_encoder_decoder: true,
  model_type: "florence2",
  pad_token_id: 1,
  projection_dim: 768,
  text_config: {
    activation_dropout: 0.1,
    activation_function: "gelu",
    add_bias_logits: false,
    add_final_layer_norm: false,
    attention_dropout: 0.1,
    bos_token_id: 0,
    classif_dropout: 0.1,
    classifier_dropout: 0.0,
    d_model: 768,
    decoder_attention_heads: 12,
    decoder_ffn_dim: 3072,
    decoder_layerdrop: 0.0,
    decoder_layers: 6,
    decoder_start_token_id: 2,
    dropout: 0.1,
    early_stopping: true,
    encoder_attention_heads: 12,
    encoder_ffn_dim: 3072,
    encoder_layerdrop: 0.0,
    encoder_layers: 6,
    eos_token_id: 2,
    forced_bos_token_id: 0,
    forced_eos_token_id: 2,
    init_std: 0.02,
    is_encoder_decoder: true,
    length_penalty: 1.0,
    max_length: 20,
    max_position_embeddings: 1024,
    model_type: "florence2_language",
    no_repeat_ngram_size: 3,
    normalize_before: false,
    num_beams: 3,
    num_hidden_layers: 6,
    pad_token_id: 1,
    scale_embedding: false,
    tie_word_embeddings: true,
    use_cache: true,
    vocab_size: 51289,
  },
  transformers_version: "4.38.2",
  vision_config: {
    depths: [1, 1, 9, 1],
    dim_embed: [128, 256, 512, 1024],
    drop_path_rate: 0.1,
    enable_checkpoint: false,
    image_feature_source: ["spatial_avg_pool", "temporal_avg_pool"],
    image_pos_embed: { max_pos_embeddings: 50, type: "learned_abs_2d" },
    model_type: "",
    num_groups: [4, 8, 16, 32],
    num_heads: [4, 8, 16, 32],
    patch_padding: [3, 1, 1, 1],
    patch_prenorm: [false, true, true, true],
    patch_size: [7, 3, 3, 3],
    patch_stride: [4, 2, 2, 2],
    projection_dim: 768,
    visual_temporal_embedding: { max_temporal_embeddings: 100, type: "COSINE" },
    window_size: 12,
  },
  vocab_size: 51289,
};

const BUILT_IN_GENERATION_CONFIG: Json = {
  bos_token_id: 0,
  decoder_start_token_id: 2,
  early_stopping: true,
  eos_token_id: 2,
  forced_bos_token_id: 0,
  forced_eos_token_id: 2,
  no_repeat_ngram_size: 3,
  num_beams: 3,
  pad_token_id: 1,
};

const BUILT_IN_PREPROCESSOR_CONFIG: Json = {
  auto_map: { AutoProcessor: "processing_florence2.Florence2Processor" },
  crop_size: { height: 768, width: 768 },
  do_center_crop: false,
  do_convert_rgb: null,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.485, 0.456, 0.406],
  image_processor_type: "CLIPImageProcessor",
  image_seq_length: 577,
  image_std: [0.229, 0.224, 0.225],
  processor_class: "Florence2Processor",
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { height: 768, width: 768 },
};

/**
 * A real model's JSON file from `referenceDir`'s `florence2/model-files/` when there is one (so that a stand-in
 * carries every key the export has), else the built-in copy above.
 */
function template(file: string, builtIn: Json, referenceDir: string | undefined): Json {
  const real = referenceDir === undefined ? undefined : path.join(referenceDir, "florence2", "model-files", file);
  if (real !== undefined && fs.existsSync(real)) return readJsonObject(real, `Fix or remove the reference files in ${referenceDir}.`);
  return structuredClone(builtIn);
}

/** What config.json's `stand_in` entry says about the folder. */
export interface StandInMarker {
  size: string;
  seed: number;
  decoder: "free" | "script" | "restricted";
  dtypes: readonly string[];
}

export function configJson(dims: StandInDims, marker: StandInMarker, referenceDir?: string): Json {
  const config = template("config.json", BUILT_IN_CONFIG, referenceDir);
  const t = dims.text;
  config._name_or_path = `florence2-ts/stand-in-${dims.size}`;
  config.projection_dim = t.dModel;
  config.vocab_size = t.vocabSize;
  Object.assign(config.text_config as Json, {
    d_model: t.dModel,
    encoder_layers: t.encoderLayers,
    decoder_layers: t.decoderLayers,
    num_hidden_layers: t.encoderLayers,
    encoder_attention_heads: t.heads,
    decoder_attention_heads: t.heads,
    encoder_ffn_dim: t.ffn,
    decoder_ffn_dim: t.ffn,
    max_position_embeddings: t.maxPositions,
    vocab_size: t.vocabSize,
  });
  const vision = config.vision_config as Json;
  vision.projection_dim = t.dModel;
  if (dims.vision.kind === "davit") {
    Object.assign(vision, { dim_embed: dims.vision.dims, num_heads: dims.vision.heads, num_groups: dims.vision.groups, depths: dims.vision.depths });
  }
  config.stand_in = {
    ...marker,
    vision_encoder: dims.vision.kind === "davit" ? "DaViT-like (same compute as the real one)" : "one strided conv to 24x24 tokens",
    note: "Stand-in generated by florence2-ts (src/standin): random weights, so its outputs are not Florence-2's.",
  };
  return config;
}

export function generationConfigJson(referenceDir?: string): Json {
  return template("generation_config.json", BUILT_IN_GENERATION_CONFIG, referenceDir);
}

/**
 * The onnx-community export's preprocessor_config.json is transformers.js' version of it: Microsoft's
 * plus the processor's three task maps, which transformers.js' Florence2Processor reads. They are built from
 * src/text/tasks.ts, in the reference's dict order, when the template lacks them.
 */
export function preprocessorConfigJson(referenceDir?: string): Json {
  const config = template("preprocessor_config.json", BUILT_IN_PREPROCESSOR_CONFIG, referenceDir);
  const tasks = [...TASKS].sort((a, b) => a.referenceOrder - b.referenceOrder);
  const map = (list: typeof tasks, value: (t: (typeof tasks)[number]) => string) =>
    Object.fromEntries(list.map((t) => [t.token, value(t)]));
  config.tasks_answer_post_processing_type ??= map(tasks, (t) => t.resultKind);
  config.task_prompts_without_inputs ??= map(tasks.filter((t) => t.input === "none"), (t) => t.prompt);
  config.task_prompts_with_input ??= map(tasks.filter((t) => t.input !== "none"), (t) => t.prompt);
  return config;
}

/** True when `folder/config.json` exists and is not a stand-in's: such a folder must never be overwritten. */
export function holdsRealModel(folder: string): boolean {
  const file = path.join(folder, "config.json");
  if (!fs.existsSync(file)) return false;
  // An unreadable config.json may be a real model's too: never overwrite it.
  return !readJsonObjectOrUndefined(file)?.stand_in;
}

export function writeJson(folder: string, file: string, value: Json): string {
  fs.writeFileSync(path.join(folder, file), JSON.stringify(value, null, 2) + "\n");
  return file;
}
