/**
 * `npm start`'s command line: options, their defaults (the walkthrough's) and the help text.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_MODEL, DEVICE_OPTIONS, DTYPE_SUFFIX, FLORENCE2_MODELS, WALKTHROUGH_TASKS, getTask, resolveDtypes,
  type DeviceOption, type Dtype, type EarlyStopping, type TaskSpec,
} from "../index";
import { IMAGE_EXTENSIONS } from "./image-files";
import { DEFAULT_RESULTS_FILE, imagesModeTasks } from "./images-run";
import { JOB_INDEX_ENV, ShardError, resolveShard, shardResultsFile, type Shard } from "./shards";
import { WALKTHROUGH_PHOTOS, WALKTHROUGH_SETTINGS, type GenerationSettings } from "./steps";

/** What every mode of the command takes. */
interface CommonOptions {
  model: string;
  dtype: Dtype;
  tasks: readonly TaskSpec[];
  settings: GenerationSettings;
  /** undefined = FLORENCE2_DEVICE, else "auto" (the library's default). */
  device?: DeviceOption;
  standin: boolean;
  /** No live progress line while a task runs, no progress bar over images. */
  quiet: boolean;
}

/** `npm start [-- --batch]`: the walkthrough's tasks on its photos (or one image), drawn, timed and charted. */
export interface WalkthroughOptions extends CommonOptions {
  mode: "walkthrough";
  /** A file path or http(s) URL for every task; undefined = each task's walkthrough photo. */
  image?: string;
  outDir: string;
  /** Also run the tasks as one model.runBatch call, and show both times. */
  batch: boolean;
}

/** `npm start -- --images <folder or files>`: the tasks on the user's photos, appended to a JSON Lines file. */
export interface ImagesOptions extends CommonOptions {
  mode: "images";
  /** Files and folders as given (a folder stands for its image files). */
  paths: readonly string[];
  /** The JSON Lines file results are appended to (absolute). */
  resultsFile: string;
  /** The phrase for text tasks (CAPTION_TO_PHRASE_GROUNDING ...), the same for every image. */
  text?: string;
  /** This copy's share of the photos (--shard K/N, or JOB_COMPLETION_INDEX with --shards N); resultsFile is the shard's own. */
  shard?: Shard;
}

export type CommandOptions = WalkthroughOptions | ImagesOptions;

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
       npm start -- --images <folder|files...> [--tasks <list>] [--out results.jsonl] [options]

