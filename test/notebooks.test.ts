/**
 * Every notebook in notebooks/ executed headlessly with the project's tslab kernel (Debian's nbclient), on a tiny
 * scripted stand-in model: no cell fails, and the saved outputs hold what the library itself returns for the same
 * inputs (results, drawings), IPython-style timing lines, the walkthrough's settings and the stand-in notice.
 *
 * Three image set-ups, as users have them:
 * - the walkthrough's photos from the model cache (generated 1600x1066 images as models/samples/sample.jpg and
 *   sample2.jpg; FLORENCE2_IMAGE unset): all 15 notebooks, each task on its own photo, the OCR tasks on sample2.jpg;
 * - FLORENCE2_IMAGE set to a portrait image and to a tiny one: the region notebooks and all-tasks, whose region
 *   inputs must be scaled to the image.
 * all-tasks.ipynb also runs the 14 tasks as one runBatch: its cell must say that every batched result is the per-task
 * run's, and the table and chart must show the batched shares.
 * One notebook gets failing cells injected (a throw, a bad task, a type error): the kernel stays usable and every
 * later cell still runs (tslab aborts requests that reach it within 200 ms of a failure; see
 * kernel-setup/tslab_bridge.py).
 *
 * Each notebook starts its own kernel, which type-checks src/ with tslab's TypeScript (about 10 s of CPU), so two run
 * at a time; the whole file takes a few minutes on two cores.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { ALL_TASKS_NOTEBOOK, staleNotebooks, taskNotebookFile } from "../notebooks/generate";
import { drawResult, renderImage } from "../src/notebook/draw";
import { Florence2, type RunOutput } from "../src/florence2";
import { loadImageRgb, type RgbImage } from "../src/image/image";
import { boxToLocTokens, type PixelBox } from "../src/text/prompts";
import { WALKTHROUGH_TASKS, type TaskSpec } from "../src/text/tasks";
import { SERIES_COLORS, layoutChart } from "../src/walkthrough/chart";
import { parseWalkthroughArgs } from "../src/walkthrough/cli";
import { SEED_SETUP, SEED_TIMINGS } from "../src/walkthrough/seed-timings";
import { BATCHED_NOTE, STANDIN_MARK } from "../src/walkthrough/timing-table";
import { STANDIN_NOTE } from "../src/walkthrough/standin-note";
import { WALKTHROUGH_SETTINGS, photoOf, settingsLine, walkthroughInput } from "../src/walkthrough/steps";
import {
  KERNEL_NAME,
  NOTEBOOKS_DIR,
  type ExecutedNotebook,
  type Notebook,
  type NotebookCell,
  cellPngs,
  cellSource,
  executeNotebook,
  jupyterMissing,
  joined,
  readNotebook,
  registerKernel,
  runLimited,
  streamText,
  withCellsInserted,
  writeNotebookFixtures,
  writePhotoCache,
} from "./support/jupyter";
import { writeTestImage } from "./support/images";

/** IPython's `_format_time`: at most 3 significant digits and a unit, or `1min 15s`-style past a minute. */
const IPYTHON_TIME = String.raw`(?:\d+(?:\.\d+)?(?:e[+-]\d\d)? (?:s|ms|µs|ns)|\d+(?:d|h|min|s)(?: \d+(?:h|min|s))*)`;
const TIMING_LINES = new RegExp(
  String.raw`^CPU times: user (${IPYTHON_TIME}), sys: (${IPYTHON_TIME}), total: (${IPYTHON_TIME})\nWall time: (${IPYTHON_TIME})$`,
  "m",
);

