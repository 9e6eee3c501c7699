/**
 * The model API: `Florence2.load(folderOrId)`, `model.run(image, task, input?)` and `model.runBatch(requests)`.
 *
 *   image --image/--> pixel_values --vision_encoder--> features [1, 577, D]   (once per image; cached by content)
 *   task + input --text/ (prompts, tokenizer)--> ids
 *   features + ids --decode/encoders.ts--> encoder states [B, 577 + L, D]
 *   --decode/generation.ts (decoder waves)--> ids --text/tokenizer.ts--> text --text/postprocess.ts--> result
 *
 * `run` is a batch of one: every call goes through `execute` on the model's queue (run-queue.ts), which opens each
 * distinct image once, checks every prompt, encodes the images one at a time (image/batch-images.ts), then
 * decodes in waves of at most `maxBatchRows` decoder rows; run-timings.ts keeps the time.
 */
import { readGenerationConfig, readModelConfig, readPreprocessorConfig, type GenerationConfig, type ModelConfig, type PreprocessorConfig } from "./runtime/config";
import { describeValue } from "./util/describe";
import { checkDtypesOnDevice, chooseDevice, deviceReport, placeModules, type DeviceChoice, type DeviceOption, type DeviceReport, type ModulePlacement } from "./runtime/device";
import { resolveDtypes, type Dtype, type ModuleName } from "./runtime/dtypes";
import { encodePrompts, runVisionEncoder } from "./decode/encoders";
import { generateWave, planWaves, type DecodingOptions, type GenerationStats } from "./decode/generation";
import { resolveModelFolder, type ResolveOptions } from "./hub/index";
import type { ImageInput, LoadImageOptions, RgbImage } from "./image/image";
import { FeatureCache, featureCacheCapacity, isImageFeatures, type ImageFeatures, type ResolvedImage } from "./image/image-features";
import { batchImage, encodeBatchImage, openBatchImage, openBatchImages, type BatchImage, type ImageArgument, type ImageStage, type Labeller } from "./image/batch-images";
import { postProcessGeneration, type TaskResult } from "./text/postprocess";
import type { PixelBox } from "./text/prompts";
import { PromptEncoder } from "./text/prompt-ids";
import { asIs, byRequestIndex, checkBatchRequest, eachRequest, defaultMaxBatchRows, resolveBatchOptions, resolveRunOptions } from "./requests";
import type { BatchOptions, BatchRequest, CheckedRequest, GenerateOutput, RunOutput, RunOptions } from "./requests";
import { BatchClock, type RunTimings } from "./run-timings";
import { RunQueue } from "./run-queue";
import { openSessions, type Florence2Sessions, type SessionSettings } from "./runtime/sessions";
import { getTask, type TaskSpec } from "./text/tasks";
import { Florence2Tokenizer, checkTokenizerMatchesModel } from "./text/tokenizer";

export type { RunOptions, RequestOptions, BatchRequest, BatchOptions, RunOutput, GenerateOutput } from "./requests";
export { resolveRunOptions, defaultMaxBatchRows, DEFAULT_MAX_BATCH_ROWS } from "./requests";
export type { ImageFeatures } from "./image/image-features";
export type { RunTimings, BatchTimings } from "./run-timings";

export interface LoadOptions extends ResolveOptions, SessionSettings {
  /** "cpu", "cuda", "webgpu" or "auto" (default: FLORENCE2_DEVICE, else "auto"): see device.ts. Not with executionProviders. */
  device?: DeviceOption;
  /** Modules to keep on the CPU while the rest use the device, e.g. { decoder_model_merged: "cpu" } (see placeModules). */
  placement?: ModulePlacement;
  /** Keep the vision encoder's output of the last images, keyed by content, so several tasks on one image run it
   * once: true (default, 4 images), false, or a number of images. */
  cacheImageFeatures?: boolean | number;
  /** How images are read (pixel limit, URL timeout); see image.ts. */
  imageOptions?: LoadImageOptions;
}

/** One request as `execute` runs it: a task (run, runBatch) or a bare prompt text (generate). */
interface Job {
  image: ImageArgument;
  task: TaskSpec | undefined;
  input: string | PixelBox | undefined;
  /** Token ids, when known before the image is read (everything but pixel boxes). */
  promptIds: number[] | undefined;
  decoding: DecodingOptions;
}

