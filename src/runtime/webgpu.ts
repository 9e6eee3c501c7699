/**
 * WebGPU's adapter, as far as it can be known from outside onnxruntime. onnxruntime-node 1.30 links Dawn in (linux
 * x64: Vulkan; darwin arm64: Metal; win32 x64 and arm64: the WebGPU provider beside dxcompiler.dll, so D3D12) but its
 * JS API says nothing about the adapter Dawn picks: the binding takes only provider options (preferredLayout,
 * validationMode, buffer cache modes, enableRobustness, forceCpuNodeNames, deviceId), and its verbose log names the
 * Dawn instance and device by address only. So the adapter is read from what Dawn will find:
 *
 * - Linux: the Vulkan loader (libvulkan.so.1) and its drivers, the ICD files named by VK_DRIVER_FILES or
 *   VK_ICD_FILENAMES, else those in the loader's standard folders. A driver's `library_path` tells a software one
 *   (SwiftShader, lavapipe/llvmpipe) from a GPU vendor's, which counts only when a GPU of that vendor is present
 *   (/sys/class/drm, NVIDIA's /proc entries): mesa installs AMD's and Intel's drivers on machines without either.
 * - macOS (arm64): the SoC's GPU through Metal, named after the chip (`sysctl machdep.cpu.brand_string`).
 * - Windows: the display adapters Windows lists; "Microsoft Basic Render Driver" is software (WARP).
 *
 * Dawn is asked for a high-performance adapter, so it takes a GPU over a software adapter when both are there. Then
 * a one-node probe session on ["webgpu"] shows whether an adapter really answers (without one onnxruntime fails with
 * "No supported adapters"; it never falls back by itself).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";

export interface WebGpuAdapter {
  /** Whether an adapter should answer: a driver (and, for a GPU vendor's driver, a GPU) was found. */
  found: boolean;
  /** SwiftShader, llvmpipe or WARP: a CPU emulating a GPU ("auto" never picks one). */
  software: boolean;
  /** The GPU's name, or "software (SwiftShader)"; what was looked for when none was found. */
  name: string;
  /** The graphics API Dawn uses on this platform. */
  backend: "Vulkan" | "Metal" | "D3D12" | "none";
  /** The evidence, for the device line. */
  how: string;
  /** When none was found: what to install. */
  fix?: string;
}

export interface WebGpuProbe {
  adapter(): WebGpuAdapter;
  /** Starts a one-node session on ["webgpu"]: undefined when it works, else onnxruntime's message. */
  start(): Promise<string | undefined>;
  /** Runs a float32 -> float16 -> float32 Cast pair on ["webgpu"]: undefined when the adapter has shader-f16. */
  shaderF16(): Promise<string | undefined>;
}

