/**
 * Writes the notebooks users open, from the task table (src/tasks.ts) and the walkthrough's example inputs
 * (src/walkthrough.ts), so that no task is spelled out by hand in fifteen files:
 * - notebooks/NN-<task>.ipynb, one per walkthrough task, in the walkthrough's order;
 * - notebooks/all-tasks.ipynb, the 14 tasks on one image with the timing table;
 * - kernel-setup/colab_setup.ipynb, the Python notebook that brings the TypeScript kernel to Google Colab.
 *
 *   npx tsx notebooks/generate.ts           # (re)write them
 *   npx tsx notebooks/generate.ts --check   # exit 1 when a committed notebook differs from what would be written
 *
 * Notebooks are written without outputs. Cells import the library from `./src/index`: `notebooks/src` is a
 * link to `../src`, because tslab compiles only files under the notebook's folder (its rootDir), and its
 * require() does not resolve a folder to its index file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { KERNEL_DISPLAY_NAME, KERNEL_NAME } from "../kernel-setup/kernel";
import { DEFAULT_MODEL } from "../src/hub";
import type { PixelBox } from "../src/prompts";
import { ResultKind, TaskSpec, WALKTHROUGH_TASKS } from "../src/tasks";
import { SAMPLE_IMAGE_SIZE, SAMPLE_IMAGE_URL, WALKTHROUGH_INPUTS } from "../src/walkthrough";

const NOTEBOOKS_DIR = __dirname;
const REPO_ROOT = path.resolve(__dirname, "..");
const COLAB_NOTEBOOK = path.join(REPO_ROOT, "kernel-setup", "colab_setup.ipynb");
export const ALL_TASKS_NOTEBOOK = "all-tasks.ipynb";

const WALKTHROUGH_LINK = "[Florence-2 Colab walkthrough](https://github.com/Kazuhito00/Florence-2-Colaboratory-Sample)";
/** The walkthrough's `model.generate(num_beams=3, max_new_tokens=1024, early_stopping=False)`, as RunOptions. */
export const WALKTHROUGH_GENERATION = { numBeams: 3, maxNewTokens: 1024, earlyStopping: false } as const;
const GENERATION_LITERAL = `{ ${Object.entries(WALKTHROUGH_GENERATION).map(([k, v]) => `${k}: ${v}`).join(", ")} }`;
const GENERATION_PYTHON = "`num_beams=3`, `max_new_tokens=1024`, `early_stopping=False`";

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

function explanation(task: TaskSpec): string {
  const position = WALKTHROUGH_TASKS.indexOf(task) + 1;
  const prompt = task.prompt.replace("{input}", task.input === "text" ? "<your phrase>" : "<your region as loc tokens>");
  return (
    `${task.summary} Florence-2 is given the task token \`${task.token}\`, which the processor turns into the English ` +
    `prompt *"${prompt}"*. The model answers with text in which \`<loc_…>\` tokens are positions on a 1000 × 1000 ` +
    `grid over the image; the post-processor (the rules of Microsoft's \`processing_florence2.py\`) turns that ` +
    `answer into ${RESULT_KIND_TEXT[task.resultKind]}.\n\n` +
    `This is task ${position} of the ${WALKTHROUGH_TASKS.length} in the ${WALKTHROUGH_LINK}, in TypeScript: load the ` +
    `model, show the image, run the task the way the walkthrough did (${GENERATION_PYTHON}) with timing like ` +
    `IPython's \`%%time\`, print the parsed result, and draw it.`
  );
}

const SETUP_TEXT =
  `## Set-up\n\n` +
  `Run this notebook with the **${KERNEL_DISPLAY_NAME}** kernel (register it once with \`npm run kernel:install\`; ` +
  `see the README). The model is read from \`FLORENCE2_MODEL\` (a Hugging Face model id or a local model folder) and ` +
  `the image from \`FLORENCE2_IMAGE\` (a file path or an http(s) URL) when they are set, e.g. ` +
  `\`FLORENCE2_IMAGE=~/photo.jpg jupyter lab\`; otherwise \`${DEFAULT_MODEL}\` and the walkthrough's sample photo.\n\n` +
  `\`./src\` is a link to the project's \`src/\` folder: tslab only compiles files under the notebook's folder.`;

