/**
 * Choosing the device. This machine has no NVIDIA GPU and onnxruntime-node without its CUDA provider (the project
 * skips the provider's download), so the real checks run here as a CPU-only user's would: "auto" picks the CPU and
 * says why, "cuda" fails and says how to get it. A GPU is then simulated (the probe's GPU list), with onnxruntime's
 * real answer to a CUDA session on this machine behind it. What can't run here: a session really on CUDA.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { onnx } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { CUDA_INSTALL_COMMAND, DeviceError, PROBE_MODEL_BASE64, SYSTEM_PROBE, chooseDevice, type DeviceProbe } from "../../src/runtime/device";
import { Florence2 } from "../../src/florence2";
import { writeStandInModel } from "../support/standin";

/** The real probe, with a Tesla T4 where this machine has none, and optionally the provider files reported present. */
function withGpu(providerFiles: "real" | "present"): DeviceProbe {
  return {
    ...SYSTEM_PROBE,
    nvidiaGpus: () => ({ names: ["Tesla T4"], how: "nvidia-smi" }),
    cudaProvider: providerFiles === "real" ? SYSTEM_PROBE.cudaProvider : () => ({ folder: SYSTEM_PROBE.cudaProvider().folder, missing: [] }),
  };
}

const noEnv: NodeJS.ProcessEnv = {};

