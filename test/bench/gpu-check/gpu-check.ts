/**
 * The GPU check: the walkthrough's tasks on a generated stand-in, on the CPU and on onnxruntime's WebGPU provider
 * (Vulkan on Linux), with the generated ids compared and per-task times printed beside the seed's T4 times.
 *
 *   npm run gpu-check -- [--size base|tiny] [--tasks CAPTION,OD,...] [--beams 3] [--max-new-tokens N]
 *                        [--models DIR] [--devices cpu,webgpu] [--reuse-image-features]
 *
 * It runs from this checkout, or from the self-contained folder `npm run gpu-check:pack` writes (pack.ts), which
 * needs neither Node.js nor a network. The stand-in has random weights and a scripted output of each task's typical
 * length (test/bench/workload.ts), so its times are Florence-2-base's compute for that many tokens, never
 * Florence-2's output. Exit code: 0 when every device ran and the ids agree, 1 otherwise, 2 for a wrong command line.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Florence2, type RunOutput } from "../../../src/florence2";
import { readGenerationConfig } from "../../../src/runtime/config";
import type { RgbImage } from "../../../src/image/rgb-image";
import { writeStandInModel, type StandInSize } from "../../../src/standin/index";
import { Florence2Tokenizer } from "../../../src/text/tokenizer";
import { WALKTHROUGH_TASKS, getTask } from "../../../src/text/tasks";
import { SEED_DEVICE, SEED_TIMINGS } from "../../../src/walkthrough/seed-timings";
import { buildBenchScript, checkScript } from "../script";
import { longestOutput, workloadFor, type TaskWorkload } from "../workload";

interface Options {
  size: StandInSize;
  tasks: TaskWorkload[];
  beams: number;
  maxNewTokens?: number;
  modelsDir: string;
  devices: Device[];
  /** Keep the vision encoder's output between tasks (one image): for quick runs on a software GPU. */
  reuseImageFeatures: boolean;
}

type Device = "cpu" | "webgpu";
const DEVICES: Readonly<Record<Device, { label: string; executionProviders: string[] }>> = {
  cpu: { label: "CPU", executionProviders: ["cpu"] },
  // The CPU stays behind WebGPU for the few nodes it lacks, as device "webgpu" does; written as
  // executionProviders so this check runs whether or not the device option knows "webgpu".
  webgpu: { label: "WebGPU", executionProviders: ["webgpu", "cpu"] },
};

const USAGE =
  "Usage: gpu-check [--size base|tiny] [--tasks CAPTION,OD,...] [--beams N] [--max-new-tokens N] [--models DIR] [--devices cpu,webgpu] [--reuse-image-features]";

class UsageError extends Error {}

export function parseArgs(argv: readonly string[], defaultModels: string): Options {
  const options: Options = { size: "base", tasks: WALKTHROUGH_TASKS.map((t) => workloadFor(t.token)), beams: 3, modelsDir: defaultModels, devices: ["cpu", "webgpu"], reuseImageFeatures: false };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--reuse-image-features") {
      options.reuseImageFeatures = true;
      i--;
      continue;
    }
    if (value === undefined) throw new UsageError(`${flag} needs a value after it.`);
    const count = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`Expected a positive integer for ${flag} but received ${JSON.stringify(value)}.`);
      return n;
    };
    if (flag === "--size") {
      if (value !== "base" && value !== "tiny") throw new UsageError(`Expected base or tiny for --size but received ${JSON.stringify(value)}.`);
      options.size = value;
    } else if (flag === "--tasks") {
      options.tasks = value.split(",").map((name) => workloadFor(getTask(name.trim()).token));
    } else if (flag === "--beams") options.beams = count();
    else if (flag === "--max-new-tokens") options.maxNewTokens = count();
    else if (flag === "--models") options.modelsDir = path.resolve(value);
    else if (flag === "--devices") {
      const devices = value.split(",").map((d) => d.trim());
      for (const d of devices) if (!(d in DEVICES)) throw new UsageError(`Expected cpu and/or webgpu for --devices but received ${JSON.stringify(d)}.`);
      options.devices = devices as Device[];
    } else throw new UsageError(`Unknown argument ${JSON.stringify(flag)}.`);
  }
  if (options.maxNewTokens !== undefined) {
    const cap = options.maxNewTokens;
    options.tasks = options.tasks.map((w) => ({ ...w, outputTokens: Math.max(3, Math.min(w.outputTokens, cap)) }));
  }
  return options;
}

/**
 * A stand-in of `size` whose decoder emits a script long enough for every task (each task then stops at its own
 * length through maxNewTokens). Reused when the folder already holds one with the same script.
 */
