/**
 * The ONNX files of a Florence-2 export and their quantized variants. File-name suffixes are those of the
 * onnx-community exports (the same table transformers.js uses, `DEFAULT_DTYPE_SUFFIX_MAPPING`).
 */
import { describeValue } from "../util/describe";

export const DTYPE_SUFFIX = {
  fp32: "",
  fp16: "_fp16",
  q8: "_quantized",
  int8: "_int8",
  uint8: "_uint8",
  q4: "_q4",
  q4f16: "_q4f16",
  bnb4: "_bnb4",
} as const;

export type Dtype = keyof typeof DTYPE_SUFFIX;

/** The four graphs Florence-2 needs at run time, in data-flow order. */
export const MODULES = ["vision_encoder", "embed_tokens", "encoder_model", "decoder_model_merged"] as const;
export type ModuleName = (typeof MODULES)[number];

/** One dtype for every module, or a dtype per module (the rest fp32), as transformers.js accepts. */
export type DtypeOption = Dtype | Partial<Record<ModuleName, Dtype>>;

/** JSON and tokenizer files every model folder has beside `onnx/`. */
export const MODEL_JSON_FILES = [
  "config.json",
  "generation_config.json",
  "preprocessor_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
] as const;

function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SUFFIX, value);
}

/** Expands a dtype option to one dtype per module, rejecting unknown names with the list of valid ones. */
export function resolveDtypes(option: DtypeOption = "fp32"): Record<ModuleName, Dtype> {
  const valid = Object.keys(DTYPE_SUFFIX).join(", ");
  if (typeof option === "string") {
    if (!isDtype(option)) throw new Error(`Unsupported dtype "${option}". Expected one of: ${valid}.`);
    return Object.fromEntries(MODULES.map((m) => [m, option])) as Record<ModuleName, Dtype>;
  }
  if (option === null || typeof option !== "object") {
    throw new Error(`dtype must be a string (${valid}) or an object {module: dtype} but received ${describeValue(option)}.`);
  }
  const result = Object.fromEntries(MODULES.map((m) => [m, "fp32"])) as Record<ModuleName, Dtype>;
  for (const [module, dtype] of Object.entries(option)) {
    if (!(MODULES as readonly string[]).includes(module)) {
      throw new Error(`dtype given for unknown module "${module}". Expected modules: ${MODULES.join(", ")}.`);
    }
    if (!isDtype(dtype)) throw new Error(`Unsupported dtype "${dtype}" for ${module}. Expected one of: ${valid}.`);
    result[module as ModuleName] = dtype;
  }
  return result;
}

/** Path of a module's ONNX file inside a model folder, e.g. `onnx/decoder_model_merged_quantized.onnx`. */
export function onnxFilePath(module: ModuleName, dtype: Dtype): string {
  return `onnx/${module}${DTYPE_SUFFIX[dtype]}.onnx`;
}