function setupCode(names: string[], constants: string[]): string {
  return (
    `import { ${[...new Set(names)].sort((a, b) => a.localeCompare(b)).join(", ")} } from "./src/index";\n\n` +
    `const MODEL = process.env.FLORENCE2_MODEL || ${JSON.stringify(DEFAULT_MODEL)};\n` +
    `const IMAGE = process.env.FLORENCE2_IMAGE || ${JSON.stringify(SAMPLE_IMAGE_URL)};\n` +
    `// The walkthrough's call: model.generate(..., num_beams=3, max_new_tokens=1024, early_stopping=False)\n` +
    `const GENERATION = ${GENERATION_LITERAL};\n` +
    constants.join("")
  ).trimEnd();
}

const LOAD_TEXT =
  `## Load the model (timed)\n\n` +
  `The first load of a Hub model downloads its ONNX files (with progress) into the project's \`models/\` folder; ` +
  `later loads read them from there. \`time(...)\` prints IPython's \`%%time\` lines.`;

const LOAD_CODE =
  `const { value: model } = await time(() => Florence2.load(MODEL));\n` +
  `// Test models generated by this project have random weights (model.standIn): then every line printed about\n` +
  `// their output says that it is not Florence-2's.\n` +
  `const NOTE = model.standIn ? \`\${STANDIN_NOTE} \` : "";\n` +
  `console.log(\`\${NOTE}\${MODEL}: \${model.folder} (\${model.dtypes.decoder_model_merged})\`);`;

/** The names every notebook imports, besides its own. */
const COMMON_IMPORTS = ["Florence2", "STANDIN_NOTE", "loadImageRgb", "showImage", "showResult", "time"];

const IMAGE_TEXT = `## The image`;

const IMAGE_CODE =
  `const image = await loadImageRgb(IMAGE);\n` +
  `console.log(\`\${IMAGE} (\${image.width}x\${image.height})\`);\n` +
  `await showImage(image);`;

function boxLiteral(box: PixelBox): string {
  return `{ x1: ${box.x1}, y1: ${box.y1}, x2: ${box.x2}, y2: ${box.y2} }`;
}

function exampleInput(task: TaskSpec): string | PixelBox {
  const input = WALKTHROUGH_INPUTS[task.token];
  if (input === undefined) throw new Error(`src/walkthrough.ts WALKTHROUGH_INPUTS has no example input for ${task.token}.`);
  const expected = task.input === "text" ? "string" : "object";
  if (typeof input !== expected) throw new Error(`WALKTHROUGH_INPUTS[${task.token}] should be a ${task.input} input.`);
  return input;
}

function inputCells(task: TaskSpec): NotebookSpec["cells"] {
  if (task.input === "none") return [];
  const input = exampleInput(task);
  if (typeof input === "string") {
    return [
      md(
        `## The input: a phrase\n\n` +
          `\`${task.token}\` takes text: it is put into the prompt in place of \`{input}\` ` +
          `(*"${task.prompt}"*). Change \`PHRASE\` to ask about something else in your image.`,
      ),
      code(`const PHRASE = ${JSON.stringify(input)};`),
    ];
  }
  return [
    md(
      `## The input: a region\n\n` +
        `\`${task.token}\` takes a region: a box in pixels of the original image, \`(x1, y1)\` top-left to \`(x2, y2)\` ` +
        `bottom-right. The library turns it into the four \`<loc_…>\` tokens the model reads (a 1000 × 1000 grid over the ` +
        `image), printed below; a string of four loc tokens is accepted too. This box is on the walkthrough's ` +
        `${SAMPLE_IMAGE_SIZE.width}x${SAMPLE_IMAGE_SIZE.height} sample photo: for your own image, change \`REGION\` ` +
        `to the part you want to ask about.`,
    ),
    code(
      `const REGION: PixelBox = ${boxLiteral(input)};\n` +
        `console.log(boxToLocTokens(REGION, image));`,
    ),
  ];
}

