/**
 * The Colab twins (notebooks/colab/*.ipynb): as generated, each is its TypeScript notebook behind one Python set-up
 * cell (markdown unchanged, code verbatim behind `%%typescript`), and the badges are built from package.json's
 * `repository` only. Then every twin executed as Colab would run it, with Jupyter's Python kernel, against one local
 * copy of the project (one install shared by all fifteen, as in one Colab runtime) on the tiny stand-in: the set-up
 * installs once and is skipped by the others, every `%%typescript` cell runs, results, `%%time` lines and drawings
 * are in the outputs, and all-tasks' timing table and batch summary arrive as HTML tables with text beside them.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  ALL_TASKS_NOTEBOOK,
  COLAB_TABLE_END,
  COLAB_TABLE_START,
  COLAB_TWINS_DIR,
  TYPESCRIPT_MAGIC,
  colabBadge,
  colabTable,
  colabSetupCode,
  colabUrl,
  githubRepository,
  taskNotebookFile,
} from "../notebooks/generate";
import { Florence2, type RunOutput } from "../src/florence2";
import { loadImageRgb, type RgbImage } from "../src/image/image";
import { WALKTHROUGH_TASKS, type TaskSpec } from "../src/text/tasks";
import { STANDIN_NOTE } from "../src/walkthrough/standin-note";
import { WALKTHROUGH_SETTINGS, photoOf, walkthroughInput } from "../src/walkthrough/steps";
import {
  NOTEBOOKS_DIR,
  REPO_ROOT,
  type ExecutedNotebook,
  type NotebookCell,
  cellPngs,
  cellSource,
  copyProject,
  executeNotebook,
  joined,
  jupyterMissing,
  readNotebook,
  runLimited,
  streamText,
  writeNotebookFixtures,
  writePhotoCache,
} from "./support/jupyter";
import { writeFakeGpu, type ColabState } from "./support/fake-gpu";

const NOTEBOOK_FILES = [...WALKTHROUGH_TASKS.map(taskNotebookFile), ALL_TASKS_NOTEBOOK];
const TIMING_LINES = /^CPU times: user .+, sys: .+, total: .+\nWall time: .+$/gm;

/** Text a cell showed: its stdout and the text/plain of its display entries, in order. */
function cellText(cell: NotebookCell): string {
  return (cell.outputs ?? [])
    .map((o) => (o.output_type === "stream" ? (o.name === "stdout" ? joined(o.text) : "") : `${joined(o.data?.["text/plain"])}\n`))
    .join("");
}

function results(cell: NotebookCell): unknown[] {
  return cellText(cell)
    .split("\n")
    .filter((line) => line.includes(`{"<`))
    .map((line) => {
      assert.ok(line.startsWith(`${STANDIN_NOTE} `), `a stand-in's result must say so: ${line.slice(0, 120)}`);
      return JSON.parse(line.slice(STANDIN_NOTE.length + 1));
    });
}

