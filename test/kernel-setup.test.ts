/**
 * kernel-setup/kernel.ts: install, reinstall, uninstall and the missing-Jupyter message, run as the user runs
 * them (the command line) with every Jupyter folder and $HOME pointed into a temp folder, so the real ones are
 * never touched. The registered kernel is started and runs TypeScript. Colab's set-up script and notebook are
 * in test/colab.test.ts.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KERNEL_DISPLAY_NAME, KERNEL_NAME } from "../kernel-setup/kernel";
import { REPO_ROOT, SYSTEM_PYTHON, executeNotebook, jupyterMissing, streamText } from "./support/jupyter";

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