/** How `execute` decodes: rows per wave, and the per-step callback with the job's index. */
type ExecuteOptions = { maxBatchRows: number; onToken?: (ids: readonly number[], index: number) => void };

/** What `execute` returns per job: a run's output (no result for `generate`) with its decoder statistics. */
type Decoded = Omit<RunOutput, "result" | "timings"> & { result: Record<string, TaskResult> | undefined; stats: GenerationStats };
type Executed = Decoded & { timings: RunTimings };

/** A batch as its waves see it: the jobs, their images, the outputs so far, the batch's clock. */
interface WaveContext {
  jobs: readonly Job[];
  imageOf: readonly BatchImage[];
  outputs: Decoded[];
  clock: BatchClock;
  options: ExecuteOptions;
  signal: AbortSignal;
}

export class Florence2 {
  private disposed = false;
  private readonly featureCache: FeatureCache;
  private readonly images: ImageStage;
  private readonly prompts: PromptEncoder;
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
    imageOptions: LoadImageOptions,
  ) {
    this.featureCache = new FeatureCache(cacheSize);
    this.prompts = new PromptEncoder(tokenizer, preprocessorConfig.imageSeqLength, config.maxPositionEmbeddings);
    this.images = {
      cache: this.featureCache, options: imageOptions, preprocessor: preprocessorConfig, dModel: config.dModel,
      vision: (pixelValues, dims) => runVisionEncoder(sessions, pixelValues, dims),
    };
  }

  /** Loads a model folder laid out like onnx-community/Florence-2-base-ft, or a Hub id (downloaded into the cache on
   * first use; see hub/index.ts). Checks the tokenizer against config.json and every ONNX file against the tensor contract. */
  static async load(folderOrId: string, options: LoadOptions = {}): Promise<Florence2> {
    if (typeof folderOrId !== "string" || folderOrId === "") {
      throw new Error(`Expected a model folder or Hub id (e.g. "onnx-community/Florence-2-base-ft") but received ${describeValue(folderOrId)}.`);
    }
    const { sessionOptions, intraOpNumThreads, executionProviders, device, placement: modules, cacheImageFeatures, imageOptions, ...resolveOptions } = options;
    const cacheSize = featureCacheCapacity(cacheImageFeatures);
    const dtypes = resolveDtypes(options.dtype); // an unknown dtype fails before any download
    const placement = await chooseDevice(device, executionProviders); // so does a device that can't be had
    const moduleExecutionProviders = placeModules(placement, modules);
    await checkDtypesOnDevice(placement, dtypes, moduleExecutionProviders); // and fp16 on an adapter without shader-f16
    const folder = await resolveModelFolder(folderOrId, resolveOptions);
    const config = readModelConfig(folder);
    const generationConfig = readGenerationConfig(folder);
    const preprocessorConfig = readPreprocessorConfig(folder);
    const tokenizer = Florence2Tokenizer.fromFolder(folder);
    checkTokenizerMatchesModel(tokenizer, config.vocabSize, generationConfig.eosTokenId, folder);
    const sessions = await openSessions(folder, config, {
      dtype: options.dtype, sessionOptions, intraOpNumThreads, executionProviders: placement.executionProviders, moduleExecutionProviders,
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
  async run(image: ImageArgument, task: string, textInput?: string | PixelBox, options: RunOptions = {}): Promise<RunOutput> {
    this.assertUsable();
    const spec = getTask(task);
    const { signal, onToken, ...decoding } = resolveRunOptions(options, this.generationConfig);
    const job = this.job({ image, task: spec, input: textInput, decoding });
    return this.queue.run(signal, async (s) => {
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
    const batch = resolveBatchOptions(options, this.generationConfig, this.maxBatchRows);
    const jobs = eachRequest(requests, (request) => this.job(checkBatchRequest(request, batch, this.generationConfig)));
    if (jobs.length === 0) return [];
    return this.queue.run(batch.signal, async (s) => {
      const outs = await this.execute(jobs, { maxBatchRows: batch.maxBatchRows, onToken: batch.onToken }, s, byRequestIndex);
      return outs.map((out) => ({ result: out.result as Record<string, TaskResult>, text: out.text, ids: out.ids, score: out.score, timings: out.timings }));
    });
  }

  /** The vision encoder's output for an image (from the cache when the same content was seen recently). */
  async encodeImage(image: ImageInput | RgbImage): Promise<ImageFeatures> {
    this.assertUsable();
    return this.queue.run(undefined, async (signal) => {
      const slot = batchImage(image);
      await openBatchImage(this.images, slot);
      return encodeBatchImage(this.images, slot, signal, asIs);
    });
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
    const promptIds = this.prompts.text(prompt);
    const job: Job = { image: features, task: undefined, input: undefined, promptIds, decoding };
    return this.queue.run(signal, async (s) => {
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
    await this.queue.close(new Error("The Florence2 model was disposed during this run."));
    this.featureCache.clear();
    await this.sessions.release();
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error(`This Florence2 model was disposed; load it again with Florence2.load("${this.folder}").`);
  }

  /** A job from checked request parts; a text prompt is built and tokenized now (a pixel box waits for the image size). */
  private job(request: CheckedRequest): Job {
    const { image, task, input, decoding } = request;
    const promptIds = PromptEncoder.needsImageSize(input) ? undefined : this.prompts.task(task.token, input);
    return { image, task, input, promptIds, decoding };
  }

  /**
   * Everything after the argument checks, for one job or many (the caller holds the model's queue):
   *   1. open each distinct image once (so a bad image or region fails before any session runs),
   *   2. build the prompts that needed the image size,
   *   3. decode, preprocess and encode the images not in the cache, one at a time, keeping only their features,
   *   4. decode the jobs in waves of at most `maxBatchRows` rows: text encoder, decoder loop, post-processing,
   *   5. share the batch's time out to the jobs (run-timings.ts).
   */
  private async execute(jobs: readonly Job[], options: ExecuteOptions, signal: AbortSignal, label: Labeller): Promise<Executed[]> {
    const waves = planWaves(jobs.map((j) => j.decoding.numBeams), options.maxBatchRows);
    const clock = new BatchClock(jobs.length, waves.length);
    const imageOf = await openBatchImages(this.images, jobs.map((j) => j.image), label);
    const images = new Set(imageOf);
    clock.batch.images = images.size;
    this.finishPrompts(jobs, imageOf, clock, label);
    for (const image of images) await encodeBatchImage(this.images, image, signal, label);
    const outputs: Decoded[] = new Array(jobs.length);
    for (const wave of waves) {
      signal.throwIfAborted();
      await this.decodeWave(wave, { jobs, imageOf, outputs, clock, options, signal });
    }
    const timings = clock.finish(imageOf, outputs.map((out) => out.stats));
    return outputs.map((out, i) => ({ ...out, timings: timings[i] }));
  }

  /** Builds the prompts that needed their image's size (pixel boxes). */
  private finishPrompts(jobs: readonly Job[], imageOf: readonly BatchImage[], clock: BatchClock, label: Labeller): void {
    jobs.forEach((job, i) => {
      if (job.promptIds !== undefined) return;
      const t0 = performance.now();
      const { imageSize } = imageOf[i].resolved as ResolvedImage;
      try {
        job.promptIds = this.prompts.task((job.task as TaskSpec).token, job.input, imageSize);
      } catch (err) {
        throw label([i], err);
      }
      clock.prompt(i, performance.now() - t0);
    });
  }

  /** One wave: text encoder, decoder loop, then text and result per job. */
  private async decodeWave(wave: readonly number[], batch: WaveContext): Promise<void> {
    const { jobs, imageOf, outputs, clock, options, signal } = batch;
    const t0 = performance.now();
    const prompts = wave.map((i) => ({ imageFeatures: (imageOf[i].features as ImageFeatures).features, promptIds: jobs[i].promptIds as number[] }));
    const encoded = await encodePrompts(this.sessions, prompts);
    clock.encoder(wave, performance.now() - t0);
    const onToken = options.onToken && ((ids: readonly number[], j: number) => options.onToken?.(ids, wave[j]));
    const decoding = wave.map((i) => jobs[i].decoding);
    const { results, stats } = await generateWave(this.sessions, encoded, decoding, this.generationConfig, this.config.maxPositionEmbeddings, { signal, onToken });
    clock.decoder(stats);
    results.forEach((r, j) => {
      const i = wave[j];
      const t1 = performance.now();
      const text = this.tokenizer.decode(r.ids);
      const task = jobs[i].task;
      const result = task ? postProcessGeneration(text, task.token, (imageOf[i].resolved as ResolvedImage).imageSize) : undefined;
      clock.postprocess(i, performance.now() - t1);
      outputs[i] = { ids: r.ids, score: r.score, text, result, stats: r.stats };
    });
  }
}
