/**
 * What `run` and `runBatch` accept and return. What they accept is checked where it enters, before anything is
 * read or computed (errors name the option or the request, what it takes and what it got); the checked request
 * is what the engine runs: a task, its input and its decoding options (search-strategy.ts).
 */
import type { EarlyStopping } from "./decode/beam-search";
import type { GenerationConfig, ModelConfig } from "./runtime/config";
import { describeValue } from "./util/describe";
import type { ImageInput, RgbImage } from "./image/image";
import type { ImageFeatures } from "./image/image-features";
import type { PixelBox } from "./text/prompts";
import { getTask, type TaskSpec } from "./text/tasks";
import type { Labeller } from "./image/batch-images";
import type { DecodingOptions } from "./decode/search-strategy";
import type { GenerationStats } from "./decode/generation";
import type { TaskResult } from "./text/postprocess";
import type { RunTimings } from "./run-timings";

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

/** The generation options one request of a batch may set for itself. */
export type RequestOptions = Pick<RunOptions, "numBeams" | "maxNewTokens" | "earlyStopping" | "lengthPenalty" | "noRepeatNgramSize">;

/** One request of `model.runBatch`: what `model.run(image, task, input, options)` takes. */
export interface BatchRequest {
  image: ImageInput | RgbImage | ImageFeatures;
  task: string;
  input?: string | PixelBox;
  /** Over the batch's options, for this request only. */
  options?: RequestOptions;
}

export interface BatchOptions extends RequestOptions {
  /** Cancels the whole batch between decoder steps; the model stays usable. */
  signal?: AbortSignal;
  /** Called after every decoder step for each request still decoding, with its ids so far and its index. */
  onToken?: (ids: readonly number[], requestIndex: number) => void;
  /**
   * Most decoder rows in one step (a greedy request takes 1, a beam-search request numBeams); requests beyond
   * it run in a later wave. Bounds memory: each row holds its own cache. Default `defaultMaxBatchRows(config)`:
   * 32 for Florence-2-base, 12 for large.
   */
  maxBatchRows?: number;
}

/**
 * Default cap on decoder rows per step for a Florence-2-base-sized decoder (6 layers, d_model 768); other sizes
 * get as many rows as hold the same cache memory (defaultMaxBatchRows).
 *
 * Chosen by measurement: test/bench/RESULTS.md, "maxBatchRows: the 14-task 3-beam batch" (the bench's sweep
 * measures it again). Each row holds its own cache (~40 MiB for base at ~590 encoder positions), so more rows per
 * wave cost memory, while fewer waves save time: every wave pays a decoder step's fixed part (the weights read
 * once) for as many steps as its longest request. 32 is where that batch stays under 3.5 GB of RSS.
 */
export const DEFAULT_MAX_BATCH_ROWS = 32;
/** Whatever the model's size, no more rows than this by default (a tiny model's cache is negligible). */
const MAX_DEFAULT_ROWS = 64;

/**
 * The default maxBatchRows for a model: DEFAULT_MAX_BATCH_ROWS scaled by its cache per row against
 * Florence-2-base's (a row's cache grows with decoder layers x d_model): 32 for base, 12 for large.
 */
export function defaultMaxBatchRows(config: Pick<ModelConfig, "decoderLayers" | "dModel">): number {
  const baseRowSize = 6 * 768;
  const rows = Math.floor((DEFAULT_MAX_BATCH_ROWS * baseRowSize) / (config.decoderLayers * config.dModel));
  return Math.max(1, Math.min(MAX_DEFAULT_ROWS, rows));
}

const DEFAULT_MAX_NEW_TOKENS = 1024;
/** No Florence-2 decoder has more than 4096 positions: a larger maxNewTokens is a mistake, not a wish. */
const MAX_NEW_TOKENS_LIMIT = 65536;
const REQUEST_OPTION_NAMES = ["numBeams", "maxNewTokens", "earlyStopping", "lengthPenalty", "noRepeatNgramSize"];
const RUN_OPTION_NAMES = [...REQUEST_OPTION_NAMES, "signal", "onToken"];
const BATCH_OPTION_NAMES = [...RUN_OPTION_NAMES, "maxBatchRows"];
const BATCH_REQUEST_FIELDS = ["image", "task", "input", "options"];

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

/** Run options after validation and defaults. */
export interface ResolvedRunOptions extends DecodingOptions {
  signal: AbortSignal | undefined;
  onToken: ((ids: readonly number[]) => void) | undefined;
}

function camelCase(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function checkKeys(what: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const hint = allowed.includes(camelCase(key)) ? ` Options are camelCase: did you mean ${camelCase(key)}?` : "";
      throw new Error(`Unknown ${what} "${key}".${hint} Expected one of: ${allowed.join(", ")}.`);
    }
  }
}

function checkObject(what: string, example: string, value: unknown): asserts value is object {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`Expected an object of ${what} (e.g. ${example}) but received ${describeValue(value)}.`);
  }
}

