/**
 * This run's per-task times beside the seed's (the walkthrough's `%%time` figures on Colab's T4), as a text table
 * for `npm start` and an HTML table (with the text beside it) for the all-tasks notebook, with the device, the
 * model, the settings and each task's photo named; and, when the tasks were also run as one batch (batched.ts), each
 * task's share of the batch.
 */
import {
  formatTime, renderTable, renderTextTable,
  type CellTimes, type DeviceChoice, type TableColumn, type TableSpec, type TaskSpec, type TextAndHtml,
} from "../index";
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
 * The table's rows and columns: one row per run, a total row, IPython's time format for every figure (so both sides
 * read alike), the seed's columns set apart. A batched column appears when any run has a batched share.
 */
export function timingTableSpec(runs: readonly TaskRun[], context: RunContext): TableSpec {
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
  const thisRun = context.standin ? `this run (${label}, stand-in)` : `this run (${label})`;
  const seedGroup = `seed (${SEED_DEVICE})`;
  const columns: TableColumn[] = [
    { text: "task" },
    { text: "photo" },
    { text: `wall (${label})`, html: "wall", group: thisRun, numeric: true },
    { text: `CPU total (${label})`, html: "CPU total", group: thisRun, numeric: true },
    ...(batched ? [{ text: `batched wall (${label})`, html: "wall (share)", group: `batched (${label})`, numeric: true, apart: true }] : []),
    { text: `wall (seed, ${SEED_DEVICE})`, html: "wall", group: seedGroup, numeric: true, apart: true },
    { text: `CPU total (seed, ${SEED_DEVICE})`, html: "CPU total", group: seedGroup, numeric: true },
  ];
  return {
    title:
      "Per-task times (each task timed whole: image, vision encoder, prompt, generation, post-processing, as the " +
      "walkthrough's %%time cells)",
    notes: [here, ...(batched ? [BATCHED_NOTE] : []), `seed: ${SEED_SETUP}`],
    ...(context.standin ? { mark: STANDIN_MARK } : {}),
    columns,
    rows,
    totals: 1,
  };
}

/** Said above the HTML table of a stand-in's run (the text form names the stand-in in its "this run" line). */
export const STANDIN_MARK = "stand-in model (random weights): the times are real, the outputs are not Florence-2's";

/** The table as text: `npm start` prints it. */
export function timingTable(runs: readonly TaskRun[], context: RunContext): string {
  return renderTextTable(timingTableSpec(runs, context));
}

/** The table as HTML with the text beside it: the all-tasks notebook shows it (`showTable`). */
export function timingTableDisplay(runs: readonly TaskRun[], context: RunContext): TextAndHtml {
  return renderTable(timingTableSpec(runs, context));
}