describe("device", function () {
  this.timeout(60_000);

  describe("on this machine (no NVIDIA GPU, no CUDA provider)", function () {
    before(function () {
      if (SYSTEM_PROBE.nvidiaGpus().names.length > 0) {
        console.log("      (skipped: this machine has an NVIDIA GPU)");
        this.skip();
      }
    });

    it("auto picks the CPU and says why in one line", async function () {
      const choice = await chooseDevice(undefined, undefined, SYSTEM_PROBE, noEnv);
      assert.equal(choice.provider, "cpu");
      assert.deepEqual(choice.executionProviders, ["cpu"]);
      assert.equal(choice.requested, "auto");
      assert.equal(choice.requestedBy, "default");
      assert.equal(choice.label, "CPU");
      assert.ok(choice.hardware.startsWith(os.cpus()[0].model.trim()), choice.hardware);
      assert.match(choice.summary, /^Device: CPU \(.+, \d+ threads\); auto: no NVIDIA GPU found \(.+\)\.$/);
      assert.ok(!choice.summary.includes("\n"));
    });

    it("cpu is taken as asked, from the option or FLORENCE2_DEVICE", async function () {
      assert.match((await chooseDevice("cpu", undefined, SYSTEM_PROBE, noEnv)).summary, /; as asked \(device "cpu"\)\.$/);
      const fromEnv = await chooseDevice(undefined, undefined, SYSTEM_PROBE, { FLORENCE2_DEVICE: "CPU" });
      assert.equal(fromEnv.requestedBy, "environment");
      assert.match(fromEnv.summary, /as asked \(FLORENCE2_DEVICE=cpu\)/);
      // The option wins over the environment.
      assert.equal((await chooseDevice("cpu", undefined, SYSTEM_PROBE, { FLORENCE2_DEVICE: "cuda" })).provider, "cpu");
    });

    it("cuda fails with an error that says a GPU is needed", async function () {
      await assert.rejects(chooseDevice("cuda", undefined, SYSTEM_PROBE, noEnv), (e: Error) => {
        assert.ok(e instanceof DeviceError);
        assert.match(e.message, /^device "cuda" was asked for, but no NVIDIA GPU was found \(.+\)\. CUDA needs an NVIDIA GPU and its driver/);
        assert.match(e.message, /Or use the CPU: device "cpu" or "auto"\.$/);
        return true;
      });
      await assert.rejects(chooseDevice(undefined, undefined, SYSTEM_PROBE, { FLORENCE2_DEVICE: "cuda" }), /^DeviceError: FLORENCE2_DEVICE=cuda was asked for/);
    });

    it("Florence2.load reports the device of every session, and refuses cuda before reading the model", async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "device-test-"));
      try {
        const folder = path.join(dir, "model");
        await writeStandInModel(folder);
        const model = await Florence2.load(folder, { device: "cpu" });
        try {
          assert.equal(model.device.provider, "cpu");
          assert.deepEqual(model.device.sessions, {
            vision_encoder: ["cpu"], embed_tokens: ["cpu"], encoder_model: ["cpu"], decoder_model_merged: ["cpu"],
          });
          assert.match(model.device.summary, /^Device: CPU/);
        } finally {
          await model.dispose();
        }
        await assert.rejects(Florence2.load(folder, { device: "cuda" }), /device "cuda" was asked for, but no NVIDIA GPU/);
        await assert.rejects(Florence2.load(path.join(dir, "missing"), { device: "cuda" }), /device "cuda" was asked for/, "the device is checked first");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("with a GPU simulated, onnxruntime-node as installed here", function () {
    before(function () {
      if (SYSTEM_PROBE.cudaProvider().missing.length === 0) {
        console.log("      (skipped: onnxruntime-node's CUDA provider is installed here)");
        this.skip();
      }
    });

    it("auto falls back to the CPU when the CUDA provider is not installed, naming the installer", async function () {
      const choice = await chooseDevice("auto", undefined, withGpu("real"), noEnv);
      assert.equal(choice.provider, "cpu");
      assert.ok(choice.summary.includes(`auto: found Tesla T4, but onnxruntime-node's CUDA provider is not installed (${CUDA_INSTALL_COMMAND})`), choice.summary);
    });

    it("cuda says which provider files are missing and how onnxruntime-node's installer gets them", async function () {
      const folder = SYSTEM_PROBE.cudaProvider().folder;
      await assert.rejects(chooseDevice("cuda", undefined, withGpu("real"), noEnv), (e: Error) => {
        assert.ok(e.message.includes(`onnxruntime-node's CUDA provider is not installed: ${folder} has no libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so.`), e.message);
        assert.ok(e.message.includes(`Install it with onnxruntime-node's own installer, from the project folder: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`), e.message);
        assert.match(e.message, /--onnxruntime-node-install=cuda12/);
        return true;
      });
    });

    it("when onnxruntime itself can't start CUDA, auto falls back with its message and cuda fails with it", async function () {
      // The provider files are reported present, so the real probe asks onnxruntime for a CUDA session, which
      // fails on this machine as it would where the CUDA or cuDNN libraries are missing.
      const choice = await chooseDevice("auto", undefined, withGpu("present"), noEnv);
      assert.equal(choice.provider, "cpu");
      assert.match(choice.summary, /auto: found Tesla T4 and the CUDA provider, but onnxruntime could not start CUDA \(.*Failed to load shared library.*\)\.$/);
      await assert.rejects(
        chooseDevice("cuda", undefined, withGpu("present"), noEnv),
        /onnxruntime could not start its CUDA provider on Tesla T4: .*Failed to load shared library.*CUDA 12 and cuDNN 9 libraries/,
      );
    });

    it("picks CUDA (with the CPU for operators CUDA lacks) when everything is there", async function () {
      const ready: DeviceProbe = { ...withGpu("present"), startCuda: async () => undefined };
      const choice = await chooseDevice(undefined, undefined, ready, noEnv);
      assert.deepEqual([choice.provider, choice.executionProviders, choice.label, choice.hardware], ["cuda", ["cuda", "cpu"], "Tesla T4", "Tesla T4"]);
      assert.equal(choice.summary, "Device: CUDA on Tesla T4; auto: Tesla T4 and onnxruntime-node's CUDA provider found.");
      assert.equal((await chooseDevice("cuda", undefined, ready, noEnv)).summary, 'Device: CUDA on Tesla T4; as asked (device "cuda").');
    });
  });

  it("probes with a one-node Identity model that onnxruntime runs", async function () {
    const bytes = Buffer.from(PROBE_MODEL_BASE64, "base64");
    const model = onnx.ModelProto.decode(bytes);
    assert.equal(model.graph?.node?.[0]?.opType, "Identity");
    assert.deepEqual([model.graph?.input?.[0]?.name, model.graph?.output?.[0]?.name], ["x", "y"]);
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ["cpu"] });
    try {
      const out = await session.run({ x: new ort.Tensor("float32", new Float32Array([0.5]), [1]) });
      assert.deepEqual([...(out.y.data as Float32Array)], [0.5]);
    } finally {
      await session.release();
    }
  });

  it("rejects unknown devices and a device given together with executionProviders", async function () {
    await assert.rejects(chooseDevice("gpu", undefined, SYSTEM_PROBE, noEnv), /Expected "cpu", "cuda", "webgpu" or "auto" for the device but received device "gpu"\./);
    await assert.rejects(chooseDevice(undefined, undefined, SYSTEM_PROBE, { FLORENCE2_DEVICE: "tpu" }), /but received FLORENCE2_DEVICE="tpu"/);
    await assert.rejects(chooseDevice("cpu", ["cpu"], SYSTEM_PROBE, noEnv), /either device or executionProviders but received both/);
    const given = await chooseDevice(undefined, [{ name: "cpu" }], SYSTEM_PROBE, { FLORENCE2_DEVICE: "cuda" });
    assert.deepEqual([given.provider, given.requested], ["cpu", "executionProviders"]);
    assert.equal(given.summary, "Device: execution providers [cpu], as given by executionProviders.");
  });
});
