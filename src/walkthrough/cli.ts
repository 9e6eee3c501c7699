/**
 * `npm start`'s command line: options, their defaults (the walkthrough's) and the help text.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_MODEL, DEVICE_OPTIONS, DTYPE_SUFFIX, FLORENCE2_MODELS, WALKTHROUGH_TASKS, getTask, resolveDtypes,
  type DeviceOption, type Dtype, type EarlyStopping, type TaskSpec,
} from "../index";
import { WALKTHROUGH_PHOTOS, WALKTHROUGH_SETTINGS, type GenerationSettings } from "./steps";

export interface WalkthroughOptions {
  model: string;
  dtype: Dtype;
  /** A file path or http(s) URL for every task; undefined = each task's walkthrough photo. */
  image?: string;
  tasks: readonly TaskSpec[];
  settings: GenerationSettings;
  /** undefined = FLORENCE2_DEVICE, else "auto" (the library's default). */
  device?: DeviceOption;
  outDir: string;
  standin: boolean;
  /** No live progress line while a task runs. */
  quiet: boolean;
}

/** Thrown for a wrong command line: the message is printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Items joined with ", " and wrapped into lines of at most `width` characters, each continued at `indent`. */
function wrapList(items: readonly string[], indent: number, width = 110): string {
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    const next = line === "" ? item : `${line}, ${item}`;
    if (indent + next.length > width && line !== "") {
      lines.push(`${line},`);
      line = item;
    } else line = next;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

const { street, market } = WALKTHROUGH_PHOTOS;

export const USAGE = `Usage: npm start -- [options]

Runs the Colab walkthrough's Florence-2 tasks without Jupyter: loads the model (downloading it on first use),
runs each task on its photo, prints the parsed results and timings, writes each drawn result as a PNG, and ends
with a timing table and chart beside the walkthrough's T4 times.

Options:
  --model <id|folder>     Hub model id or local model folder (default ${DEFAULT_MODEL});
                          also ${wrapList(FLORENCE2_MODELS.slice(1), 26)}
  --dtype <dtype>         ONNX variant: ${Object.keys(DTYPE_SUFFIX).join(", ")} (default fp32)
  --image <file|url>      one image for every task (default: the walkthrough's photos, fetched once:
                          ${street.file} for most tasks, ${market.file} for OCR and OCR_WITH_REGION)
  --tasks <list>          comma-separated tasks, e.g. OD,OCR or "<OD>" (default: the 14 walkthrough tasks:
                          ${wrapList(WALKTHROUGH_TASKS.map((t) => t.name), 26)})
  --num-beams <n>         beams for beam search, 1 = greedy (default ${WALKTHROUGH_SETTINGS.numBeams}, as the walkthrough)
  --max-new-tokens <n>    most tokens generated per task (default ${WALKTHROUGH_SETTINGS.maxNewTokens}, as the walkthrough)
  --early-stopping <v>    beam search stop rule: true, false or never (default ${WALKTHROUGH_SETTINGS.earlyStopping}, as the walkthrough)
  --device <device>       ${DEVICE_OPTIONS.join(", ")} (default: FLORENCE2_DEVICE, else auto: CUDA when an NVIDIA GPU
                          and onnxruntime-node's CUDA provider are there, else the CPU)
  --out <folder>          where the PNGs go (default output/)
  --standin               use a generated tiny stand-in model with random weights instead (no download;
                          its outputs are not Florence-2's)
  --quiet                 no live progress line while a task runs
  -h, --help              show this text

Environment: FLORENCE2_CACHE (cache folder, default models/), FLORENCE2_DEVICE (cpu, cuda, auto), HF_ENDPOINT (Hub
mirror), HF_TOKEN (token for private or gated models), HF_HUB_OFFLINE=1 (never use the network; the cache must be
complete).`;

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`Expected a positive integer for --${name} but received "${text}".`);
  }
  return value;
}

function earlyStopping(text: string | undefined): EarlyStopping {
  if (text === undefined) return WALKTHROUGH_SETTINGS.earlyStopping;
  const value = ({ true: true, false: false, never: "never" } as const)[text.toLowerCase() as "true" | "false" | "never"];
  if (value === undefined) throw new UsageError(`Expected true, false or never for --early-stopping but received "${text}".`);
  return value;
}

function device(text: string | undefined): DeviceOption | undefined {
  if (text === undefined) return undefined;
  if (!(DEVICE_OPTIONS as readonly string[]).includes(text)) {
    throw new UsageError(`Expected ${DEVICE_OPTIONS.join(", ")} for --device but received "${text}".`);
  }
  return text as DeviceOption;
}

function parseTasks(text: string | undefined): readonly TaskSpec[] {
  if (text === undefined) return WALKTHROUGH_TASKS;
  const names = text.split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (names.length === 0) {
    throw new UsageError(`Expected a comma-separated list of tasks for --tasks but received "${text}".`);
  }
  try {
    return names.map((n) => getTask(n));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The command line (after `npm start --`) as options; `null` when --help was asked for. */
export function parseWalkthroughArgs(argv: readonly string[]): WalkthroughOptions | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        dtype: { type: "string" },
        image: { type: "string" },
        tasks: { type: "string" },
        "num-beams": { type: "string" },
        "max-new-tokens": { type: "string" },
        "early-stopping": { type: "string" },
        device: { type: "string" },
        out: { type: "string" },
        standin: { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return null;
  const dtype = values.dtype ?? "fp32";
  try {
    resolveDtypes(dtype as Dtype);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.standin && values.model !== undefined) {
    throw new UsageError("--standin generates its own model: leave out --model.");
  }
  return {
    model: values.model ?? DEFAULT_MODEL,
    dtype: dtype as Dtype,
    image: values.image,
    tasks: parseTasks(values.tasks),
    settings: {
      numBeams: positiveInteger("num-beams", values["num-beams"], WALKTHROUGH_SETTINGS.numBeams),
      maxNewTokens: positiveInteger("max-new-tokens", values["max-new-tokens"], WALKTHROUGH_SETTINGS.maxNewTokens),
      earlyStopping: earlyStopping(values["early-stopping"]),
    },
    device: device(values.device),
    outDir: path.resolve(values.out ?? "output"),
    standin: !!values.standin,
    quiet: !!values.quiet,
  };
}
