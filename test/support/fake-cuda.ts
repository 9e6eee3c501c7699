/**
 * Fake CUDA machines for the CUDA checks: shared libraries built with cc whose DT_NEEDED the test chooses (stub
 * libraries with the wanted sonames, linked with --no-as-needed so each one is recorded), an onnxruntime-node
 * binding folder holding such a "provider", library folders, and a /proc-style driver version file.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { CudaEnvironment } from "../../src/runtime/cuda-provider";

export function ccAvailable(): boolean {
  return spawnSync("cc", ["--version"]).status === 0;
}

let counter = 0;

/** Builds `dir/<fileName>` as a shared library with DT_SONAME `soname` and a DT_NEEDED entry for each of `needed`. */
export function buildLibrary(dir: string, fileName: string, options: { soname?: string; needed?: readonly string[]; runpath?: string } = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const work = fs.mkdtempSync(path.join(dir, ".build-"));
  try {
    const source = path.join(work, "lib.c");
    fs.writeFileSync(source, `int florence2_fake_${counter++}(void) { return 0; }\n`);
    const stubs = (options.needed ?? []).map((name) => {
      const stub = path.join(work, name);
      cc(["-shared", "-o", stub, `-Wl,-soname,${name}`, source]);
      return stub;
    });
    const out = path.join(dir, fileName);
    cc([
      "-shared", "-o", out, source,
      ...(options.soname ? [`-Wl,-soname,${options.soname}`] : []),
      ...(options.runpath ? [`-Wl,-rpath,${options.runpath}`, "-Wl,--enable-new-dtags"] : []),
      "-Wl,--no-as-needed", ...stubs,
    ]);
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function cc(args: string[]): void {
  const run = spawnSync("cc", args, { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`cc ${args.join(" ")} failed:\n${run.stderr}`);
}

/** The text of /proc/driver/nvidia/version for a driver of that version (the proprietary module's wording). */
export function procDriverVersion(version: string): string {
  return `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${version}  Sun Jul 27 04:29:25 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n`;
}

export interface FakeMachine {
  /** The fake onnxruntime-node binding folder. */
  binding: string;
  /** A folder of CUDA libraries, not on any search path unless the test puts it there. */
  libs: string;
  driverFile: string;
  env(overrides?: Partial<CudaEnvironment>): CudaEnvironment;
}

/**
 * A machine whose provider names `needed`, with the libraries in `present` built into `libs`, and `driver` as the
 * kernel module's version (null: no driver). Nothing of the real machine is consulted.
 */
export function fakeMachine(root: string, spec: { needed: readonly string[]; present: readonly string[]; driver: string | null; provider?: boolean }): FakeMachine {
  const binding = path.join(root, "binding");
  const libs = path.join(root, "libs");
  fs.mkdirSync(binding, { recursive: true });
  fs.mkdirSync(libs, { recursive: true });
  if (spec.provider !== false) {
    buildLibrary(binding, "libonnxruntime_providers_cuda.so", { needed: spec.needed, runpath: "$ORIGIN" });
    buildLibrary(binding, "libonnxruntime_providers_shared.so");
  }
  for (const name of spec.present) buildLibrary(libs, name, { soname: name });
  const driverFile = path.join(root, "proc-driver-nvidia-version");
  if (spec.driver !== null) fs.writeFileSync(driverFile, procDriverVersion(spec.driver));
  return {
    binding,
    libs,
    driverFile,
    env: (overrides = {}) => ({
      bindingFolder: binding,
      ldLibraryPath: libs,
      ldconfigCache: () => new Map(),
      defaultLibraryDirs: [],
      driverVersionFile: driverFile,
      nvidiaSmiDriverVersion: () => null,
      ...overrides,
    }),
  };
}
