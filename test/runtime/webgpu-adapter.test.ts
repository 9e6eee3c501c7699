/**
 * What "auto" and "webgpu" decide from the adapter evidence, on fake Linux systems (driver manifests, GPUs in
 * /sys/class/drm) and fake probes, so that the hardware cases run here without a GPU. The real adapter, SwiftShader,
 * is in webgpu.test.ts.
 */
import { strict as assert } from "node:assert";
import { DeviceError, SYSTEM_PROBE, checkDtypesOnDevice, chooseDevice, placeModules, type DeviceProbe } from "../../src/runtime/device";
import { resolveDtypes } from "../../src/runtime/dtypes";
import { VULKAN_FIX, linuxAdapter, type LinuxSystem, type WebGpuAdapter } from "../../src/runtime/webgpu";

/** A Linux machine made of files: path -> content (folders are implied by the paths). */
function fakeLinux(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): LinuxSystem {
  return {
    env,
    readText: (file) => files[file],
    exists: (file) => file in files,
    listDir: (dir) =>
      [...new Set(Object.keys(files).filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1).split("/")[0]))].sort(),
  };
}

const LOADER = { "/usr/lib/x86_64-linux-gnu/libvulkan.so.1": "" };
const icd = (library: string) => JSON.stringify({ file_format_version: "1.0.0", ICD: { library_path: library, api_version: "1.3.0" } });
const AMD_CARD = { "/sys/class/drm/card0/device/vendor": "0x1002\n", "/sys/class/drm/card0/device/device": "0x73bf\n" };
const MESA = {
  "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json": icd("/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"),
  "/usr/share/vulkan/icd.d/radeon_icd.x86_64.json": icd("/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so"),
  "/usr/share/vulkan/icd.d/intel_icd.x86_64.json": icd("/usr/lib/x86_64-linux-gnu/libvulkan_intel.so"),
};

describe("webgpu adapter evidence (fake systems)", function () {
  it("names the GPU whose vendor's driver is installed, over software drivers beside it", () => {
    const nvidia = linuxAdapter(
      fakeLinux({
        ...LOADER,
        ...MESA,
        "/usr/share/vulkan/icd.d/nvidia_icd.json": icd("libGLX_nvidia.so.0"),
        "/proc/driver/nvidia/gpus/0000:00:04.0/information": "Model: \t\t Tesla T4\nIRQ: 11\n",
      }),
    );
    assert.deepEqual([nvidia.found, nvidia.software, nvidia.name, nvidia.backend], [true, false, "NVIDIA Tesla T4", "Vulkan"]);
    assert.match(nvidia.how, /^Vulkan driver \/usr\/share\/vulkan\/icd\.d\/nvidia_icd\.json and NVIDIA Tesla T4$/);
    const amd = linuxAdapter(fakeLinux({ ...LOADER, ...MESA, ...AMD_CARD }));
    assert.deepEqual([amd.software, amd.name], [false, "AMD GPU (PCI 1002:73bf)"]);
  });

  it("takes mesa's AMD and Intel drivers without their GPU for what they are: lavapipe is the adapter", () => {
    const adapter = linuxAdapter(fakeLinux({ ...LOADER, ...MESA }));
    assert.deepEqual([adapter.found, adapter.software, adapter.name], [true, true, "software (llvmpipe)"]);
  });

  it("reads only the drivers VK_ICD_FILENAMES (or VK_DRIVER_FILES) names", () => {
    const files = { ...LOADER, ...MESA, ...AMD_CARD, "/opt/chromium/vk_swiftshader_icd.json": icd("./libvk_swiftshader.so") };
    const swift = linuxAdapter(fakeLinux(files, { VK_ICD_FILENAMES: "/opt/chromium/vk_swiftshader_icd.json" }));
    assert.deepEqual([swift.software, swift.name, swift.how], [true, "software (SwiftShader)", "Vulkan driver /opt/chromium/vk_swiftshader_icd.json"]);
    const amd = linuxAdapter(fakeLinux(files, { VK_DRIVER_FILES: "/usr/share/vulkan/icd.d", VK_ICD_FILENAMES: "/opt/chromium/vk_swiftshader_icd.json" }));
    assert.equal(amd.name, "AMD GPU (PCI 1002:73bf)");
  });

  it("says what is missing: the loader, any driver, or the driver's GPU", () => {
    const noLoader = linuxAdapter(fakeLinux({ ...MESA }));
    assert.deepEqual([noLoader.found, noLoader.how, noLoader.fix], [false, "no Vulkan loader libvulkan.so.1", VULKAN_FIX]);
    const noDriver = linuxAdapter(fakeLinux({ ...LOADER }));
    assert.match(noDriver.how, /^no Vulkan driver manifest in \/usr\/local\/etc\/vulkan\/icd\.d, \/etc\/vulkan\/icd\.d, /);
    const noGpu = linuxAdapter(fakeLinux({ ...LOADER, "/usr/share/vulkan/icd.d/nvidia_icd.json": icd("libGLX_nvidia.so.0") }));
    assert.equal(noGpu.found, false);
    assert.match(noGpu.how, /^Vulkan drivers nvidia_icd\.json \(from .*\), but no GPU of theirs in \/sys\/class\/drm$/);
    // The loader is also found through LD_LIBRARY_PATH.
    assert.equal(linuxAdapter(fakeLinux({ "/opt/vk/libvulkan.so.1": "", ...MESA }, { LD_LIBRARY_PATH: "/opt/vk" })).found, true);
  });
});

