/**
 * Messages between the benchmark and its child processes. Each side (our engine, transformers.js) lives in its
 * own process, so that its peak RSS is its own, its onnxruntime thread pool is its own, and one side's garbage
 * or native memory never lands on the other's clock. The parent sends one request at a time and alternates.
 */
import type { Dtype, ModuleName } from "../../src/runtime/dtypes";
import type { DeviceOption } from "../../src/runtime/device";
import type { PixelBox } from "../../src/text/prompts";
import type { SessionOptions } from "../../src/runtime/sessions";
import type { SessionTotals } from "./session-timer";

export type SideName = "ours" | "transformers.js";

/** How a side's sessions are opened: undefined fields keep that library's own defaults. */
export interface SessionChoice {
  /** Our side's device (Florence2.load's option); transformers.js always runs on the CPU here. */
  device?: DeviceOption;
  sessionOptions?: SessionOptions;
  intraOpNumThreads?: number;
}

export interface LoadRequest {
  kind: "load";
  side: SideName;
  folder: string;
  dtype: Dtype;
  session: SessionChoice;
  /** The stand-in's script, to check that every run emitted exactly its prefix. */
  script: number[];
  /** Ours only: keep image features between runs (the all-tasks sequence) or encode every run (per task). */
  reuseImageFeatures: boolean;
}

/** One task as a child gets it: the task by token, its input, and its scripted length (also its token limit). */
export interface WorkloadSpec {
  task: string;
  input: string | PixelBox | undefined;
  outputTokens: number;
}

export interface RunRequest {
  kind: "run";
  workload: WorkloadSpec;
  numBeams: number;
  imagePath: string;
}

/** All tasks in one call, as the all-tasks notebook does: each image is encoded once. */
export interface SequenceRequest {
  kind: "sequence";
  workloads: WorkloadSpec[];
  /** The photo of each workload. */
  imagePaths: string[];
}

/**
 * Ours only: several requests (task on a photo) run one after the other with `run`, or together with `runBatch`,
 * timed as one piece of work.
 */
export interface ManyRequest {
  kind: "many";
  mode: "sequential" | "batched";
  items: { workload: WorkloadSpec; imagePath: string }[];
  numBeams: number;
  earlyStopping: boolean;
  /** Compute each distinct photo's features before the clock starts and pass them in (the same on both modes). */
  featuresFirst: boolean;
  /** runBatch's maxBatchRows; undefined: its default. */
  maxBatchRows?: number;
}

/** Runs one task `runs` times in a row and reports the RSS after each run. */
export interface SoakRequest {
  kind: "soak";
  workload: WorkloadSpec;
  runs: number;
  imagePath: string;
}

/** Times the raw sessions of a folder opened with these options (the session-options sweep). */
export interface ProbeRequest {
  kind: "probe";
  folder: string;
  dtype: Dtype;
  /** Options per module; "preallocated" also hands the decoder pre-allocated logits buffers. */
  options: ProbeOptions;
  repeats: number;
  decoderSteps: number;
}

export interface ProbeOptions {
  label: string;
  /** undefined: onnxruntime's defaults; "engine": the engine's per-module defaults (src/runtime/sessions.ts). */
  base: "onnxruntime" | "engine";
  overrides: SessionOptions;
  /** Further options for single modules, over `overrides`. */
  perModule?: Partial<Record<ModuleName, SessionOptions>>;
  preallocatedLogits: boolean;
}

export type Request = LoadRequest | RunRequest | SequenceRequest | ManyRequest | SoakRequest | ProbeRequest;

/** One timed piece of work in a child, %%time style plus where the time went. */
export interface Measurement {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** Peak resident memory during the work (the process' peak since start where it can't be reset). */
  peakRssBytes: number;
  peakRssIsPerRun: boolean;
  /** Time inside InferenceSession.run per module. */
  sessions: SessionTotals;
}

export interface RunResult {
  measurement: Measurement;
  /** Generated ids, start token included. */
  ids: number[];
  /** Whether `ids` is the script's prefix of the task's length ended by `</s>`. */
  idsAsScripted: boolean;
  /** The engine's own timings/stats, flattened to numbers (ours only). */
  engine: Record<string, number>;
  /** transformers.js only: whether it post-processed the result (it has no parser for polygons). */
  postProcessed?: boolean;
}

export interface LoadResult {
  loadMs: number;
  rssBytes: number;
  /** The options the side's sessions ended up with, as far as the side can tell. */
  description: string;
  /** Where the side's sessions run, for the device column: "CPU", a GPU's name, "WebGPU software (SwiftShader)". */
  device: string;
}

export interface SequenceResult {
  measurement: Measurement;
  perTask: { task: string; wallMs: number; tokens: number; idsAsScripted: boolean }[];
  engine: Record<string, number>;
}

export interface ManyResult {
  measurement: Measurement;
  perItem: { ids: number[]; idsAsScripted: boolean }[];
  /** runBatch's batch timings, flattened (batched mode only). */
  batch?: Record<string, number>;
  /** runBatch's decoder steps by rows (batched mode only). */
  stepsByRows?: { rows: number; steps: number; ms: number }[];
}

export interface SoakResult {
  rssAfterRunBytes: number[];
  activeResourcesBefore: Record<string, number>;
  activeResourcesAfter: Record<string, number>;
  wallMs: number;
}

/** Timings of raw sessions; every list has one sample per repeat (a decoder sample is the mean over its steps). */
export interface ProbeResult {
  loadMs: number;
  visionMs: number[];
  encoderMs: number[];
  /** Per-step decoder wall time (embed_tokens + decoder run) at batch 1 and at batch 3, early in generation. */
  decoderStepMsBatch1: number[];
  decoderStepMsBatch3: number[];
  /** Cache length of the late-step measurement. */
  longPast: number;
  /** The same with `longPast` positions in the self-attention cache. */
  decoderStepMsBatch1Long: number[];
  decoderStepMsBatch3Long: number[];
  peakRssBytes: number;
}

export type Response = { ok: true; value: unknown } | { ok: false; error: string };
