/**
 * Running notebooks headlessly with this project's tslab kernel, for tests: Debian's Jupyter (nbclient)
 * through `kernel-setup/tslab_bridge.py`, the same runner Colab users get, with the kernel registered by
 * `kernel-setup/kernel.ts` into a temporary prefix so the user's Jupyter folders are never touched.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { KERNEL_NAME, findJupyterPython, install } from "../../kernel-setup/kernel";

/** Debian's Python: the one that has nbclient, jupyter_client and the classic Notebook (TOOLCHAIN.md). */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const NOTEBOOKS_DIR = path.join(REPO_ROOT, "notebooks");
export const BRIDGE_SCRIPT = path.join(REPO_ROOT, "kernel-setup", "tslab_bridge.py");
export { KERNEL_NAME };

/** Why notebook tests can't run here (printed before `this.skip()`), or undefined when they can. */
export function jupyterMissing(modules: readonly string[] = ["nbclient", "nbformat", "jupyter_client"]): string | undefined {
  if (!fs.existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} is missing (apt-get install python3 ${debianPackages(modules)})`;
  const run = spawnSync(SYSTEM_PYTHON, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
  if (run.status !== 0) {
    return `${SYSTEM_PYTHON} can't import ${modules.join(", ")} (apt-get install ${debianPackages(modules)}): ${run.stderr.trim().split("\n").pop()}`;
  }
  return undefined;
}

function debianPackages(modules: readonly string[]): string {
  const byModule: Record<string, string> = {
    nbclient: "python3-nbclient",
    nbformat: "python3-nbformat",
    jupyter_client: "jupyter-client",
    notebook: "jupyter-notebook",
    ipykernel: "python3-ipykernel",
  };
  return modules.map((m) => byModule[m] ?? `python3-${m}`).join(" ");
}

/**
 * Registers the project's kernel under `<prefix>/share/jupyter` and returns the environment in which Jupyter
 * finds it (JUPYTER_PATH first, and a private JUPYTER_DATA_DIR/IPYTHONDIR so nothing is written to $HOME).
 */
export function registerKernel(prefix: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const info = findJupyterPython(SYSTEM_PYTHON, env);
  install(info, { kind: "prefix", prefix }, () => undefined);
  return {
    ...env,
    JUPYTER_PATH: path.join(prefix, "share", "jupyter"),
    JUPYTER_DATA_DIR: path.join(prefix, "data"),
    JUPYTER_RUNTIME_DIR: path.join(prefix, "runtime"),
    JUPYTER_CONFIG_DIR: path.join(prefix, "config"),
    IPYTHONDIR: path.join(prefix, "ipython"),
  };
}

/** The parts of nbformat 4 the tests read. */
export interface NotebookOutput {
  output_type: "stream" | "display_data" | "execute_result" | "error";
  name?: "stdout" | "stderr";
  text?: string | string[];
  data?: Record<string, string | string[]>;
}
export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type CellStatus = "ok" | "error" | "aborted";
export interface ExecutedNotebook {
  notebook: Notebook;
  /** One per code cell, by index into `notebook.cells`. */
  statuses: Map<number, CellStatus>;
  /** Seconds from start to end of the run, kernel start included. */
  seconds: number;
}

export interface ExecuteOptions {
  env: NodeJS.ProcessEnv;
  /** Where the executed notebook is written. */
  output: string;
  /** The kernel's working folder; default the notebook's own folder (for an edited copy elsewhere: notebooks/). */
  cwd?: string;
  timeoutSeconds?: number;
  /** Default: the project's TypeScript kernel. */
  kernel?: string;
}

/** Executes a notebook (with the project's kernel by default); resolves with its outputs whatever the cells did. */
export function executeNotebook(notebookPath: string, options: ExecuteOptions): Promise<ExecutedNotebook> {
  const args = [BRIDGE_SCRIPT, "execute", notebookPath, "--output", options.output, "--kernel", options.kernel ?? KERNEL_NAME];
  if (options.cwd !== undefined) args.push("--cwd", options.cwd);
  if (options.timeoutSeconds !== undefined) args.push("--timeout", String(options.timeoutSeconds));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, args, { env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      if (!fs.existsSync(options.output) || !last.startsWith("{")) {
        reject(new Error(`Running ${notebookPath} failed (exit ${code}):\n${stderr}${stdout}`));
        return;
      }
      const { statuses } = JSON.parse(last) as { statuses: { index: number; status: CellStatus }[] };
      resolve({
        notebook: readNotebook(options.output),
        statuses: new Map(statuses.map((s) => [s.index, s.status])),
        seconds: (Date.now() - started) / 1000,
      });
    });
  });
}

export function readNotebook(file: string): Notebook {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
}

export function joined(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join("") : (text ?? "");
}

export function cellSource(cell: NotebookCell): string {
  return joined(cell.source);
}

/** All text a cell printed on one stream. */
export function streamText(cell: NotebookCell, stream: "stdout" | "stderr"): string {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "stream" && o.name === stream)
    .map((o) => joined(o.text))
    .join("");
}

