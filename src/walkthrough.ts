/**
 * The main job, `npm start`: what the Colab walkthrough (Florence-2-Colaboratory-Sample) does, without Jupyter.
 * Loads Florence-2-base-ft (downloading it on first use), runs the walkthrough's 14 tasks on its sample photo,
 * prints each parsed result with IPython-style `%%time` lines, writes each drawn result as a PNG, and ends with
 * a table of this run's times beside the seed's T4 figures.
 *
 *   npm start                                   # everything, as the walkthrough
 *   npm start -- --tasks OD,OCR --num-beams 1   # options come after `--`
 *   npm start -- --standin                      # the same flow on a generated random-weight stand-in
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { readGenerationConfig } from "./config";
import { drawResult } from "./draw";
import { DTYPE_SUFFIX, resolveDtypes, type Dtype } from "./dtypes";
import { Florence2 } from "./florence2";
import { DEFAULT_MODEL, FLORENCE2_MODELS, HubError, defaultCacheDir, downloadToFile } from "./hub";
import { loadImageRgb, type RgbImage } from "./image";
import type { ImageSize, PixelBox } from "./prompts";
import { SEED_SETUP, SEED_TIMINGS, seedCpuTotalSeconds, seedWallSeconds } from "./seed-timings";
import { WALKTHROUGH_TASKS, getTask, type TaskSpec } from "./tasks";
import { formatCellTimes, formatTime, startTimer, type CellTimes } from "./timing";
import { STAND_IN_DTYPES, writeStandInModel } from "./standin/index";
import { Florence2Tokenizer } from "./tokenizer";

/** The walkthrough's first sample photo (1600x1066, from pakutaso), fetched once into the cache folder. */
export const SAMPLE_IMAGE_URL =
  "https://raw.githubusercontent.com/Kazuhito00/Florence-2-Colaboratory-Sample/main/sample.jpg";
/** The size the region inputs below were picked on; other images get them scaled. */
export const SAMPLE_IMAGE_SIZE: ImageSize = { width: 1600, height: 1066 };

/** The blue car in the middle of the sample photo, and the red umbrella left of it (pixels of the 1600x1066 photo). */
const BLUE_CAR: PixelBox = { x1: 1074, y1: 336, x2: 1356, y2: 626 };
const RED_UMBRELLA: PixelBox = { x1: 702, y1: 464, x2: 854, y2: 540 };

/**
 * The example input of every walkthrough task that takes one, keyed by task token: phrases about the sample
 * photo (a rainy crossing with pedestrians, umbrellas and a blue car) and pixel boxes on it. Notebooks reuse
 * these so that the command and the notebooks show the same examples.
 */
export const WALKTHROUGH_INPUTS: Readonly<Record<string, string | PixelBox>> = {
  "<CAPTION_TO_PHRASE_GROUNDING>": "A woman with a red umbrella crosses the street in front of a blue car.",
  "<OPEN_VOCABULARY_DETECTION>": "umbrella",
  "<REFERRING_EXPRESSION_SEGMENTATION>": "the blue car",
  "<REGION_TO_SEGMENTATION>": BLUE_CAR,
  "<REGION_TO_CATEGORY>": RED_UMBRELLA,
  "<REGION_TO_DESCRIPTION>": BLUE_CAR,
};

/** A task's example input for an image of `size`: text as it is, a region scaled from the sample photo. */
export function walkthroughInput(task: TaskSpec, size: ImageSize): string | PixelBox | undefined {
  if (task.input === "none") return undefined;
  const input = WALKTHROUGH_INPUTS[task.token];
  if (input === undefined) throw new Error(`WALKTHROUGH_INPUTS has no example input for ${task.token}.`);
  if (typeof input === "string") return input;
  const sx = size.width / SAMPLE_IMAGE_SIZE.width;
  const sy = size.height / SAMPLE_IMAGE_SIZE.height;
  return {
    x1: Math.round(input.x1 * sx),
    y1: Math.round(input.y1 * sy),
    x2: Math.round(input.x2 * sx),
    y2: Math.round(input.y2 * sy),
  };
}

/** The walkthrough's generation settings (`generate(num_beams=3, max_new_tokens=1024)`). */
const WALKTHROUGH_NUM_BEAMS = 3;
const WALKTHROUGH_MAX_NEW_TOKENS = 1024;

/** Printed before every line in stand-in mode, so that no output can pass for Florence-2's. */
export const STANDIN_NOTE = "[stand-in: random weights, not Florence-2's output]";