async function standIn(options: Options, log: (line: string) => void): Promise<string> {
  const probe = path.join(options.modelsDir, "tokenizer-probe");
  await writeStandInModel(probe, { size: "tiny" });
  const tokenizer = Florence2Tokenizer.fromFolder(probe);
  const generation = readGenerationConfig(probe);
  // The library reads no bos_token_id (the tokenizer adds <s> itself); the script needs it to stay a valid answer.
  const bos = (JSON.parse(fs.readFileSync(path.join(probe, "generation_config.json"), "utf8")) as { bos_token_id: number }).bos_token_id;
  const ids = { bos, eos: generation.eosTokenId, decoderStart: generation.decoderStartTokenId };
  const script = buildBenchScript({ encode: (text) => tokenizer.encode(text) }, longestOutput(options.tasks), ids);
  checkScript(script, ids);
  const folder = path.join(options.modelsDir, options.size);
  const stampFile = path.join(folder, "gpu-check-stamp.json");
  const stamp = JSON.stringify({ size: options.size, script });
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp) return folder;
  fs.rmSync(stampFile, { force: true });
  log(`Generating the ${options.size} stand-in into ${folder} (random weights; base is about 1 GB) ...`);
  const start = performance.now();
  await writeStandInModel(folder, { size: options.size, script });
  fs.writeFileSync(stampFile, stamp);
  log(`  done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return folder;
}

/** A photo-sized image with smooth colour fields and noise, as decoded pixels (no image codec needed). */
function sampleImage(width = 1600, height = 1066): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const noise = (seed >>> 24) % 24;
      const i = (y * width + x) * 3;
      data[i] = (128 + 100 * Math.sin(x / 97) + noise) & 255;
      data[i + 1] = (128 + 100 * Math.cos(y / 61) + noise) & 255;
      data[i + 2] = (128 + 90 * Math.sin((x + y) / 143) + noise) & 255;
    }
  }
  return { width, height, data };
}

interface DeviceRun {
  device: Device;
  summary: string;
  outputs: Map<string, RunOutput>;
  error?: string;
}

async function runOn(device: Device, folder: string, options: Options, image: RgbImage, log: (line: string) => void): Promise<DeviceRun> {
  const run: DeviceRun = { device, summary: "", outputs: new Map() };
  let model: Florence2 | undefined;
  try {
    const start = performance.now();
    // Every task runs the vision encoder, as each of the seed's %%time cells did (unless told to reuse it).
    model = await Florence2.load(folder, { executionProviders: DEVICES[device].executionProviders, cacheImageFeatures: options.reuseImageFeatures });
    run.summary = `${model.device.summary} Loaded in ${((performance.now() - start) / 1000).toFixed(1)} s.`;
    log(`${DEVICES[device].label}: ${run.summary}`);
    // Warm-up (shader compilation on WebGPU, first-run allocations on both), kept out of the per-task times.
    const first = options.tasks[0];
    await model.run(image, first.task.token, first.input, { numBeams: options.beams, maxNewTokens: Math.min(first.outputTokens, 4) });
    for (const w of options.tasks) {
      const out = await model.run(image, w.task.token, w.input, { numBeams: options.beams, maxNewTokens: w.outputTokens });
      run.outputs.set(w.task.token, out);
      log(`  ${DEVICES[device].label} ${w.task.name}: ${ms(out.timings.total)}`);
    }
  } catch (err) {
    run.error = (err as Error).message.split("\n")[0];
    log(`${DEVICES[device].label} failed: ${run.error}`);
  } finally {
    await model?.dispose();
  }
  return run;
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;
}

/** "1.23 s (pre 10 ms, vision 300 ms, enc 20 ms, dec 900 ms)". */
function split(out: RunOutput | undefined): string {
  if (!out) return "-";
  const t = out.timings;
  return `${ms(t.total)} (pre ${ms(t.preprocess)}, vision ${ms(t.vision)}, enc ${ms(t.encoder)}, dec ${ms(t.decoder)}/${t.decoderSteps} steps)`;
}

export async function gpuCheck(options: Options, log: (line: string) => void = console.log): Promise<boolean> {
  log(`GPU check: ${options.tasks.length} walkthrough task(s) on the ${options.size} stand-in (random weights: times, not Florence-2's output), ` +
    `num_beams=${options.beams}, on ${options.devices.map((d) => DEVICES[d].label).join(" and ")}. ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} threads.`);
  log(`Vulkan: VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? "(unset)"} VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? "(unset)"}`);
  const folder = await standIn(options, log);
  const image = sampleImage();
  const runs: DeviceRun[] = [];
  for (const device of options.devices) runs.push(await runOn(device, folder, options, image, log));

  log("");
  const header = ["task", "tokens", ...runs.map((r) => DEVICES[r.device].label), `seed ${SEED_DEVICE} (Florence-2-large, wall)`, "ids"];
  log(header.join(" | "));
  let agree = runs.every((r) => r.error === undefined);
  for (const w of options.tasks) {
    const outs = runs.map((r) => r.outputs.get(w.task.token));
    const ids = outs.map((o) => JSON.stringify(o?.ids ?? null));
    const same = outs.every((o) => o !== undefined) && ids.every((i) => i === ids[0]);
    if (!same) agree = false;
    const verdict = runs.length < 2 ? "(one device)" : same ? "agree" : "DIFFER";
    log([w.task.name, String(w.outputTokens), ...outs.map(split), SEED_TIMINGS[w.task.token]?.wall ?? "-", verdict].join(" | "));
  }
  log("");
  for (const r of runs) if (r.error !== undefined) log(`${DEVICES[r.device].label} did not run: ${r.error}`);
  log(agree ? "Result: every device ran every task and the ids agree." : "Result: FAILED (see above).");
  return agree;
}

if (require.main === module) {
  const defaultModels = process.env.GPU_CHECK_MODELS ?? path.join(process.cwd(), "bench-models", "gpu-check");
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2), defaultModels);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof Error && /task/i.test(err.message))) throw err;
    process.stderr.write(`gpu-check: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  gpuCheck(options).then(
    (ok) => process.exit(ok ? 0 : 1),
    (err: Error) => {
      process.stderr.write(`gpu-check failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