describe("Colab twins as generated (notebooks/colab/)", () => {
  it("one twin per TypeScript notebook, with a Python kernelspec and no outputs", () => {
    const twins = fs.readdirSync(COLAB_TWINS_DIR).filter((f) => f.endsWith(".ipynb")).sort();
    assert.deepEqual(twins, [...NOTEBOOK_FILES].sort());
    for (const file of twins) {
      const twin = readNotebook(path.join(COLAB_TWINS_DIR, file));
      assert.equal((twin.metadata.kernelspec as { name: string }).name, "python3", file);
      assert.equal((twin.metadata.colab as { name: string }).name, file, `${file}: Colab shows this name`);
      for (const cell of twin.cells) assert.deepEqual(cell.outputs ?? [], [], `${file} has outputs`);
    }
  });

  it("are the TypeScript notebook's cells, markdown unchanged and code verbatim behind %%typescript, after one Python set-up cell", () => {
    for (const file of NOTEBOOK_FILES) {
      const typescript = readNotebook(path.join(NOTEBOOKS_DIR, file)).cells;
      const [setup, ...rest] = readNotebook(path.join(COLAB_TWINS_DIR, file)).cells;
      assert.equal(setup.cell_type, "code", file);
      assert.match(cellSource(setup), /^import colab_runtime\ncolab_runtime\.set_up\(get_ipython\(\)\)$/m, `${file}: the set-up cell`);
      assert.doesNotMatch(cellSource(setup), /^%%/, `${file}: the set-up cell is Python`);
      assert.equal(rest.length, typescript.length, `${file}: one twin cell per TypeScript cell`);
      rest.forEach((cell, i) => {
        const original = typescript[i];
        assert.equal(cell.cell_type, original.cell_type, `${file} cell ${i + 1}`);
        const expected = original.cell_type === "code" ? TYPESCRIPT_MAGIC + cellSource(original) : cellSource(original);
        assert.equal(cellSource(cell), expected, `${file} cell ${i + 1} differs from notebooks/${file}'s`);
      });
    }
  });

  it("build the Colab badges from package.json's repository only, and list every twin in notebooks/README.md", () => {
    for (const form of ["github:someone/florence2-ts", "someone/florence2-ts", "https://github.com/someone/florence2-ts.git", "git+https://github.com/someone/florence2-ts.git", "git@github.com:someone/florence2-ts.git"]) {
      assert.equal(githubRepository(form), "someone/florence2-ts", form);
      assert.equal(githubRepository({ type: "git", url: form }), "someone/florence2-ts", form);
    }
    for (const none of [undefined, "", "https://gitlab.com/someone/florence2-ts.git"]) assert.equal(githubRepository(none), undefined, String(none));
    assert.equal(colabUrl("someone/florence2-ts", "notebooks/colab/04-od.ipynb"), "https://colab.research.google.com/github/someone/florence2-ts/blob/main/notebooks/colab/04-od.ipynb");

    const withRepo = colabTable("someone/florence2-ts");
    for (const file of NOTEBOOK_FILES) assert.ok(withRepo.includes(colabBadge("someone/florence2-ts", `notebooks/colab/${file}`)), `a badge for ${file}`);

    const repository = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).repository;
    const readme = fs.readFileSync(path.join(NOTEBOOKS_DIR, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf(COLAB_TABLE_START), readme.indexOf(COLAB_TABLE_END) + COLAB_TABLE_END.length);
    assert.equal(table, colabTable(), "notebooks/README.md's table is the generated one");
    const front = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const notebooksSection = front.slice(front.indexOf("## Notebooks\n"));
    assert.ok(notebooksSection.startsWith(`## Notebooks\n\n${colabTable(githubRepository(repository), "notebooks/")}`), "README.md's notebook section leads with the table");
    for (const file of NOTEBOOK_FILES) assert.ok(table.includes(`colab/${file}`), `${file}'s twin in the table`);
    const firstCells = NOTEBOOK_FILES.map((f) => cellSource(readNotebook(path.join(NOTEBOOKS_DIR, f)).cells[0]));
    const repo = githubRepository(repository);
    if (repo) {
      NOTEBOOK_FILES.forEach((f, i) => assert.ok(firstCells[i].startsWith(colabBadge(repo, `notebooks/colab/${f}`)), `${f} opens with its badge`));
    } else {
      // No repository named: no invented badge anywhere, and the README says how to open a twin from a fork.
      for (const text of [table, ...firstCells]) assert.doesNotMatch(text, /colab\.research\.google\.com/);
      assert.match(readme, /File → Open notebook → GitHub/);
    }
  });
});

