/**
 * kernel-setup/: the kernel command (install, reinstall, uninstall, the missing-Jupyter message), run as the user
 * runs it, with every Jupyter folder and $HOME pointed into a temp folder so the real ones are never touched; the
 * registered kernel is started and runs TypeScript. Then Colab's way in, as far as it runs without Colab: the
 * set-up notebook, executed by Jupyter's Python kernel against a local copy of the project, runs the install
 * script, registers the kernel, runs `%%typescript` cells and a whole task notebook.
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KERNEL_DISPLAY_NAME, KERNEL_NAME, pythonCandidates } from "../kernel-setup/kernel";
import { WALKTHROUGH_SETTINGS } from "../src/walkthrough/steps";
import { Florence2 } from "../src/florence2";
import { WALKTHROUGH_TASKS } from "../src/text/tasks";
import { STANDIN_NOTE } from "../src/walkthrough/standin-note";
import {
  REPO_ROOT,
  SYSTEM_PYTHON,
  cellPngs,
  cellSource,
  executeNotebook,
  joined,
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
    const taskCell = codeCell("liveProgress(");
    assert.match(cellSource(taskCell), /^%%typescript\n/);
    assert.match(streamText(install, "stdout"), /== No NVIDIA GPU in this runtime|== NVIDIA GPU/);
    assert.match(streamText(codeCell("Florence2.load("), "stdout"), /^Device: CPU \(.+\); auto: /m);
    const model = await Florence2.load(fixtures.modelFolder);
    const expected = await model.run(fixtures.imagePath, task.token, undefined, { ...WALKTHROUGH_SETTINGS });
    await model.dispose();
    // The result is printed, or left in the live progress entry when the run was long enough to show one.
    const shownText = (taskCell.outputs ?? []).map((o) => (o.output_type === "stream" ? joined(o.text) : joined(o.data?.["text/plain"]))).join("\n");
    assert.ok(shownText.includes(`${STANDIN_NOTE} ${JSON.stringify(expected.result)}`), shownText);
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

describe("kernel-setup/colab-install.sh: onnxruntime-node's CUDA provider where there is a GPU", function () {
  this.timeout(120_000);
  let tmp: string;

  before(function () {
    const missing = jupyterMissing(["jupyter_client", "jupyter_core"]);
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * Runs the install script from the project folder with a private Jupyter and HOME. `gpu` puts a fake nvidia-smi
   * first on PATH that names one; onnxruntime-node's installer then reaches for NuGet through `proxy`, a local port
   * that records the request and closes, so nothing is downloaded whatever the machine's network.
   */
  function runInstall(gpu: string | undefined, proxy: string): Promise<CliRun> {
    tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), "colab-install-test-"));
    const bin = path.join(tmp, gpu ? "bin-gpu" : "bin-none");
    fs.mkdirSync(bin, { recursive: true });
    if (gpu) {
      const smi = path.join(bin, "nvidia-smi");
      fs.writeFileSync(smi, `#!/bin/sh\n[ "$1" = "--query-gpu=name" ] && echo "${gpu}"\nexit 0\n`);
      fs.chmodSync(smi, 0o755);
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${bin}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}/usr/bin:/bin`,
      HOME: path.join(tmp, "home"),
      JUPYTER_DATA_DIR: path.join(tmp, "data"),
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      IPYTHONDIR: path.join(tmp, "ipython"),
      PYTHON: SYSTEM_PYTHON,
      GLOBAL_AGENT_HTTP_PROXY: proxy,
      GLOBAL_AGENT_HTTPS_PROXY: proxy,
    };
    delete env.JUPYTER_PATH;
    delete env.FLORENCE2_DEVICE;
    fs.mkdirSync(env.HOME as string, { recursive: true });
    // Asynchronously: the proxy that receives the installer's request lives in this process.
    const child = spawn("bash", [path.join(REPO_ROOT, "kernel-setup", "colab-install.sh")], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
  }

  it("on a GPU runtime runs onnxruntime-node's own installer (npm run gpu:install, from NuGet) and, when it fails, goes on with the CPU", async function () {
    if (fs.existsSync(path.join(REPO_ROOT, "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", "x64", "libonnxruntime_providers_cuda.so"))) {
      console.log("      skipped: the CUDA provider is installed here, so the script would not run the installer");
      this.skip();
    }
    if (`${process.platform}/${process.arch}` !== "linux/x64") this.skip();
    const requests: string[] = [];
    const proxy = net.createServer((socket) => socket.once("data", (d) => (requests.push(d.toString().split("\r\n")[0]), socket.destroy())));
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      const run = await runInstall("Tesla T4", url);
      assert.equal(run.status, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /== NVIDIA GPU \(Tesla T4\): installing onnxruntime-node's CUDA provider with its own installer\n {3}\(npm run gpu:install\)/);
      assert.match(run.stderr, /WARNING: onnxruntime-node's CUDA provider could not be installed \(see above\): the notebooks run on the CPU\./);
      // The device line comes from the library's own choice, which read the fake nvidia-smi.
      assert.match(run.stdout, /== Device check: Device: CPU \(.+\); auto: found Tesla T4, but onnxruntime-node's CUDA provider is not installed/);
      assert.match(run.stdout, /== Registering the TypeScript kernel/);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
    assert.ok(requests.some((r) => r.startsWith("CONNECT api.nuget.org:443")), `the installer went for NuGet: ${JSON.stringify(requests)}`);
  });

  it("without a GPU says so and installs nothing", async function () {
    const run = await runInstall(undefined, "http://127.0.0.1:9");
    assert.equal(run.status, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /== No NVIDIA GPU in this runtime: the notebooks run on the CPU \(on Colab: Runtime > Change runtime type > T4 GPU\)/);
    assert.doesNotMatch(run.stdout, /installing onnxruntime-node's CUDA/);
    assert.match(run.stdout, /== Device check: Device: CPU \(.+\); auto: no NVIDIA GPU found/);
  });
});

describe("kernel-setup/tslab_bridge.py", function () {
  before(function () {
    const missing = jupyterMissing(["IPython", "jupyter_client"]);
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });

  function python(code: string, env: NodeJS.ProcessEnv = process.env): string {
    const run = spawnSync(SYSTEM_PYTHON, ["-c", `import sys; sys.path.insert(0, ${JSON.stringify(path.join(REPO_ROOT, "kernel-setup"))})\n${code}`], { env, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout;
  }

  it("passes display entries on with their id, so that the kernel's updates overwrite them (the live progress line)", function () {
    const out = python(`