Runs the Colab walkthrough's Florence-2 tasks without Jupyter: loads the model (downloading it on first use),
runs each task on its photo, prints the parsed results and timings, writes each drawn result as a PNG, and ends
with a timing table and chart beside the walkthrough's T4 times. With --batch it then runs the same tasks as one
batch and shows both times. With --images it runs tasks on your own photos instead and appends the results to a
JSON Lines file, one line per photo and task (a run stopped midway resumes where it stopped).

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
                          and onnxruntime-node's CUDA provider are there, else WebGPU on a hardware adapter, else
                          the CPU)
  --out <folder>          where the PNGs go (default output/)
  --batch                 then run the same tasks again as one batch (model.runBatch: each photo encoded once,
                          all tasks decoded together) and show both times in the table and chart
  --standin               use a generated tiny stand-in model with random weights instead (no download;
                          its outputs are not Florence-2's)
  --quiet                 no live progress line while a task runs (with --images: no progress bar)
  -h, --help              show this text

Your own photos:
  --images <folder|files> the photos to run on: a folder (its ${IMAGE_EXTENSIONS.join(" ")} files, not its
                          subfolders) or files; more may follow (--images photos/*.jpg)
  --tasks <list>          default with --images: the walkthrough's tasks that need no phrase from you
                          (${wrapList(imagesModeTasks(false).map((t) => t.name), 27)});
                          region tasks take the whole photo as their region
  --text <phrase>         the phrase for CAPTION_TO_PHRASE_GROUNDING, OPEN_VOCABULARY_DETECTION and
                          REFERRING_EXPRESSION_SEGMENTATION, the same for every photo (with --text, the default
                          tasks include them)
  --out <file.jsonl>      the JSON Lines file to append to (default ${DEFAULT_RESULTS_FILE}); pairs of photo and
                          task already in it are skipped, so the same command resumes a stopped run
  --shard <K/N>           only shard K of N (1 to N) of the photos, split by a hash of each photo's path; results go
                          to <out>.shard-K-of-N.jsonl (join the N files with cat)
  --shards <N>            the number of shards when ${JOB_INDEX_ENV} (a Kubernetes Indexed Job, from 0) gives the shard
  Photos are decoded together in batches (model.runBatch); a photo that can't be read is reported and skipped.
  Exit code 1 when any photo was skipped, 130 when stopped with Ctrl-C (the file stays valid).

Environment: FLORENCE2_CACHE (cache folder, default models/), FLORENCE2_DEVICE (cpu, cuda, webgpu, auto), HF_ENDPOINT (Hub
mirror), HF_TOKEN (token for private or gated models; else the token file of hf auth login), HF_HUB_CACHE / HF_HOME
(a model already in the Hugging Face cache is used in place), HF_HUB_OFFLINE=1 (never use the network; a cache must
be complete).`;

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

/** The tasks of --tasks; undefined when it wasn't given. */
function parseTasks(text: string | undefined): readonly TaskSpec[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (names.length === 0) {
    throw new UsageError(`Expected a comma-separated list of tasks for --tasks but received "${text}".`);
  }
  try {
    return [...new Map(names.map((n) => getTask(n)).map((t) => [t.token, t])).values()];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The command line (after `npm start --`) as options; `null` when --help was asked for. */
export function parseWalkthroughArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CommandOptions | null {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      // Only for --images: a shell glob (--images photos/*.jpg) gives the files after the first as positionals.
      allowPositionals: true,
      options: {
        model: { type: "string" },
        dtype: { type: "string" },
        image: { type: "string" },
        images: { type: "string", multiple: true },
        text: { type: "string" },
        tasks: { type: "string" },
        "num-beams": { type: "string" },
        "max-new-tokens": { type: "string" },
        "early-stopping": { type: "string" },
        device: { type: "string" },
        out: { type: "string" },
        shard: { type: "string" },
        shards: { type: "string" },
        batch: { type: "boolean" },
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
  const common = {
    model: values.model ?? DEFAULT_MODEL,
    dtype: dtype as Dtype,
    settings: {
      numBeams: positiveInteger("num-beams", values["num-beams"], WALKTHROUGH_SETTINGS.numBeams),
      maxNewTokens: positiveInteger("max-new-tokens", values["max-new-tokens"], WALKTHROUGH_SETTINGS.maxNewTokens),
      earlyStopping: earlyStopping(values["early-stopping"]),
    },
    device: device(values.device),
    standin: !!values.standin,
    quiet: !!values.quiet,
  };
  if (values.images !== undefined) {
    if (values.image !== undefined) throw new UsageError("--image (one image for the walkthrough) and --images (your photos) don't go together: choose one.");
    if (values.batch) throw new UsageError("--images always decodes its photos in batches: leave out --batch.");
    const images = imagesOptions([...values.images, ...positionals], values.tasks, values.text, values.out);
    let shard: Shard | undefined;
    try {
      shard = resolveShard(values.shard, values.shards, env);
    } catch (err) {
      if (err instanceof ShardError) throw new UsageError(err.message);
      throw err;
    }
    if (!shard) return { ...common, mode: "images", ...images };
    return { ...common, mode: "images", ...images, shard, resultsFile: shardResultsFile(images.resultsFile, shard) };
  }
  if (values.shard !== undefined || values.shards !== undefined) {
    throw new UsageError("--shard and --shards split the photos of --images among machines; the walkthrough has no photos to split.");
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument '${positionals[0]}': options start with --, and only --images takes several values.`);
  }
  if (values.text !== undefined) {
    throw new UsageError("--text is the phrase for your photos with --images; the walkthrough uses its own phrases.");
  }
  return {
    ...common,
    mode: "walkthrough",
    image: values.image,
    tasks: parseTasks(values.tasks) ?? WALKTHROUGH_TASKS,
    outDir: path.resolve(values.out ?? "output"),
    batch: !!values.batch,
  };
}

/** --images' paths, tasks, phrase and results file, checked against each other. */
function imagesOptions(
  paths: string[],
  tasksText: string | undefined,
  text: string | undefined,
  out: string | undefined,
): Pick<ImagesOptions, "paths" | "tasks" | "text" | "resultsFile"> {
  if (paths.some((p) => p === "")) throw new UsageError("Expected a folder or image files for --images but received an empty path.");
  if (text !== undefined && text.trim() === "") throw new UsageError("Expected a phrase for --text but received an empty one.");
  const tasks = parseTasks(tasksText) ?? imagesModeTasks(text !== undefined);
  const needPhrase = tasks.filter((t) => t.input === "text");
  if (needPhrase.length > 0 && text === undefined) {
    throw new UsageError(
      `${needPhrase.map((t) => t.name).join(", ")} ${needPhrase.length === 1 ? "takes" : "take"} a phrase: give it with ` +
        `--text "<phrase>" (used for every photo), or leave ${needPhrase.length === 1 ? "it" : "them"} out of --tasks.`,
    );
  }
  if (text !== undefined && needPhrase.length === 0) {
    throw new UsageError(`--text is for tasks that take a phrase, and none of --tasks does (${tasks.map((t) => t.name).join(", ")}).`);
  }
  const resultsFile = path.resolve(out ?? DEFAULT_RESULTS_FILE);
  if (path.extname(resultsFile).toLowerCase() !== ".jsonl") {
    throw new UsageError(
      `Expected a .jsonl file for --out with --images (results are appended to it as JSON Lines) but received "${out}". ` +
        `Give a file name such as results.jsonl.`,
    );
  }
  return { paths, tasks, text, resultsFile };
}