/** Cells added to one notebook after its image cell: each fails in its own way. */
const INJECTED_FAILURES = [
  { source: `throw new Error("injected failure: a cell that throws");`, stderr: /injected failure: a cell that throws/ },
  { source: `await model.run(image, "<NOT_A_TASK>");`, stderr: /Unknown Florence-2 task "<NOT_A_TASK>"/ },
  { source: `const wrong: number = "not a number";`, stderr: /Type 'string' is not assignable to type 'number'/ },
];
const INJECTED_INTO = WALKTHROUGH_TASKS.find((t) => t.resultKind === "description_with_bboxes") ?? WALKTHROUGH_TASKS[0];
const REGION_TASKS = WALKTHROUGH_TASKS.filter((t) => t.input === "region");

function significantDigits(time: string): number {
  const number = /^(\d+(?:\.\d+)?)/.exec(time)?.[1] ?? "";
  return number.replace(".", "").replace(/^0+/, "").length;
}

/** Every `%%time` pair a cell printed; each figure checked for IPython's format. */
function timingLines(cell: NotebookCell): RegExpMatchArray[] {
  const found = [...streamText(cell, "stdout").matchAll(new RegExp(TIMING_LINES.source, "gm"))];
  for (const match of found) {
    for (const time of match.slice(1)) {
      if (/ (s|ms|µs|ns)$/.test(time) && !/e[+-]/.test(time)) {
        assert.ok(significantDigits(time) <= 3, `"${time}" has more than IPython's 3 significant digits`);
      }
    }
  }
  return found;
}

/**
 * A cell's text in output order: what it printed, and the text of display entries (the live progress entry ends
 * holding the result, when the run was long enough to show one).
 */
function cellText(cell: NotebookCell): string {
  return (cell.outputs ?? [])
    .map((o) => {
      if (o.output_type === "stream" && o.name === "stdout") return joined(o.text);
      const text = o.output_type === "display_data" ? o.data?.["text/plain"] : undefined;
      return text === undefined ? "" : `${joined(text)}\n`;
    })
    .join("");
}

/** The text/html of a cell's display entries. */
function htmlOutputs(cell: NotebookCell): string[] {
  return (cell.outputs ?? []).filter((o) => o.data?.["text/html"] !== undefined).map((o) => joined(o.data?.["text/html"]));
}

/** The results a cell showed: lines of `<stand-in note> {"<TASK>": ...}`. */
function printedResults(cell: NotebookCell): unknown[] {
  const prefix = `${STANDIN_NOTE} `;
  return cellText(cell)
    .split("\n")
    .filter((line) => line.includes(`{"<`))
    .map((line) => {
      assert.ok(line.startsWith(prefix), `a stand-in result must say so: ${line.slice(0, 120)}`);
      return JSON.parse(line.slice(prefix.length));
    });
}

async function rgba(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

async function assertSamePixels(actual: Buffer, expected: Buffer, what: string): Promise<void> {
  const [a, e] = await Promise.all([rgba(actual), rgba(expected)]);
  assert.deepEqual([a.width, a.height], [e.width, e.height], `${what}: size`);
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== e.data[i]) differing++;
  assert.equal(differing, 0, `${what}: ${differing} of ${a.data.length} channel values differ from the library's drawing`);
}

function findCell(notebook: Notebook, marker: string): { cell: NotebookCell; index: number } {
  const index = notebook.cells.findIndex((c) => c.cell_type === "code" && cellSource(c).includes(marker));
  assert.ok(index >= 0, `no code cell containing ${marker}`);
  return { cell: notebook.cells[index], index };
}

/** One way of giving the notebooks their images, and what the library returns for each task on them. */
interface ImageSetup {
  name: string;
  /** Notebooks run in this set-up. */
  files: string[];
  env: NodeJS.ProcessEnv;
  /** The image file each task runs on, and its decoded pixels. */
  imageOf: (task: TaskSpec) => { file: string; image: RgbImage };
  expected: Map<string, RunOutput>;
  runs: Map<string, ExecutedNotebook>;
}

function regionOf(setup: ImageSetup, task: TaskSpec): PixelBox | undefined {
  if (task.input !== "region") return undefined;
  const { image } = setup.imageOf(task);
  return walkthroughInput(task, image) as PixelBox;
}

