/**
 * What onnxruntime-node's CUDA provider needs on this machine, read from the provider file itself.
 *
 * The provider (`libonnxruntime_providers_cuda.so`, fetched by onnxruntime-node's installer from NuGet's
 * Microsoft.ML.OnnxRuntime.Gpu.Linux of the same version) names its CUDA libraries in its ELF DT_NEEDED entries
 * (e.g. libcudart.so.13, libcublasLt.so.13), so the CUDA major is the one those sonames carry: nothing here assumes
 * one. It loads cuDNN only when a convolution first runs, so a session can open and a non-Conv graph can run while
 * every Conv later fails; cuDNN is therefore checked too, and the device probe runs a Conv.
 *
 * Each library is looked for as the dynamic loader looks (ld.so(8)): DT_RPATH (when there is no DT_RUNPATH),
 * LD_LIBRARY_PATH, DT_RUNPATH, ldconfig's cache, then the default folders. The NVIDIA driver must be new enough for
 * the CUDA major (NVIDIA's CUDA release notes, "CUDA Toolkit and Minimum Required Driver Version": 12.x >= 525,
 * 13.x >= 580 on Linux).
 *
 * kernel-setup/cuda-needs.ts prints `cudaNeeds()` as JSON for set-up scripts; device.ts turns `problem` into the
 * device choice's one-line reason and its error.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { ModelBuilder } from "../standin/onnx-builder";
import { ElfError, readElfDynamicFile } from "./elf";

/** How a user installs the CUDA provider, from the project folder (package.json's gpu:install runs onnxruntime-node's installer, forced). */
export const CUDA_INSTALL_COMMAND = "npm run gpu:install";
/** The provider itself and the bridge onnxruntime loads it through; onnxruntime-node's installer puts both beside its binding. */
export const CUDA_PROVIDER_FILES: readonly string[] = ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"];
/**
 * cuDNN's soname, which the provider dlopens at its first convolution instead of naming it in DT_NEEDED.
 * onnxruntime's CUDA provider has been built against cuDNN 9 since 1.19 (onnxruntime's CUDA execution provider
 * requirements table); its major is not in the file, so it is a constant here.
 */
export const CUDNN_SONAME = "libcudnn.so.9";

/** Minimum Linux driver for each CUDA major (NVIDIA's CUDA Toolkit release notes, minor version compatibility). */
const MIN_DRIVER: Readonly<Record<number, string>> = { 12: "525", 13: "580" };

/**
 * NVIDIA's Python wheel that ships each CUDA library. From CUDA 13 the wheels dropped the `-cu<major>` suffix
 * (nvidia-cublas, nvidia-cuda-runtime, ...), except cuDNN, which ships one per CUDA major (nvidia-cudnn-cu13).
 */
const WHEELS: readonly { soname: RegExp; wheel: string }[] = [
  { soname: /^libcublas(Lt)?\.so/, wheel: "nvidia-cublas" },
  { soname: /^libcudart\.so/, wheel: "nvidia-cuda-runtime" },
  { soname: /^libcurand\.so/, wheel: "nvidia-curand" },
  { soname: /^libcufft\.so/, wheel: "nvidia-cufft" },
  { soname: /^libcusparse\.so/, wheel: "nvidia-cusparse" },
  { soname: /^libcusolver\.so/, wheel: "nvidia-cusolver" },
  { soname: /^libnvrtc\.so/, wheel: "nvidia-cuda-nvrtc" },
  { soname: /^libnvJitLink\.so/, wheel: "nvidia-nvjitlink" },
  { soname: /^libcupti\.so/, wheel: "nvidia-cuda-cupti" },
  { soname: /^libcudnn/, wheel: "nvidia-cudnn" },
];

export interface CudaLibrary {
  /** The soname the loader looks for, e.g. "libcublasLt.so.13". */
  name: string;
  /** Where it resolves, or null when the loader would not find it. */
  found: string | null;
  /** NVIDIA's Python wheel that ships it for the provider's CUDA major (null when the major is unknown). */
  wheel: string | null;
}

