/**
 * `npm start` (src/walkthrough/main.ts) run as a child process, as users run it: on a stand-in model (`--standin`)
 * with their own image or with the walkthrough's photos (from a pre-filled cache: nothing is downloaded), and
 * against a Hub server on 127.0.0.1.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { WALKTHROUGH_TASKS } from "../../src/text/tasks";
import { SERIES_COLORS } from "../../src/walkthrough/chart";
import { SEED_TIMINGS } from "../../src/walkthrough/seed-timings";
import { STANDIN_NOTE } from "../../src/walkthrough/standin-note";
import { WALKTHROUGH_SETTINGS, settingsLine } from "../../src/walkthrough/steps";
import { HubTestServer } from "../support/hub-server";
import { writeStandInModel } from "../support/standin";

const ROOT = path.resolve(__dirname, "..", "..");
const MAIN = path.join(ROOT, "src", "walkthrough", "main.ts");
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Runs `npm start`'s script (tsx src/walkthrough/main.ts) with these arguments and environment. */
function runCommand(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv: Record<string, string | undefined> = {
    ...process.env, HF_HUB_OFFLINE: undefined, HF_TOKEN: undefined, HF_ENDPOINT: undefined, FLORENCE2_DEVICE: undefined, ...env,
  };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    env: childEnv as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
}

/** A regular expression that matches `text` itself, e.g. the dot in "1.66 s". */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

async function writeImage(file: string, width: number, height: number, seed: number): Promise<string> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * seed) % 251;
  await sharp(pixels, { raw: { width, height, channels: 3 } }).toFile(file);
  return file;
}

async function pngSize(file: string): Promise<[number, number]> {
  const png = fs.readFileSync(file);
  assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), `${file} is a PNG`);
  const meta = await sharp(png).metadata();
  return [meta.width as number, meta.height as number];
}

