/**
 * Long sessions (issue 7): 500 consecutive runs of a task on a tiny stand-in in one process must leave the
 * resident memory where it was after warming up (growth reported, failure above 50 MB) and open no handles
 * that stay open. A leak of one decoder step's tensors (about 200 KB of logits) would show as ~100 MB here.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { Florence2 } from "../src/florence2";
import { Florence2Tokenizer } from "../src/text/tokenizer";
import { writeStandInModel } from "./support/standin";
import { makeTestImage } from "./support/images";

const RUNS = 500;
const WARMUP_RUNS = 50;
const MAX_GROWTH_BYTES = 50 * 1e6;
const TASK = "<OD>";
const MB = 1e6;

/** A callable gc even without --expose-gc, so both RSS readings are taken after a full collection. */
function gcFunction(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

describe("soak: 500 consecutive runs in one process", function () {
  this.timeout(120_000);
  let root: string;
  let model: Florence2;
  let image: Buffer;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-soak-"));
    const folder = path.join(root, "model");
    // A tiny stand-in with the tokenizer it writes; the script is an OD answer, so post-processing runs too.
    await writeStandInModel(folder, { size: "tiny" });
    const script = Florence2Tokenizer.fromFolder(folder).encode("car<loc_52><loc_332><loc_932><loc_774>");
    await writeStandInModel(folder, { size: "tiny", script });
    // No feature cache: every run decodes, preprocesses and encodes the image, so every stage is soaked. One
    // intra-op thread: the tiny model gains nothing from two, and on a busy CI machine they only wait for each other.
    model = await Florence2.load(folder, { cacheImageFeatures: false, intraOpNumThreads: 1 });
    // Already 768x768, the model's input size: the cheapest image to decode and preprocess (no resampling), so
    // 500 runs fit in seconds.
    image = await makeTestImage({ width: 768, height: 768, format: "jpeg", pattern: "photo" });
  });

  after(async () => {
    await model?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("keeps resident memory and open handles flat", async () => {
    const gc = gcFunction();
    const runOnce = async () => {
      const out = await model.run(image, TASK, undefined, { numBeams: 1 });
      assert.deepEqual((out.result[TASK] as { labels: string[] }).labels, ["car"]);
    };
    for (let i = 0; i < WARMUP_RUNS; i++) await runOnce();
    gc();
    const rssBefore = process.memoryUsage.rss();
    const handlesBefore = activeResources();
    const started = performance.now();
    for (let i = 0; i < RUNS; i++) await runOnce();
    const seconds = (performance.now() - started) / 1000;
    gc();
    const growth = process.memoryUsage.rss() - rssBefore;
    const handlesAfter = activeResources();
    console.log(
      `      ${RUNS} runs of ${TASK} in ${seconds.toFixed(1)} s: RSS ${(rssBefore / MB).toFixed(1)} MB -> ` +
        `${((rssBefore + growth) / MB).toFixed(1)} MB (growth ${(growth / MB).toFixed(1)} MB); ` +
        `handles ${JSON.stringify(Object.fromEntries(handlesAfter))}`,
    );
    assert.ok(growth < MAX_GROWTH_BYTES, `RSS grew by ${(growth / MB).toFixed(1)} MB over ${RUNS} runs (limit ${MAX_GROWTH_BYTES / MB} MB)`);
    for (const [name, count] of handlesAfter) {
      const before = handlesBefore.get(name) ?? 0;
      assert.ok(count <= before, `${count - before} more active "${name}" resource(s) after ${RUNS} runs than before: something stays open.`);
    }
  });
});
