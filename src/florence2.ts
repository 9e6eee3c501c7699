/**
 * The model API: `Florence2.load(folderOrId)` and `model.run(image, task, input?)`.
 *
 *   image --image.ts--> pixel_values --vision_encoder--> features [1, 577, D]   (cached by image content)
 *   task + input --prompts.ts--> prompt --tokenizer--> ids --embed_tokens + encoder_model--> [1, 577 + L, D]
 *   --generation.ts (merged decoder, KV cache, greedy or beam search)--> ids --tokenizer--> text
 *   --postprocess.ts--> result, exactly as the reference's `post_process_generation`
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type * as ort from "onnxruntime-node";
import type { EarlyStopping } from "./beam-search";
import {
  readGenerationConfig,
  readIsStandIn,
  readModelConfig,
  readPreprocessorConfig,
  type GenerationConfig,
  type ModelConfig,
  type PreprocessorConfig,
} from "./config";
import { chooseDevice, deviceReport, type DeviceChoice, type DeviceOption, type DeviceReport } from "./device";
import { resolveDtypes, type Dtype, type ModuleName } from "./dtypes";
import { generate, runTextEncoder, runVisionEncoder, type GenerateOptions, type GenerationStats } from "./generation";
import { resolveModelFolder, type ResolveOptions } from "./hub";
import { loadImageRgb, preprocessImage, type ImageInput, type LoadImageOptions, type RgbImage } from "./image";
import { postProcessGeneration, type TaskResult } from "./postprocess";
import { buildPrompt, type PixelBox } from "./prompts";
import { openSessions, type Florence2Sessions, type SessionSettings } from "./sessions";
import { getTask } from "./tasks";
import { Florence2Tokenizer } from "./tokenizer";

export interface LoadOptions extends ResolveOptions, SessionSettings {
  /** "cpu", "cuda" or "auto" (default: FLORENCE2_DEVICE, else "auto"): see device.ts. Not with executionProviders. */
  device?: DeviceOption;
  /**
   * Keep the vision encoder's output for the most recent images, keyed by image content, so that several
   * tasks on one image run the vision encoder once: true (default, 4 images), false, or a number of images.
   */
  cacheImageFeatures?: boolean | number;
  /** How images are read (pixel limit, URL timeout); see image.ts. */
  imageOptions?: LoadImageOptions;
}

export interface RunOptions {
  /** 1 = greedy; more = beam search. Default: generation_config.json's num_beams (3 for Florence-2). */
  numBeams?: number;
  /** Most tokens to generate, final `</s>` included. Default 1024 (the walkthrough's), capped by the model's positions. */
  maxNewTokens?: number;
  /** Beam search stop rule. Default: generation_config.json's early_stopping (true). */
  earlyStopping?: EarlyStopping;
  /** Beam search: hypotheses are ranked by sum of log-probs / length ** lengthPenalty. Default 1. */
  lengthPenalty?: number;
  /** Never repeat an n-gram of this size (0 = off). Default: generation_config.json's (3). */
  noRepeatNgramSize?: number;
  /** Cancels the run between decoder steps; the model stays usable. */
  signal?: AbortSignal;
  /** Called after every decoder step with the ids so far (start token included; for beams, the best live beam). */
  onToken?: (ids: readonly number[]) => void;
}

/** Milliseconds per stage of one run. */
export interface RunTimings {
  /** Reading and hashing the image, resizing and normalising it, building and tokenizing the prompt. */
  preprocess: number;
  /** The vision encoder (0 when the features came from the cache). */
  vision: number;
  /** Prompt embedding and the text encoder. */
  encoder: number;
  /** The decoder loop, token choice included. */
  decoder: number;
  /** Decoder steps run (= generated tokens). */
  decoderSteps: number;
  /** Decoding the ids to text and post-processing. */
  postprocess: number;
  total: number;
  /** Whether the image features came from the cache. */
  imageFeaturesCached: boolean;
  /** Time inside session.run, all sessions together; total - sessionRun is everything else. */
  sessionRun: number;
  /** Of the decoder time: token choice (processors, greedy/beam bookkeeping) and cache reordering for beams. */
  search: number;
}

export interface RunOutput {
  /** `postProcessGeneration(text, task, [width, height])`: `{ "<OD>": { bboxes, labels } }` etc. */
  result: Record<string, TaskResult>;
  /** The generated text with special tokens, as the reference decodes it (`"</s><s>A car.</s>"`). */
  text: string;
  /** The generated ids, start token included. */
  ids: number[];
  /** Beam search: the chosen hypothesis' length-normalised score; greedy: null. */
  score: number | null;
  timings: RunTimings;
}

