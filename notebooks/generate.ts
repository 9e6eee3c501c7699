/**
 * Writes the notebooks users open, from the task table (src/text/tasks.ts) and the walkthrough's steps
 * (src/walkthrough/steps.ts: each task's photo and example input, the generation settings), so that no task is
 * spelled out by hand in fifteen files:
 * - notebooks/NN-<task>.ipynb, one per walkthrough task, in the walkthrough's order;
 * - notebooks/all-tasks.ipynb, the 14 tasks on one image with the timing table;
 * - notebooks/colab/<same name>.ipynb, the Colab twin of each of them: a Python notebook whose first cell sets up
 *   the runtime (colabSetupCode) and whose other cells are the TypeScript notebook's, code cells verbatim behind
 *   `%%typescript` (colabTwin), so that the two can't drift;
 * - kernel-setup/colab_setup.ipynb, the general Colab notebook: the same set-up cell, a few `%%typescript` cells
 *   and `show_notebook`;
 * - the table of notebooks with their "Open in Colab" badges (or links to the twins where package.json names no
 *   repository) in notebooks/README.md and README.md, between COLAB_TABLE_START and COLAB_TABLE_END.
 *
 *   npx tsx notebooks/generate.ts           # (re)write them
 *   npx tsx notebooks/generate.ts --check   # exit 1 when a committed notebook differs from what would be written
 *
 * Notebooks are written without outputs. Cells import the library from `./src/index` and the walkthrough's pieces
 * from `./src/walkthrough/index`: `notebooks/src` is a link to `../src`, because tslab compiles only files under the
 * notebook's folder (its rootDir), and its require() does not resolve a folder to its index file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { KERNEL_DISPLAY_NAME, KERNEL_NAME } from "../kernel-setup/kernel";
import { CUDA_INSTALL_COMMAND, DEFAULT_MODEL, WALKTHROUGH_TASKS, type ResultKind, type TaskSpec } from "../src/index";
import { WALKTHROUGH_PHOTOS, WALKTHROUGH_SETTINGS, photoOf, settingsLine, walkthroughStep } from "../src/walkthrough/index";

const NOTEBOOKS_DIR = __dirname;
const REPO_ROOT = path.resolve(__dirname, "..");
const COLAB_NOTEBOOK = path.join(REPO_ROOT, "kernel-setup", "colab_setup.ipynb");
export const ALL_TASKS_NOTEBOOK = "all-tasks.ipynb";
/** Where the Colab twins live: a folder of their own, so Jupyter users see only the TypeScript notebooks beside src. */
export const COLAB_TWINS_DIR = path.join(NOTEBOOKS_DIR, "colab");
/** The first line of every twin's code cells but the set-up: the bridge's cell magic (kernel-setup/tslab_bridge.py). */
export const TYPESCRIPT_MAGIC = "%%typescript\n";
const NOTEBOOKS_README = path.join(NOTEBOOKS_DIR, "README.md");
const PROJECT_README = path.join(REPO_ROOT, "README.md");
export const COLAB_TABLE_START = "<!-- colab-table: written by notebooks/generate.ts -->";
export const COLAB_TABLE_END = "<!-- /colab-table -->";

const WALKTHROUGH_LINK = "[Florence-2 Colab walkthrough](https://github.com/Kazuhito00/Florence-2-Colaboratory-Sample)";
const GENERATION_PYTHON = settingsLine(WALKTHROUGH_SETTINGS).split(", ").map((s) => `\`${s}\``).join(", ");

/** What each result kind is, in a sentence that ends a task's explanation. */
const RESULT_KIND_TEXT: Record<ResultKind, string> = {
  pure_text: "plain text (loc tokens, if any, are kept as the reference keeps them), shown in a band under the image",
  ocr: "`{ quad_boxes: [[x1, y1, ..., x4, y4], ...], labels: [...] }`: one quadrilateral per line of text, in pixels, drawn with its text",
  description_with_bboxes:
    "`{ bboxes: [[x1, y1, x2, y2], ...], labels: [...] }` in pixels of the original image, drawn as labelled boxes",
  bboxes: "`{ bboxes: [[x1, y1, x2, y2], ...], labels: [] }` in pixels of the original image, drawn as boxes",
  phrase_grounding:
    "`{ bboxes: [[x1, y1, x2, y2], ...], labels: [...] }`: a box for each phrase of the caption it could ground, drawn as labelled boxes",
  polygons:
    "`{ polygons: [[[x1, y1, x2, y2, ...], ...], ...], labels: [...] }`: polygon outlines in pixels, drawn filled and outlined",
  description_with_bboxes_or_polygons:
    "`{ bboxes, bboxes_labels, polygons, polygons_labels }` in pixels: boxes, or polygons when the model answers with `<poly>`, drawn labelled",
};

