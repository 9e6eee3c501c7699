/**
 * Where the model runs: `Florence2.load(folder, { device })` with `"cpu"`, `"cuda"`, `"webgpu"` or `"auto"` (default:
 * the `FLORENCE2_DEVICE` environment variable, else `"auto"`).
 *
 * onnxruntime-node ships its CPU provider in the npm package; its CUDA provider (Linux x64) is a separate download
 * that the package's own installer fetches from NuGet (`npm run gpu:install`; `npm ci` skips it, see .npmrc). Asking
 * onnxruntime for "cuda" without it, or without the CUDA libraries it names, does not fall back to the CPU: creating
 * the session fails ("Failed to load shared library"). So the choice is made here, before any model file is opened:
 *
 * - "auto": CUDA when an NVIDIA GPU is present, the provider is installed, every library it needs resolves and the
 *   driver is new enough for its CUDA major (cuda-provider.ts reads all that from the provider file), and a one-Conv
 *   probe really runs on CUDA; else WebGPU when a hardware adapter is found (webgpu.ts) and a probe session starts on
 *   it; otherwise the CPU. It never picks a software adapter (SwiftShader, llvmpipe): on a CPU emulating a GPU every
 *   run is far slower than onnxruntime's own CPU kernels. The choice and its reason are one line (`summary`).
 * - "cuda": the CUDA checks, but a failed one is an error that says how to get CUDA.
 * - "webgpu": onnxruntime's WebGPU provider (Dawn, linked into onnxruntime-node's linux x64, darwin arm64 and win32
 *   x64 binaries), on whatever adapter Dawn finds, software ones included (that is how the tests run it); an error
 *   when no adapter answers.
 * - "cpu": the CPU, no checks.
 *
 * Sessions on a GPU are opened with [gpu, "cpu"]: onnxruntime places each node on the first provider that runs it,
 * so the few operators the GPU provider lacks run on the CPU inside the same session. `placement` puts single
 * modules on the CPU instead (see placeModules).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { describeValue } from "../util/describe";
import { CUDA_INSTALL_COMMAND, cudaNeeds, runConvProbe, type CudaNeeds } from "./cuda-provider";
import { MODULES, type Dtype, type ModuleName } from "./dtypes";
import type { ExecutionProvider } from "./sessions";
import { SYSTEM_WEBGPU_PROBE, softwareAdapterReason, type WebGpuAdapter, type WebGpuProbe } from "./webgpu";

export type DeviceOption = "cpu" | "cuda" | "webgpu" | "auto";
export const DEVICE_OPTIONS: readonly DeviceOption[] = ["cpu", "cuda", "webgpu", "auto"];
/** The environment variable read when the load option is not given. */
export const DEVICE_ENV = "FLORENCE2_DEVICE";

export { CUDA_INSTALL_COMMAND, CUDA_PROVIDER_FILES } from "./cuda-provider";

export interface DeviceChoice {
  /** What was asked for, and where it came from. */
  requested: DeviceOption | "executionProviders";
  requestedBy: "option" | "environment" | "default";
  /** The execution provider the sessions prefer: "cpu", "cuda" or "webgpu" (or the first of `executionProviders` when given). */
  provider: string;
  /** The execution providers every session on the device is opened with (see placeModules for the CPU ones). */
  executionProviders: ExecutionProvider[];
  /** The hardware: the GPU's name for CUDA, the adapter for WebGPU, else the CPU's model and thread count. */
  hardware: string;
  /** WebGPU only: the adapter as far as it can be known, and whether it is a software one. */
  adapter?: WebGpuAdapter;
  /** A short name for tables and charts: the GPU's name, "WebGPU software (SwiftShader)" for a software adapter, or "CPU". */
  label: string;
  /** One line: which device, and why. */
  summary: string;
}

/** What the choice looks at; the tests replace parts of it. */
export interface DeviceProbe {
  /** Names of the NVIDIA GPUs present, and how that was found out (or why none was found). */
  nvidiaGpus(): { names: string[]; how: string };
  /** What the installed CUDA provider needs and what of it this machine has (cuda-provider.ts). */
  cudaProvider(): CudaNeeds;
  /** Runs a one-Conv session on CUDA: undefined when it works, else onnxruntime's error message. */
  startCuda(): Promise<string | undefined>;
  /** The CPU's model name and thread count. */
  cpu(): string;
  /** WebGPU's adapter and probe session (webgpu.ts). */
  webgpu: WebGpuProbe;
}

