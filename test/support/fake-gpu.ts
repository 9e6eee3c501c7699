/**
 * A GPU runtime made of fakes, for kernel-setup/colab-install.sh's GPU branches on machines without a GPU: a
 * `nvidia-smi` that names a T4, onnxruntime-node's CUDA provider file in its own folder, a `cuda-needs` that looks
 * for each library on the LD_LIBRARY_PATH it is given (so it reports them found only when the script passed the
 * wheels' folders on), a `pip` that unpacks each wheel as site-packages/nvidia/<folder>/lib/<library>, an NVIDIA
 * driver folder, and a device check that prints the environment it was given. `env` holds the script's overrides
 * that point at them (see the script's header) and PYTHONPATH for the fake site-packages.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The CUDA 13 provider's needs, as kernel-setup/cuda-needs.ts names them: the library and the wheel that has it. */
export const CUDA13_LIBRARIES = [
  { name: "libcublasLt.so.13", wheel: "nvidia-cublas", folder: "cublas" },
  { name: "libcublas.so.13", wheel: "nvidia-cublas", folder: "cublas" },
  { name: "libcudart.so.13", wheel: "nvidia-cuda-runtime", folder: "cuda_runtime" },
  { name: "libcurand.so.10", wheel: "nvidia-curand", folder: "curand" },
  { name: "libcudnn.so.9", wheel: "nvidia-cudnn-cu13", folder: "cudnn" },
];

export interface FakeGpu {
  /** The driver cuda-needs reports: its version, and whether it is new enough for CUDA 13. */
  driver: { found: string; ok: boolean };
  /** Files in the fake NVIDIA driver folder (libGLX_nvidia.so.0, libEGL_nvidia.so.0). */
  driverLibraries: string[];
  /** The device check fails (exit 1) when FLORENCE2_DEVICE is this. */
  deviceCheckFailsFor?: string;
}

/** What colab-install.sh writes to COLAB_STATE_FILE. */
export interface ColabState {
  device: string;
  notes: string[];
  library_path: string[];
  env: Record<string, string>;
}

export function writeFakeGpu(dir: string, fake: FakeGpu): { dir: string; env: NodeJS.ProcessEnv; site: string; bin: string; pipCalls(): string[] } {
  const site = path.join(dir, "site-packages");
  const provider = path.join(dir, "provider");
  const driver = path.join(dir, "driver");
  const bin = path.join(dir, "bin");
  for (const d of [site, provider, driver, bin]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(bin, "nvidia-smi"), `#!/bin/sh\n[ "$1" = "--query-gpu=name" ] && echo "Tesla T4"\nexit 0\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(provider, "libonnxruntime_providers_cuda.so"), "");
  for (const lib of fake.driverLibraries) fs.writeFileSync(path.join(driver, lib), "");
  const libraries = path.join(dir, "libraries.json");
  fs.writeFileSync(libraries, JSON.stringify(CUDA13_LIBRARIES));
  const needs = path.join(dir, "cuda-needs.js");
  fs.writeFileSync(needs, `
const fs = require("fs"), path = require("path");
const dirs = (process.env.LD_LIBRARY_PATH || "").split(":").filter(Boolean);
const libraries = JSON.parse(fs.readFileSync(${JSON.stringify(libraries)}, "utf8")).map(({ name, wheel }) => {
  const dir = dirs.find((d) => fs.existsSync(path.join(d, name)));
  return { name, found: dir ? path.join(dir, name) : null, wheel };
});
const driver = { required: "580", found: ${JSON.stringify(fake.driver.found)}, ok: ${fake.driver.ok} };
const missing = libraries.filter((l) => !l.found).map((l) => l.name);
const problem = !driver.ok ? "driver " + driver.found + " is older than the 580 that the CUDA 13 provider needs"
  : missing.length ? "missing " + missing.join(", ") : null;
console.log(JSON.stringify({ provider: ${JSON.stringify(path.join(provider, "libonnxruntime_providers_cuda.so"))}, cudaMajor: 13, libraries, driver, ready: problem === null, problem }));
`);
  const pipLog = path.join(dir, "pip.log");
  const pip = path.join(dir, "pip.js");
  fs.writeFileSync(pip, `
const fs = require("fs"), path = require("path");
const wheels = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(pipLog)}, wheels.join(" ") + "\\n");
for (const { name, wheel, folder } of JSON.parse(fs.readFileSync(${JSON.stringify(libraries)}, "utf8"))) {
  if (!wheels.includes(wheel)) continue;
  fs.mkdirSync(path.join(${JSON.stringify(site)}, "nvidia", folder, "lib"), { recursive: true });
  fs.writeFileSync(path.join(${JSON.stringify(site)}, "nvidia", folder, "lib", name), "");
}
`);
  const check = path.join(dir, "device-check.sh");
  const failsFor = fake.deviceCheckFailsFor ?? "";
  fs.writeFileSync(check, `#!/bin/sh
echo "Device: fake (FLORENCE2_DEVICE=\${FLORENCE2_DEVICE:-} VK_ICD_FILENAMES=\${VK_ICD_FILENAMES:-} LD_LIBRARY_PATH=\${LD_LIBRARY_PATH:-})"
[ -n "${failsFor}" ] && [ "\${FLORENCE2_DEVICE:-}" = "${failsFor}" ] && exit 1
exit 0
`, { mode: 0o755 });
  return {
    dir,
    site,
    bin,
    env: {
      ORT_PROVIDER_DIR: provider,
      FLORENCE2_CUDA_NEEDS: `node ${needs}`,
      PIP_INSTALL: `node ${pip}`,
      FLORENCE2_DEVICE_CHECK: check,
      NVIDIA_DRIVER_LIB_DIRS: driver,
      PYTHONPATH: site,
    },
    pipCalls: () => (fs.existsSync(pipLog) ? fs.readFileSync(pipLog, "utf8").trim().split("\n") : []),
  };
}
