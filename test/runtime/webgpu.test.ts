/**
 * WebGPU, really run: onnxruntime's WebGPU provider (Dawn, Vulkan) on SwiftShader, the software Vulkan driver that
 * Debian's chromium package ships. VK_ICD_FILENAMES is set on this process itself (no child process needed) before
 * the first WebGPU session: the Vulkan loader reads it when Dawn first creates its instance, which is at the first
 * session on ["webgpu"], not when onnxruntime-node is imported. XDG_RUNTIME_DIR is set to a private folder as the
 * issue found it wanted; on this machine SwiftShader also opened without it. Where no Vulkan loader or SwiftShader
 * is found the tests skip with a message, except under FLORENCE2_REQUIRE_WEBGPU=1 (.ci/run), where that fails.
 *
 * A CPU emulating a GPU is correctness only: shader compilation dominates, so each dtype is loaded once and the runs
 * are grouped into one runBatch. The stand-in is the conditioned one (random weights, choices that depend on the image
 * and prompt), so equal ids mean the GPU computed what the CPU did, not that either is Florence-2.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Florence2, type BatchRequest, type RunOutput } from "../../src/florence2";
import { DeviceError, SYSTEM_PROBE, chooseDevice } from "../../src/runtime/device";
import { LINUX_SYSTEM, linuxAdapter } from "../../src/runtime/webgpu";
import { TASKS } from "../../src/text/tasks";
import { makeTestImage } from "../support/images";
import { CONDITIONED_TEST_IDS, CONDITIONED_TEST_SEED, writeStandInModel } from "../support/standin";

/** Where Debian's chromium-common puts SwiftShader's Vulkan driver (`dpkg -L chromium-common | grep -i swiftshader`). */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const MAX_NEW_TOKENS = 4;

/** One request per walkthrough task and beam count, with an input where the task takes one. */
function walkthroughRequests(image: Buffer): BatchRequest[] {
  const requests: BatchRequest[] = [];
  for (const task of TASKS.filter((t) => t.inWalkthrough)) {
    const input = task.input === "text" ? "a green car" : task.input === "region" ? { x1: 20, y1: 30, x2: 200, y2: 180 } : undefined;
    for (const numBeams of [1, 3]) requests.push({ image, task: task.token, input, options: { numBeams } });
  }
  return requests;
}

function ids(outputs: readonly RunOutput[]): number[][] {
  return outputs.map((o) => o.ids);
}

