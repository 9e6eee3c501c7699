/**
 * Command-line options of `npm run bench`, checked where they enter (errors name the flag, what it takes and
 * what it got).
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEVICE_OPTIONS, type DeviceOption } from "../../src/runtime/device";
import { DTYPE_SUFFIX, type Dtype } from "../../src/runtime/dtypes";
import type { SessionOptions } from "../../src/runtime/sessions";
import type { StandInSize } from "../support/standin";
import { DEFAULT_MODELS_DIR, REPO_ROOT } from "./models";
import { walkthroughWorkloads, workloadFor, type TaskWorkload } from "./workload";

export const SECTIONS = ["per-task", "all-tasks", "batch", "long-beams", "soak", "session-options", "dtypes"] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  size: StandInSize;
  workloads: TaskWorkload[];
  /** Timed runs per measurement (the median is reported). */
  runs: number;
  /** Untimed runs before the timed ones, per task and side. */
  warmup: number;
  dtype: Dtype;
  quick: boolean;
  /** Markdown results file. */
  out: string;
  sections: Section[];
  modelsDir: string;
  /** Our engine's device (cpu by default, so that figures stay comparable with the CPU-only transformers.js side). */
  device: DeviceOption;
  /** Intra-op threads for our engine; undefined keeps its default. */
  threads: number | undefined;
  /** onnxruntime session options for our engine, merged over its defaults (to try a candidate end to end). */
  sessionOptions: SessionOptions | undefined;
  /** Write a V8 CPU profile of our side's child process into this folder. */
  profileDir: string | undefined;
  /** Tokens of the long beam-search measurement (the issue asks about 1000). */
  longTokens: number;
  /** Consecutive runs of the memory soak (the issue asks about 50). */
  soakRuns: number;
  /** Only rewrite the results file from the last run's figures (after editing NOTES.md or the report). */
  rerender: boolean;
  /** Photos of the batch section's throughput measurement (the issue asks about 8). */
  batchPhotos: number;
  /** maxBatchRows values of the batch section's sweep (runBatch's default is always added). */
  batchRows: number[];
}

const BATCH_ROWS = [8, 16, 24, 48];
const QUICK_BATCH_ROWS = [8];

/** Length of the long beam-search measurement: issue 6 asks about beams "even at 1000 generated tokens". */
export const LONG_TOKENS = 1000;
const QUICK_LONG_TOKENS = 200;

export const DEFAULT_RESULTS = path.join(REPO_ROOT, "test", "bench", "RESULTS.md");

export const USAGE = `Usage: npm run bench -- [options]

Benchmarks Florence-2 on stand-in models of the real size (random weights, scripted outputs), our engine
side by side with @huggingface/transformers on the same files, and writes a Markdown report.

  --large             the Florence-2-large stand-in (default: base)
  --size S            tiny | base | large
  --tasks A,B         tasks to run, by name or token (default: the walkthrough's 14)
  --runs N            timed runs per measurement, median reported (default 5; --quick: 1)
  --warmup N          untimed runs first, per task and side (default 1)
  --dtype D           dtype of the main tables: fp32 (default) or q8
  --device D          our engine's device: ${DEVICE_OPTIONS.join(", ")} (default cpu; transformers.js stays on the CPU)
  --threads N         intra-op threads for our engine (default: its own choice)
  --session-options J onnxruntime session options for our engine, as JSON, over its defaults,
                      e.g. '{"enableCpuMemArena":false}' (to try a candidate end to end)
  --sections A,B      ${SECTIONS.join(", ")} (default: all)
  --batch-rows A,B    maxBatchRows values of the batch section's sweep (default ${BATCH_ROWS.join(",")};
                      --quick: ${QUICK_BATCH_ROWS.join(",")}); runBatch's default is always measured too
  --photos N          photos of the batch section's throughput measurement (default 8)
  --quick             a quick check: 1 run, shorter long-beam and soak runs, results in bench-models/
  --out FILE          Markdown results (default test/bench/RESULTS.md; --quick: bench-models/RESULTS-quick.md)
  --models-dir DIR    where stand-ins are generated and reused (default bench-models/)
  --profile DIR       write a V8 CPU profile (.cpuprofile) of our side into DIR
  --rerender          measure nothing: rewrite the results file from the last run's figures
                      (bench-models/last-results.json), e.g. after editing test/bench/NOTES.md
  --help              this text
`;