/** What kernel-setup/cuda-needs.ts prints (its JSON contract with the Colab set-up). */
export interface CudaNeeds {
  /** The provider file, or null when it is not installed. */
  provider: string | null;
  /** The CUDA major its libcudart/libcublas sonames carry. */
  cudaMajor: number | null;
  /** Every CUDA library the provider names in DT_NEEDED, then cuDNN. */
  libraries: CudaLibrary[];
  driver: { required: string | null; found: string | null; ok: boolean };
  ready: boolean;
  /** One line: the missing pieces and their fix; null when ready. */
  problem: string | null;
}

/** Where the checks look; the tests point it at fake files. */
export interface CudaEnvironment {
  /** The folder of onnxruntime-node's binding, where its installer puts the provider. */
  bindingFolder: string;
  /** LD_LIBRARY_PATH as the process that loads the provider will have it. */
  ldLibraryPath: string | undefined;
  /** soname -> path, from ldconfig's cache (`ldconfig -p`). */
  ldconfigCache(): Map<string, string>;
  /** The loader's built-in folders, searched last. */
  defaultLibraryDirs: readonly string[];
  /** The NVIDIA kernel module's version file (/proc/driver/nvidia/version). */
  driverVersionFile: string;
  /** The driver version nvidia-smi reports, or null without nvidia-smi. */
  nvidiaSmiDriverVersion(): string | null;
}

/** Reads the provider and checks each of its needs; see the module comment. Never throws for a missing piece. */
export function cudaNeeds(env: CudaEnvironment = systemCudaEnvironment()): CudaNeeds {
  const driverFound = driverVersion(env);
  const providerFile = path.join(env.bindingFolder, CUDA_PROVIDER_FILES[0]);
  const missingFiles = CUDA_PROVIDER_FILES.filter((f) => !isFile(path.join(env.bindingFolder, f)));
  const noProvider = (problem: string): CudaNeeds => ({
    provider: isFile(providerFile) ? providerFile : null,
    cudaMajor: null,
    libraries: [],
    driver: { required: null, found: driverFound, ok: false },
    ready: false,
    problem,
  });
  if (missingFiles.length > 0) {
    return noProvider(
      `onnxruntime-node's CUDA provider is not installed (${env.bindingFolder} has no ${missingFiles.join(", ")}): ` +
        `run ${CUDA_INSTALL_COMMAND} in the project folder (onnxruntime-node's installer; it downloads ` +
        `Microsoft.ML.OnnxRuntime.Gpu.Linux from NuGet)`,
    );
  }
  let dynamic;
  try {
    dynamic = readElfDynamicFile(providerFile);
  } catch (err) {
    const why = err instanceof ElfError ? err.message : `it could not be read (${(err as Error).message})`;
    return noProvider(`${why} Reinstall the CUDA provider: ${CUDA_INSTALL_COMMAND}`);
  }

  const cudaMajor = cudaMajorOf(dynamic.needed);
  const dirs = searchDirs(env, dynamic.runpath, dynamic.rpath, path.dirname(providerFile));
  const cache = memo(() => env.ldconfigCache());
  const names = dynamic.needed.filter(isCudaLibrary);
  if (!names.some((n) => n.startsWith("libcudnn"))) names.push(CUDNN_SONAME);
  const libraries = names.map((name): CudaLibrary => ({ name, found: resolve(name, dirs, cache), wheel: wheelFor(name, cudaMajor) }));

  const required = cudaMajor !== null ? (MIN_DRIVER[cudaMajor] ?? null) : null;
  const driverOk = driverFound !== null && (required === null || leadingNumber(driverFound) >= Number(required));
  const problems: string[] = [];
  const missing = libraries.filter((l) => l.found === null);
  if (missing.length > 0) problems.push(librariesProblem(missing, cudaMajor, env));
  if (driverFound === null) {
    problems.push(
      `no NVIDIA driver found (no ${env.driverVersionFile}, no nvidia-smi): install NVIDIA's driver` +
        (required ? ` ${required} or newer, which CUDA ${cudaMajor} needs` : ""),
    );
  } else if (!driverOk) {
    problems.push(
      `the NVIDIA driver is ${driverFound}, older than the ${required} that CUDA ${cudaMajor} (the provider's ` +
        `${dynamic.needed.find((n) => /^libcudart\.so/.test(n)) ?? "libraries"}) needs: update the driver to ${required} or newer`,
    );
  }
  return {
    provider: providerFile,
    cudaMajor,
    libraries,
    driver: { required, found: driverFound, ok: driverOk },
    ready: problems.length === 0,
    problem: problems.length > 0 ? problems.join("; ") : null,
  };
}