describe("webgpu on SwiftShader (software Vulkan)", function () {
  this.timeout(600_000);
  const saved = { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
  let root: string;
  let folder: string;
  let image: Buffer;
  let requests: BatchRequest[];
  let cpu: Florence2;

  before(async function () {
    const adapterHere = linuxAdapter({ ...LINUX_SYSTEM, env: { VK_ICD_FILENAMES: SWIFTSHADER_ICD } });
    const missing =
      process.platform !== "linux" || process.arch !== "x64"
        ? `onnxruntime-node's WebGPU on ${process.platform} ${process.arch} is not Vulkan`
        : !fs.existsSync(SWIFTSHADER_ICD)
          ? `no ${SWIFTSHADER_ICD} (apt-get install chromium)`
          : !adapterHere.found
            ? `${adapterHere.how} (apt-get install libvulkan1)`
            : undefined;
    if (missing !== undefined) {
      if (process.env.FLORENCE2_REQUIRE_WEBGPU === "1") throw new Error(`FLORENCE2_REQUIRE_WEBGPU=1 but no Vulkan driver for the WebGPU tests: ${missing}.`);
      console.log(`      (skipped: no Vulkan driver for WebGPU here: ${missing})`);
      this.skip();
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-webgpu-"));
    const xdg = path.join(root, "xdg-runtime");
    fs.mkdirSync(xdg, { mode: 0o700 });
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    process.env.XDG_RUNTIME_DIR = xdg;
    folder = (
      await writeStandInModel(path.join(root, "model"), {
        restrictTo: CONDITIONED_TEST_IDS, conditioned: true, seed: CONDITIONED_TEST_SEED, dtypes: ["fp32", "fp16", "q8"],
      })
    ).folder;
    image = await makeTestImage({ width: 320, height: 240, pattern: "photo", seed: 1 });
    requests = walkthroughRequests(image);
    cpu = await Florence2.load(folder, { device: "cpu" });
  });
  after(async () => {
    await cpu?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("auto stays on the CPU when the only adapter is software, and says so", async function () {
    const choice = await chooseDevice(undefined, undefined, SYSTEM_PROBE, {});
    if (choice.provider === "cuda") this.skip(); // a CUDA machine picks CUDA before WebGPU is looked at
    assert.equal(choice.provider, "cpu");
    assert.match(choice.summary, /no WebGPU: the only adapter is software \(SwiftShader\) \(Vulkan driver .*vk_swiftshader_icd\.json\), slower than the CPU itself\.$/);
  });

  it("device webgpu opens every session on WebGPU (CPU as fallback) and names the software adapter", async function () {
    const choice = await chooseDevice("webgpu", undefined, SYSTEM_PROBE, {});
    assert.deepEqual([choice.provider, choice.executionProviders, choice.hardware], ["webgpu", ["webgpu", "cpu"], "software (SwiftShader)"]);
    assert.equal(choice.adapter?.software, true);
    assert.match(choice.summary, /^Device: WebGPU on software \(SwiftShader\), Vulkan; as asked \(device "webgpu"; adapter Vulkan driver .*\)\.$/);
  });

  it("fp32: every walkthrough task, greedy and 3 beams, in one runBatch, gives the ids the CPU gives each alone", async function () {
    const model = await Florence2.load(folder, { device: "webgpu" });
    try {
      const sessions = model.device.sessions;
      assert.deepEqual(Object.values(sessions), Array(4).fill(["webgpu", "cpu"]), JSON.stringify(sessions));
      assert.deepEqual([model.device.provider, model.device.hardware, model.device.adapter?.software], ["webgpu", "software (SwiftShader)", true]);
      const started = Date.now();
      const onGpu = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS });
      const seconds = (Date.now() - started) / 1000;
      // The CPU's answer is each request run alone (runBatch = run is florence2-batch.test.ts's business). On
      // SwiftShader a run() alone compiles shaders for its own row counts again (about 100 s each here), so the
      // GPU side runs the batch only.
      const alone: RunOutput[] = [];
      for (const r of requests) alone.push(await cpu.run(r.image, r.task, r.input, { ...r.options, maxNewTokens: MAX_NEW_TOKENS }));
      assert.deepEqual(ids(onGpu), ids(alone));
      assert.deepEqual(onGpu.map((o) => o.result), alone.map((o) => o.result));
      assert.ok(onGpu.some((o) => o.ids.length > 2), "the stand-in generated more than an end token");
      console.log(`      (${requests.length} requests as one runBatch on SwiftShader: ${seconds.toFixed(1)} s)`);
    } finally {
      await model.dispose();
    }
  });

  it("q8 runs on SwiftShader and gives the CPU's q8 ids; the decoder can be placed on the CPU", async function () {
    const some = [requests[0], requests[7], requests[requests.length - 1]];
    const cpuQ8 = await Florence2.load(folder, { device: "cpu", dtype: "q8" });
    const model = await Florence2.load(folder, { device: "webgpu", dtype: "q8", placement: { decoder_model_merged: "cpu" } });
    try {
      assert.deepEqual(model.device.sessions.decoder_model_merged, ["cpu"]);
      assert.deepEqual(model.device.sessions.vision_encoder, ["webgpu", "cpu"]);
      const [onGpu, onCpu] = [await model.runBatch(some, { maxNewTokens: MAX_NEW_TOKENS }), await cpuQ8.runBatch(some, { maxNewTokens: MAX_NEW_TOKENS })];
      assert.deepEqual(ids(onGpu), ids(onCpu));
    } finally {
      await model.dispose();
      await cpuQ8.dispose();
    }
  });

  it("fp16 is refused at load, with the fix, on an adapter without shader-f16", async function () {
    await assert.rejects(Florence2.load(folder, { device: "webgpu", dtype: "fp16" }), (e: Error) => {
      assert.ok(e instanceof DeviceError, String(e));
      assert.match(
        e.message,
        /^dtype "fp16" for vision_encoder, embed_tokens, encoder_model, decoder_model_merged needs WebGPU's shader-f16 feature, which software \(SwiftShader\) lacks \(onnxruntime: .*Program Cast requires f16 but the device does not support it.*\)\. Use dtype "fp32" or "q8" on this adapter/,
      );
      return true;
    });
    // With the fp16 modules on the CPU there is nothing to refuse.
    const mixed = await Florence2.load(folder, { device: "webgpu", dtype: { vision_encoder: "fp32", embed_tokens: "fp16" }, placement: { embed_tokens: "cpu" } });
    await mixed.dispose();
  });
});