// ---------------------------------------------------------------------------------------------------------------
// nbformat 4

interface Cell {
  cell_type: "markdown" | "code";
  id: string;
  metadata: Record<string, unknown>;
  source: string[];
  outputs?: never[];
  execution_count?: null;
}

interface NotebookSpec {
  file: string;
  cells: { kind: "markdown" | "code"; text: string }[];
  kernelspec: { name: string; display_name: string; language: string };
  languageInfo: Record<string, unknown>;
  /** Colab reads these to show the notebook's name and to open it with a Python runtime. */
  colab?: Record<string, unknown>;
}

const md = (text: string) => ({ kind: "markdown" as const, text });
const code = (text: string) => ({ kind: "code" as const, text });

/** Jupyter's own on-disk form: sources as lists of lines, one-space indent, a final newline. */
function renderNotebook(spec: NotebookSpec): string {
  const stem = path.basename(spec.file, ".ipynb");
  const cells: Cell[] = spec.cells.map((c, i) => {
    const cell: Cell = {
      cell_type: c.kind,
      id: `${stem}-${i}`.slice(-64),
      metadata: {},
      source: c.text.split(/(?<=\n)/),
    };
    if (c.kind === "code") {
      cell.execution_count = null;
      cell.outputs = [];
    }
    return cell;
  });
  const metadata: Record<string, unknown> = { kernelspec: spec.kernelspec, language_info: spec.languageInfo };
  if (spec.colab) metadata.colab = spec.colab;
  return JSON.stringify({ cells, metadata, nbformat: 4, nbformat_minor: 5 }, null, 1) + "\n";
}

