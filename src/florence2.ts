/**
 * The model API: `Florence2.load(folderOrId)`, `model.run(image, task, input?)` and `model.runBatch(requests)`.
 *
 *   image --image.ts--> pixel_values --vision_encoder--> features [1, 577, D]   (once per image; cached by content)
 *   task + input --prompts.ts--> prompt --tokenizer--> ids
 *   features + ids --encoders.ts (embed_tokens + encoder_model, prompts batched)--> encoder states [B, 577 + L, D]
 *   --generation.ts (decoder waves: decoder-step.ts, search-strategy.ts)--> ids --tokenizer--> text
 *   --postprocess.ts--> result, exactly as the reference's `post_process_generation`
 *
 * `run` is a batch of one: every call goes through `execute`, which reads each distinct image once, checks every
 * prompt, encodes the images, then decodes the requests in waves of at most `maxBatchRows` decoder rows.
 */
import {
  readGenerationConfig,
  readModelConfig,
  readPreprocessorConfig,
  type GenerationConfig,
  type ModelConfig,
  type PreprocessorConfig,
} from "./runtime/config";
import { describeValue } from "./util/describe";
import { chooseDevice, deviceReport, type DeviceChoice, type DeviceOption, type DeviceReport } from "./runtime/device";
import { resolveDtypes, type Dtype, type ModuleName } from "./runtime/dtypes";
import { encodePrompts, runVisionEncoder } from "./decode/encoders";
import { generateWave, planWaves, type GenerationStats, type StepsByRows } from "./decode/generation";
import { resolveModelFolder, type ResolveOptions } from "./hub/index";
import { preprocessImage, type ImageInput, type LoadImageOptions, type RgbImage } from "./image/image";
import { FeatureCache, isImageFeatures, resolveImage, type ImageFeatures, type ResolvedImage } from "./image/image-features";
import { postProcessGeneration, type TaskResult } from "./text/postprocess";
import { buildPrompt, checkPromptLength, type PixelBox } from "./text/prompts";
import {
  checkBatchRequest,
  defaultMaxBatchRows,
  resolveBatchOptions,
  resolveRunOptions,
  type BatchOptions,
  type BatchRequest,
  type CheckedRequest,
  type RunOptions,
} from "./requests";
import { RunQueue } from "./run-queue";
import { openSessions, type Florence2Sessions, type SessionSettings } from "./runtime/sessions";
import { getTask, type TaskSpec } from "./text/tasks";
import type { DecodingOptions } from "./decode/search-strategy";
import { Florence2Tokenizer, checkTokenizerMatchesModel } from "./text/tokenizer";

export type { RunOptions, RequestOptions, BatchRequest, BatchOptions } from "./requests";
export { resolveRunOptions, defaultMaxBatchRows, DEFAULT_MAX_BATCH_ROWS } from "./requests";
export type { ImageFeatures } from "./image/image-features";

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

/**
 * Milliseconds per stage of one request. For `run` they are the run's own times. For a request of `runBatch`,
 * whose work is shared with the others, each figure is the request's share: its image's reading and vision
 * encoder run split among the requests on that image, the text encoder split among its wave's requests, each
 * decoder step split among the requests in it by their rows, its own token choice and post-processing, and an
 * equal share of what no stage accounts for. So any figure summed over a batch's outputs gives the batch's total,
 * which `batch` holds with the batch's other figures.
 */
export interface RunTimings {
  /** Reading, hashing, resizing and normalising the image; building and tokenizing the prompt. */
  preprocess: number;
  /** The vision encoder (0 when the features came from the cache). */
  vision: number;
  /** Prompt embedding and the text encoder. */
  encoder: number;
  /** The decoder loop, token choice included. */
  decoder: number;
  /** Decoder steps the request took part in (= its generated tokens). */
  decoderSteps: number;
  /** Decoding the ids to text and post-processing. */
  postprocess: number;
  total: number;
  /** Whether the image features came from the model's cache or were passed in (no vision encoder run for it). */
  imageFeaturesCached: boolean;
  /** Time inside session.run, all sessions together; total - sessionRun is everything else. */
  sessionRun: number;
  /** Of the decoder time: token choice (processors, greedy/beam bookkeeping) and cache row work. */
  search: number;
  /** `runBatch` only: the whole batch's figures (one object, shared by all its outputs). */
  batch?: BatchTimings;
}