function positiveInteger(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Expected an integer >= ${min} for ${flag} but received "${text}".`);
  }
  return value;
}

function listOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`Expected ${flag} among ${allowed.join(", ")} but received "${item}".`);
  }
  return items as T[];
}

function deviceArg(text: string | undefined): DeviceOption {
  if (text === undefined) return "cpu";
  if (!(DEVICE_OPTIONS as readonly string[]).includes(text)) throw new Error(`Expected ${DEVICE_OPTIONS.join(", ")} for --device but received "${text}".`);
  return text as DeviceOption;
}

function sessionOptionsArg(text: string): SessionOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`Expected a JSON object for --session-options but received ${JSON.stringify(text)} (${(err as Error).message}).`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`Expected a JSON object for --session-options, e.g. '{"enableCpuMemArena":false}', but received ${text}.`);
  }
  return parsed as SessionOptions;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      large: { type: "boolean" },
      size: { type: "string" },
      tasks: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      dtype: { type: "string" },
      threads: { type: "string" },
      device: { type: "string" },
      "session-options": { type: "string" },
      sections: { type: "string" },
      quick: { type: "boolean" },
      out: { type: "string" },
      "models-dir": { type: "string" },
      profile: { type: "string" },
      rerender: { type: "boolean" },
      "batch-rows": { type: "string" },
      photos: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) return "help";
  if (values.large && values.size !== undefined && values.size !== "large") {
    throw new Error(`--large and --size ${values.size} contradict each other: give one.`);
  }
  const size = (values.large ? "large" : (values.size ?? "base")) as StandInSize;
  if (!["tiny", "base", "large"].includes(size)) throw new Error(`Expected --size tiny, base or large but received "${size}".`);
  const dtype = (values.dtype ?? "fp32") as Dtype;
  if (!Object.prototype.hasOwnProperty.call(DTYPE_SUFFIX, dtype) || !["fp32", "q8"].includes(dtype)) {
    throw new Error(`Expected --dtype fp32 or q8 (the variants the stand-in generator writes and both libraries load) but received "${dtype}".`);
  }
  const quick = values.quick ?? false;
  const workloads = values.tasks ? values.tasks.split(",").map((t) => workloadFor(t.trim())) : walkthroughWorkloads();
  return {
    size,
    workloads,
    runs: positiveInteger("--runs", values.runs, quick ? 1 : 5),
    warmup: positiveInteger("--warmup", values.warmup, 1, 0),
    dtype,
    quick,
    out: path.resolve(values.out ?? (quick ? path.join(values["models-dir"] ?? DEFAULT_MODELS_DIR, "RESULTS-quick.md") : DEFAULT_RESULTS)),
    sections: values.sections ? listOf("--sections", values.sections, SECTIONS) : [...SECTIONS],
    modelsDir: path.resolve(values["models-dir"] ?? DEFAULT_MODELS_DIR),
    device: deviceArg(values.device),
    threads: values.threads === undefined ? undefined : positiveInteger("--threads", values.threads, 0, 0),
    sessionOptions: values["session-options"] === undefined ? undefined : sessionOptionsArg(values["session-options"]),
    profileDir: values.profile === undefined ? undefined : path.resolve(values.profile),
    longTokens: quick ? QUICK_LONG_TOKENS : LONG_TOKENS,
    soakRuns: quick ? 10 : 50,
    rerender: values.rerender ?? false,
    batchPhotos: positiveInteger("--photos", values.photos, 8),
    batchRows:
      values["batch-rows"] === undefined
        ? quick
          ? QUICK_BATCH_ROWS
          : BATCH_ROWS
        : values["batch-rows"].split(",").map((v) => positiveInteger("--batch-rows", v.trim(), 1)),
  };
}
