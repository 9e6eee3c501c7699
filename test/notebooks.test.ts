/**
 * Every notebook in notebooks/ executed headlessly with the project's tslab kernel (Debian's nbclient), on a tiny
 * scripted stand-in model and a generated image: no cell fails, and the saved outputs hold what the library itself
 * returns for the same inputs (results, drawings), IPython-style timing lines, and the stand-in notice.
 * One notebook gets failing cells injected (a throw, a bad task, a type error): the kernel stays usable and
 * every later cell still runs (tslab aborts requests that reach it within 200 ms of a failure; see
 * kernel-setup/tslab_bridge.py).
 *
 * Each notebook starts its own kernel, which type-checks src/ with tslab's TypeScript (about 10 s of CPU), so
 * two run at a time; the whole file takes a couple of minutes on two cores.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { ALL_TASKS_NOTEBOOK, WALKTHROUGH_GENERATION, staleNotebooks, taskNotebookFile } from "../notebooks/generate";
import { drawResult } from "../src/draw";
import { Florence2, type RunOutput } from "../src/florence2";
import { loadImageRgb, type RgbImage } from "../src/image";
import { boxToLocTokens, type PixelBox } from "../src/prompts";
import { SEED_SETUP, SEED_TIMINGS } from "../src/seed-timings";
import { WALKTHROUGH_TASKS, type TaskSpec } from "../src/tasks";
import { STANDIN_NOTE, WALKTHROUGH_INPUTS } from "../src/walkthrough";
import {
  KERNEL_NAME,
  NOTEBOOKS_DIR,
  type ExecutedNotebook,
  type Notebook,
  type NotebookCell,
  type NotebookFixtures,
  cellPngs,
  cellSource,
  executeNotebook,
  jupyterMissing,
  readNotebook,
  registerKernel,
  runLimited,
  streamText,
  withCellsInserted,
  writeNotebookFixtures,
} from "./support/jupyter";

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

/** The results a cell printed: lines of `<stand-in note> {"<TASK>": ...}`. */
function printedResults(cell: NotebookCell): unknown[] {
  const prefix = `${STANDIN_NOTE} `;
  return streamText(cell, "stdout")
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

function regionOf(task: TaskSpec): PixelBox | undefined {
  return task.input === "region" ? (WALKTHROUGH_INPUTS[task.token] as PixelBox) : undefined;
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

  it("import the library through the notebooks/src link to ../src", () => {
    const link = path.join(NOTEBOOKS_DIR, "src");
    assert.ok(fs.lstatSync(link).isSymbolicLink(), "notebooks/src must be a symbolic link");
    assert.equal(fs.readlinkSync(link), "../src");
  });
});