describe("notebooks as committed", () => {
  it("match what notebooks/generate.ts writes from the task table, one per walkthrough task plus all-tasks", () => {
    assert.deepEqual(staleNotebooks(), []);
    const onDisk = fs.readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb")).sort();
    assert.deepEqual(onDisk, [...WALKTHROUGH_TASKS.map(taskNotebookFile), ALL_TASKS_NOTEBOOK].sort());
  });

  it("have no outputs and name the project's kernel", () => {
    for (const file of fs.readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb"))) {
      const notebook = readNotebook(path.join(NOTEBOOKS_DIR, file));
      assert.equal((notebook.metadata.kernelspec as { name: string }).name, KERNEL_NAME, file);
      for (const cell of notebook.cells.filter((c) => c.cell_type === "code")) {
        assert.deepEqual(cell.outputs, [], `${file} has outputs`);
        assert.equal(cell.execution_count, null, `${file} has execution counts`);
      }
    }
  });

  it("import the library and the walkthrough's pieces through the notebooks/src link to ../src", () => {
    const link = path.join(NOTEBOOKS_DIR, "src");
    assert.ok(fs.lstatSync(link).isSymbolicLink(), "notebooks/src must be a symbolic link");
    assert.equal(fs.readlinkSync(link), "../src");
    for (const file of fs.readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb"))) {
      const imports = readNotebook(path.join(NOTEBOOKS_DIR, file)).cells.flatMap((c) => cellSource(c).match(/from "[^"]+"/g) ?? []);
      assert.deepEqual([...new Set(imports)].filter((i) => i.includes("./")).sort(), ['from "./src/index"', 'from "./src/walkthrough/index"'], file);
    }
  });

  it("use the walkthrough's settings, the same as npm start's defaults", () => {
    const command = parseWalkthroughArgs([]);
    assert.ok(command);
    assert.deepEqual(command.settings, { ...WALKTHROUGH_SETTINGS });
    for (const file of fs.readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb"))) {
      const setup = readNotebook(path.join(NOTEBOOKS_DIR, file)).cells.map(cellSource).find((s) => s.includes("const GENERATION"));
      assert.ok(setup?.includes("const GENERATION = { ...WALKTHROUGH_SETTINGS };"), `${file} takes its settings from WALKTHROUGH_SETTINGS`);
      assert.ok(setup?.includes(`// The walkthrough's call: model.generate(..., ${settingsLine(command.settings)})`), file);
    }
  });
});

describe("notebooks (executed with the tslab kernel on a stand-in model)", function () {
  this.timeout(1_200_000);
  let tmp: string;
  const setups: ImageSetup[] = [];

  before(async function () {
    const missing = jupyterMissing();
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "notebooks-test-"));
    const fixtures = await writeNotebookFixtures(tmp, registerKernel(path.join(tmp, "jupyter")));
    const photos = await writePhotoCache(tmp);
    const decode = async (file: string) => ({ file, image: await loadImageRgb(file) });
    const street = await decode(photos.street);
    const market = await decode(photos.market);
    const portrait = await decode(await writeTestImage({ width: 600, height: 900, pattern: "solid", color: [128, 128, 128], format: "png", dir: tmp, name: "portrait.png" }));
    const tiny = await decode(await writeTestImage({ width: 24, height: 16, pattern: "solid", color: [128, 128, 128], format: "png", dir: tmp, name: "tiny.png" }));
    const { FLORENCE2_IMAGE: _unset, ...withoutImage } = fixtures.env;
    const resized = [...REGION_TASKS.map(taskNotebookFile), ALL_TASKS_NOTEBOOK];
    setups.push(
      {
        name: "the walkthrough's photos from the cache",
        files: [...WALKTHROUGH_TASKS.map(taskNotebookFile), ALL_TASKS_NOTEBOOK],
        env: { ...withoutImage, FLORENCE2_CACHE: photos.cacheDir },
        imageOf: (task) => (photoOf(task).file === "sample2.jpg" ? market : street),
        expected: new Map(),
        runs: new Map(),
      },
      { name: "a portrait FLORENCE2_IMAGE", files: resized, env: { ...fixtures.env, FLORENCE2_IMAGE: portrait.file }, imageOf: () => portrait, expected: new Map(), runs: new Map() },
      { name: "a tiny FLORENCE2_IMAGE", files: resized, env: { ...fixtures.env, FLORENCE2_IMAGE: tiny.file }, imageOf: () => tiny, expected: new Map(), runs: new Map() },
    );

    const model = await Florence2.load(fixtures.modelFolder, { device: "cpu" });
    try {
      for (const setup of setups) {
        for (const task of WALKTHROUGH_TASKS) {
          const { image } = setup.imageOf(task);
          setup.expected.set(task.token, await model.run(image, task.token, walkthroughInput(task, image), { ...WALKTHROUGH_SETTINGS }));
        }
      }
    } finally {
      await model.dispose();
    }

    const jobs = setups.flatMap((setup, s) =>
      setup.files.map((file) => async () => {
        let source = path.join(NOTEBOOKS_DIR, file);
        if (s === 0 && file === taskNotebookFile(INJECTED_INTO)) {
          const original = readNotebook(source);
          const after = findCell(original, "showImage(").index + 1;
          source = path.join(tmp, `injected-${file}`);
          fs.writeFileSync(source, JSON.stringify(withCellsInserted(original, after, INJECTED_FAILURES.map((f) => f.source))));
        }
        const output = path.join(tmp, `executed-${s}-${file}`);
        setup.runs.set(file, await executeNotebook(source, { env: setup.env, output, cwd: NOTEBOOKS_DIR, timeoutSeconds: 300 }));
      }),
    );
    const started = Date.now();
    await runLimited(2, jobs);
    const seconds = setups.flatMap((s) => [...s.runs.values()].map((r) => r.seconds));
    console.log(
      `      ${jobs.length} notebook runs in ${((Date.now() - started) / 1000).toFixed(0)} s, two at a time ` +
        `(each ${Math.min(...seconds).toFixed(0)}-${Math.max(...seconds).toFixed(0)} s, kernel start and tslab's compile of src/ included)`,
    );
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The checks of one task notebook run in one set-up. */
  function taskNotebookChecks(setupIndex: number, task: TaskSpec): void {
    const file = taskNotebookFile(task);
    const setup = () => setups[setupIndex];
    const run = () => {
      const r = setup().runs.get(file);
      assert.ok(r, `${file} did not run`);
      return r;
    };

    it("runs every cell without failure", () => {
      const { notebook, statuses } = run();
      const injected = new Set(INJECTED_FAILURES.map((f) => f.source));
      for (const [index, status] of statuses) {
        if (injected.has(cellSource(notebook.cells[index]))) continue;
        assert.equal(status, "ok", `cell ${index} (${cellSource(notebook.cells[index]).split("\n")[0]}): ${streamText(notebook.cells[index], "stderr")}`);
      }
      const codeCells = notebook.cells.filter((c) => c.cell_type === "code").length;
      assert.equal(statuses.size, codeCells, "every code cell was executed");
    });

    it("prints the walkthrough's settings, times the model load, names the device and says the model is a stand-in", () => {
      assert.equal(streamText(findCell(run().notebook, "const GENERATION").cell, "stdout"), `Settings: ${settingsLine(WALKTHROUGH_SETTINGS)}\n`);
      const { cell } = findCell(run().notebook, "Florence2.load(");
      const stdout = streamText(cell, "stdout");
      assert.equal(timingLines(cell).length, 1, stdout);
      assert.ok(stdout.includes(`${STANDIN_NOTE} ${setup().env.FLORENCE2_MODEL}`), stdout);
      assert.match(stdout, /^Device: CPU \(.+\); auto: .+\.$/m);
    });

    it("shows the task's image", async () => {
      const { file: imageFile, image } = setup().imageOf(task);
      const { cell } = findCell(run().notebook, "showImage(image)");
      assert.equal(streamText(cell, "stdout"), `${imageFile} (${image.width}x${image.height})\n`);
      const pngs = cellPngs(cell);
      assert.equal(pngs.length, 1);
      const shown = await rgba(pngs[0]);
      assert.deepEqual([shown.width, shown.height], [image.width, image.height]);
      for (let p = 0; p < image.width * image.height; p += 997) {
        assert.deepEqual([...shown.data.subarray(p * 4, p * 4 + 3)], [...image.data.subarray(p * 3, p * 3 + 3)], `pixel ${p}`);
      }
    });

    if (task.input === "region") {
      it("gives the region scaled to the image, in its pixels and loc tokens, and draws it on the image", async () => {
        const { image } = setup().imageOf(task);
        const { cell } = findCell(run().notebook, "boxToLocTokens(");
        const box = regionOf(setup(), task) as PixelBox;
        assert.equal(streamText(cell, "stdout"), `REGION = ${JSON.stringify(box)} on this ${image.width}x${image.height} image: ${boxToLocTokens(box, image)}\n`);
        const pngs = cellPngs(cell);
        assert.equal(pngs.length, 1);
        await assertSamePixels(pngs[0], (await renderImage(image, { region: box })).png, `${file} region`);
      });
    }

    it("prints the parsed result the library returns, then IPython's timing lines", () => {
      const { cell } = findCell(run().notebook, "liveProgress(");
      assert.deepEqual(printedResults(cell), [(setup().expected.get(task.token) as RunOutput).result]);
      assert.equal(timingLines(cell).length, 1, streamText(cell, "stdout"));
      const text = cellText(cell);
      assert.ok(text.indexOf(`{"<`) < text.indexOf("CPU times:"), "result first, times last, as %%time prints them");
      assert.doesNotMatch(text, /tokens\/s/, "no progress line left in the saved notebook");
    });

    it("shows the drawing the library makes of that result", async () => {
      const { image } = setup().imageOf(task);
      const { cell } = findCell(run().notebook, "showResult(");
      const pngs = cellPngs(cell);
      assert.equal(pngs.length, 1);
      const region = regionOf(setup(), task);
      const drawing = await drawResult(image, task.token, (setup().expected.get(task.token) as RunOutput).result, region ? { region } : {});
      await assertSamePixels(pngs[0], drawing.png, file);
    });

    if (setupIndex === 0 && task === INJECTED_INTO) {
      it("keeps the kernel usable after cells that throw, fail a run or don't compile: later cells all run", () => {
        const { notebook, statuses } = run();
        const after = findCell(notebook, "showImage(").index + 1;
        INJECTED_FAILURES.forEach((failure, i) => {
          const index = after + i;
          assert.equal(cellSource(notebook.cells[index]), failure.source);
          assert.equal(statuses.get(index), "error");
          assert.match(streamText(notebook.cells[index], "stderr"), failure.stderr);
        });
        const later = [...statuses].filter(([index]) => index >= after + INJECTED_FAILURES.length);
        assert.ok(later.length >= 2);
        assert.deepEqual(later.map(([, status]) => status), later.map(() => "ok"));
      });
    }
  }

  /** The checks of the all-tasks notebook in one set-up. */
  function allTasksChecks(setupIndex: number): void {
    const setup = () => setups[setupIndex];
    const run = () => {
      const r = setup().runs.get(ALL_TASKS_NOTEBOOK);
      assert.ok(r, `${ALL_TASKS_NOTEBOOK} did not run`);
      return r;
    };

    it("runs every cell without failure", () => {
      const { notebook, statuses } = run();
      for (const [index, status] of statuses) {
        assert.equal(status, "ok", `cell ${index}: ${streamText(notebook.cells[index], "stderr")}`);
      }
    });

    it("shows each image once", () => {
      const { cell } = findCell(run().notebook, "images.set(");
      const seen = new Map<string, RgbImage>();
      for (const task of WALKTHROUGH_TASKS) {
        const { file, image } = setup().imageOf(task);
        if (!seen.has(file)) seen.set(file, image);
      }
      assert.equal(streamText(cell, "stdout"), [...seen].map(([file, image]) => `${file} (${image.width}x${image.height})\n`).join(""));
      assert.equal(cellPngs(cell).length, seen.size);
    });

    it("prints each task's photo, input and result as the library returns it, with its timing lines, and draws it", async () => {
      const { cell } = findCell(run().notebook, "const runs: TaskRun[]");
      assert.equal(streamText(cell, "stderr"), "", "no task failed");
      const stdout = streamText(cell, "stdout");
      for (const task of WALKTHROUGH_TASKS) {
        const { file } = setup().imageOf(task);
        const input = walkthroughInput(task, setup().imageOf(task).image);
        const heading = `── ${task.token} ${task.japaneseName ?? ""} on ${path.basename(file)}${input === undefined ? "" : ` input: ${JSON.stringify(input)}`}\n`;
        assert.ok(stdout.includes(heading), `heading ${heading}`);
      }
      assert.deepEqual(printedResults(cell), WALKTHROUGH_TASKS.map((t) => (setup().expected.get(t.token) as RunOutput).result));
      assert.equal(timingLines(cell).length, WALKTHROUGH_TASKS.length);
      const pngs = cellPngs(cell);
      assert.equal(pngs.length, WALKTHROUGH_TASKS.length);
      for (const [i, task] of WALKTHROUGH_TASKS.entries()) {
        const region = regionOf(setup(), task);
        const drawing = await drawResult(setup().imageOf(task).image, task.token, (setup().expected.get(task.token) as RunOutput).result, region ? { region } : {});
        await assertSamePixels(pngs[i], drawing.png, task.token);
      }
    });

    it("runs the same tasks as one runBatch: its timing lines, where the time went, and batched results the same as the per-task runs", () => {
      const { cell } = findCell(run().notebook, "model.runBatch(");
      assert.equal(streamText(cell, "stderr"), "");
      // The %%time lines are printed; the summary is a display entry (HTML table, its text beside it).
      const stdout = cellText(cell);
      assert.equal(timingLines(cell).length, 1, stdout);
      const summaryHtml = htmlOutputs(cell);
      assert.equal(summaryHtml.length, 1, "the batch summary as one HTML table");
      assert.match(summaryHtml[0], /<table[\s\S]*>vision encoder<[\s\S]*>decoder<[\s\S]*<\/table>/);
      const n = WALKTHROUGH_TASKS.length;
      assert.match(stdout, new RegExp(`^One runBatch of ${n} requests: (${IPYTHON_TIME}), against (${IPYTHON_TIME}) for the ${n} per-task runs one after another \\(\\d+\\.\\d\\dx\\)\\.$`, "m"));
      const photos = new Set(WALKTHROUGH_TASKS.map((t) => setup().imageOf(t).file)).size;
      assert.match(stdout, new RegExp(`^  vision encoder .* \\(${photos} runs? for ${photos} photos?; the per-task runs: ${photos} runs?\\), text encoder .*, decoder .* \\(\\d+ steps in \\d+ waves?, up to \\d+ rows a step\\)`, "m"));
      assert.ok(
        stdout.includes(`${STANDIN_NOTE} Batched results are the same as the per-task runs for all ${n} tasks (ids, text and parsed result; largest beam-score difference `),
        stdout,
      );
      assert.doesNotMatch(cellText(cell), /tokens\/s/, "no progress line left in the saved notebook");
    });

    it("prints the timing table beside the seed's T4 figures, naming each task's photo, the device and model, and shows the chart", async () => {
      const batchTime = new RegExp(`^One runBatch of \\d+ requests: (${IPYTHON_TIME}),`, "m").exec(cellText(findCell(run().notebook, "model.runBatch(").cell))?.[1];
      const { cell } = findCell(run().notebook, "timingTableDisplay(");
      const [tableOutput, ...others] = (cell.outputs ?? []).filter((o) => o.data?.["text/html"] !== undefined);
      assert.ok(tableOutput, "the table as a display entry with text/html");
      assert.equal(others.length, 0, "one table");
      const table = joined(tableOutput.data?.["text/plain"]);
      assert.equal(streamText(cell, "stdout"), "", "the table is not printed besides");
      const html = joined(tableOutput.data?.["text/html"]);
      for (const task of WALKTHROUGH_TASKS) assert.ok(html.includes(`>${task.name}</td>`), `an HTML row for ${task.name}`);
      assert.ok(html.includes(STANDIN_MARK), "the stand-in run is marked above the HTML table");
      assert.match(html, /seed \(T4\)<\/th>/, "the seed's columns under their own heading");
      assert.ok(table.includes(BATCHED_NOTE), "says what the batched column holds");
      assert.ok(table.includes(SEED_SETUP), table);
      assert.ok(table.includes(`onnxruntime-node on CPU (${os.cpus()[0].model.trim()}`), "names this machine's CPU");
      assert.ok(table.includes("stand-in model (random weights)"), "names the model, here as a stand-in");
      assert.ok(table.includes(settingsLine(WALKTHROUGH_SETTINGS)), "names the settings");
      for (const task of WALKTHROUGH_TASKS) {
        const row = table.split("\n").find((line) => line.startsWith(`${task.name} `));
        assert.ok(row, `a row for ${task.name}`);
        const [photo, ...times] = row.trim().split(/\s{2,}/).slice(1);
        assert.equal(photo, path.basename(setup().imageOf(task).file), row);
        assert.equal(times.length, 5, `this run's wall and CPU times, the batched share and the seed's times: ${row}`);
        for (const time of times) assert.match(time, new RegExp(`^${IPYTHON_TIME}$`), row);
        const seed = SEED_TIMINGS[task.token];
        assert.deepEqual(times.slice(3), [seed.wall, seed.total], `the seed's wall and CPU times in ${row}`);
      }
      const total = table.split("\n").find((line) => line.startsWith(`all ${WALKTHROUGH_TASKS.length} tasks`)) ?? "";
      assert.equal(total.trim().split(/\s{2,}/)[3], batchTime, `the batched shares add up to the batch's time: ${total}`);
      const pngs = cellPngs(cell);
      assert.equal(pngs.length, 1, "the chart");
      const chart = await rgba(pngs[0]);
      const colors = [SERIES_COLORS.thisRun, SERIES_COLORS.seed, SERIES_COLORS.batched];
      const layout = layoutChart({
        title: "",
        subtitle: ["", "", ""],
        rows: WALKTHROUGH_TASKS.map((t) => t.name),
        series: colors.map((color) => ({ label: "", color, seconds: WALKTHROUGH_TASKS.map(() => 1) })),
      });
      assert.deepEqual([chart.width, chart.height], [layout.width, layout.height], "a bar per task for this run, the seed and the batched run");
      for (const color of colors) {
        const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(color.slice(i, i + 2), 16));
        let found = 0;
        for (let p = 0; p < chart.data.length; p += 4) if (chart.data[p] === r && chart.data[p + 1] === g && chart.data[p + 2] === b) found++;
        assert.ok(found > WALKTHROUGH_TASKS.length * 14, `bars in ${color}`);
      }
    });
  }

  for (const [s, name] of ["the walkthrough's photos from the cache", "a portrait FLORENCE2_IMAGE", "a tiny FLORENCE2_IMAGE"].entries()) {
    describe(`on ${name}`, () => {
      const tasks = s === 0 ? WALKTHROUGH_TASKS : REGION_TASKS;
      for (const task of tasks) describe(taskNotebookFile(task), () => taskNotebookChecks(s, task));
      describe(ALL_TASKS_NOTEBOOK, () => allTasksChecks(s));
    });
  }
});
