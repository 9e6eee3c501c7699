/**
 * A user's path end to end: Debian's classic Jupyter Notebook server on 127.0.0.1 (free port, token, every
 * Jupyter folder in a temp dir), opened in headless Chromium, runs an object-detection task notebook with Run
 * All on a stand-in model; the drawn result must appear, and a screenshot of it must show the box where the
 * library put it, in the colour the library gives its label.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { taskNotebookFile } from "../notebooks/generate";
import { WALKTHROUGH_SETTINGS } from "../src/walkthrough/steps";
import { labelColor } from "../src/notebook/overlay";
import { Florence2 } from "../src/florence2";
import { loadImageRgb } from "../src/image/image";
import type { BoxesResult } from "../src/text/postprocess";
import { WALKTHROUGH_TASKS } from "../src/text/tasks";
import {
  FIXTURE_IMAGE_COLOR,
  NOTEBOOKS_DIR,
  REPO_ROOT,
  SYSTEM_PYTHON,
  jupyterMissing,
  registerKernel,
  writeNotebookFixtures,
} from "./support/jupyter";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const TASK = WALKTHROUGH_TASKS.find((t) => t.resultKind === "description_with_bboxes") ?? WALKTHROUGH_TASKS[0];

/** What the page's classic-notebook JavaScript exposes (notebook 6.4's `Jupyter` global), as far as used here. */
interface JupyterPage {
  Jupyter?: {
    notebook?: {
      kernel?: { is_connected(): boolean; name: string };
      execute_all_cells(): void;
      get_cells(): { cell_type: string; output_area?: { outputs: { data?: Record<string, unknown> }[] } }[];
    };
  };
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

async function waitForServer(url: string, server: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`The notebook server exited (${server.exitCode}):\n${log()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`The notebook server did not answer ${url} within ${timeoutMs} ms:\n${log()}`);
}

function hexToRgb(color: string): [number, number, number] {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

describe("browser: classic Jupyter Notebook + headless Chromium, Run All", function () {
  this.timeout(300_000);
  let tmp: string;
  let server: ChildProcess | undefined;
  let serverLog = "";

  before(function () {
    const missing =
      jupyterMissing(["notebook", "jupyter_client"]) ??
      (fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`) ??
      (fs.existsSync(path.join(REPO_ROOT, "node_modules", "playwright-core")) ? undefined : "playwright-core is not installed (npm ci)");
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
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

