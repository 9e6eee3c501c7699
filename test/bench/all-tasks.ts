/**
 * All-tasks mode: every task in sequence in one process, as the all-tasks notebook does (the OCR tasks on the
 * walkthrough's second photo, the others on the first), where our engine encodes each image once; against the sum of separate transformers.js runs (it reuses nothing between
 * calls), taken from the per-task medians measured in the same session.
 */
import { imageFor, startSide, type BenchContext } from "./context";
import { median } from "./measure";
import type { PerTaskResult } from "./per-task";
import type { SequenceResult } from "./protocol";
import { toSpec } from "./workload";

export interface AllTasksResult {
  tasks: number;
  /** Median wall time of our whole sequence. */
  oursSequenceMs: number;
  oursSequenceUserMs: number;
  oursSequenceSysMs: number;
  /** Vision encoder runs in our sequence (one per distinct photo when the features are reused). */
  oursVisionRuns: number;
  oursVisionMs: number;
  /** Sum of our separate greedy per-task medians (no reuse), for reference. */
  oursSeparateSumMs: number;
  /** Sum of transformers.js's per-task medians. */
  theirsSumMs: number;
  runs: number;
  peakRssBytes: number;
  asScripted: boolean;
  /** Median wall per task inside our sequence. */
  perTaskMs: { task: string; ms: number }[];
}

export async function runAllTasks(context: BenchContext, perTask: PerTaskResult): Promise<AllTasksResult> {
  const { options, log } = context;
  const tasks = perTask.rows.map((r) => r.workload.task.token);
  const workloads = perTask.rows.map((r) => toSpec(r.workload));
  const imagePaths = tasks.map((task) => imageFor(context, task));
  log(`All-tasks mode: ${tasks.length} tasks on one image in one call, ${options.warmup} warm-up + ${options.runs} timed`);
  const ours = await startSide(context, "ours", { label: "all-tasks-ours", reuseImageFeatures: true });
  const results: SequenceResult[] = [];
  try {
    for (let w = 0; w < options.warmup; w++) await ours.child.sequence({ workloads, imagePaths });
    for (let r = 0; r < options.runs; r++) results.push(await ours.child.sequence({ workloads, imagePaths }));
  } finally {
    await ours.child.close();
  }
  const theirsSumMs = perTask.rows.reduce((s, r) => s + r.theirs.wallMs, 0);
  const oursSeparateSumMs = perTask.rows.reduce((s, r) => s + r.ours.wallMs, 0);
  const result: AllTasksResult = {
    tasks: tasks.length,
    oursSequenceMs: median(results.map((r) => r.measurement.wallMs)),
    oursSequenceUserMs: median(results.map((r) => r.measurement.userMs)),
    oursSequenceSysMs: median(results.map((r) => r.measurement.sysMs)),
    oursVisionRuns: median(results.map((r) => r.measurement.sessions.calls.vision_encoder)),
    oursVisionMs: median(results.map((r) => r.measurement.sessions.ms.vision_encoder)),
    oursSeparateSumMs,
    theirsSumMs,
    runs: results.length,
    peakRssBytes: Math.max(...results.map((r) => r.measurement.peakRssBytes)),
    asScripted: results.every((r) => r.perTask.every((t) => t.idsAsScripted)),
    perTaskMs: tasks.map((task, i) => ({ task, ms: median(results.map((r) => r.perTask[i].wallMs)) })),
  };
  log(
    `  ours ${(result.oursSequenceMs / 1000).toFixed(2)} s for ${tasks.length} tasks (vision encoder ran ${result.oursVisionRuns}x); ` +
      `sum of transformers.js runs ${(theirsSumMs / 1000).toFixed(2)} s (x${(result.oursSequenceMs / theirsSumMs).toFixed(2)})`,
  );
  return result;
}