/** The generation options, each checked, with the model's defaults for the missing ones. */
function resolveDecoding(options: RequestOptions, defaults: GenerationConfig): DecodingOptions {
  const integer = (name: keyof RunOptions, value: unknown, min: number, max: number, note = ""): number => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
      throw new Error(`Expected ${range} for ${name}${note} but received ${describeValue(value)}.`);
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
    throw new Error(`Expected true, false or "never" for earlyStopping but received ${describeValue(earlyStopping)}.`);
  }
  const lengthPenalty = options.lengthPenalty ?? defaults.lengthPenalty;
  if (typeof lengthPenalty !== "number" || !Number.isFinite(lengthPenalty)) {
    throw new Error(`Expected a finite number for lengthPenalty but received ${describeValue(lengthPenalty)}.`);
  }
  return { numBeams, maxNewTokens, earlyStopping, lengthPenalty, noRepeatNgramSize };
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new Error(`Expected an AbortSignal (new AbortController().signal) for signal but received ${describeValue(signal)}.`);
  }
  return signal as AbortSignal | undefined;
}

function checkCallback<T>(value: unknown, signature: string): T | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new Error(`Expected a function ${signature} for onToken but received ${describeValue(value)}.`);
  }
  return value as T | undefined;
}

/** Checks run options up front, with errors that name the option, what it takes and what it got. */
export function resolveRunOptions(options: RunOptions, defaults: GenerationConfig): ResolvedRunOptions {
  checkObject("run options", "{ numBeams: 3 }", options);
  checkKeys("run option", options, RUN_OPTION_NAMES);
  const decoding = resolveDecoding(options, defaults);
  const signal = checkSignal(options.signal);
  const onToken = checkCallback<ResolvedRunOptions["onToken"]>(options.onToken, "(ids) => void");
  return { ...decoding, signal, onToken };
}

/** Batch options after validation; the generation options stay partial (each request adds its own). */
export interface ResolvedBatchOptions {
  generation: RequestOptions;
  signal: AbortSignal | undefined;
  onToken: BatchOptions["onToken"];
  maxBatchRows: number;
}

export function resolveBatchOptions(options: BatchOptions, defaults: GenerationConfig, defaultRows: number): ResolvedBatchOptions {
  checkObject("batch options", "{ numBeams: 3, maxBatchRows: 16 }", options);
  checkKeys("batch option", options, BATCH_OPTION_NAMES);
  const { signal, onToken, maxBatchRows = defaultRows, ...generation } = options;
  resolveDecoding(generation, defaults); // bad batch-wide values fail here, not once per request
  if (typeof maxBatchRows !== "number" || !Number.isInteger(maxBatchRows) || maxBatchRows < 1) {
    throw new Error(`Expected an integer >= 1 for maxBatchRows but received ${describeValue(maxBatchRows)}.`);
  }
  return {
    generation,
    signal: checkSignal(signal),
    onToken: checkCallback<BatchOptions["onToken"]>(onToken, "(ids, requestIndex) => void"),
    maxBatchRows,
  };
}

/** One request after the up-front checks. */
export interface CheckedRequest {
  image: ImageInput | RgbImage | ImageFeatures;
  task: TaskSpec;
  input: string | PixelBox | undefined;
  decoding: DecodingOptions;
}

/** Checks the shape of one batch request and merges its options over the batch's. */
export function checkBatchRequest(request: unknown, batch: ResolvedBatchOptions, defaults: GenerationConfig): CheckedRequest {
  checkObject("request fields", '{ image: "photo.jpg", task: "<OD>" }', request);
  checkKeys("request field", request, BATCH_REQUEST_FIELDS);
  const { image, task, input, options = {} } = request as BatchRequest;
  if (typeof task !== "string") throw new Error(`Expected a task token or name (e.g. "<OD>") for task but received ${describeValue(task)}.`);
  if (image === undefined || image === null) {
    throw new Error(`Expected an image (a path, URL, Buffer, decoded pixels or model.encodeImage's features) but received ${describeValue(image)}.`);
  }
  checkObject("request options", "{ numBeams: 1 }", options);
  checkKeys("request option", options, REQUEST_OPTION_NAMES);
  return { image, task: getTask(task), input, decoding: resolveDecoding({ ...batch.generation, ...options }, defaults) };
}

/** How errors name the request they are about: nothing for `run`, the index for `runBatch`. */
export const asIs: Labeller = (_, err) => err;
export const byRequestIndex: Labeller = (jobs, err) => {
  const which = jobs.length === 1 ? `request ${jobs[0]}` : `requests ${jobs.join(", ")}`;
  return new Error(`runBatch ${which}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
};

/** `make(request)` for each request of a runBatch call, its errors naming the request by its index. */
export function eachRequest<T>(requests: unknown, make: (request: unknown) => T): T[] {
  if (!Array.isArray(requests)) {
    throw new Error(`Expected an array of requests ({ image, task, input?, options? }) for runBatch but received ${describeValue(requests)}.`);
  }
  return requests.map((request, i) => {
    try {
      return make(request);
    } catch (err) {
      throw byRequestIndex([i], err);
    }
  });
}