export interface WalkthroughOptions {
  model: string;
  dtype: Dtype;
  /** A file path or http(s) URL; undefined = the walkthrough's sample photo. */
  image?: string;
  tasks: readonly TaskSpec[];
  numBeams: number;
  maxNewTokens: number;
  outDir: string;
  standin: boolean;
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

export const USAGE = `Usage: npm start -- [options]

Runs the Colab walkthrough's Florence-2 tasks without Jupyter: loads the model (downloading it on first use),
runs each task on the image, prints the parsed results and timings, and writes each drawn result as a PNG.

Options:
  --model <id|folder>     Hub model id or local model folder (default ${DEFAULT_MODEL});
                          also ${wrapList(FLORENCE2_MODELS.slice(1), 26)}
  --dtype <dtype>         ONNX variant: ${Object.keys(DTYPE_SUFFIX).join(", ")} (default fp32)
  --image <file|url>      image to run on (default: the walkthrough's sample photo, fetched once from
                          ${SAMPLE_IMAGE_URL})
  --tasks <list>          comma-separated tasks, e.g. OD,OCR or "<OD>" (default: the 14 walkthrough tasks:
                          ${wrapList(WALKTHROUGH_TASKS.map((t) => t.name), 26)})
  --num-beams <n>         beams for beam search, 1 = greedy (default ${WALKTHROUGH_NUM_BEAMS}, as the walkthrough)
  --max-new-tokens <n>    most tokens generated per task (default ${WALKTHROUGH_MAX_NEW_TOKENS}, as the walkthrough)
  --out <folder>          where the PNGs go (default output/)
  --standin               use a generated tiny stand-in model with random weights instead (no download;
                          its outputs are not Florence-2's)
  -h, --help              show this text

Environment: FLORENCE2_CACHE (cache folder, default models/), HF_ENDPOINT (Hub mirror), HF_TOKEN (token for
private or gated models), HF_HUB_OFFLINE=1 (never use the network; the cache must be complete).`;

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`Expected a positive integer for --${name} but received "${text}".`);
  }
  return value;
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
        out: { type: "string" },
        standin: { type: "boolean" },
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
    numBeams: positiveInteger("num-beams", values["num-beams"], WALKTHROUGH_NUM_BEAMS),
    maxNewTokens: positiveInteger("max-new-tokens", values["max-new-tokens"], WALKTHROUGH_MAX_NEW_TOKENS),
    outDir: path.resolve(values.out ?? "output"),
    standin: !!values.standin,
  };
}

/** One task's outcome, for the final table. */
export interface TaskRun {
  task: TaskSpec;
  times: CellTimes;
  png?: string;
}

/** Where the command's text goes; stand-in mode marks every line. */
type Print = (text: string) => void;

function printer(standin: boolean, write: (line: string) => void): Print {
  return (text) => {
    for (const line of text.split("\n")) write(standin ? `${STANDIN_NOTE} ${line}` : line);
  };
}

/** Runs the walkthrough; returns each task's times. Errors propagate (see `main` for how they are shown). */
export async function runWalkthrough(
  options: WalkthroughOptions,
  write: (line: string) => void = console.log,
): Promise<TaskRun[]> {
  const print = printer(options.standin, write);
  const standin = options.standin ? await writeStandIn(options.dtype, print) : null;
  try {
    // Florence2.load downloads a Hub id on first use (hub.ts), with progress on stderr. Each task runs the
    // vision encoder again, as the walkthrough's run_example did, so that its times compare with the seed's.
    const model = await Florence2.load(standin ?? options.model, { dtype: options.dtype, cacheImageFeatures: false });
    try {
      const imageSource = options.image ?? (await sampleImage(print));
      const image = await loadImageRgb(imageSource);
      const name = standin ? "generated stand-in (random weights)" : options.model;
      print(`Model: ${name} (${options.dtype}) from ${model.folder}`);
      print(`Image: ${imageSource} (${image.width}x${image.height})`);
      print(`Settings: num_beams=${options.numBeams}, max_new_tokens=${options.maxNewTokens}`);
      fs.mkdirSync(options.outDir, { recursive: true });
      const runs: TaskRun[] = [];
      for (const [i, task] of options.tasks.entries()) {
        runs.push(await runTask(model, image, task, i, options, print));
      }
      print("");
      print(timingTable(runs, options));
      return runs;
    } finally {
      model.dispose();
    }
  } finally {
    if (standin) fs.rmSync(path.dirname(standin), { recursive: true, force: true });
  }
}

async function runTask(
  model: Florence2,
  image: RgbImage,
  task: TaskSpec,
  index: number,
  options: WalkthroughOptions,
  print: Print,
): Promise<TaskRun> {
  const size = { width: image.width, height: image.height };
  const input = walkthroughInput(task, size);
  const heading = `${task.token}${task.japaneseName ? ` ${task.japaneseName}` : ""}`;
  print("");
  const inputNote = input === undefined ? "" : ` input: ${JSON.stringify(input)}`;
  print(`── ${index + 1}/${options.tasks.length} ${heading}${inputNote}`);
  const settings = { numBeams: options.numBeams, maxNewTokens: options.maxNewTokens };
  const timer = startTimer();
  const out = await model.run(image, task.token, input, settings);
  const times = timer.stop();
  print(JSON.stringify(out.result));
  print(formatCellTimes(times));
  const drawing = await drawResult(image, task.token, out.result, typeof input === "object" ? { region: input } : {});
  const png = path.join(options.outDir, `${String(index + 1).padStart(2, "0")}-${task.name}.png`);
  fs.writeFileSync(png, drawing.png);
  print(`Drawn: ${png}`);
  return { task, times, png };
}

