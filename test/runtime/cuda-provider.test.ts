/**
 * What the CUDA provider needs, read from fake provider files whose DT_NEEDED each case chooses (built by cc), with
 * fake library folders and a fake /proc driver file; the CLI that prints it for set-up scripts; the Conv probe.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { onnx } from "onnx-proto";
import {
  CUDA_INSTALL_COMMAND,
  CUDNN_SONAME,
  convProbeModel,
  cudaNeeds,
  parseLdconfigCache,
  runConvProbe,
  systemCudaEnvironment,
  type CudaNeeds,
} from "../../src/runtime/cuda-provider";
import { buildLibrary, ccAvailable, fakeMachine, procDriverVersion } from "../support/fake-cuda";

const ROOT = path.resolve(__dirname, "..", "..");
const CUDA13 = ["libcublasLt.so.13", "libcublas.so.13", "libcudart.so.13", "libcurand.so.10"];
const CUDA12 = ["libcublasLt.so.12", "libcublas.so.12", "libcudart.so.12", "libcurand.so.10"];

describe("runtime/cuda-provider", function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "cuda-provider-test-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("with fake provider files", function () {
    before(function () {
      if (!ccAvailable()) {
        console.log("      (skipped: no cc to build fake provider files; apt-get install build-essential)");
        this.skip();
      }
    });

    // One row per provider build: its DT_NEEDED, the driver, and what must come out.
    const ready = [
      { cuda: 13, needed: CUDA13, driver: "580.65.06", required: "580", wheels: ["nvidia-cublas", "nvidia-cublas", "nvidia-cuda-runtime", "nvidia-curand", "nvidia-cudnn-cu13"] },
      { cuda: 12, needed: CUDA12, driver: "535.104.05", required: "525", wheels: ["nvidia-cublas-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-curand-cu12", "nvidia-cudnn-cu12"] },
    ];
    for (const row of ready) {
      it(`CUDA ${row.cuda}: reads the major, the libraries and the wheels from the file; ready when all resolve and driver ${row.driver} >= ${row.required}`, function () {
        const m = fakeMachine(dir, { needed: [...row.needed, "libstdc++.so.6", "libc.so.6"], present: [...row.needed, CUDNN_SONAME], driver: row.driver });
        const needs = cudaNeeds(m.env());
        assert.deepEqual(needs, {
          provider: path.join(m.binding, "libonnxruntime_providers_cuda.so"),
          cudaMajor: row.cuda,
          // libstdc++ and libc are not CUDA libraries: the system has them wherever Node.js runs.
          libraries: [...row.needed, CUDNN_SONAME].map((name, i) => ({ name, found: path.join(m.libs, name), wheel: row.wheels[i] })),
          driver: { required: row.required, found: row.driver, ok: true },
          ready: true,
          problem: null,
        } satisfies CudaNeeds);
      });
    }

    it("names every missing library with the wheels that ship it for the provider's CUDA major", function () {
      const m = fakeMachine(dir, { needed: CUDA13, present: ["libcublas.so.13", "libcudart.so.13", "libcurand.so.10"], driver: "580.65.06" });
      const needs = cudaNeeds(m.env());
      assert.equal(needs.ready, false);
      assert.deepEqual(needs.libraries.filter((l) => l.found === null).map((l) => l.name), ["libcublasLt.so.13", "libcudnn.so.9"]);
      assert.equal(
        needs.problem,
        `the CUDA provider needs libcublasLt.so.13, libcudnn.so.9, not found (looked in LD_LIBRARY_PATH, ldconfig's cache): ` +
          `install them (pip install nvidia-cublas nvidia-cudnn-cu13, or CUDA 13's toolkit and cuDNN) and put the folders that hold them on LD_LIBRARY_PATH`,
      );
      assert.ok(!needs.problem!.includes("\n"));
      assert.equal(needs.driver.ok, true);
    });

    it("says the driver is too old for the CUDA major found, and names the required version", function () {
      const m = fakeMachine(dir, { needed: CUDA13, present: [...CUDA13, CUDNN_SONAME], driver: "550.54.15" });
      const needs = cudaNeeds(m.env());
      assert.deepEqual(needs.driver, { required: "580", found: "550.54.15", ok: false });
      assert.equal(needs.ready, false);
      assert.equal(needs.problem, "the NVIDIA driver is 550.54.15, older than the 580 that CUDA 13 (the provider's libcudart.so.13) needs: update the driver to 580 or newer");
      // The same driver is new enough for a CUDA 12 provider.
      const m12 = fakeMachine(path.join(dir, "12"), { needed: CUDA12, present: [...CUDA12, CUDNN_SONAME], driver: "550.54.15" });
      assert.equal(cudaNeeds(m12.env()).ready, true);
    });

    it("reads the driver from the open kernel module's wording, else from nvidia-smi, else says there is none", function () {
      const m = fakeMachine(dir, { needed: CUDA13, present: [...CUDA13, CUDNN_SONAME], driver: null });
      fs.writeFileSync(m.driverFile, "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  Release Build  (dvs-builder@U16-I3-B13-4-3)\n");
      assert.equal(cudaNeeds(m.env()).driver.found, "580.82.07");
      fs.rmSync(m.driverFile);
      assert.deepEqual(cudaNeeds(m.env({ nvidiaSmiDriverVersion: () => "590.10" })).driver, { required: "580", found: "590.10", ok: true });
      const none = cudaNeeds(m.env());
      assert.deepEqual([none.ready, none.driver], [false, { required: "580", found: null, ok: false }]);
      assert.equal(none.problem, `no NVIDIA driver found (no ${m.driverFile}, no nvidia-smi): install NVIDIA's driver 580 or newer, which CUDA 13 needs`);
    });

    it("looks where the dynamic loader looks: LD_LIBRARY_PATH first, then the provider's RUNPATH ($ORIGIN), ldconfig's cache, the default folders", function () {
      const m = fakeMachine(dir, { needed: CUDA13, present: [], driver: "580.65.06" });
      const elsewhere = path.join(dir, "elsewhere");
      const cached = buildLibrary(path.join(dir, "cache"), "libcudart.so.13", { soname: "libcudart.so.13" });
      buildLibrary(path.join(dir, "cache"), "libcublas.so.13", { soname: "libcublas.so.13" });
      buildLibrary(m.binding, "libcurand.so.10", { soname: "libcurand.so.10" }); // beside the provider: its RUNPATH $ORIGIN
      buildLibrary(elsewhere, "libcudnn.so.9", { soname: "libcudnn.so.9" });
      buildLibrary(m.libs, "libcublas.so.13", { soname: "libcublas.so.13" }); // LD_LIBRARY_PATH wins over the cache
      buildLibrary(path.join(dir, "default"), "libcublasLt.so.13", { soname: "libcublasLt.so.13" });
      const cache = new Map([
        ["libcudart.so.13", cached],
        ["libcublas.so.13", path.join(dir, "cache", "libcublas.so.13")],
        ["libcublasLt.so.13", path.join(dir, "gone", "libcublasLt.so.13")], // a stale cache entry is skipped
      ]);
      const needs = cudaNeeds(m.env({ ldconfigCache: () => cache, defaultLibraryDirs: [path.join(dir, "default"), elsewhere] }));
      assert.deepEqual(Object.fromEntries(needs.libraries.map((l) => [l.name, l.found])), {
        "libcublasLt.so.13": path.join(dir, "default", "libcublasLt.so.13"),
        "libcublas.so.13": path.join(m.libs, "libcublas.so.13"),
        "libcudart.so.13": cached,
        "libcurand.so.10": path.join(m.binding, "libcurand.so.10"),
        "libcudnn.so.9": path.join(elsewhere, "libcudnn.so.9"),
      });
      assert.equal(needs.ready, true);
      assert.equal(cudaNeeds(m.env({ ldLibraryPath: undefined })).problem?.startsWith("the CUDA provider needs libcublasLt.so.13, libcublas.so.13, libcudart.so.13, libcudnn.so.9, not found (looked in LD_LIBRARY_PATH (unset), "), true);
    });

    it("without the provider files, or with a provider that is not a library, says how to (re)install it", function () {
      const m = fakeMachine(dir, { needed: [], present: [], driver: "580.65.06", provider: false });
      const none = cudaNeeds(m.env());
      assert.deepEqual([none.provider, none.cudaMajor, none.libraries, none.ready], [null, null, [], false]);
      assert.equal(
        none.problem,
        `onnxruntime-node's CUDA provider is not installed (${m.binding} has no libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so): ` +
          `run npm run gpu:install in the project folder (onnxruntime-node's installer; it downloads Microsoft.ML.OnnxRuntime.Gpu.Linux from NuGet)`,
      );
      const provider = path.join(m.binding, "libonnxruntime_providers_cuda.so");
      fs.writeFileSync(provider, "<html>an error page saved by a proxy</html>");
      fs.writeFileSync(path.join(m.binding, "libonnxruntime_providers_shared.so"), "");
      const broken = cudaNeeds(m.env());
      assert.equal(broken.provider, provider);
      assert.equal(broken.problem, `${provider} is not an ELF file (expected a shared library, which starts with \\x7fELF). Reinstall the CUDA provider: ${CUDA_INSTALL_COMMAND}`);
    });

    it("kernel-setup/cuda-needs.ts prints the JSON, honours LD_LIBRARY_PATH, exits 0 when things are missing and 2 for a wrong command line", function () {
      const m = fakeMachine(dir, { needed: CUDA13, present: [...CUDA13, CUDNN_SONAME], driver: "580.65.06" });
      const cli = (args: string[], ldLibraryPath?: string) => {
        const env = { ...process.env };
        delete env.LD_LIBRARY_PATH;
        if (ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = ldLibraryPath;
        return spawnSync(process.execPath, [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), path.join(ROOT, "kernel-setup", "cuda-needs.ts"), ...args], {
          env,
          encoding: "utf8",
        });
      };
      const args = ["--binding", m.binding, "--driver-file", m.driverFile];
      const found = cli(args, m.libs);
      assert.equal(found.status, 0, found.stderr);
      assert.equal(found.stdout.trim().split("\n").length, 1);
      const json = JSON.parse(found.stdout);
      assert.deepEqual([json.cudaMajor, json.ready, json.problem, json.driver], [13, true, null, { required: "580", found: "580.65.06", ok: true }]);
      assert.deepEqual(json.libraries.map((l: { name: string; found: string }) => [l.name, l.found]), [...CUDA13, CUDNN_SONAME].map((n) => [n, path.join(m.libs, n)]));
      const missing = cli(args);
      assert.equal(missing.status, 0, missing.stderr);
      const notFound: CudaNeeds = JSON.parse(missing.stdout);
      // Without LD_LIBRARY_PATH the fake folder is not searched; what the real machine's cache holds (this one has a
      // CUDA 13 runtime, no cuBLAS) is found there, as the library finds it in this process.
      assert.ok(notFound.libraries.every((l) => l.found === null || !l.found.startsWith(m.libs)), missing.stdout);
      const inProcess = cudaNeeds({ ...systemCudaEnvironment({}), bindingFolder: m.binding, driverVersionFile: m.driverFile });
      assert.deepEqual(notFound, inProcess);
      assert.equal(notFound.ready, notFound.libraries.every((l) => l.found !== null));
      for (const bad of [["--binding"], ["--verbose"]]) {
        const wrong = cli(bad);
        assert.equal(wrong.status, 2, `${bad}: ${wrong.stdout}`);
        assert.equal(wrong.stdout, "");
        assert.match(wrong.stderr, /^cuda-needs: (--binding needs a path after it|unknown argument "--verbose")\.\nUsage: tsx kernel-setup\/cuda-needs\.ts/);
      }
    });
  });

  it("parses ldconfig -p, keeping the first entry of this architecture", function () {
    const text =
      "3 libs found in cache `/etc/ld.so.cache'\n" +
      "\tlibcudart.so.13 (libc6) => /usr/lib32/libcudart.so.13\n" +
      "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.13\n" +
      "\tlibcudart.so.13 (libc6,x86-64) => /opt/other/libcudart.so.13\n" +
      "\tlibcudnn.so.9 (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/libcudnn.so.9\n";
    assert.deepEqual([...parseLdconfigCache(text, "x64")], [["libcudart.so.13", "/usr/local/cuda/lib64/libcudart.so.13"]]);
    assert.deepEqual([...parseLdconfigCache(text, "arm64")], [["libcudnn.so.9", "/usr/lib/aarch64-linux-gnu/libcudnn.so.9"]]);
  });

  it("on this machine, reports the provider as not installed, naming onnxruntime-node's binding folder", function () {
    const env = systemCudaEnvironment();
    if (fs.existsSync(path.join(env.bindingFolder, "libonnxruntime_providers_cuda.so"))) {
      console.log("      (skipped: onnxruntime-node's CUDA provider is installed here)");
      this.skip();
    }
    const needs = cudaNeeds(env);
    assert.equal(needs.provider, null);
    assert.ok(needs.problem?.startsWith(`onnxruntime-node's CUDA provider is not installed (${env.bindingFolder} has no libonnxruntime_providers_cuda.so`), needs.problem ?? "");
  });

  it("probes with one Conv, which the CPU runs to the expected sums and CUDA can't run here", async function () {
    const model = onnx.ModelProto.decode(convProbeModel());
    assert.deepEqual(model.graph?.node?.map((n) => n.opType), ["Conv"]);
    assert.equal(await runConvProbe(["cpu"]), undefined);
    if (fs.existsSync(path.join(systemCudaEnvironment().bindingFolder, "libonnxruntime_providers_cuda.so"))) return;
    assert.match((await runConvProbe(["cuda"])) ?? "(it ran)", /cuda|CUDA|shared library/);
  });
});