/** A whole `runBatch` call: wall time per stage (not shares) and how the decoder ran. */
export interface BatchTimings {
  requests: number;
  /** Decoder waves (see BatchOptions.maxBatchRows). */
  waves: number;
  /** Distinct images, and how many of them the vision encoder ran for (the rest came from the cache). */
  images: number;
  visionRuns: number;
  total: number;
  preprocess: number;
  vision: number;
  encoder: number;
  decoder: number;
  postprocess: number;
  sessionRun: number;
  search: number;
  /** Decoder steps (session runs) of all waves, and the most rows one of them ran. */
  decoderSteps: number;
  maxRows: number;
  /** Decoder steps by their number of rows, with their wall time: where the decoder time went. */
  stepsByRows: StepsByRows[];
}

export interface RunOutput {
  /** `postProcessGeneration(text, task, { width, height })`: `{ "<OD>": { bboxes, labels } }` etc. */
  result: Record<string, TaskResult>;
  /** The generated text with special tokens, as the reference decodes it (`"</s><s>A car.</s>"`). */
  text: string;
  /** The generated ids, start token included. */
  ids: number[];
  /** Beam search: the chosen hypothesis' length-normalised score; greedy: null. */
  score: number | null;
  timings: RunTimings;
}

export interface GenerateOutput {
  ids: number[];
  text: string;
  score: number | null;
  stats: GenerationStats;
}

const DEFAULT_FEATURE_CACHE_SIZE = 4;

/** One request as `execute` runs it: a task (run, runBatch) or a bare prompt text (generate). */
interface Job {
  image: ImageInput | RgbImage | ImageFeatures;
  task: TaskSpec | undefined;
  input: string | PixelBox | undefined;
  /** Token ids, when known before the image is read (everything but pixel boxes). */
  promptIds: number[] | undefined;
  decoding: DecodingOptions;
}

/** What `execute` returns per job. */
interface Executed {
  ids: number[];
  score: number | null;
  text: string;
  result: Record<string, TaskResult> | undefined;
  stats: GenerationStats;
  timings: RunTimings;
}

/** One distinct image of a batch. */
interface BatchImage {
  input: Job["image"];
  /** Indices of the jobs on it. */
  jobs: number[];
  resolved?: ResolvedImage;
  features?: ImageFeatures;
  /** Reading and preprocessing, and the vision encoder, in ms. */
  preprocessMs: number;
  visionMs: number;
}