function librariesProblem(missing: readonly CudaLibrary[], cudaMajor: number | null, env: CudaEnvironment): string {
  const wheels = [...new Set(missing.map((l) => l.wheel).filter((w): w is string => w !== null))];
  const looked = [`LD_LIBRARY_PATH${env.ldLibraryPath ? "" : " (unset)"}`, "ldconfig's cache", ...env.defaultLibraryDirs].join(", ");
  const cuda = cudaMajor !== null ? `CUDA ${cudaMajor}'s` : "its";
  const fix =
    wheels.length > 0
      ? `install them (pip install ${wheels.join(" ")}, or ${cuda} toolkit and cuDNN) and put the folders that hold them on LD_LIBRARY_PATH`
      : `install ${cuda} libraries and put their folder on LD_LIBRARY_PATH`;
  return `the CUDA provider needs ${missing.map((l) => l.name).join(", ")}, not found (looked in ${looked}): ${fix}`;
}

/** The CUDA major of the runtime the provider links: libcudart.so.<major>, else libcublas(Lt).so.<major>. */
function cudaMajorOf(needed: readonly string[]): number | null {
  for (const lib of [/^libcudart\.so\.(\d+)/, /^libcublas\.so\.(\d+)/, /^libcublasLt\.so\.(\d+)/]) {
    for (const name of needed) {
      const m = lib.exec(name);
      if (m) return Number(m[1]);
    }
  }
  return null;
}

function isCudaLibrary(soname: string): boolean {
  return WHEELS.some((w) => w.soname.test(soname));
}

function wheelFor(soname: string, cudaMajor: number | null): string | null {
  const base = WHEELS.find((w) => w.soname.test(soname))?.wheel;
  if (base === undefined || cudaMajor === null) return null;
  if (base === "nvidia-cudnn") return `nvidia-cudnn-cu${cudaMajor}`;
  if (cudaMajor === 12) return `${base}-cu12`;
  if (cudaMajor === 13) return base;
  return null;
}

/** Folders in the dynamic loader's order; "$ORIGIN" is the provider's folder. */
function searchDirs(env: CudaEnvironment, runpath: readonly string[], rpath: readonly string[], origin: string): (string | "ldconfig")[] {
  const expand = (dirs: readonly string[]) => dirs.map((d) => d.replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin));
  const ld = (env.ldLibraryPath ?? "").split(":").filter((d) => d.length > 0);
  return [...(runpath.length === 0 ? expand(rpath) : []), ...ld, ...expand(runpath), "ldconfig", ...env.defaultLibraryDirs];
}

function resolve(name: string, dirs: readonly (string | "ldconfig")[], cache: () => Map<string, string>): string | null {
  for (const dir of dirs) {
    const file = dir === "ldconfig" ? cache().get(name) : path.join(dir, name);
    if (file !== undefined && isFile(file)) return file;
  }
  return null;
}

/** The version in the NVIDIA kernel module's /proc file, else nvidia-smi's. */
function driverVersion(env: CudaEnvironment): string | null {
  let text = "";
  try {
    text = fs.readFileSync(env.driverVersionFile, "utf8");
  } catch {
    return env.nvidiaSmiDriverVersion();
  }
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ..." (the open module says
  // "NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  Release Build ...").
  return /Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)/.exec(text)?.[1] ?? env.nvidiaSmiDriverVersion();
}