describe("Colab twins executed with Jupyter's Python kernel on a local copy of the project", function () {
  this.timeout(900_000);
  let tmp: string;
  const runs = new Map<string, ExecutedNotebook>();
  const expected = new Map<string, RunOutput>();
  const images = new Map<string, { file: string; image: RgbImage }>();
  let stateFile: string;

  before(async function () {
    const missing = jupyterMissing(["nbclient", "ipykernel", "IPython", "jupyter_client"]);
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "colab-twins-test-"));
    const project = path.join(tmp, "project");
    copyProject(project);
    stateFile = path.join(project, ".colab", "setup.json");
    fs.mkdirSync(path.join(tmp, "home"));
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: path.join(tmp, "home"),
      JUPYTER_DATA_DIR: path.join(tmp, "data"),
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      IPYTHONDIR: path.join(tmp, "ipython"),
      FLORENCE2_PROJECT_DIR: project,
      // No GPU here whatever the machine: the GPU branches are tested with fakes in kernel-setup.test.ts.
      PATH: `${path.dirname(process.execPath)}${path.delimiter}/usr/bin:/bin`,
    };
    delete base.JUPYTER_PATH;
    delete base.FLORENCE2_DEVICE;
    const fixtures = await writeNotebookFixtures(tmp, base);
    const photos = await writePhotoCache(tmp);
    const env: NodeJS.ProcessEnv = { ...fixtures.env, FLORENCE2_CACHE: photos.cacheDir };
    delete env.FLORENCE2_IMAGE;
    images.set("sample.jpg", { file: photos.street, image: await loadImageRgb(photos.street) });
    images.set("sample2.jpg", { file: photos.market, image: await loadImageRgb(photos.market) });
    const model = await Florence2.load(fixtures.modelFolder, { device: "cpu" });
    try {
      for (const task of WALKTHROUGH_TASKS) {
        const { image } = imageOf(task);
        expected.set(task.token, await model.run(image, task.token, walkthroughInput(task, image), { ...WALKTHROUGH_SETTINGS }));
      }
    } finally {
      await model.dispose();
    }

    const started = Date.now();
    const run = (file: string) => async () => {
      const output = path.join(tmp, `executed-${file}`);
      runs.set(file, await executeNotebook(path.join(project, "notebooks", "colab", file), { env, output, kernel: "python3", timeoutSeconds: 300 }));
    };
    // The first twin installs; the others find the install done, as later notebooks of one Colab runtime do.
    await run(NOTEBOOK_FILES[0])();
    await runLimited(2, NOTEBOOK_FILES.slice(1).map(run));
    const seconds = [...runs.values()].map((r) => r.seconds);
    console.log(
      `      ${runs.size} twins in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
        `(each ${Math.min(...seconds).toFixed(0)}-${Math.max(...seconds).toFixed(0)} s, Python and tslab kernels included)`,
    );
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function imageOf(task: TaskSpec): { file: string; image: RgbImage } {
    return images.get(photoOf(task).file) ?? (images.get("sample.jpg") as { file: string; image: RgbImage });
  }

  function executed(file: string): ExecutedNotebook {
    const run = runs.get(file);
    assert.ok(run, `${file} did not run`);
    return run;
  }

  function cellWith(file: string, marker: string): NotebookCell {
    const cell = executed(file).notebook.cells.find((c) => c.cell_type === "code" && cellSource(c).includes(marker));
    assert.ok(cell, `${file}: a code cell with ${marker}`);
    return cell;
  }

  it("every cell of every twin runs without failure", () => {
    for (const file of NOTEBOOK_FILES) {
      const { notebook, statuses } = executed(file);
      assert.equal(statuses.size, notebook.cells.filter((c) => c.cell_type === "code").length, `${file}: every code cell ran`);
      for (const [index, status] of statuses) {
        const cell = notebook.cells[index];
        assert.equal(status, "ok", `${file} cell ${index} (${cellSource(cell).split("\n")[0]}): ${streamText(cell, "stderr")}`);
        if (cellSource(cell).startsWith(TYPESCRIPT_MAGIC)) assert.equal(streamText(cell, "stderr"), "", `${file} cell ${index} printed errors`);
      }
    }
  });

  it("the set-up installs once, the later twins skip it, and each says what it did and which device the cells will use", () => {
    const outputs = NOTEBOOK_FILES.map((file) => streamText(executed(file).notebook.cells[0], "stdout"));
    assert.match(outputs[0], /^Project: .+, used as it is \(not a git clone\)$/m);
    assert.match(outputs[0], /== npm packages already installed/);
    assert.match(outputs[0], /== No NVIDIA GPU in this runtime/);
    assert.match(outputs[0], /^Install: done in \d+ s$/m);
    for (const [i, out] of outputs.entries()) {
      if (i > 0) {
        assert.match(out, /^Install: already done in this runtime \(.+\); skipped/m, NOTEBOOK_FILES[i]);
        assert.doesNotMatch(out, /== /, `${NOTEBOOK_FILES[i]}: the install script did not run again`);
      }
      assert.match(out, /^%%typescript: cells that start with it run in a TypeScript \(tslab\) kernel/m, NOTEBOOK_FILES[i]);
      assert.match(out, /^Device: CPU \(.+\); auto: no NVIDIA GPU found/m, NOTEBOOK_FILES[i]);
    }
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    assert.match(state.device, /^Device: CPU/);
    assert.deepEqual(state.env, {}, "no GPU: the library's auto choice, nothing forced");
  });

  for (const task of WALKTHROUGH_TASKS) {
    const file = taskNotebookFile(task);
    it(`${file}: the image, the result the library gives, %%time lines and the drawing`, () => {
      const { image } = imageOf(task);
      const shown = cellPngs(cellWith(file, "showImage(image)"));
      assert.equal(shown.length, 1, "the image");
      const load = cellWith(file, "Florence2.load(");
      assert.equal([...streamText(load, "stdout").matchAll(TIMING_LINES)].length, 1, "the load is timed");
      const runCell = cellWith(file, "liveProgress(");
      assert.deepEqual(results(runCell), [(expected.get(task.token) as RunOutput).result]);
      assert.equal([...streamText(runCell, "stdout").matchAll(TIMING_LINES)].length, 1, streamText(runCell, "stdout"));
      const drawing = cellPngs(cellWith(file, "showResult("));
      assert.equal(drawing.length, 1, "the drawing");
      assert.deepEqual([drawing[0].readUInt32BE(16), drawing[0].readUInt32BE(20)], [image.width, image.height], "drawn on the image");
    });
  }

  it(`${ALL_TASKS_NOTEBOOK}: every task's result, %%time lines and drawing; the batch; the timing table as an HTML table beside its text; the chart`, () => {
    const runCell = cellWith(ALL_TASKS_NOTEBOOK, "const runs: TaskRun[]");
    assert.deepEqual(results(runCell), WALKTHROUGH_TASKS.map((t) => (expected.get(t.token) as RunOutput).result));
    assert.equal([...streamText(runCell, "stdout").matchAll(TIMING_LINES)].length, WALKTHROUGH_TASKS.length);
    assert.equal(cellPngs(runCell).length, WALKTHROUGH_TASKS.length);
    const tables = (marker: string) => (cellWith(ALL_TASKS_NOTEBOOK, marker).outputs ?? []).filter((o) => o.data?.["text/html"] !== undefined);
    for (const marker of ["model.runBatch(", "timingTableDisplay("]) {
      const html = tables(marker);
      assert.equal(html.length, 1, `${marker}: one HTML output`);
      assert.match(joined(html[0].data?.["text/html"]), /<table[\s\S]*<\/table>/, marker);
      assert.ok(joined(html[0].data?.["text/plain"]).length > 0, `${marker}: the text form beside it`);
    }
    const table = tables("timingTableDisplay(")[0];
    for (const task of WALKTHROUGH_TASKS) assert.ok(joined(table.data?.["text/html"]).includes(`>${task.name}<`), `a row for ${task.name}`);
    assert.match(joined(table.data?.["text/html"]), /stand-in/, "the stand-in run is marked");
    assert.equal(cellPngs(cellWith(ALL_TASKS_NOTEBOOK, "timingTableDisplay(")).length, 1, "the chart");
  });
});

