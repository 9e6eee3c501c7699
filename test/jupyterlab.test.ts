/**
 * The all-tasks notebook as a JupyterLab 4 user sees it, in headless Chromium at 1300 px wide: executed headlessly on
 * the tiny stand-in, saved with its outputs, then opened in JupyterLab. Its timing table and batch summary must be
 * rendered as HTML tables (not fixed-width text), visible, within the output area, every row on one line, numbers
 * right-aligned.
 *
 * JupyterLab is not packaged in Debian 12; machine images that carry its wheels get it in a private venv, installed
 * offline (`pip install --no-index --find-links <folder> jupyterlab`) and reused between runs. Without the wheels
 * (or Chromium, or playwright-core) the test skips, saying which is missing.
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ALL_TASKS_NOTEBOOK } from "../notebooks/generate";
import { WALKTHROUGH_TASKS } from "../src/text/tasks";
import {
  NOTEBOOKS_DIR,
  REPO_ROOT,
  SYSTEM_PYTHON,
  executeNotebook,
  jupyterMissing,
  registerKernel,
  writeNotebookFixtures,
  writePhotoCache,
} from "./support/jupyter";

const CHROMIUM = "/usr/bin/chromium";
/** Folders where machine images keep wheels; FLORENCE2_JUPYTERLAB_WHEELS names another. */
const WHEEL_FOLDERS = ["/opt/pypi/files", "/opt/wheels", "/opt/pip-wheels", "/usr/share/python-wheels"];

/** The folder holding a jupyterlab-4 wheel, if any. */
function jupyterlabWheels(): string | undefined {
  const candidates = [process.env.FLORENCE2_JUPYTERLAB_WHEELS, ...WHEEL_FOLDERS].filter((d): d is string => !!d);
  for (const dir of candidates) {
    if (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => /^jupyterlab-4.*\.whl$/.test(f))) return dir;
  }
  // The slow way, as TOOLCHAIN.md says: bounded, so a machine without them is not searched for long.
  const found = spawnSync("find", ["/", "-xdev", "-name", "jupyterlab-4*.whl", "-print", "-quit"], { encoding: "utf8", timeout: 20_000 });
  const file = found.stdout?.trim().split("\n")[0];
  return file ? path.dirname(file) : undefined;
}

