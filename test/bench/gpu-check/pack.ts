/**
 * `npm run gpu-check:pack [-- --out DIR]`: writes the GPU check as one folder (default output/gpu-check, at most
 * 60 MiB) that runs on a bare Linux x64 machine with no Node.js and no network: `sh DIR/run.sh [gpu-check options]`.
 *
 * What goes in, and why it is that small:
 * - this Node.js binary, xz-compressed (about 95 MB -> 24 MB); run.sh unpacks it with xz, or python3's lzma where
 *   xz is missing (a bare machine has one of them);
 * - onnxruntime-node's JavaScript, its linux-x64 binding and libonnxruntime.so.1 (44 MB, xz-compressed; it holds
 *   the CPU and WebGPU providers), onnxruntime-common's CommonJS build;
 * - the check bundled with esbuild into one file; sharp and canvas are replaced by stubs (see stubModule);
 * - Debian's libvulkan1 (the Vulkan loader, which Dawn dlopens), from `apt-get download libvulkan1`.
 * The stand-in model is not packed (the base one is about 1 GB): the packed JS generates it on the machine.
 *
 * Compressing Node.js takes a minute or two, so compressed files are kept in .cache/gpu-check/ and reused while
 * their source (path, size, mtime) is unchanged.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const CACHE = path.join(ROOT, ".cache", "gpu-check");
export const PACK_LIMIT_BYTES = 60 * 1024 * 1024;
const ORT = path.dirname(require.resolve("onnxruntime-node/package.json"));
// Its package.json is not in its exports: go up from its CommonJS entry (dist/cjs/index.js).
const ORT_COMMON = path.resolve(path.dirname(require.resolve("onnxruntime-common", { paths: [ORT] })), "..", "..");
const BINDING = path.join(ORT, "bin", "napi-v6", "linux", "x64");

function run(command: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 26, ...options });
  if (r.error || r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** `file` xz-compressed, from the cache when its source is unchanged. */