describe("notebooks (executed with the tslab kernel on a stand-in model)", function () {
  this.timeout(600_000);
  let tmp: string;
  let fixtures: NotebookFixtures;
  let image: RgbImage;
  const expected = new Map<string, RunOutput>();
  const runs = new Map<string, ExecutedNotebook>();

  before(async function () {
    const missing = jupyterMissing();
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "notebooks-test-"));
    const env = registerKernel(path.join(tmp, "jupyter"));
    fixtures = await writeNotebookFixtures(tmp, env);
    image = await loadImageRgb(fixtures.imagePath);
    const model = await Florence2.load(fixtures.modelFolder);
    try {
      for (const task of WALKTHROUGH_TASKS) {
        expected.set(task.token, await model.run(image, task.token, WALKTHROUGH_INPUTS[task.token], { ...WALKTHROUGH_GENERATION }));
      }
    } finally {
      await model.dispose();
    }

    const files = [...WALKTHROUGH_TASKS.map(taskNotebookFile), ALL_TASKS_NOTEBOOK];
    const started = Date.now();
    await runLimited(
      2,
      files.map((file) => async () => {
        let source = path.join(NOTEBOOKS_DIR, file);
        if (file === taskNotebookFile(INJECTED_INTO)) {
          const original = readNotebook(source);
          const after = findCell(original, "showImage(").index + 1;
          source = path.join(tmp, `injected-${file}`);
          fs.writeFileSync(source, JSON.stringify(withCellsInserted(original, after, INJECTED_FAILURES.map((f) => f.source))));
        }
        const output = path.join(tmp, `executed-${file}`);
        runs.set(file, await executeNotebook(source, { env: fixtures.env, output, cwd: NOTEBOOKS_DIR, timeoutSeconds: 300 }));
      }),
    );
    const seconds = [...runs.values()].map((r) => r.seconds);
    console.log(
      `      ${files.length} notebooks in ${((Date.now() - started) / 1000).toFixed(0)} s, two at a time ` +
        `(each ${Math.min(...seconds).toFixed(0)}-${Math.max(...seconds).toFixed(0)} s, kernel start and tslab's compile of src/ included)`,
    );
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const task of WALKTHROUGH_TASKS) {
    const file = taskNotebookFile(task);
    describe(file, () => {
      const run = () => {
        const r = runs.get(file);
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

      it("times the model load and says the model is a stand-in", () => {
        const { cell } = findCell(run().notebook, "Florence2.load(");
        assert.equal(timingLines(cell).length, 1, streamText(cell, "stdout"));
        assert.ok(streamText(cell, "stdout").includes(`${STANDIN_NOTE} ${fixtures.modelFolder}`), streamText(cell, "stdout"));
      });

      it("shows the image", async () => {
        const { cell } = findCell(run().notebook, "showImage(");
        assert.match(streamText(cell, "stdout"), new RegExp(`\\(${image.width}x${image.height}\\)`));
        const pngs = cellPngs(cell);
        assert.equal(pngs.length, 1);
        const shown = await rgba(pngs[0]);
        assert.deepEqual([shown.width, shown.height], [image.width, image.height]);
        for (let p = 0; p < image.width * image.height; p += 997) {
          assert.deepEqual([...shown.data.subarray(p * 4, p * 4 + 3)], [...image.data.subarray(p * 3, p * 3 + 3)], `pixel ${p}`);
        }
      });

      if (task.input === "region") {
        it("gives the region as a pixel box and prints its loc tokens", () => {
          const { cell } = findCell(run().notebook, "boxToLocTokens(");
          const box = regionOf(task) as PixelBox;
          assert.equal(streamText(cell, "stdout"), `${boxToLocTokens(box, image)}\n`);
        });
      }

      it("prints the parsed result the library returns, then IPython's timing lines", () => {
        const { cell } = findCell(run().notebook, "const TASK = ");
        assert.deepEqual(printedResults(cell), [(expected.get(task.token) as RunOutput).result]);
        assert.equal(timingLines(cell).length, 1, streamText(cell, "stdout"));
        const stdout = streamText(cell, "stdout");
        assert.ok(stdout.indexOf(`{"<`) < stdout.indexOf("CPU times:"), "result first, times last, as %%time prints them");
      });

      it("shows the drawing the library makes of that result", async () => {
        const { cell } = findCell(run().notebook, "showResult(");
        const pngs = cellPngs(cell);
        assert.equal(pngs.length, 1);
        const region = regionOf(task);
        const drawing = await drawResult(image, task.token, (expected.get(task.token) as RunOutput).result, region ? { region } : {});
        await assertSamePixels(pngs[0], drawing.png, file);
      });

      if (task === INJECTED_INTO) {
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
    });
  }

  describe(ALL_TASKS_NOTEBOOK, () => {
    const run = () => {
      const r = runs.get(ALL_TASKS_NOTEBOOK);
      assert.ok(r, `${ALL_TASKS_NOTEBOOK} did not run`);
      return r;
    };

    it("runs every cell without failure", () => {
      const { notebook, statuses } = run();
      for (const [index, status] of statuses) {
        assert.equal(status, "ok", `cell ${index}: ${streamText(notebook.cells[index], "stderr")}`);
      }
    });

    it("prints each task's result as the library returns it, with its timing lines, and draws it", async () => {
      const { cell } = findCell(run().notebook, "for (const task of WALKTHROUGH_TASKS)");
      assert.equal(streamText(cell, "stderr"), "", "no task failed");
      assert.deepEqual(printedResults(cell), WALKTHROUGH_TASKS.map((t) => (expected.get(t.token) as RunOutput).result));
      assert.equal(timingLines(cell).length, WALKTHROUGH_TASKS.length);
      const pngs = cellPngs(cell);
      assert.equal(pngs.length, WALKTHROUGH_TASKS.length);
      for (const [i, task] of WALKTHROUGH_TASKS.entries()) {
        const region = regionOf(task);
        const drawing = await drawResult(image, task.token, (expected.get(task.token) as RunOutput).result, region ? { region } : {});
        await assertSamePixels(pngs[i], drawing.png, task.token);
      }
    });

    it("prints the timing table beside the seed's T4 figures, naming the device and model", () => {
      const { cell } = findCell(run().notebook, "timingTable(");
      const table = streamText(cell, "stdout");
      assert.ok(table.includes(SEED_SETUP), table);
      assert.ok(table.includes(os.cpus()[0].model.trim()), "names this machine's CPU");
      assert.ok(table.includes("stand-in model"), "names the model, here as a stand-in");
      for (const task of WALKTHROUGH_TASKS) {
        const row = table.split("\n").find((line) => line.startsWith(`${task.name} `));
        assert.ok(row, `a row for ${task.name}`);
        const times = row.trim().split(/\s{2,}/).slice(1);
        assert.equal(times.length, 4, `this run's wall and CPU times and the seed's: ${row}`);
        for (const time of times) assert.match(time, new RegExp(`^${IPYTHON_TIME}$`), row);
        const seed = SEED_TIMINGS[task.token];
        assert.deepEqual(times.slice(2), [seed.wall, seed.total], `the seed's wall and CPU times in ${row}`);
      }
    });
  });
});