/** This run's times beside the seed's (IPython's formatting for both, so that they read alike). */
export function timingTable(
  runs: readonly TaskRun[],
  options: Pick<WalkthroughOptions, "model" | "dtype" | "numBeams" | "standin">,
): string {
  const cpu = os.cpus();
  const here =
    `this run: onnxruntime-node on CPU (${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} threads), ` +
    `${options.standin ? "stand-in model" : options.model} ${options.dtype}, num_beams=${options.numBeams}`;
  const rows = runs.map((r) => {
    const seed = SEED_TIMINGS[r.task.token];
    return [r.task.name, formatTime(r.times.wall), formatTime(r.times.total), seed?.wall ?? "-", seed?.total ?? "-"];
  });
  const sum = (seconds: (r: TaskRun) => number | undefined) => formatTime(runs.reduce((s, r) => s + (seconds(r) ?? 0), 0));
  rows.push([
    `all ${runs.length} tasks`,
    sum((r) => r.times.wall),
    sum((r) => r.times.total),
    sum((r) => seedWallSeconds(r.task.token)),
    sum((r) => seedCpuTotalSeconds(r.task.token)),
  ]);
  const header = ["task", "wall (this run)", "CPU total (this run)", "wall (seed, T4)", "CPU total (seed, T4)"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  return [
    "Per-task times (each task timed whole: image, vision encoder, prompt, generation, post-processing, as the " +
      "walkthrough's %%time cells)",
    `  ${here}`,
    `  seed: ${SEED_SETUP}`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

/** The sample photo, downloaded once into the cache folder (`<cache>/samples/sample.jpg`). */
async function sampleImage(print: Print): Promise<string> {
  const file = path.join(defaultCacheDir(), "samples", path.posix.basename(new URL(SAMPLE_IMAGE_URL).pathname));
  if (fs.existsSync(file)) return file;
  if (/^(1|on|yes|true)$/i.test(process.env.HF_HUB_OFFLINE ?? "")) {
    throw new HubError(
      "OFFLINE_INCOMPLETE",
      `HF_HUB_OFFLINE is set and the sample photo is not cached at ${file}: pass --image <file>.`,
    );
  }
  print(`Fetching the walkthrough's sample photo from ${SAMPLE_IMAGE_URL}`);
  try {
    return await downloadToFile(SAMPLE_IMAGE_URL, file);
  } catch (err) {
    const code = err instanceof HubError ? err.code : "NETWORK";
    throw new HubError(code, `${(err as Error).message} Or run on your own photo: npm start -- --image <file>.`);
  }
}

/**
 * What a stand-in may emit besides `</s>`: a few words and `<loc_k>` tokens, so that its random outputs stay
 * short and still parse into labels, boxes and polygons.
 */
const STANDIN_VOCABULARY = "person car umbrella street<loc_120><loc_260><loc_410><loc_530><loc_680><loc_820><loc_940>";

/** A tiny stand-in model in a temporary folder, its decoder restricted to STANDIN_VOCABULARY and `</s>`. */
async function writeStandIn(dtype: Dtype, print: Print): Promise<string> {
  if (!STAND_IN_DTYPES.includes(dtype)) {
    const dtypes = STAND_IN_DTYPES.join(", ");
    throw new UsageError(`--standin writes only ${dtypes}; choose one of these for --dtype.`);
  }
  const folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "florence2-standin-")), "model");
  print("Writing a tiny stand-in model with random weights (not Florence-2) ...");
  // The ids depend on the stand-in's tokenizer (the real one, or a generated one), so it is written first.
  await writeStandInModel(folder, { dtypes: [dtype] });
  const ids = Florence2Tokenizer.fromFolder(folder).encode(STANDIN_VOCABULARY).slice(1, -1); // without <s> ... </s>
  const restrictTo = [...new Set([...ids, readGenerationConfig(folder).eosTokenId])];
  await writeStandInModel(folder, { dtypes: [dtype], restrictTo });
  return folder;
}

/** `npm start`: parses the command line, runs, and turns errors into one clear line and an exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  try {
    const options = parseWalkthroughArgs(argv);
    if (!options) {
      console.log(USAGE);
      return 0;
    }
    await runWalkthrough(options);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\nRun "npm start -- --help" for the options.`);
      return 2;
    }
    // Errors of this project say what went wrong and what to do; a stack trace would only bury that.
    console.error(`Error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