const TYPESCRIPT_KERNEL = { name: KERNEL_NAME, display_name: KERNEL_DISPLAY_NAME, language: "typescript" };
const TYPESCRIPT_LANGUAGE = { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" };

// ---------------------------------------------------------------------------------------------------------------
// Task notebooks

/** `notebooks/04-od.ipynb` for the fourth walkthrough task. */
export function taskNotebookFile(task: TaskSpec): string {
  const index = WALKTHROUGH_TASKS.indexOf(task);
  if (index < 0) throw new Error(`${task.token} is not a walkthrough task, so it has no notebook.`);
  return `${String(index + 1).padStart(2, "0")}-${task.name.toLowerCase().replace(/_/g, "-")}.ipynb`;
}

function title(task: TaskSpec): string {
  return task.japaneseName ? `${task.name} (${task.japaneseName})` : task.name;
}

function photoText(task: TaskSpec): string {
  const photo = photoOf(task);
  return `\`${photo.file}\` (${photo.description})`;
}

function explanation(task: TaskSpec): string {
  const position = WALKTHROUGH_TASKS.indexOf(task) + 1;
  const prompt = task.prompt.replace("{input}", task.input === "text" ? "<your phrase>" : "<your region as loc tokens>");
  return (
    `${task.summary} Florence-2 is given the task token \`${task.token}\`, which the processor turns into the English ` +
    `prompt *"${prompt}"*. The model answers with text in which \`<loc_…>\` tokens are positions on a 1000 × 1000 ` +
    `grid over the image; the post-processor (the rules of Microsoft's \`processing_florence2.py\`) turns that ` +
    `answer into ${RESULT_KIND_TEXT[task.resultKind]}.\n\n` +
    `This is task ${position} of the ${WALKTHROUGH_TASKS.length} in the ${WALKTHROUGH_LINK}, in TypeScript, on the ` +
    `walkthrough's photo for it, ${photoText(task)}: load the model, show the image, run the task the way the ` +
    `walkthrough did (${GENERATION_PYTHON}) with a live progress line and timing like IPython's \`%%time\`, print ` +
    `the parsed result, and draw it.`
  );
}

const SETUP_TEXT =
  `## Set-up\n\n` +
  `Run this notebook with the **${KERNEL_DISPLAY_NAME}** kernel (register it once with \`npm run kernel:install\`; ` +
  `see [README.md](README.md) in this folder). Environment variables, read when set (e.g. \`FLORENCE2_IMAGE=~/photo.jpg jupyter lab\`):\n\n` +
  `- \`FLORENCE2_MODEL\`: a Hugging Face model id or a local model folder (default \`${DEFAULT_MODEL}\`);\n` +
  `- \`FLORENCE2_IMAGE\`: your own image, a file path or an http(s) URL (default: the walkthrough's photo for the ` +
  `task, downloaded once into \`models/samples/\`); any size works, region inputs are scaled to it;\n` +
  `- \`FLORENCE2_DEVICE\`: \`cpu\`, \`cuda\`, \`webgpu\` or \`auto\` (default \`auto\`: CUDA when there is an NVIDIA GPU ` +
  `and onnxruntime-node's CUDA provider, else WebGPU on a hardware GPU adapter, else the CPU).\n\n` +
  `\`./src\` is a link to the project's \`src/\` folder: tslab only compiles files under the notebook's folder. ` +
  `\`./src/index\` is the library; \`./src/walkthrough/index\` holds the walkthrough's photos, example inputs and ` +
  `settings.`;

/** The settings constant, from the one definition in src/walkthrough/steps.ts. */
const GENERATION_CODE =
  `// The walkthrough's call: model.generate(..., ${settingsLine(WALKTHROUGH_SETTINGS)})\n` +
  `const GENERATION = { ...WALKTHROUGH_SETTINGS };\n` +
  `console.log(\`Settings: \${settingsLine(GENERATION)}\`);`;

function importLines(library: readonly string[], walkthrough: readonly string[]): string {
  const sorted = (names: readonly string[]) => [...new Set(names)].sort((a, b) => a.localeCompare(b)).join(", ");
  return (
    `import { ${sorted(library)} } from "./src/index";\n` +
    `import { ${sorted(walkthrough)} } from "./src/walkthrough/index";\n`
  );
}

function setupCode(task: TaskSpec, library: readonly string[], walkthrough: readonly string[]): string {
  return (
    importLines(library, walkthrough) +
    `\nconst TASK = ${JSON.stringify(task.token)};\n` +
    `const MODEL = process.env.FLORENCE2_MODEL || ${JSON.stringify(DEFAULT_MODEL)};\n` +
    GENERATION_CODE
  );
}

const LOAD_TEXT =
  `## Load the model (timed)\n\n` +
  `The first load of a Hub model downloads its ONNX files (with progress) into the project's \`models/\` folder; ` +
  `later loads read them from there. \`time(...)\` prints IPython's \`%%time\` lines. The device is chosen at load ` +
  `(\`device\` option, else \`FLORENCE2_DEVICE\`, else \`"auto"\`) and printed with the reason for the choice.`;

const LOAD_CODE =
  `const { value: model } = await time(() => Florence2.load(MODEL));\n` +
  `// Stand-in models generated by this project's tests have random weights: every line printed about their output\n` +
  `// then says that it is not Florence-2's.\n` +
  `const NOTE = standInNote(model.folder);\n` +
  `console.log(\`\${NOTE}\${MODEL}: \${model.folder} (\${model.dtypes.decoder_model_merged})\`);\n` +
  `console.log(model.device.summary);`;

/** The names every task notebook imports, besides its own. */
const LIBRARY_IMPORTS = ["Florence2", "liveProgress", "loadImageRgb", "showImage", "showResult", "time"];
const WALKTHROUGH_IMPORTS = ["WALKTHROUGH_SETTINGS", "settingsLine", "standInNote", "walkthroughPhotoFile"];

function imageText(task: TaskSpec): string {
  return (
    `## The image\n\n` +
    `The walkthrough ran \`${task.token}\` on ${photoText(task)}. It is fetched once from the walkthrough's ` +
    `repository into \`models/samples/\`; \`FLORENCE2_IMAGE\` replaces it with your own.`
  );
}

const IMAGE_CODE =
  `const IMAGE = process.env.FLORENCE2_IMAGE || (await walkthroughPhotoFile(TASK));\n` +
  `const image = await loadImageRgb(IMAGE);\n` +
  `console.log(\`\${IMAGE} (\${image.width}x\${image.height})\`);\n` +
  `await showImage(image);`;

function inputCells(task: TaskSpec): NotebookSpec["cells"] {
  const input = walkthroughStep(task).input;
  if (task.input === "none") return [];
  if (task.input === "text") {
    if (typeof input !== "string") throw new Error(`src/walkthrough/steps.ts gives ${task.token} no phrase.`);
    return [
      md(
        `## The input: a phrase\n\n` +
          `\`${task.token}\` takes text: it is put into the prompt in place of \`{input}\` ` +
          `(*"${task.prompt}"*). Change \`PHRASE\` to ask about something else in your image.`,
      ),
      code(`const PHRASE = ${JSON.stringify(input)};`),
    ];
  }
  if (typeof input !== "object") throw new Error(`src/walkthrough/steps.ts gives ${task.token} no region.`);
  const photo = photoOf(task);
  return [
    md(
      `## The input: a region\n\n` +
        `\`${task.token}\` takes a region: a box in pixels of the image, \`(x1, y1)\` top-left to \`(x2, y2)\` ` +
        `bottom-right. The walkthrough's box is \`${JSON.stringify(input)}\` on its ${photo.width}x${photo.height} ` +
        `photo; \`walkthroughInput\` scales it to the image loaded above, whatever its size, and it is drawn on the ` +
        `image below. The library turns the box into the four \`<loc_…>\` tokens the model reads (a 1000 × 1000 grid ` +
        `over the image), printed too. For your own image, set \`REGION\` to the part you want to ask about, e.g. ` +
        `\`{ x1: 100, y1: 50, x2: 300, y2: 200 }\`.`,
    ),
    code(
      `const REGION: PixelBox = walkthroughInput(TASK, image) as PixelBox;\n` +
        `console.log(\`REGION = \${JSON.stringify(REGION)} on this \${image.width}x\${image.height} image: \${boxToLocTokens(REGION, image)}\`);\n` +
        `await showImage(image, { region: REGION });`,
    ),
  ];
}

const RUN_TEXT =
  `As in the walkthrough's \`%%time\` cell: the parsed result is printed, then the CPU and wall times. While the task ` +
  `runs, a line shows the tokens generated so far, tokens per second and the end of the text so far; the result ` +
  `replaces it. CPU time counts every thread of the process (onnxruntime computes on several), so it can exceed ` +
  `the wall time.`;

function runCode(task: TaskSpec): string {
  const input = task.input === "none" ? "undefined" : task.input === "text" ? "PHRASE" : "REGION";
  return (
    `const progress = liveProgress({ label: TASK, tokenizer: model.tokenizer });\n` +
    `const { value: output } = await time(async () => {\n` +
    `  const out = await model.run(image, TASK, ${input}, { ...GENERATION, onToken: progress.onToken });\n` +
    `  progress.done(\`\${NOTE}\${JSON.stringify(out.result)}\`);\n` +
    `  return out;\n` +
    `});`
  );
}

function drawCode(task: TaskSpec): string {
  const options = task.input === "region" ? ", { region: REGION }" : "";
  return `await showResult(image, TASK, output.result${options});`;
}

function taskNotebook(task: TaskSpec): NotebookSpec {
  const library = [...LIBRARY_IMPORTS];
  const walkthrough = [...WALKTHROUGH_IMPORTS];
  if (task.input === "region") {
    library.push("PixelBox", "boxToLocTokens");
    walkthrough.push("walkthroughInput");
  }
  return {
    file: path.join(NOTEBOOKS_DIR, taskNotebookFile(task)),
    kernelspec: TYPESCRIPT_KERNEL,
    languageInfo: TYPESCRIPT_LANGUAGE,
    cells: [
      md(`${badgeLine(taskNotebookFile(task))}# ${title(task)}\n\n${explanation(task)}`),
      md(SETUP_TEXT),
      code(setupCode(task, library, walkthrough)),
      md(LOAD_TEXT),
      code(LOAD_CODE),
      md(imageText(task)),
      code(IMAGE_CODE),
      ...inputCells(task),
      md(`## Run \`${task.token}\` (timed)\n\n${RUN_TEXT}`),
      code(runCode(task)),
      md(`## The drawing`),
      code(drawCode(task)),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The all-tasks notebook

function allTasksNotebook(): NotebookSpec {
  const library = [...LIBRARY_IMPORTS, "BatchRequest", "RgbImage", "RunOutput", "show", "showTable"];
  const walkthrough = [
    ...WALKTHROUGH_IMPORTS, "TaskRun", "WALKTHROUGH_STEPS", "addBatchedShares", "batchSummaryDisplay", "compareBatched", "drawWalkthroughChart",
    "isStandInFolder", "timingTableDisplay", "walkthroughInput",
  ];
  const { street, market } = WALKTHROUGH_PHOTOS;
  return {
    file: path.join(NOTEBOOKS_DIR, ALL_TASKS_NOTEBOOK),
    kernelspec: TYPESCRIPT_KERNEL,
    languageInfo: TYPESCRIPT_LANGUAGE,
    cells: [
      md(
        badgeLine(ALL_TASKS_NOTEBOOK) +
          `# All ${WALKTHROUGH_TASKS.length} walkthrough tasks (全タスク)\n\n` +
          `The ${WALKTHROUGH_LINK} runs ${WALKTHROUGH_TASKS.length} Florence-2 tasks and times each with \`%%time\`: ` +
          `the OCR tasks on \`${market.file}\` (${market.description}), the others on \`${street.file}\` ` +
          `(${street.description}). This notebook does the same in TypeScript (${GENERATION_PYTHON}), draws every ` +
          `result, then runs the same tasks once more as one batch (\`model.runBatch\`), and ends with a table and a ` +
          `chart of this machine's times beside the walkthrough's (Colab's T4 GPU, PyTorch). Each task is timed whole, ` +
          `vision encoder included, as in the walkthrough. Each task has its own notebook with more explanation ` +
          `(\`01-caption.ipynb\` ...).`,
      ),
      md(SETUP_TEXT),
      code(
        `import * as path from "path";\n` +
          importLines(library, walkthrough) +
          `\nconst MODEL = process.env.FLORENCE2_MODEL || ${JSON.stringify(DEFAULT_MODEL)};\n` +
          GENERATION_CODE,
      ),
      md(LOAD_TEXT),
      code(LOAD_CODE),
      md(
        `## The images\n\n` +
          `Each task's photo as the walkthrough had it, fetched once into \`models/samples/\`, or \`FLORENCE2_IMAGE\` ` +
          `for every task.`,
      ),
      code(
        `const imageSource = async (task: string) => process.env.FLORENCE2_IMAGE || (await walkthroughPhotoFile(task));\n` +
          `const images = new Map<string, RgbImage>();\n` +
          `for (const { task } of WALKTHROUGH_STEPS) {\n` +
          `  const source = await imageSource(task.token);\n` +
          `  if (images.has(source)) continue;\n` +
          `  const image = await loadImageRgb(source);\n` +
          `  images.set(source, image);\n` +
          `  console.log(\`\${source} (\${image.width}x\${image.height})\`);\n` +
          `  await showImage(image);\n` +
          `}`,
      ),
      md(
        `## Run every task\n\n` +
          `Each task prints its photo and input, a live progress line that its parsed result replaces, its \`%%time\` ` +
          `lines and its drawing. Region inputs are scaled to the image. A task that fails prints its error and the ` +
          `others still run. Each task's request and output are kept for the batched run below.`,
      ),
      code(
        `const runs: TaskRun[] = [];\n` +
          `const requests: BatchRequest[] = [];\n` +
          `const outputs: RunOutput[] = [];\n` +
          `for (const { task } of WALKTHROUGH_STEPS) {\n` +
          `  const source = await imageSource(task.token);\n` +
          `  const image = images.get(source);\n` +
          `  const input = walkthroughInput(task, image);\n` +
          `  const photo = path.basename(source);\n` +
          `  console.log(\`\\n── \${task.token} \${task.japaneseName ?? ""} on \${photo}\${input === undefined ? "" : \` input: \${JSON.stringify(input)}\`}\`);\n` +
          `  const progress = liveProgress({ label: task.token, tokenizer: model.tokenizer });\n` +
          `  try {\n` +
          `    const { value: out, times } = await time(async () => {\n` +
          `      const result = await model.run(image, task.token, input, { ...GENERATION, onToken: progress.onToken });\n` +
          `      progress.done(\`\${NOTE}\${JSON.stringify(result.result)}\`);\n` +
          `      return result;\n` +
          `    });\n` +
          `    await showResult(image, task.token, out.result, typeof input === "object" ? { region: input } : {});\n` +
          `    runs.push({ task, times, photo });\n` +
          `    requests.push({ image, task: task.token, input });\n` +
          `    outputs.push(out);\n` +
          `  } catch (error) {\n` +
          `    progress.done();\n` +
          `    console.error(\`\${task.token} failed: \${error instanceof Error ? error.message : error}\`);\n` +
          `  }\n` +
          `}`,
      ),
      md(
        `## The same tasks as one batch\n\n` +
          `\`model.runBatch(requests, options)\` runs many requests together: each distinct photo is read and encoded ` +
          `once, the prompts go through the text encoder together, and the decoder runs the beams of every task still ` +
          `generating in one step, so it reads its weights once per step for all of them (requests beyond ` +
          `\`model.maxBatchRows\` rows wait for a second wave). A task that finishes leaves the batch.\n\n` +
          `The image-feature cache is cleared first, so that the batch encodes each photo itself, once, as the runs ` +
          `above did between them. One \`%%time\` covers the whole batch: no task of a batch ends on its own, so the ` +
          `batched column of the table below gives each task's **share** of the batch's time (its share of its ` +
          `photo's vision run, of the text encoder and of each decoder step it took part in), and the shares add up ` +
          `to the batch's time. The batch should give each task exactly what its own run gave (beam scores to float ` +
          `rounding): the cell compares every output (ids, text, parsed result, beam score) and prints whether they match.`,
      ),
      code(
        `model.clearImageCache(); // the batch encodes each photo itself, once\n` +
          `const batchProgress = liveProgress({ label: \`runBatch of \${requests.length} requests\` });\n` +
          `const { value: batched } = await time(async () => {\n` +
          `  const outs = await model.runBatch(requests, { ...GENERATION, onToken: batchProgress.onBatchToken });\n` +
          `  batchProgress.done();\n` +
          `  return outs;\n` +
          `});\n` +
          `addBatchedShares(runs, batched); // each task's share, for the table and chart\n` +
          `showTable(batchSummaryDisplay(runs, outputs, batched)); // an HTML table, with the text beside it\n` +
          `console.log(\`\${NOTE}\${compareBatched(outputs, batched).summary}\`);`,
      ),
      md(
        `## Timing table and chart\n\n` +
          `This run's wall and CPU times beside the walkthrough's T4 figures, each task's photo, the device and the ` +
          `model named, with each task's share of the batched run; then the wall times as bars: this run, the seed's, ` +
          `and the batched shares.`,
      ),
      code(
        `const context = {\n` +
          `  model: MODEL,\n` +
          `  dtype: model.dtypes.decoder_model_merged,\n` +
          `  settings: GENERATION,\n` +
          `  device: model.device,\n` +
          `  standin: isStandInFolder(model.folder),\n` +
          `};\n` +
          `showTable(timingTableDisplay(runs, context)); // an HTML table, with the text beside it\n` +
          `show(await drawWalkthroughChart(runs, context));`,
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Colab

/**
 * The project's repository on GitHub ("owner/name") from package.json's `repository` (the one place it is named),
 * or undefined when none is set or it is not on GitHub: Colab opens notebooks from GitHub only, so badges are
 * built only then, and notebooks/README.md says how to open a twin from a fork.
 */
export function githubRepository(repository: unknown = readPackageRepository()): string | undefined {
  const url = typeof repository === "string" ? repository : (repository as { url?: unknown } | undefined)?.url;
  if (typeof url !== "string" || url.trim() === "") return undefined;
  const match =
    /^(?:github:)?([\w.-]+)\/([\w.-]+?)(?:\.git)?$/.exec(url.trim()) ??
    /^(?:git\+)?(?:https?|ssh|git):\/\/(?:git@)?github\.com[/:]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(url.trim()) ??
    /^git@github\.com:([\w.-]+)\/([\w.-]+?)(?:\.git)?$/.exec(url.trim());
  return match ? `${match[1]}/${match[2]}` : undefined;
}

function readPackageRepository(): unknown {
  return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { repository?: unknown }).repository;
}

/** The git URL the set-up cell clones: package.json's `repository` as git understands it, or "" when none is set. */
function cloneUrl(): string {
  const github = githubRepository();
  if (github) return `https://github.com/${github}.git`;
  const repository = readPackageRepository();
  const url = typeof repository === "string" ? repository : (repository as { url?: unknown } | undefined)?.url;
  return typeof url === "string" ? url.replace(/^git\+/, "") : "";
}

/** The branch the badges open: Colab's GitHub URLs name one, and the project publishes from main. */
export const COLAB_BRANCH = "main";

/** Colab's address for a notebook of the repository (path relative to the project root, with `/`). */
export function colabUrl(repository: string, file: string): string {
  return `https://colab.research.google.com/github/${repository}/blob/${COLAB_BRANCH}/${file}`;
}

const COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg";

/** The "Open in Colab" badge of a twin, in Markdown. */
export function colabBadge(repository: string, twinFile: string): string {
  return `[![Open In Colab](${COLAB_BADGE_IMAGE})](${colabUrl(repository, twinFile)})`;
}

/** A twin's path from the project root: notebooks/colab/04-od.ipynb. */
export function twinPath(notebookFile: string): string {
  return `notebooks/colab/${path.basename(notebookFile)}`;
}

/**
 * The first cell of every Colab twin and of colab_setup.ipynb: get the project (clone, or update a clone), then
 * kernel-setup/colab_runtime.py's set_up (the install script once per runtime, the kernels' environment, the
 * `%%typescript` magic, the device line).
 */
export function colabSetupCode(notebook: string): string {
  return (
    `# Colab set-up (Python). ${notebook}\n` +
    `# This cell clones florence2-ts (or updates the clone), installs it once per runtime with\n` +
    `# kernel-setup/colab-install.sh (Node.js, npm ci, and on a GPU runtime the CUDA provider and its libraries),\n` +
    `# loads the %%typescript cell magic and prints the device the TypeScript cells will use. Run again in the same\n` +
    `# runtime it only checks (seconds).\n` +
    `import os, subprocess, sys\n\n` +
    `PROJECT_GIT_URL = ${JSON.stringify(cloneUrl())}  # @param {type:"string"}\n` +
    `PROJECT_DIR = os.environ.get("FLORENCE2_PROJECT_DIR", "/content/florence2-ts")\n\n` +
    `if not os.path.exists(os.path.join(PROJECT_DIR, "package.json")):\n` +
    `    if not PROJECT_GIT_URL:\n` +
    `        raise SystemExit("Set PROJECT_GIT_URL above to the git URL of florence2-ts (the repository this notebook is from), then run this cell again.")\n` +
    `    subprocess.run(["git", "clone", "--depth=1", "-q", PROJECT_GIT_URL, PROJECT_DIR], check=True)\n` +
    `    print(f"Project: cloned {PROJECT_GIT_URL} into {PROJECT_DIR}")\n` +
    `elif os.path.isdir(os.path.join(PROJECT_DIR, ".git")):\n` +
    `    pulled = subprocess.run(["git", "-C", PROJECT_DIR, "pull", "--ff-only", "-q"], capture_output=True, text=True)\n` +
    `    print(f"Project: {PROJECT_DIR}, " + ("updated (git pull)" if pulled.returncode == 0 else f"not updated: {pulled.stderr.strip()}"))\n` +
    `else:\n` +
    `    print(f"Project: {PROJECT_DIR}, used as it is (not a git clone)")\n` +
    `if os.path.join(PROJECT_DIR, "kernel-setup") not in sys.path:\n` +
    `    sys.path.insert(0, os.path.join(PROJECT_DIR, "kernel-setup"))\n` +
    `import colab_runtime\n` +
    `colab_runtime.set_up(get_ipython())`
  );
}

/**
 * The Colab twin of a TypeScript notebook: a Python notebook (Colab runs no other kind) whose first cell is the
 * set-up and whose other cells are the TypeScript notebook's, markdown unchanged and code verbatim behind
 * `%%typescript`. Nothing Colab-only goes into a TypeScript cell: test/colab-twins.test.ts compares them.
 */
export function colabTwin(spec: NotebookSpec): NotebookSpec {
  const name = path.basename(spec.file);
  return {
    file: path.join(COLAB_TWINS_DIR, name),
    kernelspec: PYTHON_KERNEL,
    languageInfo: { name: "python" },
    colab: { name, provenance: [] },
    cells: [
      code(colabSetupCode(`The cells below are notebooks/${name}, run by %%typescript in a TypeScript (tslab) kernel.`)),
      ...spec.cells.map((c) => (c.kind === "code" ? code(TYPESCRIPT_MAGIC + c.text) : c)),
    ],
  };
}

const PYTHON_KERNEL = { name: "python3", display_name: "Python 3", language: "python" };

/** The badge line at the top of a TypeScript notebook, when the repository is known. */
function badgeLine(notebookFile: string): string {
  const repository = githubRepository();
  return repository ? `${colabBadge(repository, twinPath(notebookFile))}\n\n` : "";
}

/**
 * The table of notebooks (one row per task, all-tasks last) with each one's Colab twin: its badge when the
 * repository is known, else a link to the twin's file. `folder` is where the links start from: "" in
 * notebooks/README.md, "notebooks/" in the project's README.md.
 */
export function colabTable(repository: string | undefined = githubRepository(), folder = ""): string {
  const rows = [...WALKTHROUGH_TASKS.map((t) => ({ file: taskNotebookFile(t), what: `\`${t.token}\`${t.japaneseName ? ` (${t.japaneseName})` : ""}` })),
    { file: ALL_TASKS_NOTEBOOK, what: `all ${WALKTHROUGH_TASKS.length} tasks, the batched run, the timing table and chart` }];
  const header = `| notebook | task | ${repository ? "Colab" : "Colab twin"} |\n|---|---|---|`;
  const lines = rows.map(({ file, what }) => {
    const twin = repository ? colabBadge(repository, twinPath(file)) : `[colab/${file}](${folder}colab/${file})`;
    return `| [${file}](${folder}${file}) | ${what} | ${twin} |`;
  });
  return `${COLAB_TABLE_START}\n${header}\n${lines.join("\n")}\n${COLAB_TABLE_END}`;
}

/** A README with its table rewritten; throws when the markers are missing. */
function readmeWithTable(file: string, folder: string): string {
  const readme = fs.readFileSync(file, "utf8");
  const start = readme.indexOf(COLAB_TABLE_START);
  const end = readme.indexOf(COLAB_TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(`${path.relative(REPO_ROOT, file)} must hold the lines ${COLAB_TABLE_START} and ${COLAB_TABLE_END}, in that order, around the table of notebooks.`);
  }
  return readme.slice(0, start) + colabTable(githubRepository(), folder) + readme.slice(end + COLAB_TABLE_END.length);
}

function colabNotebook(): NotebookSpec {
  const firstTask = WALKTHROUGH_TASKS.find((t) => t.input === "none") ?? WALKTHROUGH_TASKS[0];
  const odTask = WALKTHROUGH_TASKS.find((t) => t.resultKind === "description_with_bboxes") ?? firstTask;
  return {
    file: COLAB_NOTEBOOK,
    kernelspec: PYTHON_KERNEL,
    languageInfo: { name: "python" },
    colab: { name: "colab_setup.ipynb", provenance: [] },
    cells: [
      md(
        `# Florence-2 in TypeScript on Google Colab\n\n` +
          `Colab runs Python notebooks only: it has no TypeScript kernel, and it can't be given one for a notebook it ` +
          `opens. Every notebook of this project has a **Colab twin** (\`notebooks/colab/\`, opened from the badges ` +
          `in \`notebooks/README.md\`) that you step through as in Jupyter. This notebook is a scratch pad beside ` +
          `them: its first cell is the twins' set-up cell (Node.js 20, this project and its TypeScript (tslab) ` +
          `kernel in this Colab runtime, once), and then:\n\n` +
          `- cells that begin with \`%%typescript\` run as TypeScript in that kernel, with their text and images shown ` +
          `here, one kernel for all of them (declarations carry from cell to cell, as in a TypeScript notebook);\n` +
          `- \`show_notebook("${taskNotebookFile(firstTask).replace(/\.ipynb$/, "")}")\` runs one of the project's task ` +
          `notebooks in the runtime and shows it here, outputs included.\n\n` +
          `**GPU.** The walkthrough's times come from Colab's T4 GPU. Choose *Runtime → Change runtime type → T4 GPU* ` +
          `before running the set-up: it then installs onnxruntime-node's CUDA provider (\`${CUDA_INSTALL_COMMAND}\`), ` +
          `the NVIDIA libraries it needs, and says which device the TypeScript cells will use and why (CUDA; else ` +
          `WebGPU through NVIDIA's Vulkan driver; else the CPU). On a CPU runtime tasks take seconds to minutes ` +
          `(Florence-2-base-ft is the practical choice there).\n\n` +
          `**Limits.** Editor help ` +
          `inside \`%%typescript\` cells is Python's, not TypeScript's. The set-up takes a few minutes and is lost with ` +
          `the runtime (run it again after *Disconnect and delete runtime*). Downloads (Node.js, npm packages, the ` +
          `model) need the runtime's internet access. A TypeScript error is printed in the cell's output; the next ` +
          `cells still run.`,
      ),
      code(colabSetupCode("The cells below run TypeScript by %%typescript, or whole task notebooks by show_notebook.")),
      md(
        `## TypeScript cells\n\n` +
          `The same steps as the task notebooks: set-up, model, image, a timed task, its drawing. ` +
          `\`FLORENCE2_MODEL\`, \`FLORENCE2_IMAGE\` and \`FLORENCE2_DEVICE\` work as on a desktop: set them in ` +
          `\`os.environ\` before the first \`%%typescript\` cell to use another model, image or device.`,
      ),
      code(`%%typescript\n${setupCode(odTask, LIBRARY_IMPORTS, WALKTHROUGH_IMPORTS)}`),
      code(`%%typescript\n${LOAD_CODE}`),
      code(`%%typescript\n${IMAGE_CODE}`),
      code(`%%typescript\n${runCode(odTask)}\n${drawCode(odTask)}`),
      md(
        `## Or run a whole task notebook\n\n` +
          `Give its name (${WALKTHROUGH_TASKS.map((t) => `\`${taskNotebookFile(t).replace(/\.ipynb$/, "")}\``).join(", ")}, ` +
          `\`${ALL_TASKS_NOTEBOOK.replace(/\.ipynb$/, "")}\`). It runs in its own kernel, top to bottom, and is shown ` +
          `here with its outputs. To step through one instead, open its Colab twin.`,
      ),
      code(`from tslab_bridge import show_notebook\nshow_notebook(${JSON.stringify(taskNotebookFile(firstTask).replace(/\.ipynb$/, ""))})`),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** The TypeScript notebooks, in the walkthrough's order, all-tasks last. */
export function typescriptNotebooks(): NotebookSpec[] {
  return [...WALKTHROUGH_TASKS.map(taskNotebook), allTasksNotebook()];
}

export function allNotebooks(): NotebookSpec[] {
  const typescript = typescriptNotebooks();
  return [...typescript, ...typescript.map(colabTwin), colabNotebook()];
}

/** Every generated file and its content: the notebooks and notebooks/README.md with its table. */
function generatedFiles(): { file: string; content: string }[] {
  const files = allNotebooks().map((spec) => ({ file: spec.file, content: renderNotebook(spec) }));
  files.push({ file: NOTEBOOKS_README, content: readmeWithTable(NOTEBOOKS_README, "") });
  files.push({ file: PROJECT_README, content: readmeWithTable(PROJECT_README, "notebooks/") });
  return files;
}

/** Files that differ from what would be written (missing ones included). */
export function staleNotebooks(): string[] {
  return generatedFiles()
    .filter(({ file, content }) => !fs.existsSync(file) || fs.readFileSync(file, "utf8") !== content)
    .map(({ file }) => path.relative(REPO_ROOT, file));
}

function main(argv: string[]): number {
  if (argv.includes("--check")) {
    const stale = staleNotebooks();
    if (stale.length > 0) {
      console.error(`Out of date (run: npx tsx notebooks/generate.ts): ${stale.join(", ")}`);
      return 1;
    }
    console.log("Notebooks are up to date.");
    return 0;
  }
  fs.mkdirSync(COLAB_TWINS_DIR, { recursive: true });
  for (const { file, content } of generatedFiles()) {
    fs.writeFileSync(file, content);
    console.log(`wrote ${path.relative(REPO_ROOT, file)}`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
