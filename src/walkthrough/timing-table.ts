/**
 * This run's per-task times beside the seed's (the walkthrough's `%%time` figures on Colab's T4), as a text table
 * for the all-tasks notebook and `npm start`, with the device, the model, the settings and each task's photo named;
 * and, when the tasks were also run as one batch (batched.ts), each task's share of the batch.
 */
import { formatTime, type CellTimes, type DeviceChoice, type TaskSpec } from "../index";
import { SEED_DEVICE, SEED_SETUP, SEED_TIMINGS, seedCpuTotalSeconds, seedWallSeconds } from "./seed-timings";
import { settingsLine, type GenerationSettings } from "./steps";

/** One task's outcome. */
export interface TaskRun {
  task: TaskSpec;
  times: CellTimes;
  /** The image it ran on, as shown in the table: the walkthrough photo's file name, or the user's file name. */
  photo?: string;
  /** Where its drawing was written (npm start). */
  png?: string;
  /**
   * When all tasks also ran as one `model.runBatch`: this task's share of that batch's wall time, in seconds
   * (`RunTimings.total`; the shares add up to the batch's time).
   */
  batched?: number;
}

/** What the table says about this run. */
export interface RunContext {
  /** The model id or folder. */
  model: string;
  dtype: string;
  settings: GenerationSettings;
  /** `model.device` (or the choice it was loaded with). */
  device: Pick<DeviceChoice, "provider" | "hardware" | "label">;
  /** A generated stand-in with random weights, not Florence-2 (`isStandInFolder(model.folder)`). */
  standin: boolean;
}

/** "CPU (AMD EPYC 7B13, 2 threads)" or "CUDA on Tesla T4". */
export function deviceText(device: RunContext["device"]): string {
  if (device.provider === "cpu") return `CPU (${device.hardware})`;
  if (device.provider === "cuda") return `CUDA on ${device.hardware}`;
  if (device.provider === "webgpu") return `WebGPU on ${device.hardware}`; // the adapter: a GPU's name, or "software (SwiftShader)"
  return device.hardware;
}

/** "Florence-2-base-ft fp32" or "stand-in model (random weights) fp32". */
export function modelText(context: Pick<RunContext, "model" | "dtype" | "standin">): string {
  return `${context.standin ? "stand-in model (random weights)" : context.model} ${context.dtype}`;
}

/** What the batched column holds, said under the table's heading. */
export const BATCHED_NOTE =
  "batched: the same tasks as one model.runBatch call (each photo encoded once, all decoded together); a task's " +
  "figure is its share of the batch's wall time, and the shares add up to it";

/**
 * The table: one row per run, a total row, IPython's time format for every figure (so both sides read alike). A
 * batched column appears when any run has a batched share.
 */
export function timingTable(runs: readonly TaskRun[], context: RunContext): string {
  const here = `this run: onnxruntime-node on ${deviceText(context.device)}, ${modelText(context)}, ${settingsLine(context.settings)}`;
  const batched = runs.some((r) => r.batched !== undefined);
  const orDash = (seconds: number | undefined) => (seconds === undefined ? "-" : formatTime(seconds));
  const rows = runs.map((r) => {
    const seed = SEED_TIMINGS[r.task.token];
    return [
      r.task.name, r.photo ?? "-", formatTime(r.times.wall), formatTime(r.times.total),
      ...(batched ? [orDash(r.batched)] : []),
      seed?.wall ?? "-", seed?.total ?? "-",
    ];
  });
  const sum = (seconds: (r: TaskRun) => number | undefined) => formatTime(runs.reduce((s, r) => s + (seconds(r) ?? 0), 0));
  rows.push([
    `all ${runs.length} tasks`,
    "",
    sum((r) => r.times.wall),
    sum((r) => r.times.total),
    ...(batched ? [sum((r) => r.batched)] : []),
    sum((r) => seedWallSeconds(r.task.token)),
    sum((r) => seedCpuTotalSeconds(r.task.token)),
  ]);
  const label = context.device.label;
  const header = [
    "task", "photo", `wall (${label})`, `CPU total (${label})`, ...(batched ? [`batched wall (${label})`] : []),
    `wall (seed, ${SEED_DEVICE})`, `CPU total (seed, ${SEED_DEVICE})`,
  ];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  return [
    "Per-task times (each task timed whole: image, vision encoder, prompt, generation, post-processing, as the " +
      "walkthrough's %%time cells)",
    `  ${here}`,
    ...(batched ? [`  ${BATCHED_NOTE}`] : []),
    `  seed: ${SEED_SETUP}`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}