describe("A twin's set-up cell on a GPU runtime (fakes): the TypeScript kernels get the set-up's environment", function () {
  this.timeout(300_000);
  let tmp: string;

  before(function () {
    const missing = jupyterMissing(["nbclient", "ipykernel", "IPython", "jupyter_client"]);
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("installs once, then every run gives the %%typescript kernel the wheels' folders, FLORENCE2_DEVICE and VK_ICD_FILENAMES", async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "colab-gpu-test-"));
    const project = path.join(tmp, "project");
    copyProject(project);
    // A driver too old for the CUDA 13 provider, and NVIDIA's EGL library: the WebGPU branch.
    const gpu = writeFakeGpu(path.join(tmp, "gpu"), { driver: { found: "535.104", ok: false }, driverLibraries: ["libEGL_nvidia.so.0"] });
    fs.mkdirSync(path.join(tmp, "home"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...gpu.env,
      PATH: [gpu.bin, path.dirname(process.execPath), "/usr/bin", "/bin"].join(path.delimiter),
      HOME: path.join(tmp, "home"),
      JUPYTER_DATA_DIR: path.join(tmp, "data"),
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      IPYTHONDIR: path.join(tmp, "ipython"),
      FLORENCE2_PROJECT_DIR: project,
    };
    for (const key of ["JUPYTER_PATH", "FLORENCE2_DEVICE", "LD_LIBRARY_PATH", "VK_ICD_FILENAMES"]) delete env[key];
    const notebook = path.join(tmp, "probe.ipynb");
    const cell = (source: string, id: string) => ({ cell_type: "code", id, source, metadata: {}, outputs: [], execution_count: null });
    fs.writeFileSync(notebook, JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
      cells: [
        cell(colabSetupCode("A probe of the kernels' environment."), "setup"),
        cell(`${TYPESCRIPT_MAGIC}console.log(JSON.stringify({ ld: process.env.LD_LIBRARY_PATH, device: process.env.FLORENCE2_DEVICE, icd: process.env.VK_ICD_FILENAMES }));`, "probe"),
      ],
    }));

    const outputs: { setup: string; kernel: { ld: string; device: string; icd: string } }[] = [];
    for (const round of [1, 2]) {
      const run = await executeNotebook(notebook, { env, output: path.join(tmp, `probe-${round}.ipynb`), kernel: "python3", timeoutSeconds: 240 });
      const [setup, probe] = run.notebook.cells;
      assert.deepEqual([...run.statuses.values()], ["ok", "ok"], `${streamText(setup, "stderr")}${streamText(setup, "stdout")}${streamText(probe, "stderr")}`);
      outputs.push({ setup: streamText(setup, "stdout"), kernel: JSON.parse(streamText(probe, "stdout")) });
    }
    const state = JSON.parse(fs.readFileSync(path.join(project, ".colab", "setup.json"), "utf8")) as ColabState;
    assert.match(outputs[0].setup, /== CUDA can't run here \(driver 535\.104 is older than the 580 that the CUDA 13 provider needs\): WebGPU through NVIDIA's Vulkan driver \(.+libEGL_nvidia\.so\.0\) instead\./);
    assert.match(outputs[1].setup, /^Install: already done in this runtime/m);
    assert.ok(state.library_path.length > 0 && state.library_path.every((d) => d.startsWith(path.join(gpu.site, "nvidia"))), JSON.stringify(state.library_path));
    for (const [i, { setup, kernel }] of outputs.entries()) {
      assert.ok(setup.includes(`${state.notes[0]}\n${state.device}\n`), `run ${i + 1} prints why and the device line last:\n${setup}`);
      assert.match(state.device, /^Device: fake \(FLORENCE2_DEVICE=webgpu VK_ICD_FILENAMES=\S+nvidia_icd\.json LD_LIBRARY_PATH=/);
      assert.deepEqual(kernel.ld.split(":").slice(0, state.library_path.length), state.library_path, `run ${i + 1}: the wheels' folders first`);
      assert.equal(kernel.device, "webgpu");
      assert.equal(kernel.icd, state.env.VK_ICD_FILENAMES);
    }
  });
});