import json, IPython.display, tslab_bridge
calls = []
IPython.display.display = lambda *objs, **kw: calls.append([objs[0], kw])
msg = lambda kind, text, id=None: {"header": {"msg_type": kind}, "content": {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": id} if id else {}}}
tslab_bridge.show_output(msg("display_data", "picture"))
tslab_bridge.show_output(msg("display_data", "<OD>: 5 tokens", "p1"))
tslab_bridge.show_output(msg("update_display_data", "<OD>: 9 tokens", "p1"))
tslab_bridge.show_output(msg("update_display_data", "the result", "p1"))
tslab_bridge.show_output(msg("update_display_data", "no id, nothing to update"))
print(json.dumps(calls))
`);
    assert.deepEqual(JSON.parse(out), [
      [{ "text/plain": "picture" }, { raw: true }],
      [{ "text/plain": "<OD>: 5 tokens" }, { raw: true, metadata: {}, display_id: "p1", update: false }],
      [{ "text/plain": "<OD>: 9 tokens" }, { raw: true, metadata: {}, display_id: "p1", update: true }],
      [{ "text/plain": "the result" }, { raw: true, metadata: {}, display_id: "p1", update: true }],
    ]);
  });

  it("puts the nvidia-* packages' library folders (CUDA, cuDNN) on the kernels' LD_LIBRARY_PATH when the Python has them", function () {
    const site = fs.mkdtempSync(path.join(os.tmpdir(), "bridge-nvidia-"));
    try {
      for (const pkg of ["cublas", "cudnn"]) fs.mkdirSync(path.join(site, "nvidia", pkg, "lib"), { recursive: true });
      fs.mkdirSync(path.join(site, "nvidia", "not_a_library"), { recursive: true });
      const code = `import json, tslab_bridge\nprint(json.dumps(tslab_bridge.kernel_environment({"LD_LIBRARY_PATH": "/usr/local/cuda/lib64"})["LD_LIBRARY_PATH"]))`;
      const withPackages = JSON.parse(python(code, { ...process.env, PYTHONPATH: site }));
      assert.equal(withPackages, [path.join(site, "nvidia", "cublas", "lib"), path.join(site, "nvidia", "cudnn", "lib"), "/usr/local/cuda/lib64"].join(":"));
      const without = JSON.parse(python(code));
      assert.equal(without, "/usr/local/cuda/lib64");
    } finally {
      fs.rmSync(site, { recursive: true, force: true });
    }
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