function xzCached(file: string, name: string): string {
  fs.mkdirSync(CACHE, { recursive: true });
  const real = fs.realpathSync(file);
  const st = fs.statSync(real);
  const key = `${real}:${st.size}:${st.mtimeMs}`;
  const out = path.join(CACHE, `${name}.xz`);
  if (fs.existsSync(out) && fs.existsSync(`${out}.key`) && fs.readFileSync(`${out}.key`, "utf8") === key) return out;
  const fd = fs.openSync(`${out}.part`, "w");
  try {
    const r = spawnSync("xz", ["-T0", "-6", "-c", real], { stdio: ["ignore", fd, "pipe"] });
    if (r.error || r.status !== 0) throw new Error(`xz -6 -c ${real} failed (${r.error?.message ?? r.stderr}); the pack needs xz: apt-get install xz-utils`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(`${out}.part`, out);
  fs.writeFileSync(`${out}.key`, key);
  return out;
}

/** Debian's Vulkan loader: `apt-get download libvulkan1`, unpacked; the installed copy where apt can't download. */
function vulkanLoader(): { file: string; origin: string } {
  const dir = path.join(CACHE, "libvulkan1");
  const extracted = path.join(dir, "x");
  const find = (): string | undefined => {
    const lib = path.join(extracted, "usr", "lib", "x86_64-linux-gnu");
    const name = fs.existsSync(lib) ? fs.readdirSync(lib).find((f) => /^libvulkan\.so\.1\.\d+/.test(f)) : undefined;
    return name && path.join(lib, name);
  };
  let file = find();
  if (file) return { file, origin: `Debian's libvulkan1 (${path.basename(file)}, apt-get download, cached in .cache/gpu-check)` };
  fs.mkdirSync(dir, { recursive: true });
  const download = spawnSync("apt-get", ["download", "libvulkan1"], { cwd: dir, encoding: "utf8" });
  const deb = fs.readdirSync(dir).find((f) => /^libvulkan1_.*\.deb$/.test(f));
  if (download.status === 0 && deb) {
    run("dpkg-deb", ["-x", path.join(dir, deb), extracted]);
    file = find();
    if (file) return { file, origin: `Debian's libvulkan1 (${deb}, apt-get download)` };
  }
  const installed = "/usr/lib/x86_64-linux-gnu/libvulkan.so.1";
  if (fs.existsSync(installed)) return { file: fs.realpathSync(installed), origin: `this machine's installed libvulkan1 (${fs.realpathSync(installed)}; apt-get download failed)` };
  throw new Error(`Cannot get Debian's libvulkan1: apt-get download libvulkan1 failed (${download.stderr.trim()}) and ${installed} is not installed.`);
}

function copyTree(from: string, to: string, keep: (rel: string) => boolean = () => true, rel = ""): void {
  for (const entry of fs.readdirSync(path.join(from, rel), { withFileTypes: true })) {
    const r = path.join(rel, entry.name);
    if (entry.isDirectory()) copyTree(from, to, keep, r);
    else if (keep(r)) {
      fs.mkdirSync(path.dirname(path.join(to, r)), { recursive: true });
      fs.copyFileSync(path.join(from, r), path.join(to, r));
    }
  }
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return total;
}

/**
 * sharp (image codec) and canvas (drawing) are native packages that the check never calls (it passes decoded pixels
 * and draws nothing) but that modules it bundles import; each is replaced by a module that fails when used.
 */
function stubModule(name: string): string {
  return `"use strict";
const fail = () => { throw new Error(${JSON.stringify(`${name} is not in the GPU check's pack: the check passes decoded pixels and draws nothing.`)}); };
module.exports = new Proxy(fail, { get: (_, key) => (key === "__esModule" ? false : key === "default" ? module.exports : fail) });
`;
}

export interface PackResult {
  folder: string;
  bytes: number;
  vulkan: string;
}

export function pack(out: string, log: (line: string) => void = console.log): PackResult {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`The GPU check's pack is for Linux x64; this is ${process.platform}/${process.arch}.`);
  fs.rmSync(out, { recursive: true, force: true });
  const app = path.join(out, "app");
  const modules = path.join(app, "node_modules");
  fs.mkdirSync(modules, { recursive: true });

  log("Bundling the check (esbuild) ...");
  // esbuild is installed as tsx's dependency (hoisted to node_modules/esbuild); its JS API is CommonJS.
  const esbuild = require(require.resolve("esbuild", { paths: [path.dirname(require.resolve("tsx"))] })) as typeof import("esbuild");
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, "gpu-check.ts")],
    outfile: path.join(app, "gpu-check.js"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: ["onnxruntime-node", "sharp", "canvas"],
    logLevel: "warning",
  });

  log("Copying onnxruntime-node's linux-x64 parts ...");
  const ortOut = path.join(modules, "onnxruntime-node");
  copyTree(ORT, ortOut, (r) => r === "package.json" || /^dist\/[^/]+\.js$/.test(r));
  const bindingOut = path.join(ortOut, "bin", "napi-v6", "linux", "x64");
  fs.mkdirSync(bindingOut, { recursive: true });
  fs.copyFileSync(path.join(BINDING, "onnxruntime_binding.node"), path.join(bindingOut, "onnxruntime_binding.node"));
  log("Compressing libonnxruntime.so.1 (cached) ...");
  fs.copyFileSync(xzCached(path.join(BINDING, "libonnxruntime.so.1"), "libonnxruntime.so.1"), path.join(bindingOut, "libonnxruntime.so.1.xz"));
  copyTree(ORT_COMMON, path.join(modules, "onnxruntime-common"), (r) => r === "package.json" || r.startsWith("dist/cjs/") && (r.endsWith(".js") || r.endsWith("package.json")));
  for (const name of ["sharp", "canvas"]) {
    fs.mkdirSync(path.join(modules, name));
    fs.writeFileSync(path.join(modules, name, "package.json"), JSON.stringify({ name, version: "0.0.0-gpu-check-stub", main: "index.js" }));
    fs.writeFileSync(path.join(modules, name, "index.js"), stubModule(name));
  }

  log(`Compressing Node.js ${process.version} (${process.execPath}; cached) ...`);
  fs.copyFileSync(xzCached(process.execPath, `node-${process.version}`), path.join(out, "node.xz"));

  const vulkan = vulkanLoader();
  fs.mkdirSync(path.join(out, "lib"));
  fs.copyFileSync(vulkan.file, path.join(out, "lib", "libvulkan.so.1"));

  fs.copyFileSync(path.join(__dirname, "run.sh"), path.join(out, "run.sh"));
  fs.chmodSync(path.join(out, "run.sh"), 0o755);
  // run.sh unpacks into a work folder once per pack; this id tells it a new pack from the one it unpacked.
  const id = createHash("sha256").update(fs.readFileSync(path.join(app, "gpu-check.js"))).update(process.version).digest("hex").slice(0, 16);
  fs.writeFileSync(path.join(app, "PACK_ID"), `${id}\n`);
  fs.writeFileSync(
    path.join(out, "README.txt"),
    `florence2-ts GPU check (pack ${id})\n\n` +
      `  sh run.sh                      # the 14 walkthrough tasks, base stand-in, CPU and WebGPU (Vulkan)\n` +
      `  sh run.sh --size tiny --tasks CAPTION,OD --max-new-tokens 8\n\n` +
      `Needs Linux x64, xz or python3 (to unpack Node.js and onnxruntime), about 2 GB of disk for the generated base\n` +
      `stand-in, and for WebGPU an NVIDIA driver with its Vulkan ICD (nvidia_icd.json). No Node.js, no network.\n` +
      `Packed: Node.js ${process.version}; onnxruntime-node ${JSON.parse(fs.readFileSync(path.join(ORT, "package.json"), "utf8")).version}; ${vulkan.origin}.\n` +
      `The stand-in has random weights: its times are a Florence-2-base-sized compute, never Florence-2's output.\n`,
  );
  const bytes = folderBytes(out);
  log(`Wrote ${path.relative(process.cwd(), out) || out}: ${(bytes / 1024 / 1024).toFixed(1)} MiB (limit ${PACK_LIMIT_BYTES / 1024 / 1024} MiB).`);
  if (bytes > PACK_LIMIT_BYTES) throw new Error(`The pack is ${(bytes / 1024 / 1024).toFixed(1)} MiB, over its ${PACK_LIMIT_BYTES / 1024 / 1024} MiB limit.`);
  return { folder: out, bytes, vulkan: vulkan.origin };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.length !== 0 && !(args.length === 2 && args[0] === "--out")) {
    process.stderr.write("Usage: npm run gpu-check:pack [-- --out DIR]\n");
    process.exit(2);
  }
  pack(path.resolve(args[1] ?? path.join(ROOT, "output", "gpu-check")));
}
