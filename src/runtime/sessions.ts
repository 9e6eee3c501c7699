/**
 * The four ONNX sessions of a Florence-2 export (onnx-community/Florence-2-base-ft's onnx/ folder): opening them with
 * a dtype per module, checking each file against the tensor contract at load time, and float tensors in the element
 * type each file takes (float32, or float16 for fp16 files: float16.ts converts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { DTYPE_SUFFIX, MODULES, onnxFilePath, resolveDtypes, type Dtype, type DtypeOption, type ModuleName } from "./dtypes";
import { cacheTensors } from "./cache-tensors";
import { float16ToFloat32, float32ToFloat16 } from "./float16";
import type { ModelConfig } from "./config";
import { describeList, describeValue } from "../util/describe";
import { providerNames } from "./device";
import { sessionLoadError } from "./load-errors";

export type SessionOptions = ort.InferenceSession.SessionOptions;
export type ExecutionProvider = ort.InferenceSession.ExecutionProviderConfig;
/** The element type of a float tensor: fp16 files take and give float16, every other dtype float32. */
export type FloatType = "float32" | "float16";
/** float32 data, or float16 bit patterns. */
export type FloatData = Float32Array | Uint16Array;

// ---------------------------------------------------------------------------------------------------------------
// Float tensors of either element type

/** Converts float data to the element type a session input wants (no copy when it already matches). */
export function toFloatType(data: FloatData, type: FloatType): FloatData {
  if (type === "float16") return data instanceof Uint16Array ? data : float32ToFloat16(data);
  return data instanceof Float32Array ? data : float16ToFloat32(data);
}

/** A float tensor of the given element type from float32 or float16 data. */
export function floatTensor(type: FloatType, data: FloatData, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(type, toFloatType(data, type), dims);
}

// ---------------------------------------------------------------------------------------------------------------
// The tensor contract (the onnx-community export's names, element types and dims)

type ElementKind = "float" | "int64" | "bool";

interface TensorContract {
  name: string;
  kind: ElementKind;
  /** Expected dims: a number must match a numeric dim in the file; null accepts any (symbolic) dim. */
  dims: readonly (number | null)[];
}

interface ModuleContract {
  inputs: TensorContract[];
  outputs: TensorContract[];
}

/** What each module's file must look like for a model with this config. */
export function moduleContract(module: ModuleName, config: ModelConfig): ModuleContract {
  const D = config.dModel;
  const H = config.decoderAttentionHeads;
  const Dh = D / H;
  const t = (name: string, kind: ElementKind, dims: (number | null)[]): TensorContract => ({ name, kind, dims });
  switch (module) {
    case "vision_encoder":
      return {
        inputs: [t("pixel_values", "float", [null, 3, null, null])],
        outputs: [t("image_features", "float", [null, null, D])],
      };
    case "embed_tokens":
      return {
        inputs: [t("input_ids", "int64", [null, null])],
        outputs: [t("inputs_embeds", "float", [null, null, D])],
      };
    case "encoder_model":
      return {
        inputs: [t("inputs_embeds", "float", [null, null, D]), t("attention_mask", "int64", [null, null])],
        outputs: [t("last_hidden_state", "float", [null, null, D])],
      };
    case "decoder_model_merged": {
      const cache = cacheTensors(config.decoderLayers);
      const past = cache.map((c) => t(c.past, "float", [null, H, null, Dh]));
      const present = cache.map((c) => t(c.present, "float", [null, H, null, Dh]));
      return {
        inputs: [
          t("inputs_embeds", "float", [null, null, D]),
          t("encoder_hidden_states", "float", [null, null, D]),
          t("encoder_attention_mask", "int64", [null, null]),
          t("use_cache_branch", "bool", [1]),
          ...past,
        ],
        outputs: [t("logits", "float", [null, null, config.vocabSize]), ...present],
      };
    }
  }
}

/** The parts of an InferenceSession the contract check reads (so tests can check metadata alone). */
export interface SessionMetadata {
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
}