/** The vision encoder's output for one image, reusable across tasks (`model.run(features, task)`). */
export interface ImageFeatures {
  /** [1, 577, D], in the vision encoder's output type. */
  readonly features: ort.Tensor;
  /** [width, height] of the original image. */
  readonly imageSize: [number, number];
  /** Content hash the cache uses. */
  readonly key: string;
}

export interface GenerateOutput {
  ids: number[];
  text: string;
  score: number | null;
  stats: GenerationStats;
}

const DEFAULT_MAX_NEW_TOKENS = 1024;
/** No Florence-2 decoder has more than 4096 positions: a larger maxNewTokens is a mistake, not a wish. */
const MAX_NEW_TOKENS_LIMIT = 65536;
const DEFAULT_FEATURE_CACHE_SIZE = 4;
const RUN_OPTION_NAMES = ["numBeams", "maxNewTokens", "earlyStopping", "lengthPenalty", "noRepeatNgramSize", "signal", "onToken"];

/** Run options after validation and defaults: exactly what the generation loop takes. */
type ResolvedRunOptions = GenerateOptions;

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value);
  if (typeof value === "function") return "a function";
  return Array.isArray(value) ? "an array" : typeof value;
}

function camelCase(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Checks run options up front, with errors that name the option, what it takes and what it got. */
export function resolveRunOptions(options: RunOptions, defaults: GenerationConfig): ResolvedRunOptions {
  if (options === null || typeof options !== "object") {
    throw new Error(`Expected an object of run options (e.g. { numBeams: 3 }) but received ${describe(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!RUN_OPTION_NAMES.includes(key)) {
      const hint = RUN_OPTION_NAMES.includes(camelCase(key)) ? ` Options are camelCase: did you mean ${camelCase(key)}?` : "";
      throw new Error(`Unknown run option "${key}".${hint} Expected one of: ${RUN_OPTION_NAMES.join(", ")}.`);
    }
  }
  const integer = (name: keyof RunOptions, value: unknown, min: number, max: number, note = ""): number => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
      throw new Error(`Expected ${range} for ${name}${note} but received ${describe(value)}.`);
    }
    return value;
  };
  const numBeams = integer("numBeams", options.numBeams ?? defaults.numBeams, 1, 64, " (1 = greedy)");
  const maxNewTokens = integer(
    "maxNewTokens",
    options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
    1,
    MAX_NEW_TOKENS_LIMIT,
    " (values above the model's positions are capped to them)",
  );
  const noRepeatNgramSize = integer("noRepeatNgramSize", options.noRepeatNgramSize ?? defaults.noRepeatNgramSize, 0, Infinity, " (0 = off)");
  const earlyStopping = options.earlyStopping ?? defaults.earlyStopping;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== "never") {
    throw new Error(`Expected true, false or "never" for earlyStopping but received ${describe(earlyStopping)}.`);
  }
  const lengthPenalty = options.lengthPenalty ?? defaults.lengthPenalty;
  if (typeof lengthPenalty !== "number" || !Number.isFinite(lengthPenalty)) {
    throw new Error(`Expected a finite number for lengthPenalty but received ${describe(lengthPenalty)}.`);
  }
  const { signal, onToken } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new Error(`Expected an AbortSignal (new AbortController().signal) for signal but received ${describe(signal)}.`);
  }
  if (onToken !== undefined && typeof onToken !== "function") {
    throw new Error(`Expected a function (ids) => void for onToken but received ${describe(onToken)}.`);
  }
  return { numBeams, maxNewTokens, earlyStopping, lengthPenalty, noRepeatNgramSize, signal, onToken };
}

function isImageFeatures(value: unknown): value is ImageFeatures {
  return typeof value === "object" && value !== null && "features" in value && "imageSize" in value && "key" in value;
}

function isRgbImage(value: unknown): value is RgbImage {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array) && "data" in value && "width" in value;
}

function hashOf(kind: string, ...parts: (Uint8Array | string)[]): string {
  const hash = crypto.createHash("sha256");
  for (const p of parts) hash.update(p);
  return `${kind}:${hash.digest("hex")}`;
}

/** An image as far as the run needs it before the vision encoder: its key and size, plus pixels on a miss. */
interface ResolvedImage {
  key: string;
  imageSize: [number, number];
  cached?: ImageFeatures;
  rgb?: RgbImage;
}

/** Least-recently-used image features. Entries are only dropped, never disposed: a caller may still hold one. */
class FeatureCache {
  private readonly entries = new Map<string, ImageFeatures>();
  constructor(readonly capacity: number) {}

  get(key: string): ImageFeatures | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(entry: ImageFeatures): void {
    if (this.capacity <= 0) return;
    this.entries.delete(entry.key);
    this.entries.set(entry.key, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The tokenizer must know the model's last id (vocab_size - 1; `<and>` for Florence-2) and none beyond it,
 * since every id indexes the logits. Its token count may be lower: a stand-in's small tokenizer has gaps.
 */
function checkTokenizerFits(tokenizer: Florence2Tokenizer, vocabSize: number, folder: string): void {
  const last = tokenizer.idToToken(vocabSize - 1);
  const beyond = tokenizer.idToToken(vocabSize);
  if (last !== undefined && beyond === undefined && tokenizer.vocabSize <= vocabSize) return;
  const found =
    beyond !== undefined
      ? `it has ids beyond ${vocabSize - 1}, such as ${vocabSize} = ${JSON.stringify(beyond)}`
      : `its ${tokenizer.vocabSize} tokens ${last === undefined ? `do not include id ${vocabSize - 1}` : "are too many"}`;
  throw new Error(
    `The tokenizer in "${folder}" does not match config.json's vocab_size ${vocabSize}: ${found}. ` +
      `tokenizer.json belongs to another model; download the model's own tokenizer files again.`,
  );
}

function featureCacheSize(option: boolean | number | undefined): number {
  if (option === undefined || option === true) return DEFAULT_FEATURE_CACHE_SIZE;
  if (option === false) return 0;
  if (Number.isInteger(option) && option >= 0) return option;
  throw new Error(`Expected true, false or a non-negative integer for cacheImageFeatures but received ${describe(option)}.`);
}

export class Florence2 {
  private disposed = false;
  private readonly running = new Set<{ controller: AbortController; done: Promise<unknown> }>();
  private readonly featureCache: FeatureCache;
  private placement!: DeviceChoice;

  private constructor(
    /** The local model folder. */
    readonly folder: string,
    readonly config: ModelConfig,
    readonly generationConfig: GenerationConfig,
    readonly preprocessorConfig: PreprocessorConfig,
    readonly tokenizer: Florence2Tokenizer,
    private readonly sessions: Florence2Sessions,
    cacheSize: number,
    private readonly imageOptions: LoadImageOptions,
    /**
     * True for a stand-in generated by this project's tests (config.json's `stand_in` entry): random weights,
     * so whatever it outputs is not Florence-2's and should be shown as such.
     */
    readonly standIn: boolean,
  ) {
    this.featureCache = new FeatureCache(cacheSize);
  }

  /**
   * Loads a model folder laid out like onnx-community/Florence-2-base-ft, or a Hub id (downloaded into the
   * cache on first use; see hub.ts). Checks the tokenizer against config.json and every ONNX file against the
   * tensor contract before returning.
   */
  static async load(folderOrId: string, options: LoadOptions = {}): Promise<Florence2> {
    if (typeof folderOrId !== "string" || folderOrId === "") {
      throw new Error(`Expected a model folder or Hub id (e.g. "onnx-community/Florence-2-base-ft") but received ${describe(folderOrId)}.`);
    }
    const { sessionOptions, intraOpNumThreads, executionProviders, device, cacheImageFeatures, imageOptions, ...resolveOptions } = options;
    const cacheSize = featureCacheSize(cacheImageFeatures);
    resolveDtypes(options.dtype); // an unknown dtype fails before any download
    const placement = await chooseDevice(device, executionProviders); // so does a device that can't be had
    const folder = await resolveModelFolder(folderOrId, resolveOptions);
    const config = readModelConfig(folder);
    const generationConfig = readGenerationConfig(folder);
    const preprocessorConfig = readPreprocessorConfig(folder);
    const tokenizer = Florence2Tokenizer.fromFolder(folder);
    checkTokenizerFits(tokenizer, config.vocabSize, folder);
    const sessions = await openSessions(folder, config, {
      dtype: options.dtype, sessionOptions, intraOpNumThreads, executionProviders: placement.executionProviders,
    });
    const standIn = readIsStandIn(folder);
    const model = new Florence2(folder, config, generationConfig, preprocessorConfig, tokenizer, sessions, cacheSize, imageOptions ?? {}, standIn);
    model.placement = placement;
    return model;
  }

  /** Where the model runs: the device chosen at load and why (`summary`), and each session's execution providers. */
  get device(): DeviceReport {
    const s = this.sessions;
    return deviceReport(this.placement, { vision_encoder: s.vision, embed_tokens: s.embed, encoder_model: s.encoder, decoder_model_merged: s.decoder });
  }

  /** The dtype each module was loaded with. */
  get dtypes(): Record<ModuleName, Dtype> {
    const s = this.sessions;
    return { vision_encoder: s.vision.dtype, embed_tokens: s.embed.dtype, encoder_model: s.encoder.dtype, decoder_model_merged: s.decoder.dtype };
  }

  /**
   * Runs one task on an image: `task` is a token from the task table (`"<OD>"`) or its name (`"OD"`);
   * `textInput` is the phrase for text tasks, a pixel box or `"<loc_..>"` x4 string for region tasks.
   * `image` may also be decoded pixels or the features from `encodeImage`.
   */
  async run(
    image: ImageInput | RgbImage | ImageFeatures,
    task: string,
    textInput?: string | PixelBox,
    options: RunOptions = {},
  ): Promise<RunOutput> {
    this.assertUsable();
    const spec = getTask(task);
    const opts = resolveRunOptions(options, this.generationConfig);
    return this.track(opts.signal, async (signal) => {
      const started = performance.now();
      // Text inputs are checked before the image is read; a pixel box needs the image size first.
      const textPrompt = typeof textInput === "object" && textInput !== null ? undefined : buildPrompt(spec.token, textInput);
      const textIds = textPrompt === undefined ? undefined : this.tokenizer.encode(textPrompt);
      if (textIds) this.checkPromptLength(textIds.length);
      const resolved = await this.resolveImage(image);
      const [width, height] = resolved.imageSize;
      const promptIds = textIds ?? this.tokenizer.encode(buildPrompt(spec.token, textInput, { width, height }));
      this.checkPromptLength(promptIds.length);
      const { features, visionMs } = await this.featuresFor(resolved, signal);
      const preprocess = performance.now() - started - visionMs;
      const out = await this.generateFrom(features, promptIds, { ...opts, signal });
      const postStarted = performance.now();
      const text = this.tokenizer.decode(out.ids);
      const result = postProcessGeneration(text, spec.token, resolved.imageSize);
      const postprocess = performance.now() - postStarted;
      return {
        result,
        text,
        ids: out.ids,
        score: out.score,
        timings: {
          preprocess,
          vision: visionMs,
          encoder: out.encoderMs,
          decoder: out.stats.decoderMs,
          decoderSteps: out.stats.steps,
          postprocess,
          total: performance.now() - started,
          imageFeaturesCached: resolved.cached !== undefined,
          sessionRun: visionMs + out.encoderMs + out.stats.sessionMs,
          search: out.stats.searchMs + out.stats.cacheMs,
        },
      };
    });
  }

  /** The vision encoder's output for an image (from the cache when the same content was seen recently). */
  async encodeImage(image: ImageInput | RgbImage): Promise<ImageFeatures> {
    this.assertUsable();
    return this.track(undefined, async (signal) => (await this.featuresFor(await this.resolveImage(image), signal)).features);
  }

  /**
   * The decoder on image features and a prompt text (the English prompt, e.g. from `buildPrompt`), without
   * post-processing: for notebooks and benchmarks that need the pieces.
   */
  async generate(features: ImageFeatures, prompt: string, options: RunOptions = {}): Promise<GenerateOutput> {
    this.assertUsable();
    if (!isImageFeatures(features)) throw new Error(`Expected the ImageFeatures of model.encodeImage(image) but received ${describe(features)}.`);
    const opts = resolveRunOptions(options, this.generationConfig);
    return this.track(opts.signal, async (signal) => {
      const promptIds = this.tokenizer.encode(prompt);
      this.checkPromptLength(promptIds.length);
      const out = await this.generateFrom(features, promptIds, { ...opts, signal });
      return { ids: out.ids, text: this.tokenizer.decode(out.ids), score: out.score, stats: out.stats };
    });
  }

  /** Forgets the cached image features. */
  clearImageCache(): void {
    this.featureCache.clear();
  }

  /**
   * Releases the native sessions. Runs in progress are cancelled at their next decoder step and awaited
   * first. Any later call fails with a clear error.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const reason = new Error("The Florence2 model was disposed during this run.");
    for (const run of this.running) run.controller.abort(reason);
    await Promise.allSettled([...this.running].map((r) => r.done));
    this.featureCache.clear();
    await this.sessions.release();
  }

  private assertUsable(): void {
    if (this.disposed) {
      throw new Error(`This Florence2 model was disposed; load it again with Florence2.load("${this.folder}").`);
    }
  }

  /** Runs `work` with a signal that fires on the caller's signal or on dispose, and tracks it for dispose. */
  private async track<T>(userSignal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    userSignal?.throwIfAborted();
    const controller = new AbortController();
    const forward = () => controller.abort(userSignal?.reason);
    userSignal?.addEventListener("abort", forward, { once: true });
    const done = work(controller.signal);
    const entry = { controller, done };
    this.running.add(entry);
    try {
      return await done;
    } finally {
      this.running.delete(entry);
      userSignal?.removeEventListener("abort", forward);
    }
  }

  private checkPromptLength(promptLength: number): void {
    const imageTokens = this.preprocessorConfig.imageSeqLength;
    const positions = imageTokens + promptLength;
    if (positions > this.config.maxPositionEmbeddings) {
      throw new Error(
        `The prompt is ${promptLength} tokens long; with the ${imageTokens} image tokens that is ${positions} encoder positions, ` +
          `more than the model's ${this.config.maxPositionEmbeddings} (max_position_embeddings in config.json). ` +
          `Shorten the text input to at most ${this.config.maxPositionEmbeddings - imageTokens} tokens, prompt included.`,
      );
    }
  }

  /**
   * The cache key and size of an image. Bytes and files are keyed by their bytes, so a cache hit skips
   * decoding; URLs and decoded pixels are keyed by their pixels.
   */
  private async resolveImage(image: ImageInput | RgbImage | ImageFeatures): Promise<ResolvedImage> {
    if (isImageFeatures(image)) {
      const D = image.features.dims[2];
      if (D !== this.config.dModel) {
        throw new Error(`These image features have width ${D} but this model's d_model is ${this.config.dModel}: they come from another model.`);
      }
      return { key: image.key, imageSize: image.imageSize, cached: image };
    }
    if (isRgbImage(image)) return this.resolvePixels(image);
    let bytes: Uint8Array | undefined;
    if (image instanceof Uint8Array) bytes = image;
    else if (typeof image === "string" && !/^https?:\/\//i.test(image)) {
      try {
        bytes = fs.readFileSync(image);
      } catch {
        bytes = undefined; // loadImageRgb gives the helpful message for a missing or unreadable file
      }
    }
    if (bytes === undefined) return this.resolvePixels(await loadImageRgb(image as ImageInput, this.imageOptions));
    const key = hashOf("bytes", bytes);
    const cached = this.featureCache.get(key);
    if (cached) return { key, imageSize: cached.imageSize, cached };
    const rgb = await loadImageRgb(image as ImageInput, this.imageOptions);
    return { key, imageSize: [rgb.width, rgb.height], rgb };
  }

  private resolvePixels(rgb: RgbImage): ResolvedImage {
    const key = hashOf("pixels", `${rgb.width}x${rgb.height}:`, rgb.data);
    const cached = this.featureCache.get(key);
    return cached ? { key, imageSize: cached.imageSize, cached } : { key, imageSize: [rgb.width, rgb.height], rgb };
  }

  private async featuresFor(image: ResolvedImage, signal: AbortSignal): Promise<{ features: ImageFeatures; visionMs: number }> {
    if (image.cached) return { features: image.cached, visionMs: 0 };
    const { pixelValues, dims } = await preprocessImage(image.rgb as RgbImage, this.preprocessorConfig, this.imageOptions);
    signal.throwIfAborted();
    const visionStarted = performance.now();
    const tensor = await runVisionEncoder(this.sessions, pixelValues, dims);
    const visionMs = performance.now() - visionStarted;
    const features: ImageFeatures = { features: tensor, imageSize: image.imageSize, key: image.key };
    this.featureCache.set(features);
    return { features, visionMs };
  }

  private async generateFrom(
    features: ImageFeatures,
    promptIds: readonly number[],
    options: ResolvedRunOptions & { signal: AbortSignal },
  ): Promise<{ ids: number[]; score: number | null; stats: GenerationStats; encoderMs: number }> {
    options.signal.throwIfAborted();
    const encoderStarted = performance.now();
    const encoded = await runTextEncoder(this.sessions, features.features, promptIds);
    const encoderMs = performance.now() - encoderStarted;
    try {
      const { ids, score, stats } = await generate(this.sessions, encoded, this.generationConfig, this.config.maxPositionEmbeddings, options);
      return { ids, score, stats, encoderMs };
    } finally {
      encoded.hiddenStates.dispose();
      encoded.attentionMask.dispose();
    }
  }
}