describe("walkthrough/main: the npm start command", function () {
  this.timeout(180000);
  let tmp: string;
  let image: string;

  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-walkthrough-"));
    image = await writeImage(path.join(tmp, "street.png"), 160, 120, 7);
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("runs all 14 walkthrough tasks on a stand-in and the user's image, marking every line, with the walkthrough's settings, table and chart", async function () {
    const out = path.join(tmp, "out-standin");
    const r = await runCommand(["--standin", "--image", image, "--out", out, "--max-new-tokens", "24"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trimEnd().split("\n");
    for (const line of lines) assert.ok(line.startsWith(STANDIN_NOTE), `unmarked line: ${line}`);
    for (const [i, t] of WALKTHROUGH_TASKS.entries()) {
      assert.ok(lines.some((l) => l.includes(`── ${i + 1}/14 ${t.token}`) && l.includes(" on street.png")), `no heading for ${t.token}`);
      assert.deepEqual(await pngSize(path.join(out, `${String(i + 1).padStart(2, "0")}-${t.name}.png`)), [160, 120]);
    }
    assert.ok(lines.includes(`${STANDIN_NOTE} Settings: num_beams=3, max_new_tokens=24, early_stopping=False`));
    assert.ok(lines.some((l) => /Device: CPU \(.+\); auto: /.test(l)), "the device and why");
    assert.equal(lines.filter((l) => /Wall time: \S+/.test(l)).length, 14);
    assert.equal(lines.filter((l) => /^\S.* \{"<[A-Z_]+>":/.test(l)).length, 14, "a parsed result per task");
    assert.ok(lines.some((l) => l.includes("wall (seed, T4)  CPU total (seed, T4)")));
    for (const t of WALKTHROUGH_TASKS) {
      const seed = SEED_TIMINGS[t.token];
      const row = new RegExp(` ${t.name} +street\\.png .* ${literal(seed.wall)} +${literal(seed.total)}$`);
      assert.ok(lines.some((l) => row.test(l.trimEnd())), `table row ${t.name}`);
    }
    assert.ok(lines.some((l) => l.endsWith(`Chart: ${path.join(out, "timings.png")}`)));
    const [w, h] = await pngSize(path.join(out, "timings.png"));
    assert.ok(w >= 800 && h > 14 * 30, `chart ${w}x${h}`);
    assert.doesNotMatch(r.stdout + r.stderr, /tokens\/s/, "no progress line for quick tasks in a pipe");
    const standinFolder = /Model: generated stand-in .* from (\S+)$/.exec(lines.find((l) => l.includes("Model: ")) ?? "")?.[1];
    assert.ok(standinFolder && !fs.existsSync(standinFolder), `the stand-in folder ${standinFolder} is removed afterwards`);
  });

  it("--batch: runs the tasks again as one runBatch, says how they compare, and puts the batched shares in the table and chart", async function () {
    const out = path.join(tmp, "out-batch");
    const r = await runCommand(["--standin", "--image", image, "--batch", "--tasks", "CAPTION,OD,REGION_TO_CATEGORY,OCR", "--max-new-tokens", "16", "--out", out]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trimEnd().split("\n");
    for (const line of lines) assert.ok(line.startsWith(STANDIN_NOTE), `unmarked line: ${line}`);
    const at = lines.findIndex((l) => l.endsWith("── all 4 tasks again, as one model.runBatch call"));
    assert.ok(at > 0 && lines.slice(0, at).filter((l) => /Wall time: /.test(l)).length === 4, "after the four per-task runs");
    assert.match(lines[at + 1], /CPU times: user \S+ \S+, sys: \S+ \S+, total: \S+ \S+$/);
    assert.match(lines[at + 2], /Wall time: \S+ \S+$/);
    const batchTime = /One runBatch of 4 requests: (\S+ \S+), against \S+ \S+ for the 4 per-task runs one after another \(\d+\.\d\dx\)\.$/.exec(lines[at + 3])?.[1];
    assert.ok(batchTime, lines[at + 3]);
    // npm start runs the vision encoder for every task, as the walkthrough did; the batch once for the one image.
    assert.match(lines[at + 4], /  vision encoder \S+ \S+ \(1 run for 1 photo; the per-task runs: 4 runs\), text encoder/);
    assert.match(lines[at + 5], /Batched results are the same as the per-task runs for all 4 tasks \(ids, text and parsed result; largest beam-score difference /);
    assert.ok(lines.some((l) => / task +photo +wall \(CPU\) +CPU total \(CPU\) +batched wall \(CPU\) +wall \(seed, T4\)/.test(l)));
    const total = lines.find((l) => l.startsWith(`${STANDIN_NOTE} all 4 tasks `)) ?? "";
    assert.equal(total.slice(STANDIN_NOTE.length).trim().split(/\s{2,}/)[3], batchTime, `the shares add up to the batch: ${total}`);
    // The chart's third series: bars in the batched colour.
    const { data, info } = await sharp(fs.readFileSync(path.join(out, "timings.png"))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const [gr, gg, gb] = [1, 3, 5].map((i) => Number.parseInt(SERIES_COLORS.batched.slice(i, i + 2), 16));
    let green = 0;
    for (let p = 0; p < info.width * info.height * 3; p += 3) if (data[p] === gr && data[p + 1] === gg && data[p + 2] === gb) green++;
    assert.ok(green > 4 * 14, `batched bars in the chart (${green} pixels)`);
  });

  it("--images: a progress line per batch, Ctrl-C stops with exit code 130 and a valid file, the same command resumes; a bad photo gives exit code 1", async function () {
    const photos = path.join(tmp, "my-photos");
    fs.mkdirSync(photos);
    for (let i = 0; i < 10; i++) await writeImage(path.join(photos, `p${i}.jpg`), 64 + 8 * i, 48 + 4 * i, 3 + i);
    fs.writeFileSync(path.join(photos, "p5-broken.jpg"), "not a JPEG");
    const results = path.join(tmp, "mine.jsonl");
    const args = ["--standin", "--images", photos, "--out", results];
    // Stopped as soon as the first batch's lines are in the file, as a user's Ctrl-C.
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    const poll = setInterval(() => {
      if (fs.existsSync(results) && fs.statSync(results).size > 0) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    }, 20);
    const code = await closed;
    clearInterval(poll);
    assert.equal(code, 130, stderr + stdout);
    assert.match(stderr, /Stopping after Ctrl-C/);
    const stopped = fs.readFileSync(results, "utf8");
    assert.ok(stopped.endsWith("\n"));
    const first = stopped.trimEnd().split("\n").map((l) => JSON.parse(l) as { file: string; task: string; standin: string });
    assert.ok(first.length > 0 && first.length % 11 === 0 && first.length < 110, `whole photos only: ${first.length} lines`);
    assert.ok(first.every((r) => r.standin === STANDIN_NOTE));
    assert.match(stdout, new RegExp(`Stopped: ${first.length} results written to ${literal(results)}\\. Run the same command again to carry on\\.`));

    const again = await runCommand(args);
    assert.equal(again.code, 1, "a photo was skipped");
    assert.match(again.stderr, /^Skipped .*p5-broken\.jpg: Cannot load image/m);
    assert.match(again.stderr, /^photos \d+\/\d+ \(100%\), \d+s elapsed, ETA 0s, 1 skipped$/m, "plain progress lines in a pipe");
    assert.match(again.stdout, new RegExp(`\\(${first.length} of this run's results already there: skipped\\)`));
    const all = fs.readFileSync(results, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { file: string; task: string });
    assert.equal(all.length, 110);
    assert.equal(new Set(all.map((r) => `${r.file} ${r.task}`)).size, 110, "no pair twice");

    const missing = await runCommand(["--standin", "--images", path.join(tmp, "no-such-folder")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^Error: --images: there is no file or folder ".*no-such-folder"/);
  });

  it("runs the OCR tasks on the market photo and the others on the street photo, from the cache, and says so", async function () {
    const cache = path.join(tmp, "photo-cache");
    fs.mkdirSync(path.join(cache, "samples"), { recursive: true });
    await writeImage(path.join(cache, "samples", "sample.jpg"), 200, 134, 3);
    await writeImage(path.join(cache, "samples", "sample2.jpg"), 180, 120, 5);
    const out = path.join(tmp, "out-photos");
    const r = await runCommand(
      ["--standin", "--tasks", "OD,REGION_TO_CATEGORY,OCR,OCR_WITH_REGION", "--max-new-tokens", "16", "--out", out],
      { FLORENCE2_CACHE: cache, HF_HUB_OFFLINE: "1" },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.split("\n");
    const heading = (token: string) => lines.find((l) => l.includes(`${token} `) && l.includes("── ")) ?? "";
    assert.match(heading("<OD>"), / on sample\.jpg$/);
    assert.match(heading("<REGION_TO_CATEGORY>"), / on sample\.jpg input: \{"x1":87,"y1":58,"x2":107,"y2":68\}$/, "the region scaled to the 200x134 photo");
    assert.match(heading("<OCR>"), / on sample2\.jpg$/);
    assert.match(heading("<OCR_WITH_REGION>"), / on sample2\.jpg$/);
    assert.equal(lines.filter((l) => l.includes("Image: ")).length, 2, "each photo read once");
    assert.ok(lines.some((l) => l.endsWith(`Image: ${path.join(cache, "samples", "sample2.jpg")} (180x120)`)));
    assert.match(r.stdout, / OCR +sample2\.jpg +/);
    assert.match(r.stdout, / OCR_WITH_REGION +sample2\.jpg +/);
    assert.match(r.stdout, / OD +sample\.jpg +/);
    assert.deepEqual(await pngSize(path.join(out, "03-OCR.png")), [180, 120]);
    assert.deepEqual(await pngSize(path.join(out, "01-OD.png")), [200, 134]);
  });

  it("scales the region inputs to a portrait and a tiny image", async function () {
    for (const [name, width, height] of [["portrait.png", 90, 160], ["tiny.png", 5, 4]] as const) {
      const file = await writeImage(path.join(tmp, name), width, height, 11);
      const out = path.join(tmp, `out-${name}`);
      const r = await runCommand(["--standin", "--image", file, "--tasks", "REGION_TO_SEGMENTATION,REGION_TO_CATEGORY,REGION_TO_DESCRIPTION", "--max-new-tokens", "12", "--out", out]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      for (const token of ["<REGION_TO_SEGMENTATION>", "<REGION_TO_CATEGORY>", "<REGION_TO_DESCRIPTION>"]) {
        const heading = r.stdout.split("\n").find((l) => l.includes(`── `) && l.includes(token)) ?? "";
        const box = JSON.parse(/input: (\{.*\})$/.exec(heading)?.[1] ?? "null");
        assert.ok(box && 0 <= box.x1 && box.x1 < box.x2 && box.x2 <= width && 0 <= box.y1 && box.y1 < box.y2 && box.y2 <= height, `${name} ${token}: ${heading}`);
      }
      assert.deepEqual(await pngSize(path.join(out, "01-REGION_TO_SEGMENTATION.png")), [width, height]);
    }
  });

  it("prints the same settings line as the notebooks, all three of the walkthrough's settings", async function () {
    const r = await runCommand(["--standin", "--image", image, "--tasks", "CAPTION", "--max-new-tokens", "1024", "--out", path.join(tmp, "out-settings")]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(r.stdout.includes(`${STANDIN_NOTE} Settings: ${settingsLine(WALKTHROUGH_SETTINGS)}\n`), r.stdout);
  });

  it("stops with one clear line when --device cuda can't be had", async function () {
    const r = await runCommand(["--standin", "--image", image, "--tasks", "CAPTION", "--device", "cuda", "--out", path.join(tmp, "out-cuda")]);
    if (/Device: CUDA/.test(r.stdout)) this.skip(); // a machine with a working CUDA provider
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: device "cuda" was asked for, but .*Or use the CPU: device "cpu" or "auto"\.\n$/);
  });

  it("downloads the model from a Hub server (HF_ENDPOINT), with progress lines, then runs", async function () {
    const source = path.join(tmp, "served");
    await writeStandInModel(source, { dtypes: ["fp32"] });
    const server = await HubTestServer.start({ "onnx-community/Florence-2-base-ft": { folder: source } });
    try {
      const cache = path.join(tmp, "cache");
      const out = path.join(tmp, "out-hub");
      const r = await runCommand(["--image", image, "--tasks", "CAPTION,OD", "--max-new-tokens", "8", "--num-beams", "1", "--out", out], {
        HF_ENDPOINT: server.url,
        FLORENCE2_CACHE: cache,
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stderr, /onnx-community\/Florence-2-base-ft: downloading onnx\/vision_encoder\.onnx/);
      assert.match(r.stderr, /downloaded and verified\./);
      assert.ok(fs.existsSync(path.join(cache, "onnx-community", "Florence-2-base-ft", "main", "onnx", "decoder_model_merged.onnx")));
      assert.match(r.stdout, /── 2\/2 <OD>/);
      assert.ok(fs.existsSync(path.join(out, "02-OD.png")));
    } finally {
      await server.close();
    }
  });

  it("stops with one clear line and exit code 1 when the Hub cannot be reached", async function () {
    const gone = await HubTestServer.start({});
    const url = gone.url;
    await gone.close();
    const r = await runCommand(["--image", image, "--tasks", "OD"], { HF_ENDPOINT: url, FLORENCE2_CACHE: path.join(tmp, "empty-cache") });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^Error: Could not reach ${new URL(url).host.replace(/\./g, "\\.")} \\(ECONNREFUSED\\)`));
    assert.match(r.stderr, /HF_HUB_OFFLINE=1/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal(r.stdout, "");
  });

  it("answers a wrong command line with exit code 2 and a pointer to --help; --help exits 0", async function () {
    const bad = await runCommand(["--num-beams", "zero"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^Error: Expected a positive integer for --num-beams but received "zero"\.\nRun "npm start -- --help" for the options\.\n$/);
    const help = await runCommand(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: npm start -- \[options\]/);
    for (const option of ["--model", "--dtype", "--image", "--tasks", "--num-beams", "--max-new-tokens", "--out", "--standin", "--help"]) {
      assert.ok(help.stdout.includes(option), option);
    }
  });
});