/** A venv with JupyterLab from those wheels, created once per wheel set and reused. */
function jupyterlabVenv(wheels: string): string {
  const wheel = fs.readdirSync(wheels).find((f) => /^jupyterlab-4.*\.whl$/.test(f)) as string;
  const venv = path.join(os.tmpdir(), `florence2-${wheel.replace(/\.whl$/, "")}-venv`);
  const lab = path.join(venv, "bin", "jupyter-lab");
  if (!fs.existsSync(lab)) {
    fs.rmSync(venv, { recursive: true, force: true });
    for (const [command, args] of [
      [SYSTEM_PYTHON, ["-m", "venv", venv]],
      [path.join(venv, "bin", "pip"), ["install", "-q", "--no-index", "--find-links", wheels, "jupyterlab"]],
    ] as const) {
      const run = spawnSync(command, args, { encoding: "utf8", timeout: 300_000 });
      assert.equal(run.status, 0, `${command} ${args.join(" ")} failed:\n${run.stderr}${run.stdout}`);
    }
  }
  // Every cell in the page, not only those scrolled into view (JupyterLab 4 renders visible cells only by default).
  const settings = path.join(venv, "share", "jupyter", "lab", "settings");
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(path.join(settings, "overrides.json"), JSON.stringify({ "@jupyterlab/notebook-extension:tracker": { windowingMode: "none" } }));
  return venv;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What the page reports of one HTML table in an output. */
interface TableSeen {
  caption: string;
  width: number;
  /** The output area's right edge, and the table's. */
  areaRight: number;
  right: number;
  rows: number;
  /** Cells whose text takes more than one line box. */
  wrapped: string[];
  /** Per body row: whether each cell is right-aligned. */
  rightAligned: boolean[][];
  firstCells: string[];
}

/**
 * The page-side measurement, as source text (this project's TypeScript has no DOM types): each table scrolled into
 * view, its box and its output area's, and the cells whose text takes more than one line box.
 */
function measureTables(selector: string): string {
  return `[...document.querySelectorAll(${JSON.stringify(selector)})].map((table) => {
    table.scrollIntoView();
    const box = table.getBoundingClientRect();
    const area = table.closest(".jp-OutputArea-output").getBoundingClientRect();
    const lines = (cell) => {
      const range = document.createRange();
      range.selectNodeContents(cell);
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    };
    const body = [...table.querySelectorAll("tbody tr, tfoot tr")];
    return {
      caption: table.querySelector("caption b")?.textContent ?? "",
      width: box.width,
      areaRight: area.right,
      right: box.right,
      rows: body.length,
      wrapped: [...table.querySelectorAll("td, th")].filter((c) => lines(c) > 1).map((c) => c.textContent ?? ""),
      rightAligned: body.map((tr) => [...tr.querySelectorAll("td")].map((td) => getComputedStyle(td).textAlign === "right")),
      firstCells: body.map((tr) => tr.querySelector("td")?.textContent ?? ""),
    };
  })`;
}

describe("JupyterLab 4 in headless Chromium: all-tasks' tables as HTML tables", function () {
  this.timeout(600_000);
  let tmp: string;
  let server: ChildProcess | undefined;
  let serverLog = "";
  let venv: string;

  before(function () {
    const wheels = jupyterlabWheels();
    const missing =
      jupyterMissing(["nbclient", "jupyter_client"]) ??
      (fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`) ??
      (fs.existsSync(path.join(REPO_ROOT, "node_modules", "playwright-core")) ? undefined : "playwright-core is not installed (npm ci)") ??
      (wheels ? undefined : "no jupyterlab-4*.whl on this machine (JupyterLab is not packaged in Debian 12; set FLORENCE2_JUPYTERLAB_WHEELS to a folder of its wheels)");
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    venv = jupyterlabVenv(wheels as string);
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once("exit", r));
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("shows the timing table and the batch summary as tables within the output, no row wrapped, numbers right-aligned", async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jupyterlab-test-"));
    const kernelEnv = registerKernel(path.join(tmp, "jupyter"));
    const fixtures = await writeNotebookFixtures(tmp, kernelEnv);
    const photos = await writePhotoCache(tmp);
    const env: NodeJS.ProcessEnv = { ...fixtures.env, FLORENCE2_CACHE: photos.cacheDir, HOME: tmp };
    delete env.FLORENCE2_IMAGE;

    // Executed as a user's JupyterLab would have, then saved: the served copy holds the outputs.
    const served = path.join(tmp, "served");
    fs.mkdirSync(served);
    fs.symlinkSync(path.join(REPO_ROOT, "src"), path.join(served, "src"));
    const executed = path.join(served, ALL_TASKS_NOTEBOOK);
    const run = await executeNotebook(path.join(NOTEBOOKS_DIR, ALL_TASKS_NOTEBOOK), { env, output: executed, cwd: NOTEBOOKS_DIR, timeoutSeconds: 300 });
    assert.deepEqual([...run.statuses.values()].filter((s) => s !== "ok"), [], "every cell ran");
    // Outputs a user's own run produced are trusted; a saved notebook's are not until signed.
    const trust = spawnSync(path.join(venv, "bin", "jupyter"), ["trust", executed], { env, encoding: "utf8" });
    assert.equal(trust.status, 0, trust.stderr);

    const port = await freePort();
    const token = crypto.randomBytes(16).toString("hex");
    server = spawn(
      path.join(venv, "bin", "jupyter-lab"),
      [
        "--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--port-retries=0", `--IdentityProvider.token=${token}`,
        `--ServerApp.root_dir=${served}`, "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout?.on("data", (d) => (serverLog += d));
    server.stderr?.on("data", (d) => (serverLog += d));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`JupyterLab exited (${server.exitCode}):\n${serverLog}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/api/status?token=${token}`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`JupyterLab did not answer within 90 s:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 }, deviceScaleFactor: 1 });
      await page.goto(`http://127.0.0.1:${port}/lab/tree/${ALL_TASKS_NOTEBOOK}?token=${token}`);
      const tableSelector = ".jp-OutputArea-output table";
      await page.waitForFunction(`document.querySelectorAll(${JSON.stringify(tableSelector)}).length >= 2`, null, { timeout: 120_000 });
      const seen = (await page.evaluate(measureTables(tableSelector))) as TableSeen[];
      fs.writeFileSync(path.join(tmp, "page.png"), await page.screenshot({ fullPage: false }));

      const timing = seen.find((t) => t.caption.startsWith("Per-task times"));
      const batch = seen.find((t) => t.caption.startsWith("One runBatch"));
      assert.ok(timing && batch, `the timing table and the batch summary among the HTML tables: ${JSON.stringify(seen.map((t) => t.caption))}`);
      for (const table of [timing, batch]) {
        assert.ok(table.width > 200, `${table.caption}: visible (${table.width} px wide)`);
        assert.ok(table.right <= table.areaRight + 1, `${table.caption}: within the output area (table ends at ${table.right} px, the area at ${table.areaRight} px)`);
        assert.deepEqual(table.wrapped, [], `${table.caption}: cells on more than one line`);
      }
      assert.deepEqual(timing.firstCells, [...WALKTHROUGH_TASKS.map((t) => t.name), `all ${WALKTHROUGH_TASKS.length} tasks`]);
      // task and photo on the left; this run's, the batched and the seed's figures on the right.
      for (const row of timing.rightAligned) assert.deepEqual(row, [false, false, true, true, true, true, true]);
    } finally {
      await browser.close();
    }
  });
});
