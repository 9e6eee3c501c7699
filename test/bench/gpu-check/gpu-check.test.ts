/**
 * The GPU check's pack, run as a bare machine would run it: from a copy of the packed folder, with neither node nor
 * xz on PATH (so run.sh unpacks with python3's lzma), on SwiftShader (the software Vulkan driver in Debian's
 * chromium) with a tiny workload. Then the same pack with no Vulkan driver at all, which must fail and say so.
 * The pack is built once per test run; its compressed Node.js is cached in .cache/gpu-check (a first pack on a clean
 * clone spends a minute or two compressing it).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readElfDynamicFile } from "../../../src/runtime/elf";
import { PACK_LIMIT_BYTES, pack, type PackResult } from "./pack";
import { parseArgs } from "./gpu-check";

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** A PATH with everything of /usr/bin and /bin except Node.js, npm and xz. */
function barePath(dir: string): string {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  for (const d of ["/usr/bin", "/bin"]) {
    for (const name of fs.readdirSync(d)) {
      if (/^(node|nodejs|npm|npx|corepack|xz|unxz|xzcat)$/.test(name) || fs.existsSync(path.join(bin, name))) continue;
      fs.symlinkSync(path.join(d, name), path.join(bin, name));
    }
  }
  return bin;
}

describe("gpu-check (test/bench/gpu-check)", function () {
  this.timeout(600_000);
  let dir: string;
  let packed: PackResult;
  let copy: string;
  let env: NodeJS.ProcessEnv;

  before(function () {
    if (process.platform !== "linux" || process.arch !== "x64" || spawnSync("xz", ["--version"]).status !== 0 || spawnSync("python3", ["-c", "import lzma"]).status !== 0) {
      console.log("      (skipped: the pack is for Linux x64 and needs xz to build and python3's lzma to unpack here)");
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-check-test-"));
    packed = pack(path.join(dir, "pack"), () => undefined);
    copy = path.join(dir, "copy");
    fs.cpSync(packed.folder, copy, { recursive: true });
    env = { HOME: dir, PATH: barePath(dir), TMPDIR: dir };
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it("packs one folder of at most 60 MiB: compressed Node.js and onnxruntime, the bundled check, the Vulkan loader, no model", function () {
    assert.ok(packed.bytes <= PACK_LIMIT_BYTES, `${packed.bytes} bytes`);
    const files = fs.readdirSync(packed.folder, { recursive: true }).map(String);
    for (const f of ["run.sh", "node.xz", "lib/libvulkan.so.1", "app/gpu-check.js", "app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz"]) {
      assert.ok(files.includes(f), `${f} in ${files.join(", ")}`);
    }
    assert.ok(!files.some((f) => /\.onnx$|libonnxruntime\.so\.1$|libonnxruntime_providers/.test(f)), files.join(", "));
    assert.equal(readElfDynamicFile(path.join(packed.folder, "lib", "libvulkan.so.1")).soname, "libvulkan.so.1");
    const which = spawnSync("sh", ["-c", "command -v node xz"], { env, encoding: "utf8" });
    assert.deepEqual([which.status === 0, which.stdout], [false, ""], "neither node nor xz on the bare PATH");
  });

  it("runs from a copy with no Node.js on PATH, on SwiftShader, and the WebGPU ids agree with the CPU's", function () {
    if (!fs.existsSync(SWIFTSHADER_ICD)) {
      console.log(`      (skipped: no ${SWIFTSHADER_ICD}; apt-get install chromium)`);
      this.skip();
    }
    const xdg = fs.mkdtempSync(path.join(dir, "xdg-"));
    const run = spawnSync("sh", [path.join(copy, "run.sh"), "--size", "tiny", "--tasks", "CAPTION", "--beams", "3", "--max-new-tokens", "4", "--reuse-image-features"], {
      env: { ...env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: xdg },
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^task \| tokens \| CPU \| WebGPU \| seed T4 \(Florence-2-large, wall\) \| ids$/m);
    assert.match(run.stdout, /^CAPTION \| 4 \| [\d.]+ m?s \(pre .+, vision .+, enc .+, dec .+\/\d+ steps\) \| [\d.]+ m?s \(pre .+\) \| 421 ms \| agree$/m);
    assert.match(run.stdout, /WebGPU: Device: execution providers \[webgpu, cpu\]/);
    assert.match(run.stdout, /Result: every device ran every task and the ids agree\./);
    assert.match(run.stderr, /Unpacking Node\.js and onnxruntime into /);
  });

  it("fails, saying so, where no Vulkan driver answers", function () {
    const run = spawnSync("sh", [path.join(copy, "run.sh"), "--size", "tiny", "--tasks", "CAPTION", "--max-new-tokens", "4", "--devices", "webgpu"], {
      env: { ...env, VK_ICD_FILENAMES: path.join(dir, "no-such-icd.json") },
      encoding: "utf8",
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^WebGPU did not run: .+/m);
    assert.match(run.stdout, /Result: FAILED/);
    if (fs.existsSync(SWIFTSHADER_ICD)) assert.doesNotMatch(run.stderr, /Unpacking/, "the work folder of the run before is reused");
  });

  it("refuses a wrong command line before generating anything", function () {
    assert.throws(() => parseArgs(["--size", "large"], dir), /^Error: Expected base or tiny for --size but received "large"\.$/);
    assert.throws(() => parseArgs(["--devices", "cuda"], dir), /Expected cpu and\/or webgpu for --devices but received "cuda"/);
    assert.throws(() => parseArgs(["--beams", "0"], dir), /Expected a positive integer for --beams but received "0"/);
    assert.deepEqual(parseArgs(["--tasks", "OD,CAPTION", "--max-new-tokens", "5"], dir).tasks.map((t) => [t.task.name, t.outputTokens]), [["OD", 5], ["CAPTION", 5]]);
  });
});
