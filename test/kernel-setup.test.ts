/**
 * kernel-setup/: the kernel command (install, reinstall, uninstall, the missing-Jupyter message), run as the user
 * runs it, with every Jupyter folder and $HOME pointed into a temp folder so the real ones are never touched; the
 * registered kernel is started and runs TypeScript. Then Colab's way in, as far as it runs without Colab: the
 * set-up notebook, executed by Jupyter's Python kernel against a local copy of the project, runs the install
 * script, registers the kernel, runs `%%typescript` cells and a whole task notebook.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KERNEL_DISPLAY_NAME, KERNEL_NAME, pythonCandidates } from "../kernel-setup/kernel";
import { WALKTHROUGH_GENERATION } from "../notebooks/generate";
import { Florence2 } from "../src/florence2";
import { WALKTHROUGH_TASKS } from "../src/tasks";
import { STANDIN_NOTE } from "../src/walkthrough";
import {
  REPO_ROOT,
  SYSTEM_PYTHON,
  cellPngs,
  cellSource,
  executeNotebook,
  jupyterMissing,
  streamText,
  writeNotebookFixtures,
} from "./support/jupyter";

const KERNEL_SCRIPT = path.join(REPO_ROOT, "kernel-setup", "kernel.ts");
const TSX_CLI = path.join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs");

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe("kernel-setup/kernel.ts", function () {
  this.timeout(60_000);
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;

  before(function () {
    const missing = jupyterMissing(["jupyter_client", "jupyter_core", "nbclient"]);
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-setup-test-"));
    dataDir = path.join(tmp, "data");
    fs.mkdirSync(path.join(tmp, "home"));
    env = {
      ...process.env,
      HOME: path.join(tmp, "home"),
      JUPYTER_DATA_DIR: dataDir,
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      IPYTHONDIR: path.join(tmp, "ipython"),
    };
    delete env.JUPYTER_PATH;
  });

  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function cli(args: string[], runEnv: NodeJS.ProcessEnv = env): CliRun {
    const run = spawnSync(process.execPath, [TSX_CLI, KERNEL_SCRIPT, ...args], { env: runEnv, encoding: "utf8" });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  function kernelSpecsSeenByJupyter(runEnv: NodeJS.ProcessEnv = env): Record<string, { resource_dir: string }> {
    const run = spawnSync(SYSTEM_PYTHON, ["-m", "jupyter_client.kernelspecapp", "list", "--json"], { env: runEnv, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout).kernelspecs;
  }

  const specDir = () => path.join(dataDir, "kernels", KERNEL_NAME);
  const readSpec = () => JSON.parse(fs.readFileSync(path.join(specDir(), "kernel.json"), "utf8"));

  it("registers a kernel that runs the project's tslab with this Node.js, where Jupyter finds it", () => {
    const run = cli(["install", "--python", SYSTEM_PYTHON]);
    assert.equal(run.status, 0, run.stderr);
    const spec = readSpec();
    assert.deepEqual(spec.argv, [
      process.execPath,
      path.join(REPO_ROOT, "node_modules", "tslab", "bin", "tslab"),
      "kernel",
      "--config-path",
      "{connection_file}",
    ]);
    assert.equal(spec.display_name, KERNEL_DISPLAY_NAME);
    assert.equal(spec.language, "typescript");
    assert.ok(fs.existsSync(spec.argv[1]), `${spec.argv[1]} must exist`);
    assert.equal(path.resolve(kernelSpecsSeenByJupyter()[KERNEL_NAME].resource_dir), specDir());
    assert.match(run.stdout, new RegExp(`Registered the "${KERNEL_DISPLAY_NAME.replace(/[()]/g, "\\$&")}" kernel in ${specDir()}`));
    assert.deepEqual(fs.readdirSync(path.join(tmp, "home")), [], "nothing may be written to $HOME");
  });

  it("finds the Python that has Jupyter through the `jupyter` command on PATH", () => {
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "jupyter"), `#!${SYSTEM_PYTHON}\nprint("stand-in jupyter")\n`, { mode: 0o755 });
    const run = cli(["install"], { ...env, PATH: bin });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Jupyter found in ${SYSTEM_PYTHON}`));
    assert.ok(fs.existsSync(path.join(specDir(), "kernel.json")));
  });

  it("never runs its Python probe through a shell: a pyenv-style `#!/usr/bin/env bash` jupyter shim is passed over", () => {
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    const ran = path.join(tmp, "bash-was-run");
    // pyenv's shims are bash scripts. `env bash` would find this recorder first on PATH.
    fs.writeFileSync(path.join(bin, "jupyter"), `#!/usr/bin/env bash\nexec pyenv exec jupyter "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "bash"), `#!/bin/sh\nprintf '%s ' "$@" > ${ran}\nexit 1\n`, { mode: 0o755 });
    fs.symlinkSync(SYSTEM_PYTHON, path.join(bin, "python3"));
    const run = cli(["install"], { ...env, PATH: bin });
    const given = fs.existsSync(ran) ? fs.readFileSync(ran, "utf8").slice(0, 60) : "";
    assert.ok(!fs.existsSync(ran), `bash was run with the Python probe: bash ${given}...`);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Jupyter found in /);
  });

  it("is safe to run twice: the same single kernel spec", () => {
    assert.equal(cli(["install", "--python", SYSTEM_PYTHON]).status, 0);
    const first = readSpec();
    const again = cli(["install", "--python", SYSTEM_PYTHON]);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(readSpec(), first);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, "kernels")), [KERNEL_NAME]);
    assert.deepEqual(fs.readdirSync(specDir()), ["kernel.json"]);
  });

  it("the registered kernel starts and runs TypeScript cells", async function () {
    assert.equal(cli(["install", "--python", SYSTEM_PYTHON]).status, 0);
    const notebook = path.join(tmp, "probe.ipynb");
    fs.writeFileSync(
      notebook,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: KERNEL_NAME, display_name: KERNEL_DISPLAY_NAME, language: "typescript" } },
        cells: [{ cell_type: "code", id: "probe", source: "const answer: number = 6 * 7;\nconsole.log(`answer ${answer}`);", metadata: {}, outputs: [], execution_count: null }],
      }),
    );
    const run = await executeNotebook(notebook, { env, output: path.join(tmp, "probe.out.ipynb"), timeoutSeconds: 60 });
    assert.equal(run.statuses.get(0), "ok", streamText(run.notebook.cells[0], "stderr"));
    assert.equal(streamText(run.notebook.cells[0], "stdout"), "answer 42\n");
  });

  it("uninstall removes it, and a second uninstall has nothing to do", () => {
    assert.equal(cli(["install", "--python", SYSTEM_PYTHON]).status, 0);
    const removed = cli(["uninstall", "--python", SYSTEM_PYTHON]);
    assert.equal(removed.status, 0, removed.stderr);
    assert.ok(!fs.existsSync(specDir()));
    assert.equal(kernelSpecsSeenByJupyter()[KERNEL_NAME], undefined);
    const again = cli(["uninstall", "--python", SYSTEM_PYTHON]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /nothing to remove/);
  });

  it("uninstall leaves alone a kernel of the same name that it did not write", () => {
    fs.mkdirSync(specDir(), { recursive: true });
    const foreign = JSON.stringify({ argv: ["somebody-else", "{connection_file}"], display_name: "Other", language: "typescript" });
    fs.writeFileSync(path.join(specDir(), "kernel.json"), foreign);
    const run = cli(["uninstall", "--python", SYSTEM_PYTHON]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /did not write; it was left alone/);
    assert.equal(fs.readFileSync(path.join(specDir(), "kernel.json"), "utf8"), foreign);
  });

  it("--prefix installs under PREFIX/share/jupyter/kernels and says how Jupyter finds it", () => {
    const prefix = path.join(tmp, "prefix");
    const run = cli(["install", "--python", SYSTEM_PYTHON, "--prefix", prefix]);
    assert.equal(run.status, 0, run.stderr);
    const installed = path.join(prefix, "share", "jupyter", "kernels", KERNEL_NAME);
    assert.ok(fs.existsSync(path.join(installed, "kernel.json")));
    assert.match(run.stdout, new RegExp(`set JUPYTER_PATH=${path.join(prefix, "share", "jupyter")}`));
    const seen = kernelSpecsSeenByJupyter({ ...env, JUPYTER_PATH: path.join(prefix, "share", "jupyter") });
    assert.equal(path.resolve(seen[KERNEL_NAME].resource_dir), installed);
    assert.equal(cli(["uninstall", "--python", SYSTEM_PYTHON, "--prefix", prefix]).status, 0);
    assert.ok(!fs.existsSync(installed));
  });

  it("without Jupyter, fails and says how to install it", () => {
    // Debian's Python without its site-packages: runs, but has no jupyter_client.
    const bare = path.join(tmp, "python-without-jupyter");
    fs.writeFileSync(bare, `#!/bin/sh\nexec ${SYSTEM_PYTHON} -S -I "$@"\n`, { mode: 0o755 });
    const given = cli(["install", "--python", bare]);
    assert.equal(given.status, 1);
    assert.match(given.stderr, new RegExp(`The Python "${bare}" given with --python can't import jupyter_client`));
    assert.match(given.stderr, /pip install jupyterlab/);
    assert.match(given.stderr, /--python \/path\/to\/that\/python/);

    const emptyPath = path.join(tmp, "empty-bin");
    fs.mkdirSync(emptyPath);
    const searched = cli(["install"], { ...env, PATH: emptyPath });
    assert.equal(searched.status, 1);
    assert.match(searched.stderr, /Jupyter was not found \(tried the Pythons: python3, python\)/);
    assert.ok(!fs.existsSync(specDir()), "nothing is registered");
  });

  it("rejects conflicting locations and unknown commands", () => {
    const both = cli(["install", "--user", "--prefix", tmp]);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /at most one of --user, --sys-prefix, --prefix/);
    const unknown = cli(["instal"]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stdout, /Usage: kernel.ts <install\|uninstall\|status>/);
  });
});

describe("kernel-setup/colab_setup.ipynb, run here on a local copy of the project", function () {
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

  /** The project as a clone has it, with the installed node_modules linked in (so `npm ci` is not rerun). */
  function copyProject(to: string): void {
    const skipped = new Set(["node_modules", ".git", ".cache", "models", "output", "bench-models", ".jupyter", "dist"]);
    fs.cpSync(REPO_ROOT, to, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => !skipped.has(path.relative(REPO_ROOT, source).split(path.sep)[0]),
    });
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(to, "node_modules"));
  }

  it("installs and registers the kernel, runs %%typescript cells and shows a task notebook", async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "colab-test-"));
    const project = path.join(tmp, "project");
    copyProject(project);
    fs.mkdirSync(path.join(tmp, "home"));
    const dataDir = path.join(tmp, "data");
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: path.join(tmp, "home"),
      JUPYTER_DATA_DIR: dataDir,
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      IPYTHONDIR: path.join(tmp, "ipython"),
      FLORENCE2_PROJECT_DIR: project,
    };
    delete base.JUPYTER_PATH;
    const fixtures = await writeNotebookFixtures(tmp, base);

    const run = await executeNotebook(path.join(project, "kernel-setup", "colab_setup.ipynb"), {
      env: fixtures.env,
      output: path.join(tmp, "colab.out.ipynb"),
      kernel: "python3",
      timeoutSeconds: 240,
    });
    const cells = run.notebook.cells;
    for (const [index, status] of run.statuses) {
      assert.equal(status, "ok", `cell ${index} (${cellSource(cells[index]).split("\n")[0]}): ${streamText(cells[index], "stderr")}${streamText(cells[index], "stdout")}`);
    }

    // The install script skipped what was there and registered the copy's tslab with this runtime's Jupyter.
    const codeCell = (marker: string) => {
      const cell = cells.find((c) => c.cell_type === "code" && cellSource(c).includes(marker));
      assert.ok(cell, `a code cell with ${marker}`);
      return cell;
    };
    const install = codeCell("colab-install.sh");
    assert.match(streamText(install, "stdout"), /== Node\.js v\d+/);
    assert.match(streamText(install, "stdout"), /npm packages already installed/);
    const spec = JSON.parse(fs.readFileSync(path.join(dataDir, "kernels", KERNEL_NAME, "kernel.json"), "utf8"));
    assert.equal(spec.argv[1], path.join(project, "node_modules", "tslab", "bin", "tslab"));

    // %%typescript cells: the task's result as the library gives it, marked as a stand-in's, and its drawing.
    const task = WALKTHROUGH_TASKS.find((t) => t.resultKind === "description_with_bboxes") ?? WALKTHROUGH_TASKS[0];
    const taskCell = codeCell("const TASK");
    assert.match(cellSource(taskCell), /^%%typescript\n/);
    const model = await Florence2.load(fixtures.modelFolder);
    const expected = await model.run(fixtures.imagePath, task.token, undefined, { ...WALKTHROUGH_GENERATION });
    await model.dispose();
    assert.ok(streamText(taskCell, "stdout").includes(`${STANDIN_NOTE} ${JSON.stringify(expected.result)}`), streamText(taskCell, "stdout"));
    assert.match(streamText(taskCell, "stdout"), /CPU times: user .+\nWall time: .+/);
    assert.equal(cellPngs(taskCell).length, 1);

    // show_notebook: the task notebook's markdown and code shown, and its outputs (image and drawing).
    const shown = cells[cells.length - 1];
    assert.match(cellSource(shown), /^show_notebook\(/);
    const markdown = (shown.outputs ?? []).filter((o) => o.data?.["text/markdown"] !== undefined);
    assert.ok(markdown.length > 5, "the notebook's cells are shown");
    assert.equal(cellPngs(shown).length, 2, "the image and the drawing");
    assert.ok(streamText(shown, "stdout").includes(STANDIN_NOTE));
  });
});