/** The system probe with no CUDA (this machine's answer) and a WebGPU adapter and probe results of the test's choosing. */
function probeWith(adapter: Partial<WebGpuAdapter>, start?: string, shaderF16?: string): DeviceProbe {
  const full: WebGpuAdapter = { found: true, software: false, name: "Apple M2 GPU", backend: "Metal", how: "Metal on Apple M2", ...adapter };
  return {
    ...SYSTEM_PROBE,
    nvidiaGpus: () => ({ names: [], how: "no nvidia-smi" }),
    webgpu: { adapter: () => full, start: async () => start, shaderF16: async () => shaderF16 },
  };
}

describe("device choice with WebGPU (fake probes)", function () {
  it("auto takes a hardware adapter after CUDA, in one line that says why", async () => {
    const choice = await chooseDevice("auto", undefined, probeWith({}), {});
    assert.deepEqual([choice.provider, choice.executionProviders, choice.hardware, choice.label], ["webgpu", ["webgpu", "cpu"], "Apple M2 GPU", "Apple M2 GPU"]);
    assert.equal(choice.summary, "Device: WebGPU on Apple M2 GPU, Metal; auto: no NVIDIA GPU found (no nvidia-smi); hardware adapter Metal on Apple M2.");
  });

  it("auto keeps the CPU when the adapter is software, missing, or does not start", async () => {
    const software = await chooseDevice(undefined, undefined, probeWith({ software: true, name: "software (llvmpipe)", how: "Vulkan driver lvp.json", backend: "Vulkan" }), {});
    assert.equal(software.provider, "cpu");
    assert.match(software.summary, /; no WebGPU: the only adapter is software \(llvmpipe\) \(Vulkan driver lvp\.json\), slower than the CPU itself\.$/);
    const none = await chooseDevice(undefined, undefined, probeWith({ found: false, name: "none", how: "no Vulkan loader libvulkan.so.1" }), {});
    assert.match(none.summary, /; no WebGPU: no hardware adapter \(no Vulkan loader libvulkan\.so\.1\)\.$/);
    const broken = await chooseDevice(undefined, undefined, probeWith({}, "No supported adapters"), {});
    assert.match(broken.summary, /; Apple M2 GPU found \(Metal on Apple M2\), but WebGPU did not start \(No supported adapters\)\.$/);
  });

  it("webgpu that can't start is an error naming onnxruntime's reason and the fix", async () => {
    const probe = probeWith({ found: false, name: "none", backend: "none", how: "no Vulkan loader libvulkan.so.1", fix: VULKAN_FIX }, "Failed to get a WebGPU adapter: No supported adapters");
    await assert.rejects(chooseDevice(undefined, undefined, probe, { FLORENCE2_DEVICE: "WebGPU" }), (e: Error) => {
      assert.ok(e instanceof DeviceError);
      assert.equal(
        e.message,
        `FLORENCE2_DEVICE=webgpu was asked for, but onnxruntime's WebGPU provider found no adapter it can use ` +
          `(Failed to get a WebGPU adapter: No supported adapters). ${VULKAN_FIX} Or use the CPU: device "cpu" or "auto".`,
      );
      return true;
    });
  });

  it("webgpu that starts where the drivers did not say which adapter answered says so", async () => {
    const choice = await chooseDevice("webgpu", undefined, probeWith({ found: false, name: "none", backend: "none", how: "Windows lists no display adapter" }), {});
    assert.deepEqual([choice.provider, choice.hardware, choice.label], ["webgpu", "an unidentified adapter", "WebGPU"]);
    assert.match(choice.summary, /^Device: WebGPU on an unidentified adapter, (Vulkan|Metal|D3D12); as asked \(device "webgpu"; adapter Windows lists no display adapter\)\.$/);
  });

  it("asks for shader-f16 only when an fp16 module is on WebGPU, and refuses fp16 without it", async () => {
    let asked = 0;
    const withF16 = (answer: string | undefined): DeviceProbe => {
      const probe = probeWith({});
      return { ...probe, webgpu: { ...probe.webgpu, shaderF16: async () => (asked++, answer) } };
    };
    const lacking = withF16("Program Cast requires f16 but the device does not support it.");
    const choice = await chooseDevice("webgpu", undefined, lacking, {});
    const onDevice = placeModules(choice);
    await checkDtypesOnDevice(choice, resolveDtypes("q8"), onDevice, lacking);
    await checkDtypesOnDevice(choice, resolveDtypes({ decoder_model_merged: "fp16" }), placeModules(choice, { decoder_model_merged: "cpu" }), lacking);
    assert.equal(asked, 0, "no fp16 module on WebGPU: no probe");
    await assert.rejects(
      checkDtypesOnDevice(choice, resolveDtypes({ decoder_model_merged: "fp16" }), onDevice, lacking),
      /^DeviceError: dtype "fp16" for decoder_model_merged needs WebGPU's shader-f16 feature, which Apple M2 GPU lacks \(onnxruntime: Program Cast requires f16 but the device does not support it\.\)\. Use dtype "fp32" or "q8" on this adapter, or place those modules on the CPU \(placement: \{ decoder_model_merged: "cpu" \}\)\.$/,
    );
    await checkDtypesOnDevice(choice, resolveDtypes("fp16"), onDevice, withF16(undefined));
    assert.equal(asked, 2);
  });

  it("places modules on the device by default and on the CPU where asked, rejecting unknown modules and places", async () => {
    const choice = await chooseDevice("webgpu", undefined, probeWith({}), {});
    assert.deepEqual(placeModules(choice), {
      vision_encoder: ["webgpu", "cpu"], embed_tokens: ["webgpu", "cpu"], encoder_model: ["webgpu", "cpu"], decoder_model_merged: ["webgpu", "cpu"],
    });
    assert.deepEqual(placeModules(choice, { decoder_model_merged: "cpu", vision_encoder: "device" }).decoder_model_merged, ["cpu"]);
    assert.throws(() => placeModules(choice, { decoder: "cpu" }), /^DeviceError: Unknown module "decoder" in placement\. Expected one of: vision_encoder, embed_tokens, encoder_model, decoder_model_merged\.$/);
    assert.throws(() => placeModules(choice, { vision_encoder: "gpu" }), /Expected "device" or "cpu" for placement\.vision_encoder but received "gpu"\./);
    assert.throws(() => placeModules(choice, ["cpu"]), /Expected an object such as \{ decoder_model_merged: "cpu" \} for placement/);
  });
});