/** Thrown when "cuda" is asked for and can't be had, or an option is wrong. */
export class DeviceError extends Error {
  override name = "DeviceError";
}

/** Reads the option (or FLORENCE2_DEVICE, or "auto") and picks the device; see the module comment. */
export async function chooseDevice(
  option?: unknown,
  executionProviders?: readonly ExecutionProvider[],
  probe: DeviceProbe = SYSTEM_PROBE,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DeviceChoice> {
  const envValue = env[DEVICE_ENV]?.trim();
  if (executionProviders !== undefined) {
    if (option !== undefined) {
      throw new DeviceError(
        `Expected either device or executionProviders but received both (device ${describeValue(option)}, ` +
          `executionProviders ${JSON.stringify(executionProviders)}): device sets the execution providers.`,
      );
    }
    const names = executionProviders.map(providerName);
    const first = names[0] ?? "cpu";
    return {
      requested: "executionProviders",
      requestedBy: "option",
      provider: first,
      executionProviders: [...executionProviders],
      hardware: first === "cpu" ? probe.cpu() : first,
      label: first === "cpu" ? "CPU" : first,
      summary: `Device: execution providers [${names.join(", ")}], as given by executionProviders.`,
    };
  }
  const requestedBy = option !== undefined ? "option" : envValue ? "environment" : "default";
  const raw = option !== undefined ? option : envValue ? envValue.toLowerCase() : "auto";
  if (typeof raw !== "string" || !(DEVICE_OPTIONS as readonly string[]).includes(raw)) {
    const source = requestedBy === "environment" ? `${DEVICE_ENV}=${JSON.stringify(envValue)}` : `device ${describeValue(option)}`;
    throw new DeviceError(`Expected "cpu", "cuda", "webgpu" or "auto" for the device but received ${source}.`);
  }
  const requested = raw as DeviceOption;
  const asked = requestedBy === "environment" ? `${DEVICE_ENV}=${requested}` : `device "${requested}"`;
  const cpu = (why: string): DeviceChoice => ({
    requested,
    requestedBy,
    provider: "cpu",
    executionProviders: ["cpu"],
    hardware: probe.cpu(),
    label: "CPU",
    summary: `Device: CPU (${probe.cpu()}); ${why}.`,
  });
  if (requested === "cpu") return cpu(`as asked (${asked})`);
  const webgpu = (found: WebGpuAdapter, why: string): DeviceChoice => {
    // The probe session started, so an adapter answered even where the drivers did not tell which.
    const backend = process.platform === "darwin" ? "Metal" : process.platform === "win32" ? "D3D12" : "Vulkan";
    const adapter: WebGpuAdapter = found.found ? found : { ...found, name: "an unidentified adapter", backend };
    return {
      requested,
      requestedBy,
      provider: "webgpu",
      executionProviders: ["webgpu", "cpu"],
      hardware: adapter.name,
      adapter,
      label: adapter.software ? `WebGPU ${adapter.name}` : adapter.found ? adapter.name : "WebGPU",
      summary: `Device: WebGPU on ${adapter.name}, ${adapter.backend}; ${why}.`,
    };
  };
  if (requested === "webgpu") {
    const adapter = probe.webgpu.adapter();
    const failure = await probe.webgpu.start();
    if (failure !== undefined) {
      throw new DeviceError(
        `${asked} was asked for, but onnxruntime's WebGPU provider found no adapter it can use (${failure}). ` +
          `${adapter.fix ?? adapter.how} Or use the CPU: device "cpu" or "auto".`,
      );
    }
    return webgpu(adapter, `as asked (${asked}; adapter ${adapter.how})`);
  }

  const problem = await cudaProblem(probe);
  if (problem === undefined) {
    const gpu = probe.nvidiaGpus().names[0];
    const why = requested === "auto" ? `auto: ${gpu} and onnxruntime-node's CUDA provider found, and a convolution ran on it` : `as asked (${asked})`;
    return {
      requested,
      requestedBy,
      provider: "cuda",
      executionProviders: ["cuda", "cpu"],
      hardware: gpu,
      label: gpu,
      summary: `Device: CUDA on ${gpu}; ${why}.`,
    };
  }
  if (requested === "auto") {
    const adapter = probe.webgpu.adapter();
    if (adapter.software || !adapter.found) return cpu(`auto: ${problem.short}; no WebGPU: ${softwareAdapterReason(adapter)}`);
    const failure = await probe.webgpu.start();
    if (failure !== undefined) return cpu(`auto: ${problem.short}; ${adapter.name} found (${adapter.how}), but WebGPU did not start (${failure})`);
    return webgpu(adapter, `auto: ${problem.short}; hardware adapter ${adapter.how}`);
  }
  throw new DeviceError(`${asked} was asked for, but ${problem.long} Or use the CPU: device "cpu" or "auto".`);
}

interface CudaProblem {
  /** For the auto line. */
  short: string;
  /** For the error: what is missing and how to get it. */
  long: string;
}

async function cudaProblem(probe: DeviceProbe): Promise<CudaProblem | undefined> {
  const gpus = probe.nvidiaGpus();
  if (gpus.names.length === 0) {
    return {
      short: `no NVIDIA GPU found (${gpus.how})`,
      long:
        `no NVIDIA GPU was found (${gpus.how}). CUDA needs an NVIDIA GPU and its driver ` +
        `(on Colab: Runtime > Change runtime type > T4 GPU).`,
    };
  }
  const needs = probe.cudaProvider();
  if (!needs.ready) {
    return {
      short: `found ${gpus.names[0]}, but ${needs.problem}`,
      long: `${needs.problem}.`,
    };
  }
  const failure = await probe.startCuda();
  if (failure !== undefined) {
    const libs = needs.libraries.map((l) => `${l.name} at ${l.found}`).join(", ");
    return {
      short: `found ${gpus.names[0]} and what the CUDA ${needs.cudaMajor} provider needs, but a convolution on CUDA failed (${failure})`,
      long:
        `onnxruntime could not run a convolution on its CUDA provider on ${gpus.names[0]}: ${failure}. The provider's ` +
        `libraries were found (${libs}; driver ${needs.driver.found}); onnxruntime's log above names the one that ` +
        `failed to load.`,
    };
  }
  return undefined;
}

function providerName(provider: ExecutionProvider): string {
  return typeof provider === "string" ? provider : provider.name;
}

// ---------------------------------------------------------------------------------------------------------------
// What this machine has

/** `nvidia-smi` names the GPUs; without it, the NVIDIA driver's /proc entries do. */
function findNvidiaGpus(): { names: string[]; how: string } {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], { encoding: "utf8", timeout: 10_000 });
  if (!smi.error && smi.status === 0) {
    const names = smi.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
    return { names, how: names.length > 0 ? "nvidia-smi" : "nvidia-smi lists none" };
  }
  const procFolder = "/proc/driver/nvidia/gpus";
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(procFolder);
  } catch {
    const smiWhy = (smi.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT" ? "no nvidia-smi" : "nvidia-smi failed";
    return { names: [], how: `${smiWhy}, no ${procFolder}` };
  }
  const names = entries.map((entry) => {
    const info = readText(path.join(procFolder, entry, "information"));
    return /^Model:\s*(.+)$/m.exec(info)?.[1].trim() ?? `NVIDIA GPU ${entry}`;
  });
  return { names, how: names.length > 0 ? procFolder : `${procFolder} is empty` };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

let cudaStart: Promise<string | undefined> | undefined;

/** The Conv probe on ["cuda"]; remembered for the process, since CUDA's state does not change. */
function startCudaOnce(): Promise<string | undefined> {
  cudaStart ??= runConvProbe(["cuda"]);
  return cudaStart;
}

function cpuName(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() || "unknown CPU"}, ${cpus.length} threads`;
}

/** The real machine. */
export const SYSTEM_PROBE: DeviceProbe = {
  nvidiaGpus: findNvidiaGpus,
  cudaProvider: () => cudaNeeds(),
  startCuda: startCudaOnce,
  cpu: cpuName,
  webgpu: SYSTEM_WEBGPU_PROBE,
};

/** Where a loaded model runs: the choice made at load, and each module's session's execution providers. */
export interface DeviceReport extends DeviceChoice {
  /**
   * Module name -> the execution providers its session was created with, preferred first (`["cuda", "cpu"]`).
   * onnxruntime refuses to create a session whose provider can't start, so a session listed with "cuda" has it.
   */
  sessions: Record<string, readonly string[]>;
}

/** The report a model gives (`model.device`), from its choice and its open sessions. */
export function deviceReport(choice: DeviceChoice, sessions: Record<string, { executionProviders: readonly string[] }>): DeviceReport {
  const bySession: Record<string, readonly string[]> = {};
  for (const [module, session] of Object.entries(sessions)) bySession[module] = [...session.executionProviders];
  return { ...choice, sessions: bySession };
}

/** The provider names of a session's execution providers (`"cpu"`, `{ name: "cuda" }` -> `"cuda"`). */
export function providerNames(providers: readonly ExecutionProvider[] | undefined): string[] {
  return (providers ?? ["cpu"]).map(providerName);
}

// ---------------------------------------------------------------------------------------------------------------
// Modules on the device or on the CPU

/** Per module: on the chosen device (the default) or on the CPU. */
export type ModulePlacement = Partial<Record<ModuleName, "device" | "cpu">>;

/**
 * The execution providers of each module's session. By default every module goes where the device is, as on CUDA:
 * the vision encoder and the text encoder are single large runs that a GPU speeds up most; the decoder step is
 * small, and since onnxruntime-node hands every output back to the CPU (its `preferredOutputLocation` is web-only)
 * each step uploads and downloads the whole KV cache, cross-attention included (for Florence-2-base about
 * 6 layers x 2 x (577 + prompt) x 768 floats, ~22 MB per row each way). Whether that copy outweighs the GPU's
 * speed-up of the decoder depends on the machine's bus (none on Apple silicon's unified memory, PCIe elsewhere) and
 * was not measured here (no real GPU was available), so the default keeps one device and the choice is left to
 * `placement: { decoder_model_merged: "cpu" }`.
 */
export function placeModules(choice: DeviceChoice, placement: unknown = {}): Record<ModuleName, ExecutionProvider[]> {
  if (placement === null || typeof placement !== "object" || Array.isArray(placement)) {
    throw new DeviceError(`Expected an object such as { decoder_model_merged: "cpu" } for placement but received ${describeValue(placement)}.`);
  }
  for (const [module, where] of Object.entries(placement)) {
    if (!(MODULES as readonly string[]).includes(module)) {
      throw new DeviceError(`Unknown module "${module}" in placement. Expected one of: ${MODULES.join(", ")}.`);
    }
    if (where !== "device" && where !== "cpu" && where !== undefined) {
      throw new DeviceError(`Expected "device" or "cpu" for placement.${module} but received ${describeValue(where)}.`);
    }
  }
  const chosen = placement as ModulePlacement;
  const out = {} as Record<ModuleName, ExecutionProvider[]>;
  for (const module of MODULES) out[module] = chosen[module] === "cpu" ? ["cpu"] : [...choice.executionProviders];
  return out;
}

/**
 * fp16 files need the adapter's `shader-f16` feature on WebGPU. Without it onnxruntime opens the session and fails at
 * the first run ("Program Cast requires f16 but the device does not support it"), so it is found out at load with
 * a two-Cast probe and refused with the fix. Only asked when a module on WebGPU is fp16.
 */
export async function checkDtypesOnDevice(
  choice: DeviceChoice,
  dtypes: Record<ModuleName, Dtype>,
  providers: Record<ModuleName, readonly ExecutionProvider[]>,
  probe: DeviceProbe = SYSTEM_PROBE,
): Promise<void> {
  const fp16OnWebGpu = MODULES.filter((m) => dtypes[m] === "fp16" && providerNames(providers[m])[0] === "webgpu");
  if (fp16OnWebGpu.length === 0) return;
  const failure = await probe.webgpu.shaderF16();
  if (failure === undefined) return;
  const adapter = choice.adapter?.name ?? "this adapter";
  throw new DeviceError(
    `dtype "fp16" for ${fp16OnWebGpu.join(", ")} needs WebGPU's shader-f16 feature, which ${adapter} lacks ` +
      `(onnxruntime: ${failure}). Use dtype "fp32" or "q8" on this adapter, or place those modules on the CPU ` +
      `(placement: { ${fp16OnWebGpu[0]}: "cpu" }).`,
  );
}