describe("kernel-setup/kernel.ts: which Pythons it asks", function () {
  let bin: string;
  beforeEach(() => (bin = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-candidates-"))));
  afterEach(() => fs.rmSync(bin, { recursive: true, force: true }));

  /** The candidates when the `jupyter` on PATH starts with `shebang`. */
  function candidatesFor(shebang: string): string[] {
    fs.writeFileSync(path.join(bin, "jupyter"), `${shebang}\n`, { mode: 0o755 });
    return pythonCandidates({ PATH: bin });
  }

  it("takes the interpreter of the jupyter script first when it is named like Python", () => {
    assert.deepEqual(candidatesFor("#!/opt/conda/bin/python3.11"), ["/opt/conda/bin/python3.11", "python3", "python"]);
    assert.deepEqual(candidatesFor("#!/usr/bin/env python3"), ["python3", "python"]);
    assert.deepEqual(candidatesFor("#! /usr/bin/env -S python3 -u"), ["python3", "python"]);
    assert.deepEqual(candidatesFor("#!/home/u/.venv/bin/python"), ["/home/u/.venv/bin/python", "python3", "python"]);
  });

  it("passes over shells and other interpreters", () => {
    for (const shebang of ["#!/usr/bin/env bash", "#!/bin/sh", "#!/usr/bin/env zsh", "#!/usr/bin/perl", "#!/usr/bin/env node", "no shebang"]) {
      assert.deepEqual(candidatesFor(shebang), ["python3", "python"], shebang);
    }
    assert.deepEqual(pythonCandidates({ PATH: path.join(bin, "nothing-here") }), ["python3", "python"]);
  });
});