/** How errors name the request they are about: nothing for `run`, the index for `runBatch`. */
type Labeller = (jobs: readonly number[], err: unknown) => unknown;
const asIs: Labeller = (_, err) => err;
const byRequestIndex: Labeller = (jobs, err) => {
  const which = jobs.length === 1 ? `request ${jobs[0]}` : `requests ${jobs.join(", ")}`;
  return new Error(`runBatch ${which}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
};

function featureCacheSize(option: boolean | number | undefined): number {
  if (option === undefined || option === true) return DEFAULT_FEATURE_CACHE_SIZE;
  if (option === false) return 0;
  if (Number.isInteger(option) && option >= 0) return option;
  throw new Error(`Expected true, false or a non-negative integer for cacheImageFeatures but received ${describeValue(option)}.`);
}

export class Florence2 {
  private disposed = false;
  private readonly running = new Set<{ controller: AbortController; done: Promise<unknown> }>();
  private readonly featureCache: FeatureCache;
  private placement!: DeviceChoice;
  private readonly queue = new RunQueue();

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
  ) {
    this.featureCache = new FeatureCache(cacheSize);
  }

  /**
   * Loads a model folder laid out like onnx-community/Florence-2-base-ft, or a Hub id (downloaded into the
   * cache on first use; see hub/index.ts). Checks the tokenizer against config.json and every ONNX file against the
   * tensor contract before returning.
   */
  static async load(folderOrId: string, options: LoadOptions = {}): Promise<Florence2> {
    if (typeof folderOrId !== "string" || folderOrId === "") {
      throw new Error(`Expected a model folder or Hub id (e.g. "onnx-community/Florence-2-base-ft") but received ${describeValue(folderOrId)}.`);
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
    checkTokenizerMatchesModel(tokenizer, config.vocabSize, generationConfig.eosTokenId, folder);
    const sessions = await openSessions(folder, config, {
      dtype: options.dtype, sessionOptions, intraOpNumThreads, executionProviders: placement.executionProviders,
    });
    const model = new Florence2(folder, config, generationConfig, preprocessorConfig, tokenizer, sessions, cacheSize, imageOptions ?? {});
    model.placement = placement;
    return model;
  }

  /** Where the model runs: the device chosen at load and why (`summary`), and each session's execution providers. */
  get device(): DeviceReport {
    const s = this.sessions;
    return deviceReport(this.placement, { vision_encoder: s.vision, embed_tokens: s.embed, encoder_model: s.encoder, decoder_model_merged: s.decoder });
  }

  /** runBatch's default maxBatchRows for this model: the same cache memory whatever its size (see defaultMaxBatchRows). */
  get maxBatchRows(): number {
    return defaultMaxBatchRows(this.config);
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
    const { signal, onToken, ...decoding } = resolveRunOptions(options, this.generationConfig);
    const job = this.job({ image, task: spec, input: textInput, decoding });
    return this.track(signal, async (s) => {
      const [out] = await this.execute([job], { maxBatchRows: Infinity, onToken: onToken && ((ids) => onToken(ids)) }, s, asIs);
      const { batch, ...timings } = out.timings;
      return { result: out.result as Record<string, TaskResult>, text: out.text, ids: out.ids, score: out.score, timings };
    });
  }

  /**
   * Runs many requests (images x tasks) together and returns their outputs in request order, each what `run`
   * returns for it alone (same ids, result and score, to float rounding). Every request is checked before
   * anything runs; each distinct image is read and encoded once; the prompts are encoded together; the decoder
   * runs all live rows of a wave in one step (see BatchOptions.maxBatchRows). `timings` hold each request's share
   * of the work, and `timings.batch` the batch's totals.
   */
  async runBatch(requests: readonly BatchRequest[], options: BatchOptions = {}): Promise<RunOutput[]> {
    this.assertUsable();
    if (!Array.isArray(requests)) {
      throw new Error(`Expected an array of requests ({ image, task, input?, options? }) for runBatch but received ${describeValue(requests)}.`);
    }
    const batch = resolveBatchOptions(options, this.generationConfig, this.maxBatchRows);
    const jobs = requests.map((request, i) => {
      try {
        return this.job(checkBatchRequest(request, batch, this.generationConfig));
      } catch (err) {
        throw byRequestIndex([i], err);
      }
    });
    if (jobs.length === 0) return [];
    return this.track(batch.signal, async (s) => {
      const outs = await this.execute(jobs, { maxBatchRows: batch.maxBatchRows, onToken: batch.onToken }, s, byRequestIndex);
      return outs.map((out) => ({ result: out.result as Record<string, TaskResult>, text: out.text, ids: out.ids, score: out.score, timings: out.timings }));
    });
  }

  /** The vision encoder's output for an image (from the cache when the same content was seen recently). */
  async encodeImage(image: ImageInput | RgbImage): Promise<ImageFeatures> {
    this.assertUsable();
    return this.track(undefined, (signal) =>
      this.queue.run(signal, async () => {
        const slot: BatchImage = { input: image, jobs: [], preprocessMs: 0, visionMs: 0 };
        await this.readImage(slot);
        return this.encodeSlot(slot, signal);
      }),
    );
  }

  /**
   * The decoder on image features and a prompt text (the English prompt, e.g. from `buildPrompt`), without
   * post-processing: for notebooks and benchmarks that need the pieces.
   */
  async generate(features: ImageFeatures, prompt: string, options: RunOptions = {}): Promise<GenerateOutput> {
    this.assertUsable();
    if (!isImageFeatures(features)) throw new Error(`Expected the ImageFeatures of model.encodeImage(image) but received ${describeValue(features)}.`);
    if (typeof prompt !== "string") throw new Error(`Expected a prompt text (e.g. buildPrompt("<OD>")) but received ${describeValue(prompt)}.`);
    const { signal, onToken, ...decoding } = resolveRunOptions(options, this.generationConfig);
    const promptIds = this.tokenizer.encode(prompt);
    this.checkPromptLength(promptIds.length);
    const job: Job = { image: features, task: undefined, input: undefined, promptIds, decoding };
    return this.track(signal, async (s) => {
      const [out] = await this.execute([job], { maxBatchRows: Infinity, onToken: onToken && ((ids) => onToken(ids)) }, s, asIs);
      return { ids: out.ids, text: out.text, score: out.score, stats: out.stats };
    });
  }

  /** Forgets the cached image features. */
  clearImageCache(): void {
    this.featureCache.clear();
  }

  /**
   * Releases the native sessions. Runs in progress or waiting are cancelled (a running one at its next decoder
   * step) and awaited first. Any later call fails with a clear error.
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

  /**
   * Runs `work` with a signal that fires on the caller's signal or on dispose, and tracks it for dispose. The
   * work itself waits for its turn on the model (run-queue.ts).
   */
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

  /** A job from checked request parts; a text prompt is built and tokenized now (a pixel box waits for the image size). */
  private job(request: CheckedRequest): Job {
    const { image, task, input, decoding } = request;
    const boxInput = typeof input === "object" && input !== null;
    let promptIds: number[] | undefined;
    if (!boxInput) {
      promptIds = this.tokenizer.encode(buildPrompt(task.token, input));
      this.checkPromptLength(promptIds.length);
    }
    return { image, task, input, promptIds, decoding };
  }

  private checkPromptLength(promptLength: number): void {
    checkPromptLength(promptLength, this.preprocessorConfig.imageSeqLength, this.config.maxPositionEmbeddings);
  }

  /**
   * Everything after the argument checks, for one job or many, on the model's queue:
   *   1. read each distinct image once (so a bad image or region fails before any session runs),
   *   2. build the prompts that needed the image size,
   *   3. run the vision encoder for the images not in the cache,
   *   4. decode the jobs in waves of at most `maxBatchRows` rows: text encoder, decoder loop, post-processing,
   *   5. put together each job's timings.
   */
  private async execute(
    jobs: readonly Job[],
    options: { maxBatchRows: number; onToken?: (ids: readonly number[], index: number) => void },
    signal: AbortSignal,
    label: Labeller,
  ): Promise<Executed[]> {
    return this.queue.run(signal, async () => {
      const started = performance.now();
      const imageOf = await this.readImages(jobs, label);
      const promptMs = this.finishPrompts(jobs, imageOf, label);
      for (const image of new Set(imageOf)) await this.encodeSlot(image, signal);
      const decoded = await this.decodeWaves(jobs, imageOf, options, signal);
      return withTimings(imageOf, promptMs, decoded, started);
    });
  }

  /** Each job's image, read once per distinct input and merged by content; errors name the jobs on the image. */
  private async readImages(jobs: readonly Job[], label: Labeller): Promise<BatchImage[]> {
    const images = distinctImages(jobs);
    for (const image of images) {
      try {
        await this.readImage(image);
      } catch (err) {
        throw label(image.jobs, err);
      }
    }
    return mergeSameContent(images, jobs.length);
  }

  /** Builds the prompts that needed their image's size (pixel boxes); returns the time each job took. */
  private finishPrompts(jobs: readonly Job[], imageOf: readonly BatchImage[], label: Labeller): number[] {
    return jobs.map((job, i) => {
      const t0 = performance.now();
      if (job.promptIds === undefined) {
        const { imageSize } = imageOf[i].resolved as ResolvedImage;
        try {
          job.promptIds = this.tokenizer.encode(buildPrompt((job.task as TaskSpec).token, job.input, imageSize));
          this.checkPromptLength(job.promptIds.length);
        } catch (err) {
          throw label([i], err);
        }
      }
      return performance.now() - t0;
    });
  }

  /** The jobs in waves of at most `maxBatchRows` rows: text encoder, decoder loop, text and result per job. */
  private async decodeWaves(
    jobs: readonly Job[],
    imageOf: readonly BatchImage[],
    options: { maxBatchRows: number; onToken?: (ids: readonly number[], index: number) => void },
    signal: AbortSignal,
  ): Promise<Decoded> {
    const waves = planWaves(jobs.map((j) => j.decoding.numBeams), options.maxBatchRows);
    const decoded: Decoded = {
      outputs: new Array(jobs.length),
      encoderMs: new Array<number>(jobs.length).fill(0),
      postMs: new Array<number>(jobs.length).fill(0),
      batch: {
        requests: jobs.length, waves: waves.length, images: new Set(imageOf).size, visionRuns: 0, total: 0, preprocess: 0, vision: 0,
        encoder: 0, decoder: 0, postprocess: 0, sessionRun: 0, search: 0, decoderSteps: 0, maxRows: 0, stepsByRows: [],
      },
    };
    for (const wave of waves) {
      signal.throwIfAborted();
      const t0 = performance.now();
      const prompts = wave.map((i) => ({ imageFeatures: (imageOf[i].features as ImageFeatures).features, promptIds: jobs[i].promptIds as number[] }));
      const encoded = await encodePrompts(this.sessions, prompts);
      const encoderMs = performance.now() - t0;
      for (const i of wave) decoded.encoderMs[i] = encoderMs / wave.length;
      decoded.batch.encoder += encoderMs;
      const onToken = options.onToken && ((ids: readonly number[], j: number) => options.onToken?.(ids, wave[j]));
      const decoding = wave.map((i) => jobs[i].decoding);
      const { results, stats } = await generateWave(this.sessions, encoded, decoding, this.generationConfig, this.config.maxPositionEmbeddings, { signal, onToken });
      addWaveStats(decoded.batch, stats);
      results.forEach((r, j) => {
        const i = wave[j];
        const t1 = performance.now();
        const text = this.tokenizer.decode(r.ids);
        const task = jobs[i].task;
        const result = task ? postProcessGeneration(text, task.token, (imageOf[i].resolved as ResolvedImage).imageSize) : undefined;
        decoded.postMs[i] = performance.now() - t1;
        decoded.outputs[i] = { ids: r.ids, score: r.score, text, result, stats: r.stats };
      });
    }
    return decoded;
  }

  /** Reads an image (or finds its features in the cache), timing it as preprocessing. */
  private async readImage(image: BatchImage): Promise<void> {
    const t0 = performance.now();
    image.resolved = await resolveImage(image.input, this.featureCache, this.imageOptions, this.config.dModel);
    image.preprocessMs += performance.now() - t0;
  }

  /** The features of a read image: from the cache, or from the vision encoder (then cached). */
  private async encodeSlot(image: BatchImage, signal: AbortSignal): Promise<ImageFeatures> {
    const resolved = image.resolved as ResolvedImage;
    if (image.features) return image.features;
    if (resolved.cached) {
      // Also features passed in: a later run on the image they came from then finds them.
      this.featureCache.set(resolved.cached);
      return (image.features = resolved.cached);
    }
    signal.throwIfAborted();
    const t0 = performance.now();
    const { pixelValues, dims } = await preprocessImage(resolved.rgb as RgbImage, this.preprocessorConfig, this.imageOptions);
    const t1 = performance.now();
    signal.throwIfAborted();
    const tensor = await runVisionEncoder(this.sessions, pixelValues, dims);
    image.preprocessMs += t1 - t0;
    image.visionMs += performance.now() - t1;
    resolved.rgb = undefined; // the pixels are no longer needed; a long batch shouldn't hold them
    image.features = { features: tensor, imageSize: resolved.imageSize, key: resolved.key };
    this.featureCache.set(image.features);
    return image.features;
  }
}

/** What decodeWaves gives back per job, and the batch's figures so far. */
interface Decoded {
  outputs: Omit<Executed, "timings">[];
  encoderMs: number[];
  postMs: number[];
  batch: BatchTimings;
}

/**
 * Each job's timings (see RunTimings): its shares of its image's reading and vision run, of its wave's encoder
 * run and of the decoder steps it took part in, its own prompt and post-processing time, and an equal share of
 * what no stage accounts for; plus the batch's totals.
 */
function withTimings(imageOf: readonly BatchImage[], promptMs: readonly number[], decoded: Decoded, started: number): Executed[] {
  const { outputs, encoderMs, postMs, batch } = decoded;
  const timings: RunTimings[] = outputs.map(({ stats }, i) => {
    const image = imageOf[i];
    const onImage = image.jobs.length;
    const vision = image.visionMs / onImage;
    return {
      preprocess: image.preprocessMs / onImage + promptMs[i],
      vision,
      encoder: encoderMs[i],
      decoder: stats.decoderMs,
      decoderSteps: stats.steps,
      postprocess: postMs[i],
      total: 0,
      imageFeaturesCached: image.resolved?.cached !== undefined,
      sessionRun: vision + encoderMs[i] + stats.sessionMs,
      search: stats.searchMs + stats.cacheMs,
      batch,
    };
  });
  const stageSum = (t: RunTimings) => t.preprocess + t.vision + t.encoder + t.decoder + t.postprocess;
  batch.total = performance.now() - started;
  const unaccounted = Math.max(0, batch.total - timings.reduce((sum, t) => sum + stageSum(t), 0)) / timings.length;
  for (const t of timings) t.total = stageSum(t) + unaccounted;
  for (const image of new Set(imageOf)) {
    batch.preprocess += image.preprocessMs;
    batch.vision += image.visionMs;
    if (image.visionMs > 0) batch.visionRuns++;
  }
  batch.preprocess += promptMs.reduce((sum, ms) => sum + ms, 0);
  batch.postprocess = postMs.reduce((sum, ms) => sum + ms, 0);
  batch.sessionRun += batch.vision + batch.encoder;
  return outputs.map((out, i) => ({ ...out, timings: timings[i] }));
}

/**
 * The distinct image inputs of the jobs, in order of first use: the same string, or the same object (buffer,
 * pixels, features), is one image. Different inputs with the same content are merged once read (mergeSameContent).
 */
function distinctImages(jobs: readonly Job[]): BatchImage[] {
  const byInput = new Map<unknown, BatchImage>();
  jobs.forEach((job, i) => {
    let image = byInput.get(job.image);
    if (!image) {
      image = { input: job.image, jobs: [], preprocessMs: 0, visionMs: 0 };
      byInput.set(job.image, image);
    }
    image.jobs.push(i);
  });
  return [...byInput.values()];
}

/** Each job's image after merging images of the same content (same key), so each is encoded once. */
function mergeSameContent(images: BatchImage[], jobCount: number): BatchImage[] {
  const byKey = new Map<string, BatchImage>();
  const imageOf = new Array<BatchImage>(jobCount);
  for (const image of images) {
    const key = (image.resolved as ResolvedImage).key;
    const first = byKey.get(key);
    if (first && first !== image) {
      first.jobs.push(...image.jobs);
      first.preprocessMs += image.preprocessMs;
      // Features found in the cache or passed in serve the first input too: no vision encoder run for either.
      const resolved = first.resolved as ResolvedImage;
      if (!resolved.cached && image.resolved?.cached) {
        resolved.cached = image.resolved.cached;
        resolved.rgb = undefined;
      }
      for (const i of image.jobs) imageOf[i] = first;
    } else {
      byKey.set(key, image);
      for (const i of image.jobs) imageOf[i] = image;
    }
  }
  return imageOf;
}

function addWaveStats(batch: BatchTimings, wave: { steps: number; decoderMs: number; sessionMs: number; searchMs: number; cacheMs: number; maxRows: number; stepsByRows: StepsByRows[] }): void {
  batch.decoder += wave.decoderMs;
  batch.decoderSteps += wave.steps;
  batch.sessionRun += wave.sessionMs;
  batch.search += wave.searchMs + wave.cacheMs;
  batch.maxRows = Math.max(batch.maxRows, wave.maxRows);
  for (const entry of wave.stepsByRows) {
    const known = batch.stepsByRows.find((e) => e.rows === entry.rows);
    if (known) {
      known.steps += entry.steps;
      known.ms += entry.ms;
    } else batch.stepsByRows.push({ ...entry });
  }
  batch.stepsByRows.sort((a, b) => a.rows - b.rows);
}