/** Why "auto" passes WebGPU over, for its line. */
export function softwareAdapterReason(adapter: WebGpuAdapter): string {
  if (adapter.software) return `the only adapter is ${adapter.name} (${adapter.how}), slower than the CPU itself`;
  return `no hardware adapter (${adapter.how})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Linux: the Vulkan loader and its drivers

/** What the Linux evidence is read from; the tests give a fake one. */
export interface LinuxSystem {
  env: NodeJS.ProcessEnv;
  readText(file: string): string | undefined;
  listDir(dir: string): string[];
  exists(file: string): boolean;
}

export const LINUX_SYSTEM: LinuxSystem = {
  env: process.env,
  readText: (file) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
  },
  listDir: (dir) => {
    try {
      return fs.readdirSync(dir).sort();
    } catch {
      return [];
    }
  },
  exists: (file) => fs.existsSync(file),
};

/** The loader's own search order for driver manifests when no environment variable names them (Khronos loader docs). */
const ICD_FOLDERS = ["/usr/local/etc/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d"];
const LIBRARY_FOLDERS = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib"];
export const VULKAN_FIX =
  "Dawn needs the Vulkan loader and a Vulkan driver: on Debian/Ubuntu `apt-get install libvulkan1` plus the GPU's " +
  "driver (NVIDIA's, which brings its Vulkan ICD, or mesa-vulkan-drivers for AMD and Intel).";

/** PCI vendor ids of GPU makers whose Vulkan drivers are recognised by their library name. */
const VENDORS: { id: string; name: string; library: RegExp }[] = [
  { id: "0x10de", name: "NVIDIA", library: /nvidia/i },
  { id: "0x1002", name: "AMD", library: /radeon|amdvlk|amdgpu/i },
  { id: "0x8086", name: "Intel", library: /intel/i },
];
const SOFTWARE_DRIVERS: { name: string; library: RegExp }[] = [
  { name: "SwiftShader", library: /swiftshader/i },
  { name: "llvmpipe", library: /lvp|lavapipe/i },
];

interface Driver {
  manifest: string;
  library: string;
}

function driverManifests(sys: LinuxSystem): { files: string[]; from: string } {
  const named = sys.env.VK_DRIVER_FILES?.trim() || sys.env.VK_ICD_FILENAMES?.trim();
  if (named) {
    const variable = sys.env.VK_DRIVER_FILES?.trim() ? "VK_DRIVER_FILES" : "VK_ICD_FILENAMES";
    const files = named.split(":").filter(Boolean).flatMap((p) => (p.endsWith(".json") ? [p] : sys.listDir(p).map((f) => path.join(p, f))));
    return { files, from: variable };
  }
  const files = ICD_FOLDERS.flatMap((dir) => sys.listDir(dir).filter((f) => f.endsWith(".json")).map((f) => path.join(dir, f)));
  return { files, from: ICD_FOLDERS.join(", ") };
}

function readDriver(sys: LinuxSystem, manifest: string): Driver | undefined {
  const text = sys.readText(manifest);
  if (text === undefined) return undefined;
  try {
    const library = (JSON.parse(text) as { ICD?: { library_path?: unknown } }).ICD?.library_path;
    return typeof library === "string" ? { manifest, library } : undefined;
  } catch {
    return undefined;
  }
}

/** The GPUs the kernel sees: PCI vendor id -> a name (NVIDIA's /proc entry names its model). */
function linuxGpus(sys: LinuxSystem): Map<string, string> {
  const gpus = new Map<string, string>();
  for (const card of sys.listDir("/sys/class/drm").filter((c) => /^card\d+$/.test(c))) {
    const vendor = sys.readText(`/sys/class/drm/${card}/device/vendor`)?.trim().toLowerCase();
    const device = sys.readText(`/sys/class/drm/${card}/device/device`)?.trim().toLowerCase();
    const known = VENDORS.find((v) => v.id === vendor);
    if (vendor && known && !gpus.has(vendor)) gpus.set(vendor, `${known.name} GPU (PCI ${vendor.slice(2)}:${device?.slice(2) ?? "?"})`);
  }
  for (const entry of sys.listDir("/proc/driver/nvidia/gpus")) {
    const model = /^Model:\s*(.+)$/m.exec(sys.readText(`/proc/driver/nvidia/gpus/${entry}/information`) ?? "")?.[1].trim();
    if (model) {
      gpus.set("0x10de", model.startsWith("NVIDIA") ? model : `NVIDIA ${model}`);
      break;
    }
  }
  return gpus;
}

/** The adapter Dawn's Vulkan backend will find on Linux (see the module comment). */
export function linuxAdapter(sys: LinuxSystem = LINUX_SYSTEM): WebGpuAdapter {
  const ldPath = (sys.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  if (![...ldPath, ...LIBRARY_FOLDERS].some((dir) => sys.exists(path.join(dir, "libvulkan.so.1")))) {
    return { found: false, software: false, name: "none", backend: "none", how: "no Vulkan loader libvulkan.so.1", fix: VULKAN_FIX };
  }
  const manifests = driverManifests(sys);
  const drivers = manifests.files.map((f) => readDriver(sys, f)).filter((d): d is Driver => d !== undefined);
  if (drivers.length === 0) {
    return { found: false, software: false, name: "none", backend: "none", how: `no Vulkan driver manifest in ${manifests.from}`, fix: VULKAN_FIX };
  }
  const gpus = linuxGpus(sys);
  for (const driver of drivers) {
    const vendor = VENDORS.find((v) => v.library.test(path.basename(driver.library)));
    const gpu = vendor && gpus.get(vendor.id);
    if (gpu) return { found: true, software: false, name: gpu, backend: "Vulkan", how: `Vulkan driver ${driver.manifest} and ${gpu}` };
  }
  for (const driver of drivers) {
    const software = SOFTWARE_DRIVERS.find((s) => s.library.test(path.basename(driver.library)));
    if (software) {
      return { found: true, software: true, name: `software (${software.name})`, backend: "Vulkan", how: `Vulkan driver ${driver.manifest}` };
    }
  }
  const listed = drivers.map((d) => path.basename(d.manifest)).join(", ");
  return {
    found: false,
    software: false,
    name: "none",
    backend: "none",
    how: `Vulkan drivers ${listed} (from ${manifests.from}), but no GPU of theirs in /sys/class/drm`,
    fix: VULKAN_FIX,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// macOS and Windows

function macAdapter(): WebGpuAdapter {
  if (process.arch !== "arm64") {
    return { found: false, software: false, name: "none", backend: "none", how: "onnxruntime-node has WebGPU for macOS on arm64 only" };
  }
  const chip = spawnSync("sysctl", ["-n", "machdep.cpu.brand_string"], { encoding: "utf8", timeout: 5_000 }).stdout?.trim() || "Apple silicon";
  return { found: true, software: false, name: `${chip} GPU`, backend: "Metal", how: `Metal on ${chip}` };
}

function windowsAdapter(): WebGpuAdapter {
  const ps = spawnSync("powershell", ["-NoProfile", "-Command", "(Get-CimInstance Win32_VideoController).Name"], { encoding: "utf8", timeout: 15_000 });
  const names = (ps.stdout ?? "").split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const hardware = names.filter((n) => !/Microsoft Basic Render Driver/i.test(n));
  if (hardware.length > 0) return { found: true, software: false, name: hardware[0], backend: "D3D12", how: `display adapter ${hardware[0]}` };
  if (names.length > 0) return { found: true, software: true, name: "software (WARP)", backend: "D3D12", how: `only ${names[0]}` };
  return { found: false, software: false, name: "none", backend: "none", how: "Windows lists no display adapter" };
}

export function systemAdapter(): WebGpuAdapter {
  if (process.platform === "linux" && process.arch === "x64") return linuxAdapter();
  if (process.platform === "darwin") return macAdapter();
  if (process.platform === "win32") return windowsAdapter();
  return { found: false, software: false, name: "none", backend: "none", how: `onnxruntime-node has no WebGPU for ${process.platform} ${process.arch}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Probe sessions (remembered for the process: Dawn's adapter is chosen once per process)

/** y = Identity(x), float [1], 76 bytes (onnx-proto, IR 8, opset 13, graph "webgpu-probe"): opens and runs on any adapter. */
export const WEBGPU_PROBE_BASE64 = "CAg6QgoQCgF4EgF5IghJZGVudGl0eRIMd2ViZ3B1LXByb2JlWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==";

/**
 * float32 x -> Cast(float16) -> Cast(float32) -> y, 112 bytes (onnx-proto, IR 8, opset 13). On an adapter without
 * shader-f16 its first run fails with "Program Cast requires f16 but the device does not support it".
 */
export const SHADER_F16_PROBE_BASE64 =
  "CAg6ZgoXCgF4EgFoIgRDYXN0KgkKAnRvGAqgAQIKFwoBaBIBeSIEQ2FzdCoJCgJ0bxgBoAECEhBzaGFkZXItZjE2LXByb2JlWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==";

async function runOnWebGpu(base64: string): Promise<string | undefined> {
  try {
    // Optimisations off so that the Cast pair is not folded away; severity fatal so that the expected failure is
    // not also printed by onnxruntime's logger.
    const session = await ort.InferenceSession.create(new Uint8Array(Buffer.from(base64, "base64")), {
      executionProviders: ["webgpu"],
      graphOptimizationLevel: "disabled",
      logSeverityLevel: 4,
    });
    try {
      await session.run({ x: new ort.Tensor("float32", new Float32Array([0.5]), [1]) });
    } finally {
      await session.release();
    }
    return undefined;
  } catch (err) {
    return firstLine((err as Error).message);
  }
}

/** onnxruntime's messages start with a source path; the reason is at the end. */
function firstLine(message: string): string {
  const reason = /(?:Status Message: )?(?:\S+\.cc:\d+ \S+ )?([^\n]*)$/.exec(message.trim())?.[1] ?? message;
  return reason.trim() || message.trim();
}

let started: Promise<string | undefined> | undefined;
let f16: Promise<string | undefined> | undefined;

export const SYSTEM_WEBGPU_PROBE: WebGpuProbe = {
  adapter: systemAdapter,
  start: () => (started ??= runOnWebGpu(WEBGPU_PROBE_BASE64)),
  shaderF16: () => (f16 ??= runOnWebGpu(SHADER_F16_PROBE_BASE64)),
};