  it(`runs ${taskNotebookFile(TASK)} and shows the drawn boxes where the library puts them`, async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "browser-test-"));
    const fixtures = await writeNotebookFixtures(tmp, registerKernel(path.join(tmp, "jupyter")));

    // What the notebook must draw: the library's own result for the same model, image and settings.
    const image = await loadImageRgb(fixtures.imagePath);
    const model = await Florence2.load(fixtures.modelFolder);
    const result = (await model.run(image, TASK.token, undefined, { ...WALKTHROUGH_SETTINGS })).result[TASK.token] as BoxesResult;
    await model.dispose();
    const [x1, y1, x2, y2] = result.bboxes[0];
    assert.ok(x2 - x1 > 100 && y2 - y1 > 100, `the stand-in's first box is large enough to find: ${result.bboxes[0]}`);
    const boxColor = hexToRgb(labelColor(result.labels[0]));

    // A served copy, so that the server's autosave can't write outputs into the committed notebook;
    // its src and node_modules links make it resolve the library as notebooks/ does.
    const served = path.join(tmp, "served");
    fs.mkdirSync(served);
    fs.copyFileSync(path.join(NOTEBOOKS_DIR, taskNotebookFile(TASK)), path.join(served, taskNotebookFile(TASK)));
    fs.symlinkSync(path.join(REPO_ROOT, "src"), path.join(served, "src"));
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(served, "node_modules"));

    const port = await freePort();
    const token = crypto.randomBytes(16).toString("hex");
    server = spawn(
      SYSTEM_PYTHON,
      [
        "-m", "notebook", "--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--port-retries=0",
        `--NotebookApp.token=${token}`, `--notebook-dir=${served}`,
        // CI containers run as root, which the server refuses unless told.
        ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
      ],
      { env: { ...fixtures.env, HOME: tmp }, stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout?.on("data", (d) => (serverLog += d));
    server.stderr?.on("data", (d) => (serverLog += d));
    await waitForServer(`http://127.0.0.1:${port}/api/status?token=${token}`, server, () => serverLog, 60_000);

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
      await page.goto(`http://127.0.0.1:${port}/notebooks/${taskNotebookFile(TASK)}?token=${token}`);
      await page.waitForFunction(() => (globalThis as unknown as JupyterPage).Jupyter?.notebook?.kernel?.is_connected() === true, null, {
        timeout: 60_000,
      });
      assert.equal(await page.evaluate(() => (globalThis as unknown as JupyterPage).Jupyter?.notebook?.kernel?.name), "florence2-ts");

      await page.evaluate(() => (globalThis as unknown as JupyterPage).Jupyter?.notebook?.execute_all_cells());
      // The drawing is the last cell's output.
      await page.waitForFunction(
        () => {
          const cells = (globalThis as unknown as JupyterPage).Jupyter?.notebook?.get_cells() ?? [];
          const last = cells[cells.length - 1];
          return (last?.output_area?.outputs ?? []).some((o) => o.data?.["image/png"] !== undefined);
        },
        null,
        { timeout: 240_000 },
      );
      const drawn = page.locator(".cell").last().locator(".output_png img");
      await drawn.scrollIntoViewIfNeeded();
      await page.waitForFunction((img) => (img as unknown as { complete: boolean }).complete, await drawn.elementHandle());
      const shot = await sharp(await drawn.screenshot()).removeAlpha().raw().toBuffer({ resolveWithObject: true });

      const { width, height } = shot.info;
      const scale = width / image.width;
      assert.ok(Math.abs(height / image.height - scale) < 0.01, `shown at the image's aspect ratio: ${width}x${height}`);
      const pixel = (x: number, y: number): number[] => {
        const i = (Math.round(y) * width + Math.round(x)) * 3;
        return [shot.data[i], shot.data[i + 1], shot.data[i + 2]];
      };
      const near = (a: readonly number[], b: readonly number[], tolerance: number) => a.every((v, k) => Math.abs(v - b[k]) <= tolerance);
      /** Whether the box colour is within 3 screen pixels of (x, y) in image coordinates. */
      const boxColourNear = (x: number, y: number) => {
        for (let dy = -3; dy <= 3; dy++) {
          for (let dx = -3; dx <= 3; dx++) {
            if (near(pixel(x * scale + dx, y * scale + dy), boxColor, 40)) return true;
          }
        }
        return false;
      };

      // The box's edges are drawn in its label's colour, all around...
      for (const t of [0.3, 0.5, 0.7, 0.9]) {
        assert.ok(boxColourNear(x1, y1 + t * (y2 - y1)), `left edge at ${t}: ${pixel(x1 * scale, (y1 + t * (y2 - y1)) * scale)}`);
        assert.ok(boxColourNear(x2, y1 + t * (y2 - y1)), `right edge at ${t}`);
        assert.ok(boxColourNear(x1 + t * (x2 - x1), y2), `bottom edge at ${t}`);
        assert.ok(boxColourNear(x1 + t * (x2 - x1), y1), `top edge at ${t}`);
      }
      // ...while the inside of the box and a far corner still show the grey image.
      assert.ok(near(pixel(((x1 + x2) / 2) * scale, ((y1 + y2) / 2) * scale), FIXTURE_IMAGE_COLOR, 8), "inside the box");
      assert.ok(near(pixel(width - 5, height - 5), FIXTURE_IMAGE_COLOR, 8), "far from the boxes");
    } finally {
      await browser.close();
    }
  });
});