function leadingNumber(version: string): number {
  return Number(/^\d+/.exec(version)?.[0] ?? NaN);
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function memo<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

// ---------------------------------------------------------------------------------------------------------------
// This machine

/** `ldconfig -p` lines: "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.13". */
export function parseLdconfigCache(text: string, arch: string = process.arch): Map<string, string> {
  const want = arch === "x64" ? "x86-64" : arch === "arm64" ? "AArch64" : undefined;
  const cache = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s+(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*)$/.exec(line);
    if (!m || cache.has(m[1])) continue;
    // Only libraries of this process's architecture load; a 32-bit copy of the same soname would not.
    if (want !== undefined && !m[2].includes(want)) continue;
    cache.set(m[1], m[3].trim());
  }
  return cache;
}

function systemLdconfigCache(): Map<string, string> {
  for (const ldconfig of ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]) {
    const run = spawnSync(ldconfig, ["-p"], { encoding: "utf8", timeout: 10_000 });
    if (!run.error && run.status === 0) return parseLdconfigCache(run.stdout);
  }
  return new Map();
}

function systemSmiDriverVersion(): string | null {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=driver_version", "--format=csv,noheader"], { encoding: "utf8", timeout: 10_000 });
  if (smi.error || smi.status !== 0) return null;
  return smi.stdout.split("\n").map((l) => l.trim()).find(Boolean) ?? null;
}

/** Where onnxruntime-node loads its binding and providers from (its dist/binding.js). */
export function ortBindingFolder(): string {
  const pkg = path.dirname(require.resolve("onnxruntime-node/package.json"));
  return path.join(pkg, "bin", "napi-v6", process.platform, process.arch);
}

export function systemCudaEnvironment(env: NodeJS.ProcessEnv = process.env): CudaEnvironment {
  return {
    bindingFolder: ortBindingFolder(),
    ldLibraryPath: env.LD_LIBRARY_PATH,
    ldconfigCache: systemLdconfigCache,
    // ld.so's trusted folders on 64-bit Linux, plus Debian/Ubuntu's multiarch ones (normally reached through the cache).
    defaultLibraryDirs: ["/lib64", "/usr/lib64", "/lib", "/usr/lib", `/usr/lib/${os.arch() === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`],
    driverVersionFile: "/proc/driver/nvidia/version",
    nvidiaSmiDriverVersion: systemSmiDriverVersion,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The probe: a convolution, because cuDNN is loaded only when the first one runs

/** y = Conv(x, w): x [1, 1, 4, 4], w [1, 1, 3, 3] all ones, pads 1, so y[i][j] is the sum of x's 3x3 neighbourhood. */
export function convProbeModel(): Uint8Array {
  const model = new ModelBuilder("cuda-conv-probe");
  const g = model.graph;
  const x = g.input("x", "float32", [1, 1, 4, 4]);
  const w = model.initializer("w", "float32", [1, 1, 3, 3], new Float32Array(9).fill(1));
  g.node("Conv", [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { outputs: ["y"] });
  g.output("y", "y", "float32", [1, 1, 4, 4]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-cuda-probe-"));
  try {
    const file = path.join(dir, "probe.onnx");
    model.save(file);
    return new Uint8Array(fs.readFileSync(file));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the Conv probe on `providers`: undefined when it gives the right answer, else what went wrong. */
export async function runConvProbe(providers: readonly string[]): Promise<string | undefined> {
  let session: ort.InferenceSession | undefined;
  try {
    // Without the CPU fallback, a Conv that a GPU provider could not take fails here instead of running on the CPU
    // unseen (onnxruntime refuses the option when the CPU itself is asked for).
    const gpuOnly = !providers.includes("cpu");
    session = await ort.InferenceSession.create(convProbeModel(), {
      executionProviders: [...providers],
      ...(gpuOnly ? { extra: { session: { disable_cpu_ep_fallback: "1" } } } : {}),
    });
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    const out = (await session.run({ x: new ort.Tensor("float32", x, [1, 1, 4, 4]) })).y.data as Float32Array;
    // Corner (0,0): x[0] + x[1] + x[4] + x[5] = 0 + 1 + 4 + 5.
    if (out[0] !== 10) return `the probe convolution gave ${out[0]} where 10 was expected`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await session?.release();
  }
}