function runCode(task: TaskSpec): string {
  const input = task.input === "none" ? "" : task.input === "text" ? ", PHRASE" : ", REGION";
  return (
    `const TASK = ${JSON.stringify(task.token)};\n` +
    `const { value: output } = await time(async () => {\n` +
    `  const out = await model.run(image, TASK${input || ", undefined"}, GENERATION);\n` +
    `  console.log(\`\${NOTE}\${JSON.stringify(out.result)}\`);\n` +
    `  return out;\n` +
    `});`
  );
}

function drawCode(task: TaskSpec): string {
  const options = task.input === "region" ? ", { region: REGION }" : "";
  return `await showResult(image, TASK, output.result${options});`;
}

function taskNotebook(task: TaskSpec): NotebookSpec {
  const names = [...COMMON_IMPORTS];
  if (task.input === "region") names.push("PixelBox", "boxToLocTokens");
  return {
    file: path.join(NOTEBOOKS_DIR, taskNotebookFile(task)),
    kernelspec: TYPESCRIPT_KERNEL,
    languageInfo: TYPESCRIPT_LANGUAGE,
    cells: [
      md(`# ${title(task)}\n\n${explanation(task)}`),
      md(SETUP_TEXT),
      code(setupCode(names, [])),
      md(LOAD_TEXT),
      code(LOAD_CODE),
      md(IMAGE_TEXT),
      code(IMAGE_CODE),
      ...inputCells(task),
      md(
        `## Run \`${task.token}\` (timed)\n\n` +
          `As in the walkthrough's \`%%time\` cell: the parsed result is printed, then the CPU and wall times. CPU time ` +
          `counts every thread of the process (onnxruntime computes on several), so it can exceed the wall time.`,
      ),
      code(runCode(task)),
      md(`## The drawing`),
      code(drawCode(task)),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The all-tasks notebook

function inputsLiteral(): string {
  const lines = WALKTHROUGH_TASKS.filter((t) => t.input !== "none").map((t) => {
    const input = exampleInput(t);
    return `  ${JSON.stringify(t.token)}: ${typeof input === "string" ? JSON.stringify(input) : boxLiteral(input)},`;
  });
  return `const INPUTS: Record<string, string | PixelBox> = {\n${lines.join("\n")}\n};\n`;
}

function allTasksNotebook(): NotebookSpec {
  const names = [...COMMON_IMPORTS, "PixelBox", "TaskRun", "WALKTHROUGH_TASKS", "timingTable"];
  return {
    file: path.join(NOTEBOOKS_DIR, ALL_TASKS_NOTEBOOK),
    kernelspec: TYPESCRIPT_KERNEL,
    languageInfo: TYPESCRIPT_LANGUAGE,
    cells: [
      md(
        `# All ${WALKTHROUGH_TASKS.length} walkthrough tasks on one image (全タスク)\n\n` +
          `The ${WALKTHROUGH_LINK} runs ${WALKTHROUGH_TASKS.length} Florence-2 tasks on one photo and times each with ` +
          `\`%%time\`. This notebook does the same in TypeScript (${GENERATION_PYTHON}), draws every result, and ends ` +
          `with a table of this machine's wall and CPU times beside the walkthrough's (Colab's T4 GPU, PyTorch). ` +
          `The image is encoded once: the model keeps the vision encoder's features of the last image, so every task ` +
          `after the first reuses them and only runs the language model. Each task has its own notebook with more ` +
          `explanation (\`01-caption.ipynb\` ...).`,
      ),
      md(SETUP_TEXT + `\n\nThe example inputs are the walkthrough's; the regions are boxes in pixels of its sample photo.`),
      code(setupCode(names, [inputsLiteral()])),
      md(LOAD_TEXT),
      code(LOAD_CODE),
      md(IMAGE_TEXT),
      code(IMAGE_CODE),
      md(
        `## Run every task\n\n` +
          `Each task prints its parsed result and \`%%time\` lines, then its drawing. A task that fails prints its error ` +
          `and the others still run.`,
      ),
      code(
        `const runs: TaskRun[] = [];\n` +
          `for (const task of WALKTHROUGH_TASKS) {\n` +
          `  const input = INPUTS[task.token];\n` +
          `  console.log(\`\\n── \${task.token} \${task.japaneseName ?? ""}\${input === undefined ? "" : \` input: \${JSON.stringify(input)}\`}\`);\n` +
          `  try {\n` +
          `    const { value: out, times } = await time(async () => {\n` +
          `      const result = await model.run(image, task.token, input, GENERATION);\n` +
          `      console.log(\`\${NOTE}\${JSON.stringify(result.result)}\`);\n` +
          `      return result;\n` +
          `    });\n` +
          `    await showResult(image, task.token, out.result, typeof input === "object" ? { region: input } : {});\n` +
          `    runs.push({ task, times });\n` +
          `  } catch (error) {\n` +
          `    console.error(\`\${task.token} failed: \${error instanceof Error ? error.message : error}\`);\n` +
          `  }\n` +
          `}`,
      ),
      md(`## Timing table\n\nThis machine's times beside the walkthrough's T4 figures, with the device and model named.`),
      code(
        `const dtype = model.dtypes.decoder_model_merged;\n` +
          `console.log(timingTable(runs, { model: MODEL, dtype, numBeams: GENERATION.numBeams, standin: model.standIn }));`,
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Colab

/** The project's git URL from package.json's `repository`, if it names one. */
function repositoryUrl(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
    repository?: string | { url?: string };
  };
  const repo = typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
  if (!repo) return "";
  const github = /^(?:github:)?([\w.-]+\/[\w.-]+)$/.exec(repo);
  return (github ? `https://github.com/${github[1]}` : repo).replace(/^git\+/, "");
}

function colabNotebook(): NotebookSpec {
  const firstTask = WALKTHROUGH_TASKS.find((t) => t.input === "none") ?? WALKTHROUGH_TASKS[0];
  const odTask = WALKTHROUGH_TASKS.find((t) => t.resultKind === "description_with_bboxes") ?? firstTask;
  return {
    file: COLAB_NOTEBOOK,
    kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
    languageInfo: { name: "python" },
    colab: { name: "colab_setup.ipynb", provenance: [] },
    cells: [
      md(
        `# Florence-2 in TypeScript on Google Colab\n\n` +
          `Colab runs Python notebooks only: it has no TypeScript kernel, and it can't be given one for a notebook it ` +
          `opens. This Python notebook is the way in. It installs Node.js 20, this project and its TypeScript (tslab) ` +
          `kernel into this Colab runtime, starts that kernel next to Python, and then:\n\n` +
          `- cells that begin with \`%%typescript\` run as TypeScript in that kernel, with their text and images shown ` +
          `here, one kernel for all of them (declarations carry from cell to cell, as in a TypeScript notebook);\n` +
          `- \`show_notebook("${taskNotebookFile(firstTask).replace(/\.ipynb$/, "")}")\` runs one of the project's task ` +
          `notebooks in the runtime and shows it here, outputs included.\n\n` +
          `**Limits.** Everything runs on Colab's CPU: onnxruntime-node has no GPU here, so tasks take seconds to ` +
          `minutes rather than the walkthrough's T4 times (Florence-2-base-ft is the practical choice). Editor help ` +
          `inside \`%%typescript\` cells is Python's, not TypeScript's. The set-up takes a few minutes and is lost with ` +
          `the runtime (run it again after *Disconnect and delete runtime*). Downloads (Node.js, npm packages, the ` +
          `model) need the runtime's internet access. A TypeScript error is printed in the cell's output; the next ` +
          `cells still run.`,
      ),
      md(
        `## 1. Get the project\n\n` +
          `\`PROJECT_GIT_URL\` is the repository this notebook came from. The project is cloned into \`PROJECT_DIR\` ` +
          `(or used as it is when that folder already holds it).`,
      ),
      code(
        `import os, subprocess, sys\n\n` +
          `PROJECT_GIT_URL = ${JSON.stringify(repositoryUrl())}  # @param {type:"string"}\n` +
          `PROJECT_DIR = os.environ.get("FLORENCE2_PROJECT_DIR", "/content/florence2-ts")\n\n` +
          `def sh(*command, **env):\n` +
          `    """Runs a command with its output shown here; stops at the first failure."""\n` +
          `    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})\n` +
          `    for line in proc.stdout:\n` +
          `        print(line, end="")\n` +
          `    if proc.wait() != 0:\n` +
          `        raise SystemExit(f"{command[0]} failed with exit code {proc.returncode}")\n\n` +
          `if not os.path.exists(os.path.join(PROJECT_DIR, "package.json")):\n` +
          `    if not PROJECT_GIT_URL:\n` +
          `        raise SystemExit("Set PROJECT_GIT_URL to the git URL of florence2-ts (the repository this notebook is from).")\n` +
          `    sh("git", "clone", "--depth=1", PROJECT_GIT_URL, PROJECT_DIR)\n` +
          `print("Project in", PROJECT_DIR)`,
      ),
      md(
        `## 2. Install Node.js, the npm packages and the kernel\n\n` +
          `\`kernel-setup/colab-install.sh\` installs Node.js 20 from NodeSource when the runtime's Node.js is older, ` +
          `runs \`npm ci\`, and registers the kernel with this runtime's Jupyter. Steps already done are skipped.`,
      ),
      code(`sh("bash", os.path.join(PROJECT_DIR, "kernel-setup", "colab-install.sh"), PYTHON=sys.executable)`),
      md(
        `## 3. Start the TypeScript kernel\n\n` +
          `\`FLORENCE2_MODEL\` and \`FLORENCE2_IMAGE\` work as on a desktop: set them in \`os.environ\` before this cell ` +
          `to use another model or image.`,
      ),
      code(
        `sys.path.insert(0, os.path.join(PROJECT_DIR, "kernel-setup"))\n` +
          `import tslab_bridge\n` +
          `tslab_bridge.load_ipython_extension(get_ipython())\n` +
          `from tslab_bridge import show_notebook`,
      ),
      md(`## 4. TypeScript cells\n\nThe same steps as the task notebooks: set-up, model, image, a timed task, its drawing.`),
      code(
        `%%typescript\n` +
          setupCode(COMMON_IMPORTS, []),
      ),
      code(`%%typescript\n${LOAD_CODE}`),
      code(`%%typescript\n${IMAGE_CODE}`),
      code(`%%typescript\n${runCode(odTask)}\n${drawCode(odTask)}`),
      md(
        `## 5. Or run a whole task notebook\n\n` +
          `Give its name (${WALKTHROUGH_TASKS.map((t) => `\`${taskNotebookFile(t).replace(/\.ipynb$/, "")}\``).join(", ")}, ` +
          `\`${ALL_TASKS_NOTEBOOK.replace(/\.ipynb$/, "")}\`). It runs in its own kernel, top to bottom, and is shown ` +
          `here with its outputs.`,
      ),
      code(`show_notebook(${JSON.stringify(taskNotebookFile(firstTask).replace(/\.ipynb$/, ""))})`),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------

export function allNotebooks(): NotebookSpec[] {
  return [...WALKTHROUGH_TASKS.map(taskNotebook), allTasksNotebook(), colabNotebook()];
}

/** Files that differ from what would be written (missing ones included). */
export function staleNotebooks(): string[] {
  return allNotebooks()
    .filter((spec) => !fs.existsSync(spec.file) || fs.readFileSync(spec.file, "utf8") !== renderNotebook(spec))
    .map((spec) => path.relative(REPO_ROOT, spec.file));
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
  for (const spec of allNotebooks()) {
    fs.writeFileSync(spec.file, renderNotebook(spec));
    console.log(`wrote ${path.relative(REPO_ROOT, spec.file)}`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