function checkSide(
  module: ModuleName,
  side: "input" | "output",
  expected: readonly TensorContract[],
  found: readonly ort.InferenceSession.ValueMetadata[],
  where: string,
): Record<string, FloatType> {
  const foundNames = found.map((m) => m.name);
  const missing = expected.filter((e) => !foundNames.includes(e.name)).map((e) => e.name);
  // An input must be fed, so an unknown one is refused; an output nobody reads (a re-export's extra) does no harm.
  const unexpected = side === "input" ? foundNames.filter((n) => !expected.some((e) => e.name === n)) : [];
  if (missing.length > 0 || unexpected.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${side}s ${describeList(missing)}`);
    if (unexpected.length > 0) parts.push(`unexpected ${side}s ${describeList(unexpected)}`);
    throw new Error(
      `${where} does not have the tensors of a Florence-2 ${module}: ${parts.join("; ")}. ` +
        `Expected ${side}s ${describeList(expected.map((e) => e.name))} but found ${describeList(foundNames)}. ` +
        `Check that the folder holds an onnx-community Florence-2 export whose config.json matches its onnx/ files.`,
    );
  }
  const floatTypes: Record<string, FloatType> = {};
  for (const e of expected) {
    const meta = found.find((m) => m.name === e.name) as ort.InferenceSession.ValueMetadata;
    if (!meta.isTensor) throw new Error(`${where}: ${side} "${e.name}" should be a tensor but is not.`);
    const wanted = e.kind === "float" ? ["float32", "float16"] : [e.kind];
    if (!wanted.includes(meta.type)) {
      throw new Error(`${where}: expected ${side} "${e.name}" of type ${wanted.join(" or ")} but found ${meta.type}.`);
    }
    if (meta.shape.length > 0) {
      const shapeText = `[${meta.shape.join(", ")}]`;
      const expectedText = `[${e.dims.map((d) => d ?? "?").join(", ")}]`;
      const mismatch =
        meta.shape.length !== e.dims.length ||
        e.dims.some((d, i) => d !== null && typeof meta.shape[i] === "number" && meta.shape[i] !== d);
      if (mismatch) {
        throw new Error(
          `${where}: expected ${side} "${e.name}" with dims ${expectedText} (from config.json) but found ${shapeText}. ` +
            `The onnx/ files and config.json come from different models.`,
        );
      }
    }
    if (e.kind === "float") floatTypes[e.name] = meta.type as FloatType;
  }
  return floatTypes;
}

/** The float element type of every float input and output, after checking names, types and dims. */
export interface CheckedTypes {
  inputs: Record<string, FloatType>;
  outputs: Record<string, FloatType>;
}

/** Checks a session against the contract; errors name the file, what was expected and what was found. */
export function checkContract(session: SessionMetadata, module: ModuleName, config: ModelConfig, file: string): CheckedTypes {
  const contract = moduleContract(module, config);
  return {
    inputs: checkSide(module, "input", contract.inputs, session.inputMetadata, file),
    outputs: checkSide(module, "output", contract.outputs, session.outputMetadata, file),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Opening the sessions

export interface SessionSettings {
  /** One dtype for all modules or one per module (default fp32). */
  dtype?: DtypeOption;
  /** Merged over the defaults below for every module. */
  sessionOptions?: SessionOptions;
  /** Shorthand for sessionOptions.intraOpNumThreads. */
  intraOpNumThreads?: number;
  /** Passed to onnxruntime, e.g. ["cpu"] (default) or ["cuda", "cpu"] where onnxruntime-node has CUDA. */
  executionProviders?: readonly ExecutionProvider[];
  /** Per module, over executionProviders: where device.ts's placeModules puts each module. */
  moduleExecutionProviders?: Partial<Record<ModuleName, readonly ExecutionProvider[]>>;
}

/**
 * Defaults, per module. The vision encoder always sees [1, 3, 768, 768], so ORT's memory pattern (a plan of
 * buffer offsets reused when the input shapes repeat) pays off there; the decoder's past length changes at
 * every step, so a pattern would be planned and cached for every length and never reused.
 */
export function defaultSessionOptions(module: ModuleName): SessionOptions {
  return {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    enableCpuMemArena: true,
    enableMemPattern: module === "vision_encoder",
    logSeverityLevel: 3,
  };
}

export interface ModuleSession {
  module: ModuleName;
  dtype: Dtype;
  /** Absolute path of the .onnx file. */
  file: string;
  session: ort.InferenceSession;
  types: CheckedTypes;
  /** The execution providers the session was created with, preferred first (see device.ts). */
  executionProviders: string[];
}

export interface Florence2Sessions {
  vision: ModuleSession;
  embed: ModuleSession;
  encoder: ModuleSession;
  decoder: ModuleSession;
  /** From the decoder's past inputs: [batch, heads, past, headDim]. */
  decoderLayers: number;
  heads: number;
  headDim: number;
  /** The logits' last dim (config.json vocab_size, checked against the decoder's metadata). */
  vocabSize: number;
  release(): Promise<void>;
}

/** Which dtypes of a module a folder holds, for the missing-file message. */
function availableDtypes(folder: string, module: ModuleName): Dtype[] {
  const onnxDir = path.join(folder, "onnx");
  let files: string[];
  try {
    files = fs.readdirSync(onnxDir);
  } catch {
    return [];
  }
  return (Object.keys(DTYPE_SUFFIX) as Dtype[]).filter((d) => files.includes(path.basename(onnxFilePath(module, d))));
}

async function openModule(
  folder: string,
  module: ModuleName,
  dtype: Dtype,
  config: ModelConfig,
  settings: SessionSettings,
): Promise<ModuleSession> {
  const relative = onnxFilePath(module, dtype);
  const file = path.resolve(folder, relative);
  if (!fs.existsSync(file)) {
    const present = availableDtypes(folder, module);
    const hint =
      present.length > 0
        ? `The folder has ${module} in dtype ${present.join(", ")}: pass dtype: { ${module}: "${present[0]}" } or download the ${dtype} files.`
        : `Download the model again, or choose a dtype whose files are present.`;
    throw new Error(`Model folder "${folder}" has no ${relative} (dtype "${dtype}" for ${module}). ${hint}`);
  }
  const options: SessionOptions = {
    ...defaultSessionOptions(module),
    ...settings.sessionOptions,
    ...(settings.intraOpNumThreads !== undefined ? { intraOpNumThreads: settings.intraOpNumThreads } : {}),
    ...(settings.executionProviders !== undefined ? { executionProviders: settings.executionProviders } : {}),
    ...(settings.moduleExecutionProviders?.[module] !== undefined ? { executionProviders: settings.moduleExecutionProviders[module] } : {}),
  };
  const executionProviders = providerNames(options.executionProviders);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, options);
  } catch (err) {
    throw await sessionLoadError({ folder, relative, module, dtype, providers: executionProviders }, err);
  }
  try {
    return { module, dtype, file, session, types: checkContract(session, module, config, relative), executionProviders };
  } catch (err) {
    // The contract error is the one to report; a release that fails as well must not replace it.
    await session.release().catch(() => undefined);
    throw err;
  }
}

function validateThreads(value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new Error(`Expected a non-negative integer for intraOpNumThreads (0 = onnxruntime's choice) but received ${describeValue(value)}.`);
  }
}

/** Opens the four modules, checks their contracts, and releases whatever was opened if any of them fails. */
export async function openSessions(folder: string, config: ModelConfig, settings: SessionSettings = {}): Promise<Florence2Sessions> {
  validateThreads(settings.intraOpNumThreads);
  const dtypes = resolveDtypes(settings.dtype);
  const opened: ModuleSession[] = [];
  try {
    // One at a time: loading is CPU- and memory-bound, and a failure stops before the next big file.
    for (const module of MODULES) opened.push(await openModule(folder, module, dtypes[module], config, settings));
  } catch (err) {
    await releaseAll(opened);
    throw err;
  }
  const [vision, embed, encoder, decoder] = opened;
  const headDim = config.dModel / config.decoderAttentionHeads;
  let released = false;
  return {
    vision,
    embed,
    encoder,
    decoder,
    decoderLayers: config.decoderLayers,
    heads: config.decoderAttentionHeads,
    headDim,
    vocabSize: config.vocabSize,
    async release() {
      if (released) return;
      released = true;
      const failures = await releaseAll(opened);
      if (failures.length > 0) {
        throw new Error(
          `Could not release ${failures.map((f) => `${f.module} (${f.message})`).join(", ")}; the other sessions were released.`,
          { cause: failures[0].error },
        );
      }
    },
  };
}

/**
 * Releases every session, each whatever the others do (allSettled: with Promise.all, the first failing release
 * would leave the rest unreleased and its error would replace the one being reported).
 */
async function releaseAll(sessions: readonly ModuleSession[]): Promise<{ module: ModuleName; message: string; error: unknown }[]> {
  const results = await Promise.allSettled(sessions.map((m) => m.session.release()));
  return results.flatMap((r, i) =>
    r.status === "rejected" ? [{ module: sessions[i].module, message: (r.reason as Error)?.message ?? String(r.reason), error: r.reason }] : [],
  );
}
