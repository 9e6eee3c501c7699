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
import { CUDA_INSTALL_COMMAND, DeviceError, SYSTEM_PROBE, chooseDevice, type DeviceProbe } from "../../src/runtime/device";
import { CUDNN_SONAME, cudaNeeds, ortBindingFolder } from "../../src/runtime/cuda-provider";
import { Florence2 } from "../../src/florence2";
import { writeStandInModel } from "../support/standin";
import { ccAvailable, fakeMachine } from "../support/fake-cuda";

const CUDA13 = ["libcublasLt.so.13", "libcublas.so.13", "libcudart.so.13", "libcurand.so.10"];

/**
 * The real probe with a Tesla T4 where this machine has none; "real": this machine's provider check, else a fake
 * provider (built by cc in `root`) whose libraries are all present or lack `missing`, with driver 580.
 */
function withGpu(providerFiles: "real" | { root: string; missing?: string[] }): DeviceProbe {
  let cudaProvider = SYSTEM_PROBE.cudaProvider;
  if (providerFiles !== "real") {
    const all = [...CUDA13, CUDNN_SONAME];
    const m = fakeMachine(providerFiles.root, { needed: CUDA13, present: all.filter((l) => !providerFiles.missing?.includes(l)), driver: "580.65.06" });
    cudaProvider = () => cudaNeeds(m.env());
  }
  return { ...SYSTEM_PROBE, nvidiaGpus: () => ({ names: ["Tesla T4"], how: "nvidia-smi" }), cudaProvider };
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
    let root: string;
    before(function () {
      if (fs.existsSync(path.join(ortBindingFolder(), "libonnxruntime_providers_cuda.so")) || !ccAvailable()) {
        console.log("      (skipped: onnxruntime-node's CUDA provider is installed here, or no cc to build fake ones)");
        this.skip();
      }
    });
    beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "device-gpu-test-"))));
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("auto falls back to the CPU when the CUDA provider is not installed, naming the install command", async function () {
      const choice = await chooseDevice("auto", undefined, withGpu("real"), noEnv);
      assert.equal(choice.provider, "cpu");
      assert.ok(
        choice.summary.includes(`auto: found Tesla T4, but onnxruntime-node's CUDA provider is not installed (${ortBindingFolder()} has no libonnxruntime_providers_cuda.so`),
        choice.summary,
      );
      assert.ok(choice.summary.includes(`run ${CUDA_INSTALL_COMMAND} in the project folder (onnxruntime-node's installer; it downloads Microsoft.ML.OnnxRuntime.Gpu.Linux from NuGet)`), choice.summary);
      assert.equal(CUDA_INSTALL_COMMAND, "npm run gpu:install");
    });

    it("cuda says which provider files are missing and how to get them", async function () {
      await assert.rejects(chooseDevice("cuda", undefined, withGpu("real"), noEnv), (e: Error) => {
        assert.ok(e instanceof DeviceError);
        assert.ok(e.message.startsWith(`device "cuda" was asked for, but onnxruntime-node's CUDA provider is not installed (${ortBindingFolder()} has no libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so): run npm run gpu:install`), e.message);
        assert.match(e.message, /Or use the CPU: device "cpu" or "auto"\.$/);
        return true;
      });
    });

    it("names the libraries the provider file lists that the loader would not find, with their wheels", async function () {
      const probe = withGpu({ root, missing: ["libcublasLt.so.13", CUDNN_SONAME] });
      const choice = await chooseDevice("auto", undefined, probe, noEnv);
      assert.equal(choice.provider, "cpu");
      assert.match(choice.summary, /auto: found Tesla T4, but the CUDA provider needs libcublasLt\.so\.13, libcudnn\.so\.9, not found \(.+\): install them \(pip install nvidia-cublas nvidia-cudnn-cu13, or CUDA 13's toolkit and cuDNN\)/);
      assert.ok(!choice.summary.includes("\n"));
      await assert.rejects(chooseDevice("cuda", undefined, probe, noEnv), /^DeviceError: device "cuda" was asked for, but the CUDA provider needs libcublasLt\.so\.13, libcudnn\.so\.9/);
    });

    it("when everything resolves but the Conv probe fails, auto falls back with onnxruntime's message and cuda fails with it", async function () {
      // The fake provider's needs all resolve, so the real probe asks onnxruntime for a Conv on CUDA, which fails on
      // this machine as it does where cuDNN or a CUDA library can't be loaded.
      const probe = withGpu({ root });
      const choice = await chooseDevice("auto", undefined, probe, noEnv);
      assert.equal(choice.provider, "cpu");
      assert.match(choice.summary, /auto: found Tesla T4 and what the CUDA 13 provider needs, but a convolution on CUDA failed \(.+\)\.$/);
      await assert.rejects(chooseDevice("cuda", undefined, probe, noEnv), (e: Error) => {
        assert.match(e.message, /onnxruntime could not run a convolution on its CUDA provider on Tesla T4: .+\. The provider's libraries were found \(libcublasLt\.so\.13 at \/.+; driver 580\.65\.06\)/);
        return true;
      });
    });

    it("picks CUDA (with the CPU for operators CUDA lacks) when everything is there", async function () {
      const ready: DeviceProbe = { ...withGpu({ root }), startCuda: async () => undefined };
      const choice = await chooseDevice(undefined, undefined, ready, noEnv);
      assert.deepEqual([choice.provider, choice.executionProviders, choice.label, choice.hardware], ["cuda", ["cuda", "cpu"], "Tesla T4", "Tesla T4"]);
      assert.equal(choice.summary, "Device: CUDA on Tesla T4; auto: Tesla T4 and onnxruntime-node's CUDA provider found, and a convolution ran on it.");
      assert.equal((await chooseDevice("cuda", undefined, ready, noEnv)).summary, 'Device: CUDA on Tesla T4; as asked (device "cuda").');
    });
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
