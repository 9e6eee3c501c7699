/**
 * The `npm start` main job: its command line, its example inputs, its timing table, and the command itself
 * run as a child process on a stand-in model (`--standin`) and against a Hub server on 127.0.0.1.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { SEED_TIMINGS } from "../src/seed-timings";
import { WALKTHROUGH_TASKS, getTask } from "../src/tasks";
import {
  SAMPLE_IMAGE_SIZE,
  STANDIN_NOTE,
  UsageError,
  WALKTHROUGH_INPUTS,
  parseWalkthroughArgs,
  timingTable,
  walkthroughInput,
  type TaskRun,
} from "../src/walkthrough";
import { writeStandInModel } from "./support/standin";
import { HubTestServer } from "./support/hub-server";

const ROOT = path.resolve(__dirname, "..");
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Runs `npm start`'s script (tsx src/walkthrough.ts) with these arguments and environment. */
function runCommand(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv: Record<string, string | undefined> = { ...process.env, HF_HUB_OFFLINE: undefined, HF_TOKEN: undefined, HF_ENDPOINT: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src", "walkthrough.ts"), ...args], {
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

describe("walkthrough: the npm start main job", function () {
  this.timeout(120000);

  describe("command line", function () {
    it("defaults to the walkthrough's model, tasks and settings", function () {
      const o = parseWalkthroughArgs([]);
      assert.ok(o);
      assert.deepEqual(
        { model: o.model, dtype: o.dtype, image: o.image, beams: o.numBeams, tokens: o.maxNewTokens, out: o.outDir, standin: o.standin },
        { model: "onnx-community/Florence-2-base-ft", dtype: "fp32", image: undefined, beams: 3, tokens: 1024, out: path.resolve("output"), standin: false },
      );
      assert.deepEqual(o.tasks, WALKTHROUGH_TASKS);
      assert.equal(parseWalkthroughArgs(["--help"]), null);
      assert.equal(parseWalkthroughArgs(["-h"]), null);
    });

    it("reads every option", function () {
      const o = parseWalkthroughArgs([
        "--model", "onnx-community/Florence-2-large-ft", "--dtype", "q8", "--image", "a.jpg", "--tasks", "OD, <OCR>",
        "--num-beams", "1", "--max-new-tokens", "64", "--out", "x",
      ]);
      assert.ok(o);
      assert.deepEqual(
        [o.model, o.dtype, o.image, o.tasks.map((t) => t.token), o.numBeams, o.maxNewTokens, o.outDir],
        ["onnx-community/Florence-2-large-ft", "q8", "a.jpg", ["<OD>", "<OCR>"], 1, 64, path.resolve("x")],
      );
      assert.equal(parseWalkthroughArgs(["--standin"])?.standin, true);
    });

    it("rejects wrong options with a message naming the option and the expectation", function () {
      const cases: [string[], RegExp][] = [
        [["--num-beams", "0"], /positive integer for --num-beams but received "0"/],
        [["--max-new-tokens", "ten"], /positive integer for --max-new-tokens but received "ten"/],
        [["--tasks", "od"], /Unknown Florence-2 task "od".*did you mean "<OD>"/],
        [["--tasks", ","], /comma-separated list of tasks/],
        [["--dtype", "int3"], /Unsupported dtype "int3"/],
        [["--frobnicate"], /Unknown option '--frobnicate'/],
        [["extra"], /Unexpected argument 'extra'/],
        [["--standin", "--model", "x/y"], /leave out --model/],
      ];
      for (const [args, message] of cases) assert.throws(() => parseWalkthroughArgs(args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(" "));
    });
  });

  describe("example inputs", function () {
    it("has one input of the right kind for each walkthrough task that takes one, and none other", function () {
      const needing = WALKTHROUGH_TASKS.filter((t) => t.input !== "none");
      assert.deepEqual(Object.keys(WALKTHROUGH_INPUTS).sort(), needing.map((t) => t.token).sort());
      for (const t of needing) {
        const input = WALKTHROUGH_INPUTS[t.token];
        if (t.input === "text") assert.equal(typeof input, "string", t.token);
        else {
          assert.equal(typeof input, "object", t.token);
          const b = input as { x1: number; y1: number; x2: number; y2: number };
          assert.ok(0 <= b.x1 && b.x1 < b.x2 && b.x2 <= SAMPLE_IMAGE_SIZE.width && 0 <= b.y1 && b.y1 < b.y2 && b.y2 <= SAMPLE_IMAGE_SIZE.height, t.token);
        }
      }
    });

    it("scales region inputs to another image's size and leaves text as it is", function () {
      const region = getTask("<REGION_TO_CATEGORY>");
      const original = WALKTHROUGH_INPUTS[region.token] as { x1: number; y1: number; x2: number; y2: number };
      assert.deepEqual(walkthroughInput(region, SAMPLE_IMAGE_SIZE), original);
      assert.deepEqual(walkthroughInput(region, { width: 800, height: 533 }), {
        x1: Math.round(original.x1 / 2), y1: Math.round((original.y1 * 533) / 1066), x2: Math.round(original.x2 / 2), y2: Math.round((original.y2 * 533) / 1066),
      });
      assert.equal(walkthroughInput(getTask("<OPEN_VOCABULARY_DETECTION>"), { width: 10, height: 10 }), WALKTHROUGH_INPUTS["<OPEN_VOCABULARY_DETECTION>"]);
      assert.equal(walkthroughInput(getTask("<OD>"), SAMPLE_IMAGE_SIZE), undefined);
    });
  });

  it("tabulates this run's times beside the seed's, with totals", function () {
    const runs: TaskRun[] = [
      { task: getTask("<CAPTION>"), times: { user: 2, sys: 0.5, total: 2.5, wall: 1.25 } },
      { task: getTask("<OD>"), times: { user: 4, sys: 1, total: 5, wall: 3.5 } },
    ];
    const table = timingTable(runs, { model: "m/x", dtype: "q8", numBeams: 3, standin: false }).split("\n");
    assert.match(table[1], /this run: onnxruntime-node on CPU .* m\/x q8, num_beams=3/);
    assert.match(table[2], /seed: Colab T4 GPU/);
    assert.match(table[3], /^task +wall \(this run\) +CPU total \(this run\) +wall \(seed, T4\) +CPU total \(seed, T4\)$/);
    const seed = (token: string) => `${literal(SEED_TIMINGS[token].wall)} +${literal(SEED_TIMINGS[token].total)}`;
    assert.match(table[5], new RegExp(`^CAPTION +1\\.25 s +2\\.5 s +${seed("<CAPTION>")}$`));
    assert.match(table[6], new RegExp(`^OD +3\\.5 s +5 s +${seed("<OD>")}$`));
    assert.match(table[7], /^all 2 tasks +4\.75 s +7\.5 s +2\.72 s +2\.73 s$/);
  });

  describe("the command", function () {
    let tmp: string;
    let image: string;

    before(async function () {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-walkthrough-"));
      image = path.join(tmp, "street.png");
      const width = 160;
      const height = 120;
      const pixels = Buffer.alloc(width * height * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 251;
      await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(image);
    });

    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("runs all 14 walkthrough tasks on a stand-in, marking every line as random-weight output, and writes the drawings", async function () {
      const out = path.join(tmp, "out-standin");
      const r = await runCommand(["--standin", "--image", image, "--out", out, "--max-new-tokens", "24"]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const lines = r.stdout.trimEnd().split("\n");
      for (const line of lines) assert.ok(line.startsWith(STANDIN_NOTE), `unmarked line: ${line}`);
      for (const [i, t] of WALKTHROUGH_TASKS.entries()) {
        assert.ok(lines.some((l) => l.includes(`── ${i + 1}/14 ${t.token}`)), `no heading for ${t.token}`);
        const png = fs.readFileSync(path.join(out, `${String(i + 1).padStart(2, "0")}-${t.name}.png`));
        assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), `${t.name}.png is a PNG`);
        const meta = await sharp(png).metadata();
        assert.deepEqual([meta.width, meta.height], [160, 120]);
      }
      assert.equal(lines.filter((l) => /Wall time: \S+/.test(l)).length, 14);
      assert.equal(lines.filter((l) => /^\S.* \{"<[A-Z_]+>":/.test(l)).length, 14, "a parsed result per task");
      assert.ok(lines.some((l) => l.includes("wall (seed, T4)  CPU total (seed, T4)")));
      for (const t of WALKTHROUGH_TASKS) {
        const seed = SEED_TIMINGS[t.token];
        const seedColumns = new RegExp(` ${t.name} .* ${literal(seed.wall)} +${literal(seed.total)}$`);
        assert.ok(lines.some((l) => seedColumns.test(l.trimEnd())), `table row ${t.name}`);
      }
      const standinFolder = /Model: generated stand-in .* from (\S+)$/.exec(lines.find((l) => l.includes("Model: ")) ?? "")?.[1];
      assert.ok(standinFolder && !fs.existsSync(standinFolder), `the stand-in folder ${standinFolder} is removed afterwards`);
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
});