/** The PNGs a cell displayed, decoded. */
export function cellPngs(cell: NotebookCell): Buffer[] {
  return (cell.outputs ?? [])
    .filter((o) => (o.output_type === "display_data" || o.output_type === "execute_result") && o.data?.["image/png"])
    .map((o) => Buffer.from(joined(o.data?.["image/png"]).replace(/\s/g, ""), "base64"));
}

/** A copy of `notebook` with code cells inserted before cell `index`. */
export function withCellsInserted(notebook: Notebook, index: number, sources: readonly string[]): Notebook {
  const inserted: NotebookCell[] = sources.map((source) => ({
    cell_type: "code",
    source,
    metadata: {},
    outputs: [],
    execution_count: null,
  }));
  return { ...notebook, cells: [...notebook.cells.slice(0, index), ...inserted, ...notebook.cells.slice(index)] };
}

/** Runs `tasks` with at most `limit` at a time, in order of start; resolves with their results in input order. */
export async function runLimited<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/**
 * What the stand-in decoder says for every task: a label and eight loc tokens. Each result kind makes something
 * of it: one labelled box from the first four (OD and the like), two boxes (REGION_PROPOSAL), a quadrilateral
 * (OCR_WITH_REGION), a four-point polygon (segmentation), the text itself (captions). The eight positions are a
 * simple (not self-crossing) quadrilateral whose first two points are the box's corners.
 */
export const STAND_IN_ANSWER = "car<loc_100><loc_150><loc_600><loc_450><loc_300><loc_600><loc_50><loc_400>";
/** The walkthrough's sample photo size, so the notebooks' example regions fit the generated image. */
export const FIXTURE_IMAGE_SIZE = { width: 1600, height: 1066 };
/** Mid grey: far from every drawing colour, so a screenshot's coloured pixels are the drawing's. */
export const FIXTURE_IMAGE_COLOR = [128, 128, 128] as const;
/** The stand-in for the market photo (sample2.jpg) in a photo cache: another grey, so the two can't be confused. */
export const FIXTURE_MARKET_COLOR = [100, 100, 140] as const;

export interface NotebookFixtures {
  modelFolder: string;
  imagePath: string;
  /** FLORENCE2_MODEL and FLORENCE2_IMAGE pointing at them. */
  env: NodeJS.ProcessEnv;
}

/**
 * A model cache folder holding the walkthrough's two photos as generated images of their size (so notebooks and
 * `npm start` find them cached and download nothing): FLORENCE2_CACHE=cacheDir.
 */
export async function writePhotoCache(dir: string): Promise<{ cacheDir: string; street: string; market: string }> {
  const { writeTestImage } = await import("./images");
  const cacheDir = path.join(dir, "photo-cache");
  const samples = path.join(cacheDir, "samples");
  fs.mkdirSync(samples, { recursive: true });
  const write = (name: string, color: readonly [number, number, number]) =>
    writeTestImage({ ...FIXTURE_IMAGE_SIZE, pattern: "solid", color, format: "jpeg", dir: samples, name });
  return { cacheDir, street: await write("sample.jpg", FIXTURE_IMAGE_COLOR), market: await write("sample2.jpg", FIXTURE_MARKET_COLOR) };
}

/**
 * A tiny scripted stand-in model (its decoder always answers STAND_IN_ANSWER) and a generated image of the
 * sample photo's size (plain grey), in `dir`.
 */
export async function writeNotebookFixtures(dir: string, env: NodeJS.ProcessEnv): Promise<NotebookFixtures> {
  const { writeStandInModel } = await import("./standin");
  const { Florence2Tokenizer } = await import("../../src/text/tokenizer");
  const { writeTestImage } = await import("./images");
  const modelFolder = path.join(dir, "stand-in-model");
  // The script is in token ids of the stand-in's own tokenizer, so the folder is written once to read it.
  await writeStandInModel(modelFolder);
  const script = Florence2Tokenizer.fromFolder(modelFolder).encode(STAND_IN_ANSWER);
  await writeStandInModel(modelFolder, { script });
  const imagePath = await writeTestImage({
    ...FIXTURE_IMAGE_SIZE,
    pattern: "solid",
    color: FIXTURE_IMAGE_COLOR,
    format: "png",
    dir,
    name: "image.png",
  });
  return { modelFolder, imagePath, env: { ...env, FLORENCE2_MODEL: modelFolder, FLORENCE2_IMAGE: imagePath } };
}

/**
 * The project as a fresh clone has it (no node_modules, models or outputs), in `to`, with the installed node_modules
 * linked in so that the Colab install script finds the packages there and `npm ci` is not rerun.
 */
export function copyProject(to: string): void {
  const skipped = new Set(["node_modules", ".git", ".cache", "models", "output", "bench-models", ".jupyter", "dist", ".colab"]);
  fs.cpSync(REPO_ROOT, to, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => !skipped.has(path.relative(REPO_ROOT, source).split(path.sep)[0]),
  });
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(to, "node_modules"));
}
